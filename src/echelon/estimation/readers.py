"""Turn the files users give ``echelon soh`` into sample tables.

Accepted inputs (selected automatically, in this order):

* **PulseBat-format feature workbooks** (``.xlsx`` with sheets ``SOC5`` … ``SOC90`` and
  optionally ``SOC TEST RANDOM``; columns ``Qn``, ``Q``, ``SOH``, ``SOC``, ``U1`` … ``U21``/
  ``U41``), as published with S. Tao et al., *Nat. Commun.* 15 (2024),
  doi:10.1038/s41467-024-54454-0. ``SOC ALL`` (every SOC level in one sheet, with the ``SOC``
  column) repeats the other sheets and is skipped, or read when it is the only PulseBat sheet.
  Labels (``SOH``, ``Q``) are optional for prediction. The workbook's cells are checked as it is
  read, and errors name its sheet, row (as a spreadsheet program numbers it) and column.
* **Sample tables** (``.csv``, ``.parquet``) already in the contract of
  :mod:`echelon.estimation.samples`.
* Raw test files (pulse tests through the tester readers; EIS spectra) — readers registered in
  :data:`SAMPLE_READERS` by the modules that compute their features.

Every reader names the file in its errors; a file none accepts gets an error listing what is
accepted.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from echelon.errors import EchelonWarning, Problem, SchemaError, row_problems
from echelon.estimation.methods import PulseMethod, method_class, u_column
from echelon.estimation.samples import (
    BATCH,
    CELL_ID,
    CHEMISTRY,
    EMPTY_LABEL,
    LABELS_NEEDED,
    NOMINAL,
    SAMPLE_ID,
    SOC,
    SOH,
    SOURCE,
    format_key,
    sample_problems,
    text_problems,
)
from echelon.io.table import PARQUET_SUFFIXES, TEXT_SUFFIXES, table_columns, typed
from echelon.io.table import read_table as read_user_table
from echelon.io.xlsx import looks_like_workbook, open_workbook, sheet_frame

PULSEBAT_MATERIALS: Final[dict[str, str]] = {"NMC": "NMC622", "LMO": "LMO", "LFP": "LFP"}
"""PulseBat ``Mat`` → catalogue chemistry. PulseBat names the cathode only "NMC"; it is entered as
NMC622 [assumption], as in the grading and regrouping validations (docs/validation.md)."""
RANDOM_SHEET: Final = "SOC TEST RANDOM"
ALL_SHEET: Final = "SOC ALL"
GRID_SHEET: Final = re.compile(r"^SOC\s*(\d+)$")
PULSEBAT_NEEDS: Final = ("Qn", "SOC", "U1")
PULSEBAT_POINTS: Final = 21
"""Fewest turning-point voltages (``U1`` … ``U21``) a PulseBat sheet has (the published set)."""
PULSEBAT_LAYOUT: Final = (
    "a PulseBat workbook has sheets named SOC<n> (SOC5 … SOC90, one per SOC level) or one "
    f"{ALL_SHEET!r} sheet with every level, each with columns Qn, SOC, U1 … U21 (or U41) and, "
    "to train or evaluate, Q"
)
WORKBOOK_COLUMNS: Final = {NOMINAL: "Qn", SOC: "SOC", SOH: "Q", CHEMISTRY: "Mat"}
"""Sample-table column → the PulseBat column it is read from (``u<i>_v`` ← ``U<i>``), so errors
name the workbook's own column; ``soh_percent`` is ``Q`` ÷ ``Qn`` × 100."""
RANDOM_LEFT_OUT: Final = (
    f"sheet {RANDOM_SHEET!r} left out: its rows do not say which cell each is, so they cannot be "
    "kept on one side of a split by cell, nor counted as cells; train or evaluate on it alone "
    "with a workbook holding only that sheet"
)
ROW: Final = "__spreadsheet_row"
WIDTH_IN_NAME: Final = re.compile(r"_W_(\d+)", re.IGNORECASE)
LAB_CELL_ID: Final = re.compile(r"^([A-Za-z]+\d+)-(\d+)$")
"""2.1 Ah NMC ids ``D3-100`` = physical cell ``D3`` after 100 ageing cycles: one cell, many rows."""


