"""Echelon's exception hierarchy.

Every message says what was wrong, where (file, row, column or battery id) and what to do. Adapters
(CLI, HTTP API) map these classes to exit codes / HTTP codes in one place
(:data:`echelon.cli._errors.EXIT_CODES`); library code never prints or exits.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl


class EchelonError(Exception):
    """Base class of every error Echelon raises on purpose."""


class UsageError(EchelonError):
    """A value given for an option or argument is not one of those offered (an unknown reader or
    model name, a choice not on the list); the message lists the valid ones. Exit code 2."""


class ConfigError(EchelonError):
    """A setting, profile or catalogue override is invalid."""


class CatalogError(EchelonError):
    """A catalogue record is missing or malformed."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as possible.

    Attributes
    ----------
    message : str
        What is wrong and what to do about it.
    row : int or None
        1-based data row (header excluded) in the file, or ``None`` when not row-specific; with
        ``sheet``, the row number a spreadsheet program shows (the header is row 1 when it is
        the sheet's first line).
    column : str or None
        Column / field name, or ``None``.
    sheet : str or None
        Workbook sheet, or ``None`` for a file without sheets.
    """

    message: str
    row: int | None = None
    column: str | None = None
    sheet: str | None = None

    def __str__(self) -> str:
        where = [] if self.sheet is None else [f"sheet {self.sheet!r}"]
        if self.row is not None:
            where.append(f"row {self.row}" if self.sheet is None else f"spreadsheet row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


MAX_ROW_PROBLEMS = 200
"""Problems listed per check at most (a table with thousands of bad rows stays readable)."""


def row_problems(values: pl.Series, invalid: pl.Series, what: str) -> list[Problem]:
    """One :class:`Problem` per row where ``invalid`` holds: 1-based row, column = the series'
    name, the value quoted (``(empty)`` for a null, unless ``what`` says ``is empty``), then
    ``what``."""
    rows = invalid.fill_null(False).arg_true().head(MAX_ROW_PROBLEMS).to_list()
    empty = "" if what.startswith("is empty") else "(empty) "
    return [
        Problem(
            f"{empty if values[i] is None else repr(values[i]) + ' '}{what}",
            row=i + 1,
            column=values.name,
        )
        for i in rows
    ]


_DECIMAL_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+")
_NUMBER_AND_UNIT = re.compile(r"([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)\s*[^\d\s.,+-][^\d]*")


def not_a_number(text: object) -> str:
    """``'<text>' is not a number``, with the likely fix when the text says it: a decimal comma
    (``'31,5'``: write 31.5) or a unit in the cell (``'3.3 V'``: write 3.3 in a column named for
    its unit)."""
    message = f"{text!r} is not a number"
    value = str(text).strip()
    if _DECIMAL_COMMA.fullmatch(value):
        hint = f"a decimal comma? write {value.replace('.', '').replace(',', '.')}"
        if re.fullmatch(r"[+-]?\d{1,3},\d{3}", value):
            hint += f"; a thousands separator? write {value.replace(',', '')}"
        return f"{message} ({hint})"
    if _NUMBER_AND_UNIT.fullmatch(value):
        return f"{message} (a unit in the cell? write the number alone, in the column's unit)"
    return message


def parse_numbers(values: pl.Series) -> tuple[pl.Series, list[Problem]]:
    """Text cells as numbers: Float64 (blank → null) and one :class:`Problem` per cell that is
    given but not a number (:func:`not_a_number`, at most :data:`MAX_ROW_PROBLEMS`), 1-based row,
    column = the series' name."""
    import polars as pl

    if values.dtype.is_numeric():
        return values.cast(pl.Float64), []
    text = values.cast(pl.String).str.strip_chars()
    text = text.set(text == "", None)
    numbers = text.cast(pl.Float64, strict=False).alias(values.name)
    bad = (text.is_not_null() & numbers.is_null()).arg_true().head(MAX_ROW_PROBLEMS).to_list()
    problems = [Problem(not_a_number(text[i]), row=i + 1, column=values.name) for i in bad]
    return numbers, problems


def problems_at(values: pl.Series, value: str) -> int:
    """1-based row of the first occurrence of ``value`` in ``values``."""
    return int(values.eq(value).arg_true()[0]) + 1


class InputError(EchelonError):
    """Base of errors about a user-supplied file; carries the file and every problem found.

    Parameters
    ----------
    path : path-like or str
        The offending file.
    problems : sequence of Problem or str
        All problems found (validation reports everything at once, not only the first).
    """

    def __init__(self, path: Path | str, problems: Sequence[Problem | str]) -> None:
        self.path = Path(path)
        self.problems = [p if isinstance(p, Problem) else Problem(p) for p in problems]
        super().__init__(self._render())

    def _render(self, limit: int = 50) -> str:
        head = f"{self.path}: {len(self.problems)} problem(s)"
        lines = [f"  - {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  … and {len(self.problems) - limit} more")
        return "\n".join([head, *lines])


class ReaderError(InputError):
    """A tester file cannot be read (corrupt, truncated, unknown format, bad units)."""


class SchemaError(InputError):
    """A frame or table does not have the columns, types or values its contract requires."""


class ColumnMapError(InputError):
    """A user column map (YAML/TOML) is invalid: unknown BDF column, unit or option."""


class ManifestError(InputError):
    """An intake manifest is invalid; nothing from it was imported."""


class RegistryError(EchelonError):
    """The registry database cannot be opened, migrated or written."""


class NotFoundError(RegistryError):
    """A battery, test run or event asked for by id does not exist."""


class ChainError(RegistryError):
    """The append-only event chain of a battery does not verify."""


class OutputError(EchelonError):
    """An output file could not be written or put in place after the up-front check of its folder
    (a disk that fills, a permission withdrawn); the message names the file. Exit code 2."""


class DiagnosticsError(EchelonError):
    """A diagnostic cannot be computed from the data given (e.g. no discharge step)."""


class EstimationError(EchelonError):
    """A state-of-health or lifetime estimate cannot be made from the inputs."""


class RecyclingError(EchelonError):
    """A lot cannot be recycled as asked: a process cannot treat a chemistry, or a balance fails."""


class PriceError(ConfigError):
    """A price needed to value a lot is missing or invalid in the price table or override file."""


class PassportError(EchelonError):
    """A passport cannot be issued: required data missing, or the battery's passport has ended."""


class EchelonWarning(UserWarning):
    """A result was computed with a conservative fallback the caller should know about."""


class InfeasibleError(EchelonError):
    """A pack-building (or other optimisation) request cannot be met by the inventory.

    Parameters
    ----------
    message : str
        What was asked, what the inventory allows, and what to relax.
    binding_constraint : str
        Name of the constraint that binds (``same_model``, ``max_resistance_ratio``,
        ``capacity_tolerance_fraction``, ``allowed_grades``, ``inventory_size``, …).
    """

    def __init__(self, message: str, *, binding_constraint: str) -> None:
        self.binding_constraint = binding_constraint
        super().__init__(message)


def check_choice(option: str, value: object, choices: Any) -> None:
    """Raise :class:`UsageError` unless ``value`` is one of ``choices`` (a ``Literal`` type or a
    sequence), naming the option and the valid values."""
    allowed = typing.get_args(choices) or tuple(choices)
    if value not in allowed:
        raise UsageError(
            f"{option}={value!r} is not offered; use one of {', '.join(map(repr, allowed))}"
        )
