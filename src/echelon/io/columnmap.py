"""Declarative column-map readers: a vendor export described as data, not code.

A :class:`ColumnMapReader` turns a delimited text export or a workbook into a BDF frame from a
mapping ``vendor column → ColumnSpec(BDF column, scale, offset, parse)``. Vendor readers (Arbin,
Maccor, Neware, BioLogic, Bitrode, NASA, …) are instances of it, and users describe any other
export the same way in YAML or TOML (:mod:`echelon.io.generic`).

What a map can say, besides the columns: how to find the header (signature columns, a preamble
before it, or no header at all), the separator (or detect it), where the sign of the current comes
from (a state column, for exports that log unsigned current), which wall-clock columns give
``unix_time_second`` (and the test time when the export has no elapsed-time column), which sheets
of a workbook hold the data, and which preamble lines hold the instrument, channel and start time.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import polars as pl

from echelon._version import __version__
from echelon.errors import Problem, ReaderError
from echelon.io import xlsx
from echelon.io.base import RunMetadata
from echelon.io.bdf import COLUMN_DTYPES, CURRENT, TIME, UNIX_TIME
from echelon.io.dates import numeric_date
from echelon.io.sign import SignEvidence, with_checked_sign
from echelon.io.text import (
    HEADER_SEARCH_LINES,
    SEPARATORS,
    TextLayout,
    check_field_counts,
    check_last_line,
    detect_layout,
    head_lines,
    late_thousands,
    locate_bad_numbers,
    number_text,
    scan_source,
    split_fields,
)
from echelon.io.units import conversion, unit_in_header

log = logging.getLogger(__name__)

Parse = Literal["number", "duration", "datetime"]
MetadataHook = Callable[[Path, "RawTable"], dict[str, object]]


@dataclass(frozen=True)
class ColumnSpec:
    """How one vendor column becomes a BDF column: ``bdf = raw × scale + offset``.

    Attributes
    ----------
    target : str
        BDF column name.
    scale, offset : float
        Linear unit conversion (e.g. mA → A: ``scale=1e-3``; °F → °C: ``scale=5/9,
        offset=-160/9``; a discharge-positive current: ``scale=-1``).
    parse : {"number", "duration", "datetime"}
        ``number``: a numeric column; ``duration``: elapsed time written ``[d-]h:mm:ss[.fff]``
        (→ seconds); ``datetime``: wall-clock time (→ seconds since the Unix epoch).
    format : str or None
        ``strftime`` format of a ``datetime`` column (``None``: inferred).
    unit : str or None
        The unit the scale came from (checked against a unit written in the header).
    """

    target: str
    scale: float = 1.0
    offset: float = 0.0
    parse: Parse = "number"
    format: str | None = None
    unit: str | None = None

    @classmethod
    def with_unit(cls, target: str, unit: str, **options: object) -> ColumnSpec:
        """A spec converting from ``unit`` (``"mA"``, ``"min"``, ``"°F"``, …) to ``target``'s unit.

        Raises
        ------
        ValueError
            If the unit is unknown or of another dimension than ``target``.
        """
        conv = conversion(unit, target)
        return cls(target, conv.scale, conv.offset, unit=unit, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RawTable:
    """A tester file's table before mapping: lazy columns plus what surrounds them."""

    lazy: pl.LazyFrame
    columns: list[str]
    raw_columns: list[str]
    preamble: list[str] = field(default_factory=list)
    layout: TextLayout | None = None
    sheets_read: list[str] = field(default_factory=list)
    sheets_skipped: list[str] = field(default_factory=list)
    source: Path | None = None


_DURATION = re.compile(
    r"^(?:(\d+)\s*(?:d|day|days)?[-\s.,]+)?(\d+):(\d{1,2}):(\d{1,2}(?:[.,:]\d+)?)$"
)


def duration_seconds(expr: pl.Expr, *, decimal_comma: bool = False) -> pl.Expr:
    """Seconds from ``[d-]h:mm:ss[.fff]`` text (plain numbers are taken as seconds, written with
    a decimal comma if ``decimal_comma``)."""
    text = expr.cast(pl.String).str.strip_chars()
    plain = text.str.replace(",", ".", literal=True) if decimal_comma else text
    parts = text.str.extract_groups(_DURATION.pattern)
    frac = parts.struct.field("4").str.replace(r"[,:]", ".")
    seconds = (
        parts.struct.field("1").cast(pl.Float64, strict=False).fill_null(0.0) * 86400.0
        + parts.struct.field("2").cast(pl.Float64, strict=False) * 3600.0
        + parts.struct.field("3").cast(pl.Float64, strict=False) * 60.0
        + frac.cast(pl.Float64, strict=False)
    )
    return pl.coalesce(seconds, plain.cast(pl.Float64, strict=False))