@dataclass(frozen=True)
class ReadOptions:
    """What the user says about files that do not say it themselves.

    Attributes
    ----------
    chemistry : str, optional
        Catalogue chemistry of every row (overrides the file).
    nominal_capacity_ah : float, optional
        Rated capacity [A·h] (raw test files carry none).
    method : str, optional
        The method the samples are for; readers of raw files that several methods could use
        (a CC segment is in every test) answer only for theirs.
    labelled : bool
        The samples are to train or evaluate with: an empty label is a problem of the file's
        own row (sheet, spreadsheet row and column for a workbook).
    """

    chemistry: str | None = None
    nominal_capacity_ah: float | None = None
    method: str | None = None
    labelled: bool = False


SampleReader = Callable[[Path, ReadOptions], "pl.DataFrame | None"]
"""``reader(path, options) -> samples``, or ``None`` when the file is not its format."""


def is_pulsebat_workbook(path: Path) -> bool:
    """A workbook with at least one ``SOC<n>`` sheet or a ``SOC ALL`` sheet."""
    if not looks_like_workbook(path):
        return False
    return bool(_pulsebat_sheets(open_workbook(path).sheet_names))


def _pulsebat_sheets(names: Sequence[str]) -> list[str]:
    """The sheets read by default: every ``SOC<n>`` sheet and ``SOC TEST RANDOM``, or ``SOC ALL``
    when there is no ``SOC<n>`` sheet (it repeats them otherwise)."""
    grid = [s for s in names if GRID_SHEET.match(s) or s == RANDOM_SHEET]
    if any(GRID_SHEET.match(s) for s in grid):
        return grid
    return [s for s in names if s == ALL_SHEET] or grid


def _material(frame: pl.DataFrame, path: Path, chemistry: str | None) -> pl.Expr:
    if chemistry is not None:
        return pl.lit(chemistry)
    if "Mat" in frame.columns:
        return pl.col("Mat").cast(pl.String).replace(PULSEBAT_MATERIALS)
    match = re.match(r"^(LFP|NMC|LMO)", path.name, re.IGNORECASE)
    if match is None:
        raise SchemaError(
            path,
            [
                "the workbook names no chemistry (no 'Mat' column, file name not LFP_/NMC_/LMO_…): "
                "pass --chemistry"
            ],
        )
    return pl.lit(PULSEBAT_MATERIALS[match.group(1).upper()])


def _cell_ids(frame: pl.DataFrame, stem: str) -> pl.Expr:
    if "ID" in frame.columns:
        ids = pl.col("ID").cast(pl.String)
        physical = ids.str.extract(LAB_CELL_ID.pattern, 1)
        return pl.lit(f"{stem}:") + pl.coalesce(physical, ids)
    # pulsebat_lfp tables carry no ids: within one file a cell is identified by its capacity Q
    return pl.lit(f"{stem}:Q=") + pl.col("Q").cast(pl.String)


