"""Battery Data Format (BDF) columns, frame validation, the BDF CSV / Parquet readers and writer.

Column names carry their unit (``voltage_volt``); current is positive when charging. Files are
``.bdf.csv`` or ``.bdf.parquet``; Parquet files carry Echelon's :class:`RunMetadata` as key-value
metadata under ``echelon.run_metadata``.

References
----------
Battery Data Alliance, Battery Data Format (BDF) ontology,
https://w3id.org/battery-data-alliance/ontology/battery-data-format
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Final

import polars as pl

from echelon._version import __version__
from echelon.errors import Problem, ReaderError
from echelon.io.base import RunMetadata, check_last_line, first_text_line, sha256_file, sniff

TIME: Final = "test_time_second"
VOLTAGE: Final = "voltage_volt"
CURRENT: Final = "current_ampere"
UNIX_TIME: Final = "unix_time_second"
STEP: Final = "step_id"
CYCLE: Final = "cycle_count"
CHARGE_AH: Final = "charging_capacity_ah"
DISCHARGE_AH: Final = "discharging_capacity_ah"
CHARGE_WH: Final = "charging_energy_wh"
DISCHARGE_WH: Final = "discharging_energy_wh"
POWER: Final = "power_watt"
SURFACE_T: Final = "surface_temperature_celsius"
AMBIENT_T: Final = "ambient_temperature_celsius"
RESISTANCE: Final = "internal_resistance_ohm"
FREQUENCY: Final = "frequency_hertz"
Z_REAL: Final = "real_impedance_ohm"
Z_IMAG: Final = "imaginary_impedance_ohm"

REQUIRED_COLUMNS: Final = (TIME, VOLTAGE, CURRENT)

COLUMN_DTYPES: Final[dict[str, type[pl.DataType]]] = {
    TIME: pl.Float64,
    VOLTAGE: pl.Float64,
    CURRENT: pl.Float64,
    UNIX_TIME: pl.Float64,
    STEP: pl.Int64,
    CYCLE: pl.Int64,
    CHARGE_AH: pl.Float64,
    DISCHARGE_AH: pl.Float64,
    CHARGE_WH: pl.Float64,
    DISCHARGE_WH: pl.Float64,
    POWER: pl.Float64,
    SURFACE_T: pl.Float64,
    AMBIENT_T: pl.Float64,
    RESISTANCE: pl.Float64,
    FREQUENCY: pl.Float64,
    Z_REAL: pl.Float64,
    Z_IMAG: pl.Float64,
}
"""Every BDF column Echelon knows, with its storage type."""

BDF_LABELS: Final[dict[str, str]] = {
    "Test Time / s": TIME,
    "Voltage / V": VOLTAGE,
    "Current / A": CURRENT,
    "Unix Time / s": UNIX_TIME,
    "Step Index / 1": STEP,
    "Step Count / 1": STEP,
    "Cycle Count / 1": CYCLE,
    "Charging Capacity / Ah": CHARGE_AH,
    "Discharging Capacity / Ah": DISCHARGE_AH,
    "Charging Energy / Wh": CHARGE_WH,
    "Discharging Energy / Wh": DISCHARGE_WH,
    "Power / W": POWER,
    "Surface Temperature / degC": SURFACE_T,
    "Ambient Temperature / degC": AMBIENT_T,
    "Internal Resistance / Ohm": RESISTANCE,
    "Frequency / Hz": FREQUENCY,
    "Real Impedance / Ohm": Z_REAL,
    "Imaginary Impedance / Ohm": Z_IMAG,
}
"""Human-readable BDF labels (as some tools write them in CSV headers) → machine names."""

PLAUSIBLE_LIMITS: Final = {VOLTAGE: 2000.0, CURRENT: 20000.0}
"""Absolute values above these are taken as a unit error (e.g. mV written as V)."""

MAX_PROBLEMS: Final = 20
METADATA_KEY: Final = "echelon.run_metadata"


def _null_rows(frame: pl.DataFrame, column: str) -> list[int]:
    col = frame.get_column(column)
    mask = col.is_null()
    if col.dtype.is_float():
        mask = mask | col.is_nan()
    if not mask.any():
        return []
    return (mask.arg_true() + 1).head(MAX_PROBLEMS).to_list()


def validate_bdf(frame: pl.DataFrame, path: Path | str) -> pl.DataFrame:
    """Check a BDF frame and cast its columns to their storage types.

    Checks: required columns present; known columns castable; at least one row; no missing or
    NaN values in required columns; ``test_time_second`` strictly increasing; voltage and current
    magnitudes plausible.

    Parameters
    ----------
    frame : pl.DataFrame
        Frame with BDF column names (unknown extra columns are kept).
    path : path-like
        File the frame came from, for messages.

    Returns
    -------
    pl.DataFrame
        The frame with known columns cast (required columns first).

    Raises
    ------
    ReaderError
        Listing every problem with its row (1-based data row) and column.
    """
    problems: list[Problem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ReaderError(
            path,
            [
                Problem(
                    f"required BDF column missing (have: {', '.join(frame.columns) or 'none'}); "
                    "map the tester's column to it with a column map",
                    column=c,
                )
                for c in missing
            ],
        )
    if frame.height == 0:
        raise ReaderError(path, ["no data rows (header only or truncated file); re-export it"])
    casts = []
    for name, dtype in COLUMN_DTYPES.items():
        if name not in frame.columns:
            continue
        if frame.schema[name] == dtype:
            continue
        try:
            frame.get_column(name).cast(dtype, strict=True)
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            bad = (
                frame.get_column(name).cast(dtype, strict=False).is_null()
                & frame.get_column(name).is_not_null()
            )
            row = int(bad.arg_true()[0]) + 1 if bad.any() else None
            problems.append(Problem(f"not a number ({type(exc).__name__})", row=row, column=name))
            continue
        casts.append(pl.col(name).cast(dtype))
    if problems:
        raise ReaderError(path, problems)
    if casts:
        frame = frame.with_columns(casts)
    for name in REQUIRED_COLUMNS:
        for row in _null_rows(frame, name):
            message = "missing or NaN value"
            if row == frame.height:
                message += " in the last row: the file looks truncated; copy or export it again"
            problems.append(Problem(message, row=row, column=name))
    if problems:
        raise ReaderError(path, problems)
    times = frame.get_column(TIME)
    diffs = times.diff()
    for index in diffs.le(0).arg_true().head(MAX_PROBLEMS).to_list():
        kind = "duplicated" if diffs[index] == 0 else "going backwards"
        problems.append(
            Problem(
                f"time {kind} ({times[index - 1]} → {times[index]} s); "
                "remove duplicated rows or split the file at the restart",
                row=index + 1,
                column=TIME,
            )
        )
    for name, limit in PLAUSIBLE_LIMITS.items():
        over = frame.get_column(name).abs().gt(limit)
        if over.any():
            row = int(over.arg_true()[0]) + 1
            problems.append(
                Problem(
                    f"|value| {frame[name][row - 1]} exceeds {limit}: wrong unit (mV or mA "
                    "written as V or A?); fix the column map's unit",
                    row=row,
                    column=name,
                )
            )
    if problems:
        raise ReaderError(path, problems)
    ordered = [*REQUIRED_COLUMNS, *(c for c in frame.columns if c not in REQUIRED_COLUMNS)]
    return frame.select(ordered)


def write_bdf_parquet(frame: pl.DataFrame, path: Path | str, metadata: RunMetadata) -> str:
    """Write a BDF frame to ``.bdf.parquet`` (zstd) with its run metadata, atomically.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame.
    path : path-like
        Destination; parent folders are created. Written to a temporary file then renamed, so a
        crash never leaves a half-written file under the final name.
    metadata : RunMetadata
        Stored as JSON under the key ``echelon.run_metadata``.

    Returns
    -------
    str
        SHA-256 of the written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=path.parent)
    os.close(fd)
    try:
        frame.write_parquet(
            tmp_name,
            compression="zstd",
            metadata={
                METADATA_KEY: metadata.model_dump_json(),
                "echelon.version": __version__,
            },
        )
        digest = sha256_file(Path(tmp_name))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return digest