DATETIME_FORMATS: tuple[tuple[str, str], ...] = (
    # (Python strptime format of a sample, polars format of the column)
    ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"),
    ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S%.f"),
    ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S"),
    ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S%.f"),
    ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M:%S"),
    ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S"),
    ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S%.f"),
    ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p"),
    ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %I:%M:%S %p"),
    ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S"),
)
"""Wall-clock layouts tried on a column's first values when a map gives no format (an explicit
format parses several times faster than polars' per-value inference)."""


def guess_datetime_format(samples: list[str]) -> str | None:
    """The polars format that parses every sample, or ``None`` (then polars infers)."""
    values = [v.strip() for v in samples if v.strip()]
    if not values:
        return None
    for python_fmt, polars_fmt in DATETIME_FORMATS:
        try:
            for value in values:
                dt.datetime.strptime(value, python_fmt)
        except ValueError:
            continue
        return polars_fmt
    return None


def _epoch_seconds(expr: pl.Expr, dtype: pl.DataType, fmt: str | None) -> pl.Expr:
    if dtype.is_numeric():
        return expr.cast(pl.Float64)
    if isinstance(dtype, pl.Datetime | pl.Date):
        parsed = expr.cast(pl.Datetime("us"))
    else:
        parsed = (
            expr.cast(pl.String)
            .str.strip_chars()
            .str.to_datetime(format=fmt, strict=False, time_unit="us")
        )
    return parsed.dt.epoch("us").cast(pl.Float64) / 1e6


def _samples(raw: RawTable, name: str, n: int = 50) -> list[str]:
    """The first ``n`` values of a text column, from the file's head."""
    if raw.layout is None or raw.source is None:
        return []
    found = head_lines(raw.source)
    if found is None:
        return []
    index = raw.columns.index(name)
    lines = found[0][raw.layout.data_line : raw.layout.data_line + n]
    fields = (split_fields(line, raw.layout.separator) for line in lines if line.strip())
    return [f[index] for f in fields if len(f) > index]


def _first_in_map_order(
    specs: Mapping[str, ColumnSpec], columns: list[tuple[str, str]]
) -> dict[str, str]:
    """For each BDF target, the file column (of ``(column, map key)`` pairs) whose key comes
    first in ``specs``: where a file has several columns for one quantity, the map's order says
    which is read (BioLogic: ``Ecell/V``, then ``Ewe-Ece/V``, then ``Ewe/V``), not the file's."""
    order = {key: rank for rank, key in enumerate(specs)}
    chosen: dict[str, tuple[int, str]] = {}
    for column, key in columns:
        if key not in specs:
            continue
        target = specs[key].target
        if target not in chosen or order[key] < chosen[target][0]:
            chosen[target] = (order[key], column)
    return {target: column for target, (_, column) in chosen.items()}


