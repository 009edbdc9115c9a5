"""The ``passport`` catalogue table, validated: categories, statuses, negative events, access."""

from __future__ import annotations

import datetime as dt
import functools
import typing
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, field_validator

from echelon.catalog import resolve_table_path
from echelon.catalog._loader import load_toml_file
from echelon.catalog.models import StrictModel, TableMeta, validated
from echelon.domain.enums import Application, OriginApplication
from echelon.passport.model import SECTION_MODELS, Part

Category = Literal["lmt", "ev", "industrial", "stationary"]
AccessGroup = Literal["legitimate_interest", "legitimate_interest_and_commission", "authorities"]


def _model_at(model: type[BaseModel], members: list[str], path: str) -> None:
    """Raise ValueError unless ``members`` name a member of ``model`` (``x[]``: items of x)."""
    if not members:
        return
    head, rest = members[0], members[1:]
    name = head.removesuffix("[]")
    field = model.model_fields.get(name)
    if field is None:
        raise ValueError(f"{path}: {model.__name__} has no member {name!r}")
    annotation = field.annotation
    options = [a for a in (annotation, *typing.get_args(annotation)) if a is not type(None)]
    lists = [a for a in options if typing.get_origin(a) is list]
    if head.endswith("[]") and not lists:
        raise ValueError(f"{path}: {name!r} is not a list: write {name!r} without '[]'")
    if not head.endswith("[]") and lists and rest:
        raise ValueError(f"{path}: {name!r} is a list: write '{name}[]' to reach its items")
    inner = typing.get_args(lists[0])[0] if head.endswith("[]") else options[0]
    if rest:
        if not (isinstance(inner, type) and issubclass(inner, Part)):
            raise ValueError(f"{path}: {name!r} has no members")
        _model_at(inner, rest, path)


def _check_paths(paths: list[str]) -> None:
    for path in paths:
        section, *members = path.split(".")
        if section not in SECTION_MODELS:
            raise ValueError(f"{path}: no section {section!r}")
        _model_at(SECTION_MODELS[section], members, path)


class Categories(StrictModel):
    """Battery category by second-life application and by first-life origin."""

    by_application: dict[Application, Category]
    by_origin: dict[OriginApplication, Category]


def _gate_rule_names(value: list[str]) -> list[str]:
    from echelon.grading import load_profile
    from echelon.grading.engine import gate_rules

    known = {r.name for r in gate_rules(load_profile("baseline"), as_of=dt.date.today())}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown gate rules {unknown}; the gate's rules: {sorted(known)}")
    return value


class Statuses(StrictModel):
    """Remanufacturing applications and the SOH they require; gate rules whose failure means
    missing input, not a finding (the status stays Original)."""

    remanufacturing: list[Application]
    remanufactured_min_soh_percent: float
    pending_gate_rules: list[str]

    @field_validator("pending_gate_rules")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        return _gate_rule_names(value)


class NegativeEvents(StrictModel):
    """Safety-gate rules whose failure is a negative event."""

    gate_rules: list[str]

    @field_validator("gate_rules")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        return _gate_rule_names(value)


class Levels(StrictModel):
    """Members that belong to one battery (given per battery, never per model)."""

    individual: list[str]

    @field_validator("individual")
    @classmethod
    def _paths_exist(cls, value: list[str]) -> list[str]:
        _check_paths(value)
        return value


class PassportCatalog(StrictModel):
    """The ``passport`` catalogue table."""

    meta: TableMeta
    category: Categories
    status: Statuses
    negative_events: NegativeEvents
    levels: Levels
    access: dict[AccessGroup, list[str]]

    @field_validator("access")
    @classmethod
    def _paths_exist(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for paths in value.values():
            _check_paths(paths)
        return value


@functools.lru_cache(maxsize=8)
def _validated(path: Path, mtime_ns: int) -> PassportCatalog:
    return validated(PassportCatalog, load_toml_file(path), what="catalogue table passport")


def passport_catalog() -> PassportCatalog:
    """The validated ``passport`` table (the packaged one or the user's override), validated
    once per file version.

    Raises
    ------
    ConfigError
        Naming every invalid key, e.g. a misspelt member path or an unknown category.
    """
    path = resolve_table_path("passport")
    return _validated(path, path.stat().st_mtime_ns)
