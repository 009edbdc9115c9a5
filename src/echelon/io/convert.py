"""Streaming conversion of a tester file to ``.bdf.parquet`` (for files larger than memory).

:func:`echelon.io.read` returns the whole file as a frame; a multi-gigabyte export does not need
to fit in memory to be converted. :func:`convert_to_bdf` streams the reader's lazy frame into a
temporary Parquet file (polars' streaming engine, bounded memory), checks it there with the same
row-level rules as :func:`~echelon.io.bdf.validate_bdf` (a columnar scan of three columns), and
only then renames it into place — an invalid file never leaves a ``.bdf.parquet`` behind.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

import polars as pl

from echelon._version import __version__
from echelon.errors import OutputError, ReaderError
from echelon.io.atomic import not_written, temporary_beside, write_atomic
from echelon.io.base import (
    Reader,
    RunMetadata,
    checked_current,
    chosen_reader,
    collect_read,
    require_file,
    sha256_file,
    with_start_time,
)
from echelon.io.bdf import (
    METADATA_KEY,
    PARQUET_COMPRESSION,
    UNIX_TIME,
    bdf_problems,
    required_columns,
)


@dataclass(frozen=True)
class Conversion:
    """Result of :func:`convert_to_bdf`.

    Attributes
    ----------
    path : Path
        The ``.bdf.parquet`` written.
    sha256 : str
        Its SHA-256.
    n_rows : int
        Rows converted.
    columns : list of str
        BDF columns stored.
    metadata : RunMetadata
        Metadata of the source file (stored in the Parquet key-value metadata).
    """

    path: Path
    sha256: str
    n_rows: int
    columns: list[str]
    metadata: RunMetadata


def convert_to_bdf(
    path: Path | str,
    output: Path | str,
    *,
    reader: str | Reader | None = None,
    column_map: Path | str | None = None,
) -> Conversion:
    """Convert a tester file to ``.bdf.parquet`` without loading it into memory.

    Parameters
    ----------
    path : path-like
        Tester file (any supported format; text formats stream, workbooks are held in memory).
    output : path-like
        Destination ``.bdf.parquet``; written atomically (temporary file, then rename).
    reader : str or Reader, optional
        Force a reader instead of detecting one.
    column_map : path-like, optional
        A YAML/TOML column map describing the file.

    Returns
    -------
    Conversion

    Raises
    ------
    ReaderError
        If the file cannot be read or does not validate (row and column named); nothing is
        left at ``output``.
    OutputError
        ``output`` could not be written (a disk that fills, a permission withdrawn): named; no
        partial file is left, and an earlier ``output`` is as it was.
    """
    path, output = Path(path), Path(output)
    chosen = chosen_reader(path, reader, column_map)
    require_file(path, hint="check the path")
    done: list[Conversion] = []
    write_atomic(output, lambda tmp: done.append(_convert(chosen, path, tmp, output)))
    return done[0]


def _convert(chosen: Reader, path: Path, tmp: Path, output: Path) -> Conversion:
    """Convert ``path`` into the temporary file ``tmp`` (to be renamed to ``output``)."""

    def sink(lazy: pl.LazyFrame, metadata: RunMetadata) -> tuple[RunMetadata, list[str]]:
        names = lazy.collect_schema().names()
        required = required_columns(names)
        missing = [c for c in required if c not in names]
        if missing:
            raise ReaderError(
                path, [f"required BDF column {c} not found; use a column map" for c in missing]
            )
        ordered = [*required, *(c for c in names if c not in required)]
        if UNIX_TIME in names:
            first = lazy.select(UNIX_TIME).head(1).collect().get_column(UNIX_TIME)
            metadata = with_start_time(metadata, first[0] if first.len() else None)
        _sink(lazy.select(ordered), tmp, metadata, output=output)
        return metadata, ordered

    metadata, ordered = collect_read(chosen, path, sink)
    stored = pl.scan_parquet(tmp)
    n_rows = int(stored.select(pl.len()).collect().item())
    if n_rows == 0:
        raise ReaderError(path, ["no data rows (header only or truncated file); re-export it"])
    problems = bdf_problems(stored, n_rows=n_rows)
    if problems:
        raise ReaderError(path, problems)
    metadata = _with_checked_current(chosen, path, tmp, stored, metadata, output=output)
    return Conversion(output, sha256_file(tmp), n_rows, ordered, metadata)


class _WriteErrors(io.RawIOBase):
    """``raw``, keeping the :class:`OSError` of a write (polars reports it as a
    ``ComputeError``, as it does a cell it cannot parse)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self.raw = raw
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self.raw.write(data)
        except OSError as exc:
            self.error = exc
            raise


def _sink(lazy: pl.LazyFrame, path: Path, metadata: RunMetadata, *, output: Path) -> None:
    """Stream ``lazy`` into the Parquet file ``path`` with ``metadata``.

    Raises
    ------
    OutputError
        ``path`` could not be written (a disk that fills): names ``output``, the file it is
        written for. An error of reading the input propagates as it is.
    """
    failure: Exception | None = None
    try:
        with path.open("wb") as raw:
            file = _WriteErrors(raw)
            try:
                lazy.sink_parquet(
                    cast("IO[bytes]", file),  # polars calls its write()
                    compression=PARQUET_COMPRESSION,
                    metadata={
                        METADATA_KEY: metadata.model_dump_json(),
                        "echelon.version": __version__,
                    },
                    engine="streaming",
                )
            except Exception as exc:  # the input's error (a cell not parsed), or the file's
                failure = exc
    except OSError as exc:  # opening or closing the file
        raise OutputError(not_written(output, exc)) from exc
    if file.error is not None:
        raise OutputError(not_written(output, file.error)) from failure
    if failure is not None:
        raise failure


def _with_checked_current(
    chosen: Reader,
    path: Path,
    tmp: Path,
    stored: pl.LazyFrame,
    metadata: RunMetadata,
    *,
    output: Path,
) -> RunMetadata:
    """The reader's check of the current's sign on the Parquet file ``tmp`` written
    (:func:`~echelon.io.base.checked_current`); a current it negates is written again (a rare
    file, so the common one is written once)."""
    checked, after = checked_current(chosen, path, stored, metadata)
    if after is metadata:
        return metadata
    again = temporary_beside(tmp, suffix=".parquet")
    try:
        _sink(checked, again, after, output=output)
        os.replace(again, tmp)
    except BaseException:
        again.unlink(missing_ok=True)
        raise
    return after
