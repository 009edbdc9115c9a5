"""Rows read back as Echelon wrote them, or named: a value edited in the database into one of
another type (SQLite keeps text in a number or date column, invalid JSON in a JSON column) is read
as null and reported, so one edited row never takes down a listing or ``verify``."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Integer, Select, Table, Text, cast, select


def as_text(table: Table, *, omit: tuple[str, ...] = ()) -> Select[Any]:
    """``SELECT`` of ``table`` (without the columns in ``omit``) with its JSON and date columns
    as text, for :func:`decode_row` (the types' own decoding raises on an edited value)."""
    return select(
        *(
            cast(c, Text).label(c.name) if isinstance(c.type, (JSON, Date)) else c
            for c in table.columns
            if c.name not in omit
        )
    )


def _json(value: Any) -> Any:
    return json.loads(value)


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value))


def _integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():  # SQLite's REAL affinity
        return int(value)
    raise ValueError(value)


def _refuse(value: Any) -> Any:
    raise ValueError(value)


_Step = tuple[str, tuple[type, ...], Callable[[Any], Any], str, bool]


@functools.lru_cache(maxsize=32)
def _plan(table: Table) -> tuple[_Step, ...]:
    """Per column: its name, the Python types read as they are, the conversion of any other
    value (raising when it is not of the column's type), what it should be, and whether to
    quote the value in a problem."""
    plan: list[_Step] = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, JSON):
            plan.append((column.name, (), _json, "valid JSON", False))
        elif isinstance(kind, Date):
            plan.append((column.name, (dt.date,), _date, "a date", True))
        elif isinstance(kind, Boolean):
            plan.append((column.name, (bool,), _refuse, "true or false", True))
        elif isinstance(kind, Integer):
            plan.append((column.name, (int,), _integer, "a whole number", True))
        elif isinstance(kind, Float):
            plan.append((column.name, (float, int), _refuse, "a number", True))
        else:
            plan.append((column.name, (str,), _refuse, "text", True))
    return tuple(plan)


def decode_row(table: Table, data: dict[str, Any]) -> list[str]:
    """Decode a row of :func:`as_text` in place: every value as Echelon wrote it, or ``None``.

    Returns
    -------
    list of str
        One problem per value that is not of its column's type (``value = 'abc' is not a
        number``, ``reasons is not valid JSON``), in column order.
    """
    problems = []
    for name, kinds, convert, expected, quote in _plan(table):
        value = data.get(name)
        if value is None or type(value) in kinds:  # exact types: a bool is no number
            continue
        try:
            data[name] = convert(value)
        except (TypeError, ValueError):
            data[name] = None
            shown = f" = {str(value)[:40]!r}" if quote else ""
            problems.append(f"{name}{shown} is not {expected}")
    return problems
