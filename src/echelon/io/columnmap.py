"""Declarative column-map readers: a vendor export described as data, not code.

A :class:`ColumnMapReader` turns a delimited text export into a BDF frame from a mapping
``vendor column → (BDF column, scale, offset)``. Vendor readers (Arbin, …) are instances of it, and
users can describe any other CSV the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from echelon._version import __version__
from echelon.errors import ReaderError
from echelon.io.base import RunMetadata, check_last_line, first_text_line, sniff
from echelon.io.bdf import COLUMN_DTYPES, UNIX_TIME


@dataclass(frozen=True)
class ColumnSpec:
    """How one vendor column becomes a BDF column: ``bdf = raw × scale + offset``.

    Attributes
    ----------
    target : str
        BDF column name.
    scale, offset : float
        Linear unit conversion (e.g. mA → A: ``scale=1e-3``; °F → °C: ``scale=5/9,
        offset=-160/9``).
    """

    target: str
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class ColumnMapReader:
    """A reader for delimited text exports described by a column map.

    Attributes
    ----------
    name : str
        Reader name (``arbin_csv``).
    columns : mapping of str to ColumnSpec
        Vendor column → BDF column and unit conversion.
    signature : frozenset of str
        Columns whose presence in the header identifies the format.
    suffixes : tuple of str
        Accepted file suffixes (lower case).
    separator : str
        Field separator.
    datetime_columns : mapping of str to str or None
        Vendor columns holding wall-clock time → ``strftime`` format (``None`` = infer); converted
        to ``unix_time_second``.
    ignored : frozenset of str
        Vendor columns deliberately not stored because BDF derives them (row counters, step
        time); not reported as unknown.
    instrument : str or None
        Instrument name recorded in the metadata.
    """

    name: str
    columns: Mapping[str, ColumnSpec]
    signature: frozenset[str]
    suffixes: tuple[str, ...] = (".csv",)
    separator: str = ","
    datetime_columns: Mapping[str, str | None] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()
    instrument: str | None = None
    version: str = __version__

    def _header(self, path: Path) -> list[str]:
        line = first_text_line(sniff(path))
        return [c.strip().strip('"') for c in line.split(self.separator)]

    def can_read(self, path: Path) -> bool:
        """Suffix matches and the header contains every signature column."""
        if path.suffix.lower() not in self.suffixes:
            return False
        return self.signature <= set(self._header(path))

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """Lazy scan, renamed and unit-converted to BDF; unknown columns listed in the metadata."""
        check_last_line(path, self.separator)
        try:
            lazy = pl.scan_csv(
                path, separator=self.separator, infer_schema_length=10000, encoding="utf8-lossy"
            )
            header = lazy.collect_schema().names()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ReaderError(path, [f"{self.name}: not a readable delimited file: {exc}"]) from exc
        exprs: list[pl.Expr] = []
        for column in header:
            spec = self.columns.get(column)
            if spec is None:
                continue
            dtype = COLUMN_DTYPES.get(spec.target, pl.Float64)
            expr = pl.col(column).cast(pl.Float64, strict=False)
            if spec.scale != 1.0 or spec.offset != 0.0:
                expr = expr * spec.scale + spec.offset
            exprs.append(expr.cast(dtype, strict=False).alias(spec.target))
        for column, fmt in self.datetime_columns.items():
            if column in header and UNIX_TIME not in {s.target for s in self.columns.values()}:
                parsed = pl.col(column).cast(pl.String).str.to_datetime(format=fmt, strict=False)
                exprs.append((parsed.dt.epoch("ms") / 1000.0).alias(UNIX_TIME))
        known = set(self.columns) | set(self.datetime_columns) | set(self.ignored)
        unmapped = [c for c in header if c not in known]
        meta = RunMetadata.for_file(
            path, self, instrument=self.instrument, unmapped_columns=unmapped
        )
        return lazy.select(exprs), meta
