"""Shared pieces of validated catalogue tables: strict models, the ``[meta]`` block, validation.

Tables a user may copy and edit (grading profiles, applications, economics) are pydantic models
with ``extra="forbid"``; :func:`validated` turns every validation problem into one
:class:`~echelon.errors.ConfigError` that lists them all, with their keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from echelon.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Frozen model that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def as_of_date(text: str) -> dt.date:
    """An as-of date written ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (a bare year or month
    means its first day).

    Raises
    ------
    ValueError
        For anything else (``"someday"``, ``"2026/01/15"``).
    """
    text = str(text).strip()
    try:
        if len(text) == 4 and text.isdigit():
            return dt.date(int(text), 1, 1)
        if len(text) == 7:
            return dt.date.fromisoformat(text + "-01")
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"as_of {text!r} is not a date; write YYYY, YYYY-MM or YYYY-MM-DD"
        ) from None


def _dated(text: str) -> str:
    as_of_date(text)
    return text


def _named(text: str) -> str:
    if not text.strip():
        raise ValueError("empty source: name where the number comes from (document, clause, date)")
    return text


def _date_text(value: Any) -> Any:
    """A TOML date literal (``as_of = 2026-01-15``, unquoted) as its ISO text."""
    return value.isoformat() if isinstance(value, dt.date) else value


AsOf = Annotated[str, BeforeValidator(_date_text), AfterValidator(_dated)]
"""An as-of date as written in a table (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, quoted or a TOML
date literal), checked."""

Source = Annotated[str, AfterValidator(_named)]
"""Where a number comes from; never blank."""


class Sourced(StrictModel):
    """A record whose numbers carry their source and as-of date."""

    source: Source
    as_of: AsOf


class TableMeta(StrictModel):
    """Provenance of a table: name, version, as-of date, description and source (optional, but
    not blank when given)."""

    name: str
    version: str
    as_of: AsOf
    description: str = ""
    source: Source = ""


def validated(model: type[M], doc: dict[str, Any], *, what: str) -> M:
    """Validate a parsed table against ``model``.

    Parameters
    ----------
    model : type
        Pydantic model of the table.
    doc : dict
        Parsed TOML.
    what : str
        Names the table in the error, e.g. ``"grading profile my.toml"``.

    Raises
    ------
    ConfigError
        Listing every invalid or unknown key with the reason.
    """
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        lines = [
            f"  - {'.'.join(str(p) for p in err.get('loc', ())) or '(table)'}: "
            f"{err.get('msg', 'invalid').removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
        raise ConfigError(f"{what} is invalid:\n" + "\n".join(lines)) from exc
