"""Shared pieces of validated catalogue tables: strict models, the ``[meta]`` block, validation.

Tables a user may copy and edit (grading profiles, applications, economics) are pydantic models
with ``extra="forbid"``; :func:`validated` turns every validation problem into one
:class:`~echelon.errors.ConfigError` that lists them all, with their keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError

from echelon.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _as_of_date(text: str) -> str:
    """``text`` when it is a date ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY`` (else ValueError)."""
    value = text.strip()
    try:
        if len(value) == 4 and value.isdigit():
            return value
        dt.date.fromisoformat(value + "-01" if len(value) == 7 else value)
    except ValueError:
        raise ValueError(
            f"as_of {text!r} is not a date: write YYYY-MM-DD, YYYY-MM or YYYY"
        ) from None
    return value


SourceText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""Where a number comes from: not empty (a user's copy of a table must say where its numbers are
from, as the packaged tables do)."""
AsOfDate = Annotated[str, AfterValidator(_as_of_date)]
"""The date a number is valid for, ``YYYY-MM-DD`` (or ``YYYY-MM``, ``YYYY``), kept as text."""


class StrictModel(BaseModel):
    """Frozen model that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(StrictModel):
    """A record whose numbers carry their source and as-of date."""

    source: str
    as_of: str


class TableMeta(StrictModel):
    """Provenance of a table: name, version, as-of date, description and source."""

    name: str
    version: str
    as_of: str
    description: str = ""
    source: str = ""


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
            f"{err.get('msg', 'invalid')}"
            for err in exc.errors()
        ]
        raise ConfigError(f"{what} is invalid:\n" + "\n".join(lines)) from exc