def read_pulsebat_workbook(
    path: Path | str,
    *,
    chemistry: str | None = None,
    sheets: Sequence[str] | None = None,
    method: str = "pulse",
    labelled: bool = False,
) -> pl.DataFrame:
    """Sample table of a PulseBat-format feature workbook.

    Parameters
    ----------
    path : path-like
        The workbook.
    chemistry : str, optional
        Catalogue chemistry of every row (default: from column ``Mat`` or the file name).
    sheets : sequence of str, optional
        Sheets to read (default: every ``SOC<n>`` sheet and ``SOC TEST RANDOM``; ``SOC ALL`` when
        there is no ``SOC<n>`` sheet).
    method : str
        The method the samples are for: the turning-point voltages are checked as a
        ``pulse`` or ``relaxation`` model would check them (no check for other methods).
    labelled : bool
        Every row needs its ``Q`` (to train or evaluate); an empty one is named by sheet and
        spreadsheet row. By default the ``SOC TEST RANDOM`` sheet is then left out when the
        workbook has ``SOC<n>`` sheets, with an :class:`~echelon.errors.EchelonWarning`
        (:data:`RANDOM_LEFT_OUT`).

    Returns
    -------
    pl.DataFrame
        Sample table: ``sample_id`` (``<file>:<sheet>:<row>``), ``cell_id``, ``chemistry``,
        ``nominal_capacity_ah`` (``Qn``), ``soc_percent``, ``soh_percent`` (``Q``/``Qn`` × 100,
        when labelled), ``measured_capacity_ah`` (``Q``), ``batch`` (``<chemistry>-<Qn>Ah``),
        ``pulse_width_s``, ``sheet``, ``source`` and ``u1_v`` … ``u21_v``/``u41_v``. Rows of
        ``SOC TEST RANDOM`` get cell ids of their own (the sheet does not say which cell each
        row is).

    Raises
    ------
    SchemaError
        If no sheet has the columns the format needs, or cells are not numbers or are
        implausible — every such cell named by sheet, spreadsheet row and workbook column.
    """
    path = Path(path)
    book = open_workbook(path)
    names = sheets or _pulsebat_sheets(book.sheet_names)
    if labelled and sheets is None and RANDOM_SHEET in names and len(names) > 1:
        names = [s for s in names if s != RANDOM_SHEET]
        warnings.warn(f"{path}: {RANDOM_LEFT_OUT}", EchelonWarning, stacklevel=2)
    frames, problems = [], []
    for sheet in names:
        if sheet not in book.sheet_names:
            raise SchemaError(path, [f"no sheet {sheet!r} (sheets: {book.sheet_names})"])
        raw, _ = sheet_frame(book, sheet, 0, row_numbers=ROW)
        if raw.height == 0:
            continue
        missing = [c for c in PULSEBAT_NEEDS if c not in raw.columns]
        points = [c for c in raw.columns if re.fullmatch(r"U\d+", c)]
        if not missing and len(points) < PULSEBAT_POINTS:
            missing = [f"U{i}" for i in range(1, PULSEBAT_POINTS + 1) if f"U{i}" not in points]
        if missing:
            columns = [c for c in raw.columns if c != ROW]
            raise SchemaError(
                path,
                [
                    Problem(
                        f"lacks PulseBat column(s) {missing} (has {columns}); {PULSEBAT_LAYOUT}",
                        sheet=sheet,
                    )
                ],
            )
        frame, found = _pulsebat_sheet(raw, path, sheet, chemistry, method, labelled)
        frames.append(frame)
        problems += found
    if problems:
        raise SchemaError(path, problems)
    if not frames:
        raise SchemaError(
            path, [f"no PulseBat sheet with rows (sheets: {book.sheet_names}); {PULSEBAT_LAYOUT}"]
        )
    return pl.concat(frames, how="diagonal_relaxed").drop(ROW)


def _pulsebat_sheet(
    raw: pl.DataFrame,
    path: Path,
    sheet: str,
    chemistry: str | None,
    method: str,
    need_labels: bool,
) -> tuple[pl.DataFrame, list[Problem]]:
    """One sheet's samples, and the problems of its cells (named as in the workbook)."""
    stem = path.stem
    raw = raw.filter(pl.col("U1").is_not_null())
    n_points = max(int(c[1:]) for c in raw.columns if re.fullmatch(r"U\d+", c))
    numeric = ["Qn", "Q", "SOC", "Pt", *(f"U{i}" for i in range(1, n_points + 1))]
    problems = text_problems(raw, numeric)
    width = WIDTH_IN_NAME.search(path.name)
    width_s = (
        _number("Pt")
        if "Pt" in raw.columns
        else pl.lit(int(width.group(1)) / 1000.0 if width else None, dtype=pl.Float64)
    )
    labelled = "Q" in raw.columns
    random = sheet == RANDOM_SHEET
    out = raw.with_row_index("__row", offset=1).select(
        (pl.lit(f"{stem}:{sheet}:") + pl.col("__row").cast(pl.String)).alias(SAMPLE_ID),
        (
            pl.lit(f"{stem}:{sheet}:") + pl.col("__row").cast(pl.String)
            if random or (not labelled and "ID" not in raw.columns)
            else _cell_ids(raw, stem)
        ).alias(CELL_ID),
        _material(raw, path, chemistry).alias(CHEMISTRY),
        _number("Qn").alias(NOMINAL),
        _number("SOC").alias(SOC),
        (100.0 * _number("Q") / _number("Qn")).alias(SOH)
        if labelled
        else pl.lit(None, dtype=pl.Float64).alias(SOH),
        (_number("Q") if labelled else pl.lit(None, pl.Float64)).alias("measured_capacity_ah"),
        width_s.alias("pulse_width_s"),
        pl.lit(sheet).alias("sheet"),
        pl.lit(str(path)).alias(SOURCE),
        *(_number(f"U{i}").alias(u_column(i)) for i in range(1, n_points + 1)),
        pl.col(ROW),
    )
    out = out.with_columns(format_key().alias(BATCH))
    checks = sample_problems(out, labelled=need_labels and labelled)
    kind = method_class(method)
    if issubclass(kind, PulseMethod):
        checks += kind.for_samples(out).check(out)
    columns = dict(WORKBOOK_COLUMNS, **{u_column(i): f"U{i}" for i in range(1, n_points + 1)})
    if chemistry is not None or "Mat" not in raw.columns:
        del columns[CHEMISTRY]  # not a cell of the workbook
    problems += _in_workbook(checks, columns, problems)
    problems = [
        Problem(p.message, None if p.row is None else int(raw[ROW][p.row - 1]), p.column, sheet)
        for p in problems
    ]
    return out, problems


