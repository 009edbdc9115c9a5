"""The reader plugin contract, run metadata, reader discovery and automatic format detection.

A reader is any object with ``name``, ``version``, ``can_read(path) -> bool`` and
``read(path) -> (pl.LazyFrame, RunMetadata)`` whose frame uses BDF column names and units
(:mod:`echelon.io.bdf`). Third-party readers register a class under the entry-point group
``echelon.readers``; :func:`available_readers` finds them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Final, Protocol, TypeVar, runtime_checkable

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from echelon.errors import Problem, ReaderError, UsageError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "echelon.readers"
SNIFF_BYTES = 8192


class RunMetadata(BaseModel):
    """Key-value metadata of one tester file, kept with its BDF time series.

    Attributes
    ----------
    source_path : str
        The raw file read.
    source_sha256 : str
        SHA-256 of the raw file bytes.
    reader, reader_version : str
        Plugin that read it.
    instrument, channel : str or None
        Tester make/model and channel, when the file says.
    start_time : datetime or None
        Test start (UTC when the file has a zone, else as written).
    unmapped_columns : list of str
        Source columns with no BDF equivalent; reported in a warning, kept in the raw copy.
    extra : dict
        Anything else the file states (test name, schedule, …).
    """

    model_config = ConfigDict(extra="forbid")

    source_path: str
    source_sha256: str
    reader: str
    reader_version: str
    instrument: str | None = None
    channel: str | None = None
    start_time: dt.datetime | None = None
    unmapped_columns: list[str] = Field(default_factory=list)
    extra: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @classmethod
    def for_file(cls, path: Path, reader: Reader, **fields: object) -> RunMetadata:
        """Metadata of ``path`` read by ``reader`` (hashes the file); ``fields`` set the rest."""
        return cls.model_validate(
            {
                "source_path": str(path),
                "source_sha256": sha256_file(path),
                "reader": reader.name,
                "reader_version": reader.version,
                **fields,
            }
        )


@runtime_checkable
class Reader(Protocol):
    """Contract every tester-file reader implements."""

    @property
    def name(self) -> str:
        """Reader name, e.g. ``arbin_csv``."""

    @property
    def version(self) -> str:
        """Reader version."""

    def can_read(self, path: Path) -> bool:
        """Whether this reader recognises the file (cheap: suffix and first bytes only)."""

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """The file as a lazy BDF frame plus its metadata; raises :class:`ReaderError`."""


DIGEST_MEMORY: Final = 256
"""Recent file digests remembered (by path, size and modification time)."""
_digests: OrderedDict[tuple[str, int, int], str] = OrderedDict()
_digests_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes (streamed).

    The last :data:`DIGEST_MEMORY` digests are remembered by resolved path, size and
    modification time (as ``git`` and ``make`` trust them), so a tester file hashed by the
    pipeline and again by its reader's metadata is read once."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        if key in _digests:
            _digests.move_to_end(key)
            return _digests[key]
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    with _digests_lock:
        _digests[key] = digest
        while len(_digests) > DIGEST_MEMORY:
            _digests.popitem(last=False)
    return digest


def sniff(path: Path, n_bytes: int = SNIFF_BYTES) -> bytes:
    """The first ``n_bytes`` of a file (empty if unreadable)."""
    try:
        with Path(path).open("rb") as fh:
            return fh.read(n_bytes)
    except OSError:
        return b""


def _builtin_readers() -> list[Reader]:
    from echelon.io.arbin import ArbinCsvReader, ArbinXlsxReader
    from echelon.io.batteryarchive import BatteryArchiveCsvReader
    from echelon.io.bdf import BdfCsvReader, BdfParquetReader
    from echelon.io.biologic import BiologicMptReader
    from echelon.io.bitrode import BitrodeCsvReader
    from echelon.io.eis_text import WettEisTextReader
    from echelon.io.gamry import GamryDtaReader
    from echelon.io.maccor import MaccorTextReader
    from echelon.io.nasa import NasaCycleCsvReader
    from echelon.io.nebula import NebulaStepXlsxReader
    from echelon.io.neware import (
        NewareBts7CsvReader,
        NewareCsvReader,
        NewareNdaReader,
        NewareXlsxReader,
    )
    from echelon.io.novonix import NovonixCsvReader

    return [
        BdfParquetReader(),
        BdfCsvReader(),
        ArbinCsvReader(),
        ArbinXlsxReader(),
        BatteryArchiveCsvReader(),
        MaccorTextReader(),
        NewareCsvReader(),
        NewareBts7CsvReader(),
        NewareXlsxReader(),
        NewareNdaReader(),
        BiologicMptReader(),
        BitrodeCsvReader(),
        NasaCycleCsvReader(),
        NovonixCsvReader(),
        NebulaStepXlsxReader(),
        WettEisTextReader(),
        GamryDtaReader(),
    ]


def available_readers() -> list[Reader]:
    """Every reader: Echelon's own plus those registered under ``echelon.readers``.

    Built-ins come first; an entry point with the same ``name`` as a built-in is skipped, so an
    installed copy of Echelon's own entry points does not duplicate them. Discovery runs once per
    process (call ``available_readers.cache_clear()`` after installing a plug-in at run time).
    """
    return list(_discover_readers())


@functools.lru_cache(maxsize=1)
def _discover_readers() -> tuple[Reader, ...]:
    readers = _builtin_readers()
    names = {r.name for r in readers}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            reader = obj() if isinstance(obj, type) else obj
        except Exception as exc:  # a broken plug-in must not break reading
            log.warning("reader plug-in %s could not be loaded: %s", ep.name, exc)
            continue
        if getattr(reader, "name", ep.name) in names:
            continue
        if not isinstance(reader, Reader):
            log.warning("entry point %s is not an echelon reader (no can_read/read)", ep.name)
            continue
        readers.append(reader)
        names.add(reader.name)
    return tuple(readers)


available_readers.cache_clear = _discover_readers.cache_clear  # type: ignore[attr-defined]


def get_reader(name: str) -> Reader:
    """A reader by name (``bdf_csv``, ``arbin_csv``, …)."""
    readers = available_readers()
    for reader in readers:
        if reader.name == name:
            return reader
    raise UsageError(
        f"no reader named {name!r}; available: {', '.join(r.name for r in readers)} "
        "(`echelon readers` lists them)"
    )


def require_file(
    path: Path,
    *,
    hint: str = "check the path in the manifest or command",
    folder_hint: str = "give one file inside it",
) -> None:
    """Refuse a path that is not a file: a folder is named as one, with what it holds.

    Parameters
    ----------
    path : Path
        The tester file given.
    hint : str
        What to do when nothing is at ``path``.
    folder_hint : str
        What to do when ``path`` is a folder.

    Raises
    ------
    ReaderError
        When ``path`` is a folder or does not exist.
    """
    if path.is_dir():
        files = sorted(p.name for p in path.iterdir() if p.is_file())
        holds = f"it holds {len(files)} file(s), e.g. {files[0]!r}" if files else "it is empty"
        raise ReaderError(path, [f"is a folder, not a tester file ({holds}): {folder_hint}"])
    if not path.is_file():
        raise ReaderError(path, [f"file not found; {hint}"])


def detect_reader(path: Path, readers: Sequence[Reader] | None = None) -> Reader:
    """The first reader that recognises ``path``.

    Raises
    ------
    ReaderError
        When the file does not exist, is a folder, is empty, or no reader recognises it (the
        message lists the readers tried).
    """
    path = Path(path)
    require_file(path)
    if path.stat().st_size == 0:
        raise ReaderError(path, ["file is empty (0 bytes); re-export it from the tester"])
    candidates = list(readers) if readers is not None else available_readers()
    for reader in candidates:
        if reader.can_read(path):
            return reader
    head = sniff(path)
    from echelon.io.hints import unsupported_kind  # hints → text → this module

    kind = unsupported_kind(head)
    if kind is not None:
        raise ReaderError(path, [f"no reader recognises this file: it is {kind}"])
    if b"\x00" in head and re.fullmatch(r"\.\d{3}", path.suffix):
        raise ReaderError(
            path,
            [
                "binary data under a numbered suffix: a Maccor raw data file, which Echelon does "
                "not decode; export the test from MIMS as text (Export Data, tab-delimited) and "
                "read the export"
            ],
        )
    if b"\x00" in head and path.suffix.lower() in (".csv", ".txt", ".tsv", ".mpt", ".dat"):
        raise ReaderError(
            path,
            [
                f"binary data (NUL bytes) within the first {len(head):,} bytes of a text file: "
                "the file is corrupt or not a tester export; copy or export it again"
            ],
        )
    if path.suffix.lower() in (".xlsx", ".xlsm") and not zipfile.is_zipfile(path):
        why = (
            "a zip archive cut short (its directory at the end is missing)"
            if head.startswith(b"PK")
            else "it does not start like a workbook (an .xlsx file is a zip archive)"
        )
        raise ReaderError(
            path,
            [
                f"not a readable .xlsx workbook: {why}; the file is truncated or corrupt (copy "
                "or export it again), or another format under an .xlsx name (a CSV: rename it "
                ".csv)"
            ],
        )
    raise ReaderError(
        path,
        [
            "no reader recognises this file (tried "
            + ", ".join(r.name for r in candidates)
            + f"){closest_format(path, candidates)}; name a reader (`--reader NAME` of read, "
            "summarize and plot) or describe its columns in a column map (`--map MAP.yaml`, "
            "docs/readers.md); for intake, convert it first (`echelon read FILE --map MAP.yaml "
            "-o FILE.bdf.parquet`) and list the .bdf.parquet in the manifest's test_files"
        ],
    )


def closest_format(path: Path, readers: Sequence[Reader]) -> str:
    """``"; closest: NAME, whose header lacks …"`` for the reader whose header signature the
    file matches best (at least half of it), else ``""``."""
    best: tuple[int, str, frozenset[str]] | None = None
    for reader in readers:
        header_gap = getattr(reader, "header_gap", None)
        gap = header_gap(path) if header_gap is not None else None
        if gap is None or not gap[1] or len(gap[0]) < len(gap[1]):
            continue
        if best is None or len(gap[0]) > best[0]:
            best = (len(gap[0]), reader.name, gap[1])
    if best is None:
        return ""
    return f"; closest: {best[1]}, whose header lacks {', '.join(sorted(best[2]))}"


T = TypeVar("T")

READ_ERRORS: tuple[type[Exception], ...] = (pl.exceptions.PolarsError, OSError, ValueError)
"""Failures of parsing libraries on malformed input (turned into :class:`ReaderError`)."""


def chosen_reader(path: Path, reader: str | Reader | None, column_map: Path | str | None) -> Reader:
    """The reader for ``path``: from a column map, by name or instance, else detected."""
    if column_map is not None:
        from echelon.io.generic import load_column_map

        return load_column_map(column_map, data_path=path)
    if isinstance(reader, str):
        return get_reader(reader)
    return reader or detect_reader(path)


def parse_failure(chosen: Reader, path: Path, exc: Exception) -> ReaderError:
    """A parser's exception as a :class:`ReaderError`, located by the reader if it can."""
    explain = getattr(chosen, "explain", None)
    problems: list[Problem | str] = []
    if callable(explain) and isinstance(exc, pl.exceptions.PolarsError):
        try:
            problems = list(explain(path, exc))
        except READ_ERRORS:
            problems = []
    return ReaderError(
        path, problems or [f"{chosen.name}: could not parse the data ({type(exc).__name__}: {exc})"]
    )


