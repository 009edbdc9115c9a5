"""Reading a measurements table for stateless grading (``echelon grade TABLE``).

The table is CSV or Parquet with the documented columns of :mod:`echelon.grading.table` (any may
be empty). Every cell is checked at once: values that cannot be read (a word in a number column,
an unknown level or visual flag) or are implausible (outside the ranges of
:data:`echelon.domain.plausible.PLAUSIBLE` for the unit's level, e.g. an SOH written as a fraction
or a DCIR in mΩ written as Ω — the intake manifest's check) are reported together with their row,
column and the likely unit mistake, and nothing is graded. Empty cells are fine — the grader
handles missing values conservatively and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import polars as pl

from echelon.domain.parse import parse_level, parse_origin, parse_region, parse_visual_flags
from echelon.domain.plausible import PLAUSIBLE, implausible_cells
from echelon.errors import MAX_ROW_PROBLEMS, EchelonError, Problem, SchemaError, row_problems
from echelon.grading.table import GRADING_SCHEMA
from echelon.io.manifest import tester_reader
from echelon.io.table import read_table

ABSENT_EFFECT: Final[dict[tuple[str, ...], str]] = {
    ("chemistry",): "every unit's chemistry is unknown → gate.reuse_standard → quarantine → "
    "recycle",
    ("level",): "level-dependent rules cannot be applied: gate.level quarantines every unit → "
    "recycle",
    ("ocv_v",): "every unit fails the safety gate's OCV check (gate.ocv_measured) → quarantine → "
    "recycle",
    ("has_traceability",): "traceability counts as absent: every unit of a level the profile "
    "requires it for is quarantined → recycle",
    ("insulation_mohm",): "every pack fails gate.insulation → quarantine → recycle (not checked "
    "for cells and modules)",
    ("soh_percent", "measured_capacity_ah"): "no unit has an SOH: no grade, route retest",
    ("nominal_capacity_ah",): "no unit's value or voltage fit can be computed → retest",
    ("nominal_voltage_v", "series_count"): "cells in series unknown for modules and packs: no "
    "voltage fit → retest",
    ("dcir_ohm",): "no application R_max can be checked: grades capped at B, applications with "
    "a peak-power requirement cannot be certified",
    ("calendar_expiry_date",): "calendar expiry not checked for any unit (listed in unchecked)",
    ("self_discharge_mv_per_day",): "self-discharge not checked for any unit (listed in unchecked)",
    ("plating_signature",): "lithium plating not checked for any unit (listed in unchecked)",
}
"""Grading columns whose absence from a whole table changes every decision, and how (the
conservative fallbacks of docs/grading.md); a tuple warns only when all its columns are absent."""
TRUE: Final = frozenset({"true", "yes", "y", "1", "t"})
FALSE: Final = frozenset({"false", "no", "n", "0", "f"})


def _as_text(path: Path) -> pl.DataFrame:
    """The table's cells as text (:func:`~echelon.io.table.read_table`: separators, decimal
    commas, encodings and missing-value words resolved; unreadable files refused)."""
    numeric = [c for c, t in GRADING_SCHEMA.items() if t in (pl.Float64(), pl.Int64())]
    try:
        frame = read_table(path, what="measurements table", numeric=numeric)
    except EchelonError as exc:
        _refuse_tester_file(path, exc)
        raise
    return frame.with_columns(pl.all().cast(pl.String))


def _refuse_tester_file(path: Path, cause: Exception | None = None) -> None:
    """Raise a :class:`SchemaError` saying ``path`` is a tester export, when a tester reader
    recognises it (read as a table, it fails on its own header: "named twice", no battery_id)."""
    reader = tester_reader(path)
    if reader is not None:
        raise SchemaError(
            path,
            [
                f"looks like a tester file ({reader}), not a table of units: `echelon grade` "
                "reads one unit per row (battery_id and the grading columns, docs/grading.md); "
                "take tester files in with `echelon intake MANIFEST` (docs/manifest.md), or look "
                f"at this one with `echelon summarize {path}`"
            ],
        ) from cause


def _bad_cells(frame: pl.DataFrame, column: str, invalid: pl.Expr, what: str) -> list[Problem]:
    return row_problems(frame.get_column(column), frame.select(invalid).to_series(), what)


def _implausible_cells(typed: pl.DataFrame) -> list[Problem]:
    """Numbers outside :data:`~echelon.domain.plausible.PLAUSIBLE` for the row's level, each with
    the likely unit mistake (the same check and message as the intake manifest)."""
    levels = typed.get_column("level") if "level" in typed.columns else None
    problems: list[Problem] = []
    for column, rng in PLAUSIBLE.items():
        if column in typed.columns:
            values = typed.get_column(column).cast(pl.Float64)
            problems += implausible_cells(values, rng, levels)
    if {"measured_capacity_ah", "nominal_capacity_ah"} <= set(typed.columns):
        measured = typed.get_column("measured_capacity_ah").cast(pl.Float64)
        ratio = 100.0 * measured / typed.get_column("nominal_capacity_ah").cast(pl.Float64)
        high = PLAUSIBLE["soh_percent"].high
        for i in (ratio > high).fill_null(False).arg_true().to_list()[:MAX_ROW_PROBLEMS]:
            problems.append(
                Problem(
                    f"{measured[i]:g} A·h is {ratio[i]:.0f} % of the rated capacity, above the "
                    f"plausible SOH {high:g} % (mAh written as Ah, or the wrong rated capacity?)",
                    row=i + 1,
                    column="measured_capacity_ah",
                )
            )
    return problems


def _vocabulary(
    frame: pl.DataFrame, column: str, parse: Callable[[str], Any]
) -> tuple[dict[str, str], list[str]]:
    """Map each distinct spelling to its canonical value; the spellings that fail."""
    mapping: dict[str, str] = {}
    failed: list[str] = []
    for text in frame.get_column(column).drop_nulls().unique().to_list():
        try:
            value = parse(text)
        except ValueError:
            failed.append(text)
            continue
        mapping[text] = (
            ";".join(sorted(f.value for f in value))
            if isinstance(value, frozenset)
            else value.value
        )
    return mapping, failed


def _missing_id_problem(columns: list[str]) -> Problem:
    """Say that ``battery_id`` is missing, which columns there are and which one to rename."""
    shown = ", ".join(repr(c) for c in columns[:8]) + (", …" if len(columns) > 8 else "")
    return Problem(
        f"required column missing (the table has {shown}); name the column that "
        f"identifies each unit 'battery_id', e.g. rename {columns[0]!r} if that is it",
        column="battery_id",
    )


def read_grading_table(path: Path | str) -> pl.DataFrame:
    """Read and check a measurements table (CSV or Parquet) for :func:`grade_table`.

    Parameters
    ----------
    path : path-like
        The table. Columns: ``battery_id`` (required) and any of the documented grading
        columns; other columns are kept and ignored by the grader.

    Returns
    -------
    pl.DataFrame
        Typed columns (:data:`~echelon.grading.table.GRADING_SCHEMA`), vocabularies normalised.

    Raises
    ------
    SchemaError
        Naming the file and every bad cell (row, column, value) at once.
    """
    path = Path(path)
    text = _as_text(path)
    problems: list[Problem] = []
    if "battery_id" not in text.columns:
        _refuse_tester_file(path)
        raise SchemaError(path, [_missing_id_problem(text.columns)])
    ids = pl.col("battery_id").str.strip_chars()
    problems += _bad_cells(
        text, "battery_id", ids.is_null() | (ids == ""), "— every unit needs a battery_id"
    )
    problems += _bad_cells(text, "battery_id", ids.is_duplicated(), "appears more than once")
    casts = []
    for column, dtype in GRADING_SCHEMA.items():
        if column not in text.columns or column == "battery_id":
            continue
        raw = pl.col(column).str.strip_chars()
        given = raw.is_not_null() & (raw != "")
        if dtype in (pl.Float64(), pl.Int64()):
            value = raw.cast(dtype, strict=False)
            kind = "whole number" if dtype == pl.Int64() else "number"
            problems += _bad_cells(text, column, given & value.is_null(), f"is not a {kind}")
        elif dtype == pl.Boolean():
            low = raw.str.to_lowercase()
            value = pl.when(low.is_in(TRUE)).then(True).when(low.is_in(FALSE)).then(False)
            problems += _bad_cells(
                text, column, given & value.is_null(), "is not true/false (yes/no, 1/0)"
            )
        elif dtype == pl.Date():
            value = raw.str.to_date("%Y-%m-%d", strict=False)
            problems += _bad_cells(
                text, column, given & value.is_null(), "is not a YYYY-MM-DD date"
            )
        else:
            value = pl.when(given).then(raw)
        casts.append(value.alias(column))
    typed = text.with_columns(casts).with_columns(ids.alias("battery_id"))
    if {"soh_percent", "soh_lower_percent"} <= set(typed.columns):
        inverted = pl.col("soh_lower_percent") > pl.col("soh_percent")
        problems += _bad_cells(
            typed, "soh_lower_percent", inverted, "is above soh_percent (lower bound > estimate)"
        )
    parsers: tuple[tuple[str, Callable[[str], Any]], ...] = (
        ("level", parse_level),
        ("origin_application", parse_origin),
        ("region", parse_region),
        ("visual_flags", parse_visual_flags),
    )
    for column, parse in parsers:
        if column not in typed.columns:
            continue
        mapping, failed = _vocabulary(typed, column, parse)
        for spelling in failed:
            try:
                parse(spelling)
            except ValueError as exc:
                problems += _bad_cells(typed, column, pl.col(column) == spelling, f"— {exc}")
        typed = typed.with_columns(pl.col(column).replace(mapping))
    problems += _implausible_cells(typed)
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise SchemaError(path, problems)
    return typed


def absent_column_effects(table: pl.DataFrame) -> list[tuple[list[str], str]]:
    """The entries of :data:`ABSENT_EFFECT` whose columns a whole table lacks or leaves empty.

    Parameters
    ----------
    table : pl.DataFrame
        A grading table (read by :func:`read_grading_table`, or built by the intake).

    Returns
    -------
    list of (list of str, str)
        Per entry: its columns, each as ``"NAME absent"`` or ``"NAME empty"``, and the effect.
    """
    empty = {c for c in table.columns if table.get_column(c).null_count() == table.height}
    found = []
    for columns, effect in ABSENT_EFFECT.items():
        missing = [c for c in columns if c not in table.columns or c in empty]
        if len(missing) == len(columns):
            found.append(([f"{c} {'empty' if c in empty else 'absent'}" for c in missing], effect))
    return found


def absent_columns(table: pl.DataFrame) -> list[str]:
    """Warnings for the expected grading columns a whole table lacks, or leaves empty in every row.

    Parameters
    ----------
    table : pl.DataFrame
        A table as returned by :func:`read_grading_table`.

    Returns
    -------
    list of str
        One line per entry of :data:`ABSENT_EFFECT` whose columns are all absent (or empty):
        which columns, and what that does to every unit's decision. Empty when nothing is missing.
    """
    return [
        f"column{'s' if len(how) > 1 else ''} {' and '.join(how)}: {effect}"
        for how, effect in absent_column_effects(table)
    ]
