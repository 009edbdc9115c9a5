"""The ``passport`` catalogue table, validated: categories, statuses, negative events, access."""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import BaseModel, field_validator

from echelon.catalog import load_table
from echelon.catalog.models import StrictModel, TableMeta, validated
from echelon.domain.enums import Application, OriginApplication
from echelon.passport.model import SECTION_MODELS, Part

Category = Literal["lmt", "ev", "industrial", "stationary"]
AccessGroup = Literal["legitimate_interest", "legitimate_interest_and_commission", "authorities"]


def _model_at(model: type[BaseModel], members: list[str], path: str) -> None:
    """Raise ValueError unless ``members`` name a member of ``model`` (``x[]`` = items of x)."""
    if not members:
        return
    head, rest = members[0], members[1:]
    name = head.removesuffix("[]")
    field = model.model_fields.get(name)
    if field is None:
        raise ValueError(f"{path}: {model.__name__} has no member {name!r}")
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    inner = args[0] if head.endswith("[]") and args else annotation
    if rest:
        target = inner if isinstance(inner, type) and issubclass(inner, Part) else None
        if target is None:
            raise ValueError(f"{path}: {name!r} has no members (write '{name}[]' for list items)")
        _model_at(target, rest, path)


class Categories(StrictModel):
    """Battery category by second-life application and by first-life origin."""

    by_application: dict[Application, Category]
    by_origin: dict[OriginApplication, Category]


class Statuses(StrictModel):
    """Remanufacturing applications and the SOH they require."""

    remanufacturing: list[Application]
    remanufactured_min_soh_percent: float


class NegativeEvents(StrictModel):
    """Safety-gate rules whose failure is a negative event."""

    gate_rules: list[str]


class PassportCatalog(StrictModel):
    """The ``passport`` catalogue table."""

    meta: TableMeta
    category: Categories
    status: Statuses
    negative_events: NegativeEvents
    access: dict[AccessGroup, list[str]]

    @field_validator("access")
    @classmethod
    def _paths_exist(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for paths in value.values():
            for path in paths:
                section, *members = path.split(".")
                if section not in SECTION_MODELS:
                    raise ValueError(f"{path}: no section {section!r}")
                _model_at(SECTION_MODELS[section], members, path)
        return value


def passport_catalog() -> PassportCatalog:
    """The validated ``passport`` table (the packaged one or the user's override).

    Raises
    ------
    ConfigError
        Naming every invalid key, e.g. a misspelt member path or an unknown category.
    """
    doc: dict[str, Any] = load_table("passport")
    return validated(PassportCatalog, doc, what="catalogue table passport")
