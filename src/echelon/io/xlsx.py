"""Fast XLSX access through calamine (Rust), shared by every workbook reader.

Sheets are parsed by calamine into typed cells (floats, strings, datetimes) and handed to polars
column by column — no openpyxl, no per-cell Python work beyond the one list calamine returns.
The workbook most recently opened is cached (one at a time), so format detection (which looks at
sheet names and the first rows) and the read that follows parse each sheet once.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl
import python_calamine as calamine

from echelon.errors import Problem, ReaderError
from echelon.io.text import unique_names

XLSX_SUFFIXES: Final = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
ZIP_MAGIC: Final = b"PK\x03\x04"
OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0"
MAX_XLSX_BYTES: Final = 512 * 1024**2
"""Workbooks larger than this are refused with advice to export CSV (a sheet is held in memory;
an XLSX sheet has at most 1,048,576 rows anyway, so larger exports are split or CSV)."""
HEAD_ROWS: Final = 40
Cell = Any


@dataclass
class Workbook:
    """A parsed workbook: sheet names and, on demand, each sheet's rows."""

    path: Path
    sheet_names: list[str]
    _book: Any
    _rows: dict[str, list[list[Cell]]] = field(default_factory=dict)

    def rows(self, sheet: str) -> list[list[Cell]]:
        """All rows of a sheet (calamine-typed cells), parsed once."""
        if sheet not in self._rows:
            try:
                self._rows[sheet] = self._book.get_sheet_by_name(sheet).to_python(
                    skip_empty_area=False
                )
            except (calamine.CalamineError, ValueError, OSError) as exc:
                raise ReaderError(
                    self.path, [f"sheet {sheet!r} cannot be read ({exc}); re-export the workbook"]
                ) from exc
        return self._rows[sheet]


def looks_like_workbook(path: Path) -> bool:
    """A spreadsheet suffix and the ZIP (xlsx/ods) or OLE (xls) magic bytes."""
    if path.suffix.lower() not in XLSX_SUFFIXES:
        return False
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError:
        return False
    return magic in (ZIP_MAGIC, OLE_MAGIC)


@functools.lru_cache(maxsize=1)
def _open(path: Path, size: int, mtime_ns: int) -> Workbook:
    del size, mtime_ns  # cache keys only: a changed file is parsed again
    if path.stat().st_size > MAX_XLSX_BYTES:
        raise ReaderError(
            path,
            [
                f"workbook of {path.stat().st_size / 1024**2:,.0f} MB is larger than "
                f"{MAX_XLSX_BYTES // 1024**2} MB: export the data sheet as CSV, which Echelon "
                "streams"
            ],
        )
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
    except (calamine.CalamineError, ValueError, OSError) as exc:
        raise ReaderError(
            path, [f"not a readable workbook ({type(exc).__name__}: {exc}); re-export it"]
        ) from exc
    return Workbook(path, list(book.sheet_names), book)


def open_workbook(path: Path) -> Workbook:
    """The parsed workbook at ``path`` (cached while it is the most recent one).

    Raises
    ------
    ReaderError
        If the file is not a readable workbook or is too large.
    """
    path = Path(path)
    stat = path.stat()
    return _open(path.resolve(), stat.st_size, stat.st_mtime_ns)


def forget_workbooks() -> None:
    """Drop the cached workbook (frees its rows after a read)."""
    _open.cache_clear()


def find_header(
    workbook: Workbook, sheets: Sequence[str], is_header: Callable[[list[str]], bool]
) -> tuple[str, int] | None:
    """The first ``(sheet, row index)`` whose row is a header according to ``is_header``."""
    for sheet in sheets:
        for index, row in enumerate(workbook.rows(sheet)[:HEAD_ROWS]):
            if is_header([_label(c) for c in row]):
                return sheet, index
    return None


def _label(cell: Cell) -> str:
    return cell.strip() if isinstance(cell, str) else str(cell)


def _series(name: str, values: Sequence[Cell]) -> pl.Series:
    """One column: numbers as Float64, datetimes as Datetime, durations in seconds, else text."""
    kinds = {type(v) for v in values if v != ""}
    if kinds and kinds <= {float, int, bool}:
        return pl.Series(name, [None if v == "" else float(v) for v in values], pl.Float64)
    if kinds and kinds <= {dt.datetime, dt.date}:
        stamps = [
            None
            if v == ""
            else v
            if isinstance(v, dt.datetime)
            else dt.datetime.combine(v, dt.time())  # a date cell is midnight
            for v in values
        ]
        return pl.Series(name, stamps, pl.Datetime("us"))
    if kinds and kinds <= {dt.timedelta}:
        return pl.Series(name, [None if v == "" else v.total_seconds() for v in values], pl.Float64)
    return pl.Series(name, [None if v == "" else _label(v) for v in values], pl.String)


def sheet_frame(
    workbook: Workbook, sheet: str, header_row: int, *, row_numbers: str | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """A sheet below its header row as a polars frame, and the header as written.

    Column names are made unique (repeats suffixed); trailing empty header cells are dropped
    along with their (empty) columns; fully empty rows are dropped. With ``row_numbers``, a
    column of that name holds each row's number as a spreadsheet program shows it (1-based,
    counted from the sheet's first line), for errors that name the row.
    """
    rows = workbook.rows(sheet)
    header = [_label(c) for c in rows[header_row]]
    while header and not header[-1]:
        header.pop()
    first = header_row + 1
    kept = [(first + i + 1, r) for i, r in enumerate(rows[first:]) if any(c != "" for c in r)]
    names = unique_names(header)
    width = len(names)
    columns = list(zip(*(r[:width] + [""] * (width - len(r)) for _, r in kept), strict=True))
    if not columns:
        frame = pl.DataFrame({n: [] for n in names})
    else:
        frame = pl.DataFrame([_series(n, c) for n, c in zip(names, columns, strict=True)])
    if row_numbers is not None:
        frame = frame.with_columns(pl.Series(row_numbers, [n for n, _ in kept], pl.Int64))
    return frame, header


def sheets_frame(
    workbook: Workbook, sheets: Sequence[str], header_row: int
) -> tuple[pl.DataFrame, list[str]]:
    """Data sheets with the same header concatenated in order (Arbin splits long tests).

    Raises
    ------
    ReaderError
        If the sheets do not share their header.
    """
    frames, first_header = [], None
    for sheet in sheets:
        frame, header = sheet_frame(workbook, sheet, header_row)
        if first_header is None:
            first_header = header
        elif header != first_header:
            raise ReaderError(
                workbook.path,
                [
                    Problem(
                        f"sheet {sheet!r} has other columns than {sheets[0]!r}; "
                        "export the channel data as one table",
                    )
                ],
            )
        frames.append(frame)
    return pl.concat(frames, how="vertical_relaxed"), first_header or []