def _number(column: str) -> pl.Expr:
    """A workbook column as numbers; a text cell becomes empty (and is reported as text)."""
    return pl.col(column).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def _in_workbook(
    problems: list[Problem], columns: dict[str, str], text: list[Problem]
) -> list[Problem]:
    """Problems of the sample table as problems of the sheet's cells (still indexed by the
    sheet's data rows): the workbook's column names, a derived SOH said to be ``Q`` ÷ ``Qn``, and
    nothing more about a cell already reported as text, or about an SOH whose ``Q`` or ``Qn`` is
    reported. A hint without a row (``voltages must be per cell``) stays only with a row it is
    about."""
    seen = {(p.row, p.column) for p in text}
    out: list[Problem] = []
    for p in problems:
        column = columns.get(p.column or "", p.column)
        message = p.message
        if p.column == SOH:
            if {(p.row, "Q"), (p.row, "Qn")} & seen:
                continue
            if message.startswith("is empty"):
                message = f"is empty: give the measured capacity [A·h] ({LABELS_NEEDED})"
            else:
                message = f"SOH = 100 × Q ÷ Qn: {message}"
        if p.row is not None and (p.row, column) in seen:
            continue
        seen.add((p.row, column))
        out.append(Problem(message, p.row, column))
    about_rows = any(p.row is not None for p in out)
    return [p for p in out if p.row is not None or about_rows]


TEXT_COLUMNS: Final = frozenset({SAMPLE_ID, CELL_ID, CHEMISTRY, BATCH, SOURCE, "sheet"})
"""Sample-table columns that hold text; every other column is read as numbers."""


def read_table(path: Path) -> pl.DataFrame | None:
    """A sample table in CSV or Parquet (``None`` for other suffixes), read like every user table
    (:func:`echelon.io.table.read_table`: any common encoding and separator, decimal commas,
    missing-value words) with its number columns typed; a column of codes or names (``model``,
    ``operator``) stays text."""
    if path.suffix.lower() not in (*TEXT_SUFFIXES, *PARQUET_SUFFIXES):
        return None
    frame = read_user_table(path, what="sample table", numeric="auto")
    return typed(frame, [c for c in frame.columns if c not in TEXT_COLUMNS])


def _pulsebat(path: Path, options: ReadOptions) -> pl.DataFrame | None:
    if not is_pulsebat_workbook(path):
        return None
    return read_pulsebat_workbook(
        path,
        chemistry=options.chemistry,
        method=options.method or PulseMethod.name,
        labelled=options.labelled,
    )