def collect_read(chosen: Reader, path: Path, finish: Callable[[pl.LazyFrame, RunMetadata], T]) -> T:
    """``finish`` (a collect, or a sink to Parquet) of ``chosen.read(path)``.

    When the fast typed scan fails and the reader can read the file again with every number cell
    cleaned (``read_cleaned``: a ``-`` or ``N/A`` placeholder, or blanks around a number, first
    seen past the head that layout detection looks at), it is read once more that way; a failure
    left is located in the file (:func:`parse_failure`).
    """
    try:
        return finish(*chosen.read(path))
    except READ_ERRORS as exc:
        again = getattr(chosen, "read_cleaned", None)
        try:
            retry = again(path) if callable(again) else None
        except READ_ERRORS:  # the file is malformed beyond cleaning: report the first failure
            retry = None
        if retry is None:
            raise parse_failure(chosen, path, exc) from exc
        try:
            return finish(*retry)
        except READ_ERRORS as exc_again:
            raise parse_failure(chosen, path, exc_again) from exc_again


_UNMAPPED_WARNED: set[tuple[str, tuple[str, ...]]] = set()
"""(reader, unmapped columns) already warned about in this process."""


def _warn_unmapped(path: Path, reader: str, columns: Sequence[str]) -> None:
    """Warn once per process per reader and set of columns (a batch of files from one tester
    names them once); later files log it at debug level. Each file's metadata lists them."""
    key = (reader, tuple(columns))
    first = key not in _UNMAPPED_WARNED
    _UNMAPPED_WARNED.add(key)
    log.log(
        logging.WARNING if first else logging.DEBUG,
        "%s: columns without a BDF equivalent (kept in the raw file only): %s%s",
        path,
        ", ".join(columns),
        f" (not repeated for other {reader} files with these columns)" if first else "",
    )