@dataclass(frozen=True)
class ColumnMapReader:
    """A reader for tester exports described by a column map.

    Attributes
    ----------
    name : str
        Reader name (``arbin_csv``).
    columns : mapping of str to ColumnSpec
        Vendor column → BDF column, parsing and unit conversion.
    signature : frozenset of str
        Columns whose presence in the header identifies the format.
    signature_any : frozenset of str
        If not empty, at least one of these must also be present.
    suffixes : tuple of str
        Accepted file suffixes (lower case).
    suffix_pattern : str or None
        Regular expression a suffix may match instead (Maccor names its exports after the test
        file, ``.000`` to ``.999``).
    format : {"text", "xlsx"}
        Delimited text or a workbook.
    separator : str or None
        Field separator; ``None`` detects it (tab, ``;``, ``,``, ``|``).
    datetime_columns : mapping of str to str or None
        Shorthand for wall-clock columns → ``unix_time_second`` (format, ``None`` = inferred).
    ignored : frozenset of str
        Vendor columns deliberately not stored because BDF derives them (row counters, step
        time); listed in the metadata as ``not_stored``.
    instrument : str or None
        Instrument name recorded in the metadata.
    sheets : str
        Regular expression selecting the data sheets of a workbook (concatenated in order).
    headerless_names : tuple of str or None
        Column names of a variant of the export that has no header row.
    headerless_row : callable or None
        Recognises the first data row of such a header-less file.
    state_column : str or None
        Column whose value says charge or discharge, for exports with unsigned current.
    charge_states, discharge_states : frozenset of str
        Values of ``state_column``: the current is made positive / negative on those rows.
    metadata_patterns : mapping of str to str
        Regular expressions over the preamble lines, each with one group: ``instrument``,
        ``channel``, ``start_time`` or any other key (kept in ``extra``).
    start_time_formats : tuple of str
        ``strptime`` formats tried for a ``start_time`` found in the preamble.
    numeric_start_date : bool
        Whether a numeric ``start_time`` (``12/03/2024 10:15:00``) is read in the order the file
        shows (:func:`echelon.io.dates.numeric_date`) before the formats are tried; an order
        nothing decides is read month-first and noted (``extra["start_time_note"]``, a logged
        warning).
    metadata_hook : callable or None
        ``hook(path, raw_table) -> dict`` for metadata a pattern cannot reach (a workbook's
        info sheet).
    metadata_sheets : tuple of str
        Workbook sheets read by the hook (not reported as ``sheets_not_read``).
    transform : callable or None
        ``transform(lazy) -> lazy`` applied to the raw table before mapping, for exports whose
        rows are not samples (a step table becomes two samples per step); the map's keys are
        the transformed column names.
    loader : callable or None
        ``loader(path) -> pl.DataFrame`` for ``format="frame"``: a binary format decoded by a
        library (Neware ``.nda``), whose columns the map then converts.
    sign_evidence : callable or None
        ``sign_evidence(raw_table) -> SignEvidence``: what the file's steps say about the sign of
        its current (:mod:`echelon.io.sign`); a current they show inverted is negated, and noted.
    canonical : callable or None
        ``canonical(header) -> name`` applied to each header name before it is looked up in
        ``columns``, ``signature``, ``ignored`` and ``state_column``, for a vendor whose
        software versions spell the same column differently (Arbin: ``Test Time (s)`` and
        ``Test_Time(s)``); messages and metadata keep the names as the file writes them.
    """

    name: str
    columns: Mapping[str, ColumnSpec]
    signature: frozenset[str]
    signature_any: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = (".csv",)
    suffix_pattern: str | None = None
    format: Literal["text", "xlsx", "frame"] = "text"
    separator: str | None = ","
    datetime_columns: Mapping[str, str | None] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()
    instrument: str | None = None
    version: str = __version__
    sheets: str = ".*"
    headerless_names: tuple[str, ...] | None = None
    headerless_row: Callable[[list[str]], bool] | None = None
    state_column: str | None = None
    charge_states: frozenset[str] = frozenset()
    discharge_states: frozenset[str] = frozenset()
    metadata_patterns: Mapping[str, str] = field(default_factory=dict)
    start_time_formats: tuple[str, ...] = ()
    numeric_start_date: bool = False
    metadata_hook: MetadataHook | None = None
    metadata_sheets: tuple[str, ...] = ()
    transform: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None
    loader: Callable[[Path], pl.DataFrame] | None = None
    canonical: Callable[[str], str] | None = None
    sign_evidence: Callable[[RawTable], SignEvidence] | None = None

    # ---- detection -------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The name ``name`` is looked up under in the map (:attr:`canonical` of it, if set)."""
        return self.canonical(name) if self.canonical is not None else name

    def is_header(self, fields: list[str]) -> bool:
        """Whether a row of fields is this format's header (signature columns present)."""
        present = {self.key(f) for f in fields}
        if not self.signature <= present:
            return False
        return not self.signature_any or bool(self.signature_any & present)

    def header_gap(self, path: Path) -> tuple[frozenset[str], frozenset[str]] | None:
        """For a delimited text file this reader might have read: the signature columns found
        on the line of its head that has most of them, and those missing (``None`` when the
        suffix does not match, the file is not text, or no signature column is there)."""
        if self.format != "text" or not self.takes_suffix(path):
            return None
        head = head_lines(path)
        if head is None:
            return None
        separators = [self.separator] if self.separator else list(SEPARATORS)
        best: frozenset[str] = frozenset()
        for line in head[0][:HEADER_SEARCH_LINES]:
            for separator in separators:
                found = self.signature & frozenset(map(self.key, split_fields(line, separator)))
                best = found if len(found) > len(best) else best
        return (best, self.signature - best) if best else None

    def takes_suffix(self, path: Path) -> bool:
        """Whether the suffix of ``path`` is in :attr:`suffixes` or :attr:`suffix_pattern`."""
        suffix = path.suffix.lower()
        if suffix in self.suffixes:
            return True
        return (
            self.suffix_pattern is not None
            and re.fullmatch(self.suffix_pattern, suffix) is not None
        )

    def _layout(self, path: Path) -> TextLayout | None:
        return detect_layout(
            path,
            is_header=self.is_header,
            separator=self.separator,
            headerless_names=self.headerless_names,
            is_headerless_row=self.headerless_row,
        )

    def _data_sheets(self, book: xlsx.Workbook) -> list[str]:
        pattern = re.compile(self.sheets)
        return [s for s in book.sheet_names if pattern.search(s)]

    def can_read(self, path: Path) -> bool:
        """Suffix matches and the header (or a header-less first row) is recognised."""
        path = Path(path)
        if not self.takes_suffix(path):
            return False
        if self.format == "frame":
            return True
        if self.format == "xlsx":
            if not xlsx.looks_like_workbook(path):
                return False
            if path.stat().st_size > xlsx.MAX_XLSX_BYTES:
                return True  # too large to inspect: the read says so and what to do
            try:
                book = xlsx.open_workbook(path)
                return xlsx.find_header(book, self._data_sheets(book), self.is_header) is not None
            except ReaderError:
                return False
        return self._layout(path) is not None

    # ---- reading ---------------------------------------------------------------------------

    def _numeric_columns(self, layout: TextLayout) -> list[str]:
        """Columns of ``layout`` (unique names) whose header names a number."""
        return [
            c
            for c, raw in zip(layout.columns, layout.raw_columns, strict=True)
            if self._numeric(raw)
        ]

    def _numeric(self, column: str) -> bool:
        spec = self.columns.get(self.key(column))
        return spec is not None and spec.parse == "number"

    def _raw_text(self, path: Path, *, layout: TextLayout | None = None) -> RawTable:
        layout = layout or self._layout(path)
        if layout is None:
            gap = self.header_gap(path)
            missing = f" (missing: {', '.join(sorted(gap[1]))})" if gap and gap[1] else ""
            raise ReaderError(
                path,
                [
                    f"{self.name}: header with {', '.join(sorted(self.signature))} not found"
                    f"{missing}"
                ],
            )
        found = head_lines(path)
        check_field_counts(path, found[0] if found else [], layout)
        check_last_line(path, layout)
        numeric = self._numeric_columns(layout)
        number_type = pl.String if layout.clean_numbers else pl.Float64  # String: cleaned below
        schema = {c: (number_type if c in numeric else pl.String) for c in layout.columns}
        try:
            lazy = pl.scan_csv(
                scan_source(path, layout),
                has_header=False,
                separator=layout.separator,
                skip_lines=layout.data_line,
                schema=schema,
                decimal_comma=layout.decimal_comma,
                extra_columns="ignore",
                missing_columns="insert",
                encoding="utf8-lossy",
            )
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ReaderError(path, [f"{self.name}: not a readable delimited file: {exc}"]) from exc
        if layout.clean_numbers:  # a cell still no number fails the cast; ``explain`` locates it
            lazy = lazy.with_columns(
                number_text(c, layout).cast(pl.Float64).alias(c) for c in numeric
            )
        return RawTable(
            lazy, layout.columns, layout.raw_columns, layout.preamble, layout, source=path
        )

    def _raw_xlsx(self, path: Path) -> RawTable:
        book = xlsx.open_workbook(path)
        sheets = self._data_sheets(book)
        found = xlsx.find_header(book, sheets, self.is_header)
        if found is None:
            raise ReaderError(path, [f"{self.name}: no sheet with the expected header"])
        first, row = found
        data_sheets = sheets[sheets.index(first) :]
        frame, header = xlsx.sheets_frame(book, data_sheets, row)
        skipped = [
            s for s in book.sheet_names if s not in data_sheets and s not in self.metadata_sheets
        ]
        return RawTable(
            frame.lazy(), frame.columns, header, sheets_read=data_sheets, sheets_skipped=skipped
        )

    def _raw_frame(self, path: Path) -> RawTable:
        if self.loader is None:
            raise ReaderError(path, [f"{self.name}: no loader configured"])
        frame = self.loader(path)
        return RawTable(frame.lazy(), frame.columns, frame.columns)

    def _raw(self, path: Path, *, layout: TextLayout | None = None) -> RawTable:
        if self.format == "xlsx":
            raw = self._raw_xlsx(path)
        elif self.format == "frame":
            raw = self._raw_frame(path)
        else:
            raw = self._raw_text(path, layout=layout)
        if self.transform is None:
            return raw
        lazy = self.transform(raw.lazy)
        names = lazy.collect_schema().names()
        return RawTable(
            lazy, names, names, raw.preamble, raw.layout, raw.sheets_read, raw.sheets_skipped
        )

    def _check_units(self, path: Path, raw: RawTable) -> None:
        problems = []
        for column in raw.raw_columns:
            spec = self.columns.get(self.key(column))
            stated = unit_in_header(column)
            if spec is None or spec.unit is None or stated is None:
                continue
            declared = conversion(spec.unit, spec.target)
            if (declared.scale, declared.offset) != (stated.scale, stated.offset):
                problems.append(
                    Problem(
                        f"mixed units: the header says {stated.symbol} but the column map says "
                        f"{spec.unit}; correct the map's unit",
                        column=column,
                    )
                )
        if problems:
            raise ReaderError(path, problems)

    def _expressions(self, raw: RawTable, schema: pl.Schema) -> tuple[list[pl.Expr], list[str]]:
        exprs: list[pl.Expr] = []
        produced: dict[str, pl.Expr] = {}
        unmapped: list[str] = []
        specs = dict(self.columns)
        names = {self.key(r): c for r, c in zip(raw.raw_columns, raw.columns, strict=True)}
        state_name = names.get(self.state_column) if self.state_column else None
        for column, fmt in self.datetime_columns.items():
            specs.setdefault(column, ColumnSpec(UNIX_TIME, parse="datetime", format=fmt))
        chosen = _first_in_map_order(
            specs, [(c, self.key(r)) for c, r in zip(raw.columns, raw.raw_columns, strict=True)]
        )
        for name, raw_name in zip(raw.columns, raw.raw_columns, strict=True):
            spec = specs.get(self.key(raw_name))
            if spec is None:
                key = self.key(raw_name)
                if key not in self.ignored and key != self.state_column:
                    unmapped.append(raw_name)
                continue
            if chosen[spec.target] != name:  # an alternative column for the same quantity
                unmapped.append(raw_name)
                continue
            if spec.parse == "datetime" and spec.format is None and schema[name] == pl.String:
                guessed = guess_datetime_format(_samples(raw, name))
                spec = ColumnSpec(spec.target, parse="datetime", format=guessed)
            comma = raw.layout is not None and raw.layout.decimal_comma
            converted = self._convert(pl.col(name), spec, schema[name], state_name, comma)
            produced[spec.target] = converted
            exprs.append(converted.alias(spec.target))
        if TIME not in produced and UNIX_TIME in produced:  # elapsed time from the wall clock
            unix = produced[UNIX_TIME]
            exprs.insert(0, (unix - unix.first()).alias(TIME))
        return exprs, unmapped

    def _convert(
        self,
        col: pl.Expr,
        spec: ColumnSpec,
        dtype: pl.DataType,
        state_name: str | None,
        decimal_comma: bool = False,
    ) -> pl.Expr:
        if spec.parse == "datetime":
            value = _epoch_seconds(col, dtype, spec.format)
        elif spec.parse == "duration":
            value = (
                duration_seconds(col, decimal_comma=decimal_comma)
                if dtype == pl.String
                else col.cast(pl.Float64)
            )
        else:
            value = col.cast(pl.Float64, strict=False)
        if spec.scale != 1.0 or spec.offset != 0.0:
            value = value * spec.scale + spec.offset
        if spec.target == CURRENT and state_name is not None:
            state = pl.col(state_name).cast(pl.String).str.strip_chars()
            value = (
                pl.when(state.is_in(list(self.discharge_states)))
                .then(-value.abs())
                .when(state.is_in(list(self.charge_states)))
                .then(value.abs())
                .otherwise(value)
            )
        dtype_out = COLUMN_DTYPES.get(spec.target, pl.Float64)
        return value.cast(dtype_out, strict=False)

    def _metadata(self, path: Path, raw: RawTable, unmapped: list[str]) -> RunMetadata:
        fields: dict[str, object] = {"instrument": self.instrument}
        extra: dict[str, str | int | float | bool | None] = {}
        text = "\n".join(raw.preamble)
        for key, pattern in self.metadata_patterns.items():
            match = re.search(pattern, text, flags=re.MULTILINE)
            if match is None:
                continue
            value = match.group(1).strip()
            if key == "start_time":
                fields[key], note = self._parse_start(value, raw)
                if note is not None:
                    extra["start_time_note"] = note
                    log.warning("%s: %s", path, note)
            elif key in ("instrument", "channel"):
                fields[key] = value
            else:
                extra[key] = value
        if self.metadata_hook is not None:
            for key, value in self.metadata_hook(path, raw).items():
                if key in ("instrument", "channel", "start_time"):
                    fields[key] = value
                elif isinstance(value, str | int | float | bool) or value is None:
                    extra[key] = value
        not_stored = [c for c in raw.raw_columns if self.key(c) in self.ignored]
        if not_stored:
            extra["not_stored"] = ", ".join(not_stored)
        if raw.sheets_skipped:
            extra["sheets_not_read"] = ", ".join(raw.sheets_skipped)
        if raw.sheets_read and len(raw.sheets_read) > 1:
            extra["sheets_read"] = ", ".join(raw.sheets_read)
        return RunMetadata.for_file(path, self, unmapped_columns=unmapped, extra=extra, **fields)

    def _parse_start(self, value: str, raw: RawTable) -> tuple[dt.datetime | None, str | None]:
        """The start time ``value`` states, and a note when its day/month order is a guess."""
        if self.numeric_start_date:
            comma = raw.layout is not None and raw.layout.decimal_comma
            read = numeric_date(value, decimal_comma=comma)
            if read is not None:
                return read.value, read.note(value)
        for fmt in self.start_time_formats:
            try:
                return dt.datetime.strptime(value, fmt), None
            except ValueError:
                continue
        return None, None

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """Lazy frame renamed and unit-converted to BDF; unknown columns listed in the metadata."""
        return self._read(Path(path))

    def read_cleaned(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata] | None:
        """:meth:`read` with every number cell cleaned (blanks, placeholders such as ``-``, and
        the thousands separator of numbers grouped past the head: ``1,000.0000`` s into a
        Maccor test), or ``None`` when that would change nothing. For a file whose first such
        cell lies beyond the head that layout detection sees, after the fast typed scan failed
        on it (:func:`echelon.io.base.collect_read`)."""
        path = Path(path)
        layout = self._layout(path) if self.format == "text" else None
        if layout is None:
            return None
        numeric = self._numeric_columns(layout)
        thousands = layout.thousands or late_thousands(path, layout, numeric)
        if layout.clean_numbers and thousands == layout.thousands:
            return None
        cleaned = replace(layout, clean_numbers=True, thousands=thousands)
        return self._read(path, layout=cleaned)

    def _read(
        self, path: Path, *, layout: TextLayout | None = None
    ) -> tuple[pl.LazyFrame, RunMetadata]:
        raw = self._raw(path, layout=layout)
        self._check_units(path, raw)
        try:
            schema = raw.lazy.collect_schema()
        except pl.exceptions.PolarsError as exc:
            raise ReaderError(path, [f"{self.name}: unreadable table: {exc}"]) from exc
        exprs, unmapped = self._expressions(raw, schema)
        meta = self._metadata(path, raw, unmapped)
        if self.format == "xlsx":
            xlsx.forget_workbooks()  # the frame holds the data now
        lazy = raw.lazy.select(exprs)
        if self.sign_evidence is not None and CURRENT in lazy.collect_schema().names():
            return with_checked_sign(path, lazy, meta, self.sign_evidence(raw))
        return lazy, meta

    def explain(self, path: Path, exc: Exception) -> list[Problem]:
        """Locate the value that failed to parse (first bad row of each numeric column)."""
        layout = self._layout(Path(path)) if self.format == "text" else None
        if layout is None:
            return [Problem(f"{self.name}: could not parse the data: {exc}")]
        layout = replace(layout, clean_numbers=True)  # a placeholder is no error (read_cleaned)
        numeric = self._numeric_columns(layout)
        return locate_bad_numbers(path, layout, numeric) or [
            Problem(f"{self.name}: could not parse the data: {exc}")
        ]