def _table(path: Path, options: ReadOptions) -> pl.DataFrame | None:
    """A CSV/Parquet table with a ``sample_id`` column (others may be raw tester files)."""
    if SAMPLE_ID not in table_columns(path):
        return None
    frame = read_table(path)
    if frame is None:
        return None
    if options.chemistry is not None:
        frame = frame.with_columns(pl.lit(options.chemistry).alias(CHEMISTRY))
    if options.nominal_capacity_ah is not None and NOMINAL not in frame.columns:
        frame = frame.with_columns(pl.lit(options.nominal_capacity_ah).alias(NOMINAL))
    if SOURCE not in frame.columns:
        frame = frame.with_columns(pl.lit(str(path)).alias(SOURCE))
    if options.labelled and SOH in frame.columns:
        empty = frame.get_column(SOH).is_null()
        if empty.any():  # named by this file's own rows (the joined table's are not the user's)
            raise SchemaError(path, row_problems(frame.get_column(SOH), empty, EMPTY_LABEL))
    return frame


PARTIAL_CHARGE_TEST: Final = "raw partial-charge test (for the partial_charge method)"
"""The one reader that reads only for one method: raw partial charges are read as samples only
when the samples are for the partial-charge method (``soh train --method partial_charge``, or a
partial-charge model's ``soh predict``)."""
SAMPLE_READERS: list[tuple[str, SampleReader | str]] = [
    ("PulseBat feature workbook", _pulsebat),
    ("sample table (CSV/Parquet with a sample_id column)", _table),
    ("EIS spectrum file", "echelon.estimation.eis:read_eis_samples"),
    (PARTIAL_CHARGE_TEST, "echelon.estimation.partial:read_partial_samples"),
    (
        "raw pulse-test file (any tester format Echelon reads)",
        "echelon.estimation.pulse_raw:read_pulse_samples",
    ),
]
"""Name and function (or lazy ``module:function``) of every sample reader, tried in order."""


def _resolve(reader: SampleReader | str) -> SampleReader:
    if callable(reader):
        return reader
    module, attr = reader.split(":")
    try:
        found: SampleReader = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):  # an optional reader not available in this build
        return lambda path, options: None
    return found


def read_samples(
    paths: Sequence[Path | str] | Path | str,
    *,
    chemistry: str | None = None,
    nominal_capacity_ah: float | None = None,
    method: str | None = None,
    labelled: bool = False,
) -> pl.DataFrame:
    """One sample table from one or several files (formats detected per file).

    Parameters
    ----------
    paths : path-like or sequence of path-like
        Workbooks, sample tables or raw test files.
    chemistry : str, optional
        Chemistry of every row (overrides what the files say).
    nominal_capacity_ah : float, optional
        Rated capacity [A·h] for files that do not carry it (raw test files).
    method : str, optional
        The estimation method the samples are for (selects readers of raw files).
    labelled : bool
        The samples are to train or evaluate with: a workbook's or sample table's empty label is
        named by that file's own row (and sheet).

    Raises
    ------
    SchemaError
        For a missing file or a format no reader accepts.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    options = ReadOptions(chemistry, nominal_capacity_ah, method, labelled)
    frames = []
    for item in paths:
        path = Path(item)
        if not path.is_file():
            raise SchemaError(path, ["file not found"])
        if path.stat().st_size == 0:
            raise SchemaError(path, ["the file is empty (0 bytes): export it again"])
        for _, reader in SAMPLE_READERS:
            frame = _resolve(reader)(path, options)
            if frame is not None:
                frames.append(frame)
                break
        else:
            raise SchemaError(path, [_unread(path, method)])
    if not frames:
        raise SchemaError("<no files>", ["give at least one data file"])
    return pl.concat(frames, how="diagonal_relaxed")


def _unread(path: Path, method: str | None) -> str:
    """Why no reader accepted ``path``: the formats read for ``method`` (a raw partial charge
    only for the partial-charge method), and a workbook's sheets."""
    accepted = "; ".join(
        name
        for name, _ in SAMPLE_READERS
        if name != PARTIAL_CHARGE_TEST or method == "partial_charge"
    )
    why = f"not a format `echelon soh` reads (accepted: {accepted})"
    if looks_like_workbook(path):
        names = open_workbook(path).sheet_names
        why += f"; {PULSEBAT_LAYOUT}; this workbook has sheet(s) {names}"
    return why