def read(
    path: Path | str,
    *,
    reader: str | Reader | None = None,
    column_map: Path | str | None = None,
) -> tuple[pl.DataFrame, RunMetadata]:
    """Read a tester file into a validated BDF frame, detecting its format.

    Parameters
    ----------
    path : path-like
        Tester file in any format of :func:`available_readers` (``echelon readers`` lists them).
    reader : str or Reader, optional
        Force a reader by name or instance instead of detecting one.
    column_map : path-like, optional
        A YAML or TOML column map (:mod:`echelon.io.generic`) describing the file's columns and
        units; overrides detection.

    Returns
    -------
    frame : pl.DataFrame
        BDF columns (``test_time_second``, ``voltage_volt``, ``current_ampere``, …), validated.
    metadata : RunMetadata
        Source hash, reader, instrument, channel, start time; columns that have no BDF
        equivalent are listed in ``unmapped_columns`` and named in a logged warning.

    Raises
    ------
    ReaderError
        Naming the file, and the row and column where possible.
    """
    from echelon.io.bdf import UNIX_TIME, validate_bdf

    path = Path(path)
    chosen = chosen_reader(path, reader, column_map)
    require_file(path)
    frame, metadata = collect_read(chosen, path, lambda lazy, meta: (lazy.collect(), meta))
    if metadata.unmapped_columns:
        _warn_unmapped(path, chosen.name, metadata.unmapped_columns)
    frame = validate_bdf(frame, path)
    checked, after = checked_current(chosen, path, frame.lazy(), metadata)
    if after is not metadata:  # the current was negated: collect the checked frame
        frame, metadata = checked.collect(), after
    if UNIX_TIME in frame.columns:
        metadata = with_start_time(metadata, frame.get_column(UNIX_TIME)[0])
    return frame, metadata


def checked_current(
    chosen: Reader, path: Path, frame: pl.LazyFrame, metadata: RunMetadata
) -> tuple[pl.LazyFrame, RunMetadata]:
    """``frame`` and ``metadata`` after the reader's check of the current's sign on the data read
    (its optional ``check_current_sign(path, frame, metadata)``: the BDF CSV reader's), else as
    they are."""
    check = getattr(chosen, "check_current_sign", None)
    return check(path, frame, metadata) if callable(check) else (frame, metadata)


def with_start_time(metadata: RunMetadata, first_unix_s: float | None) -> RunMetadata:
    """``metadata`` with ``start_time`` from the first wall-clock sample if the file had none, or
    only the date of it (a midnight start on the first sample's day: Maccor's ``Date of Test:
    12/16/2019`` for a test whose first sample is at 14:03:25)."""
    if first_unix_s is None:
        return metadata
    start = dt.datetime.fromtimestamp(float(first_unix_s), dt.UTC).replace(tzinfo=None)
    stated = metadata.start_time
    if stated is not None and (stated.time() != dt.time() or stated.date() != start.date()):
        return metadata
    return metadata.model_copy(update={"start_time": start})