def read_run_metadata(path: Path | str) -> RunMetadata | None:
    """Echelon run metadata stored in a ``.bdf.parquet`` file, or ``None`` if absent."""
    kv = pl.read_parquet_metadata(path)
    raw = kv.get(METADATA_KEY)
    return RunMetadata.model_validate_json(raw) if raw else None


def normalise_bdf_header(columns: list[str]) -> dict[str, str]:
    """Renames that turn human-readable BDF labels into machine names (machine names kept)."""
    return {c: BDF_LABELS[c.strip()] for c in columns if c.strip() in BDF_LABELS}


class BdfParquetReader:
    """Reads ``.bdf.parquet`` files (Echelon's own storage format)."""

    name = "bdf_parquet"
    version = __version__

    def can_read(self, path: Path) -> bool:
        """Parquet magic bytes and a ``.parquet`` suffix."""
        return path.suffix.lower() == ".parquet" and sniff(path, 4) == b"PAR1"

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """Lazy scan plus the stored metadata (re-stamped with this file's hash)."""
        try:
            stored = read_run_metadata(path)
            lazy = pl.scan_parquet(path)
            columns = lazy.collect_schema().names()
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise ReaderError(path, [f"not a readable Parquet file: {exc}"]) from exc
        # a file Echelon wrote keeps the metadata of the raw file it came from
        meta = (
            stored.model_copy(update={"source_path": str(path)})
            if stored is not None
            else RunMetadata.for_file(path, self)
        )
        renames = normalise_bdf_header(columns)
        return lazy.rename(renames) if renames else lazy, meta


class BdfCsvReader:
    """Reads BDF CSV files (machine names or human-readable labels in the header)."""

    name = "bdf_csv"
    version = __version__

    def can_read(self, path: Path) -> bool:
        """A text header naming the required BDF columns (machine names or labels)."""
        if path.suffix.lower() not in (".csv", ".txt"):
            return False
        header = first_text_line(sniff(path))
        columns = {c.strip().strip('"') for c in header.split(",")}
        names = columns | {BDF_LABELS[c] for c in columns if c in BDF_LABELS}
        return all(c in names for c in REQUIRED_COLUMNS)

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """Lazy CSV scan with BDF names; unknown columns are reported in the metadata."""
        check_last_line(path)
        try:
            lazy = pl.scan_csv(path, infer_schema_length=10000)
            columns = lazy.collect_schema().names()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ReaderError(path, [f"not a readable CSV file: {exc}"]) from exc
        renames = normalise_bdf_header(columns)
        named = [renames.get(c, c) for c in columns]
        unmapped = [c for c in named if c not in COLUMN_DTYPES]
        meta = RunMetadata.for_file(path, self, unmapped_columns=unmapped)
        lazy = lazy.rename(renames) if renames else lazy
        return lazy.drop(unmapped) if unmapped else lazy, meta


def write_bdf_csv(frame: pl.DataFrame, path: Path | str) -> None:
    """Write a BDF frame as CSV with machine-readable column names."""
    frame.write_csv(path)


def metadata_json(metadata: RunMetadata) -> dict[str, object]:
    """Run metadata as a plain JSON-compatible dict (for the registry)."""
    loaded: dict[str, object] = json.loads(metadata.model_dump_json())
    return loaded
