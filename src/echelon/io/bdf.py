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

import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Final

import polars as pl

from echelon._version import __version__
from echelon.errors import Problem, ReaderError
from echelon.io.atomic import temporary_beside
from echelon.io.base import RunMetadata, sha256_file, sniff
from echelon.io.text import (
    TextLayout,
    check_field_counts,
    check_last_line,
    detect_layout,
    head_lines,
    locate_bad_numbers,
)

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
IMPEDANCE_COLUMNS: Final = (FREQUENCY, Z_REAL, Z_IMAG)
"""An impedance-only file (EIS without voltage/current logging) requires these instead."""

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
"""Absolute values above these are taken as a unit error. They catch mV written as V for any cell
that reaches 2 V, but mA written as A only above 20 A of real current: without the cell's rating a
read cannot tell a small cell's mA from a large cell's A. A capacity 1000 × too large is refused
later, against the rated capacity (:func:`echelon.estimation.capacity.soh_from_capacity`)."""

MAX_PROBLEMS: Final = 20
METADATA_KEY: Final = "echelon.run_metadata"
PARQUET_COMPRESSION: Final = "lz4"
"""Codec of ``.bdf.parquet`` files. LZ4 decodes about 3× faster than zstd (10 M cycling rows:
0.24 s vs 0.70 s of CPU on this project's 2-core runner, docs/performance.md) for files about 20 %
larger; per-cycle summaries over stored files are read-bound. Files written with another codec
read the same."""
ROW_GROUP_ROWS: Final = 1 << 24
"""Rows per Parquet row group of an in-memory write (16.8 M): one group for any usual test file,
so each column reads back as one contiguous buffer that numpy views without a copy (a file of
many small groups costs a concatenating copy of every column on each read)."""


def _missing(column: str) -> pl.Expr:
    return pl.col(column).is_null() | pl.col(column).is_nan()


def required_columns(columns: list[str]) -> tuple[str, ...]:
    """The columns a frame must have: time, voltage and current — or, for an impedance-only
    file, frequency and the real and imaginary impedance."""
    if all(c in columns for c in IMPEDANCE_COLUMNS) and not all(
        c in columns for c in (VOLTAGE, CURRENT)
    ):
        return IMPEDANCE_COLUMNS
    return REQUIRED_COLUMNS


def bdf_problems(lazy: pl.LazyFrame, *, n_rows: int) -> list[Problem]:
    """Row-level problems of a BDF frame: missing/NaN required values, time not increasing,
    implausible magnitudes (each located by 1-based row and column; at most 20 of each kind).

    Works on a lazy frame in one filtered pass, so a converted file is checked without holding
    it in memory.
    """
    required = required_columns(lazy.collect_schema().names())
    if required != REQUIRED_COLUMNS:
        return _impedance_problems(lazy, required)
    t = pl.col(TIME)
    flagged = (
        lazy.select(REQUIRED_COLUMNS)
        .with_row_index("row", offset=1)
        .with_columns(t.shift(1).alias("_before"))
        .filter(
            pl.any_horizontal(_missing(c) for c in REQUIRED_COLUMNS)
            | (t <= pl.col("_before"))
            | pl.any_horizontal(pl.col(c).abs() > limit for c, limit in PLAUSIBLE_LIMITS.items())
        )
        .head(MAX_PROBLEMS * 8)
        .collect()
    )
    missing: list[Problem] = []
    others: list[Problem] = []
    for rec in flagged.iter_rows(named=True):
        row = int(rec["row"])
        for name in REQUIRED_COLUMNS:
            value = rec[name]
            if value is None or value != value:  # NaN
                message = "missing or NaN value"
                if row == n_rows:
                    message += " in the last row: the file looks truncated; copy or export it again"
                missing.append(Problem(message, row=row, column=name))
        before, now = rec["_before"], rec[TIME]
        if before is not None and now is not None and now <= before:
            kind = "duplicated" if now == before else "going backwards"
            others.append(
                Problem(
                    f"time {kind} ({before} → {now} s); "
                    "remove duplicated rows or split the file at the restart",
                    row=row,
                    column=TIME,
                )
            )
    if missing:  # time order means nothing where values are missing
        return missing[:MAX_PROBLEMS] + _missing_counts(lazy, len(missing), n_rows)
    return others[: MAX_PROBLEMS * 2] + _magnitude_problems(lazy, flagged, n_rows)


def _missing_counts(lazy: pl.LazyFrame, listed: int, n_rows: int) -> list[Problem]:
    """When more missing values were found than are listed, how many there are per column (a
    second pass, only then), so that "20 problems" is not read as all of them."""
    if listed <= MAX_PROBLEMS:
        return []
    counts = lazy.select(_missing(c).sum() for c in REQUIRED_COLUMNS).collect().row(0, named=True)
    return [
        Problem(
            f"… {int(count):,} of {n_rows:,} rows in all have no value or NaN here (the first "
            f"{MAX_PROBLEMS} problems are listed above): drop those rows or export the file again",
            column=name,
        )
        for name, count in counts.items()
        if count
    ]


MAGNITUDE_EXAMPLES = 3
"""Rows quoted per column whose magnitudes are implausible (the count says how many there are)."""


def _magnitude_problems(lazy: pl.LazyFrame, flagged: pl.DataFrame, n_rows: int) -> list[Problem]:
    """One problem per column with implausible magnitudes: how many rows, the first few, and
    the likely cause (a unit written as another)."""
    over = {
        name: flagged.filter(pl.col(name).abs() > limit) for name, limit in PLAUSIBLE_LIMITS.items()
    }
    over = {name: rows for name, rows in over.items() if rows.height}
    if not over:
        return []
    counts = (  # a second pass over the file, only when something is wrong
        lazy.select((pl.col(name).abs() > PLAUSIBLE_LIMITS[name]).sum() for name in over)
        .collect()
        .row(0, named=True)
    )
    problems = []
    for name, rows in over.items():
        examples = ", ".join(
            f"row {r}: {v}"
            for r, v in rows.select("row", name).head(MAGNITUDE_EXAMPLES).iter_rows()
        )
        problems.append(
            Problem(
                f"{counts[name]:,} of {n_rows:,} rows exceed |{PLAUSIBLE_LIMITS[name]}| ({examples}"
                f"{', …' if counts[name] > MAGNITUDE_EXAMPLES else ''}): a unit written as "
                "another (mV or mA as V or A?). With --map, set the column's unit (unit: mV); "
                "if the file's header names a unit the data do not follow, read it with a "
                "column map (docs/readers.md)",
                column=name,
            )
        )
    return problems


def _impedance_problems(lazy: pl.LazyFrame, required: tuple[str, ...]) -> list[Problem]:
    bad = (
        lazy.select(required)
        .with_row_index("row", offset=1)
        .filter(pl.any_horizontal(_missing(c) for c in required) | (pl.col(FREQUENCY) <= 0))
        .head(MAX_PROBLEMS)
        .collect()
    )
    return [
        Problem("missing, NaN or non-positive frequency/impedance value", row=int(r))
        for r in bad.get_column("row")
    ]


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
    required = required_columns(frame.columns)
    missing = [c for c in required if c not in frame.columns]
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
    problems = bdf_problems(frame.lazy(), n_rows=frame.height)
    if problems:
        raise ReaderError(path, problems)
    ordered = [*required, *(c for c in frame.columns if c not in required)]
    return frame.select(ordered)


def write_bdf_parquet(frame: pl.DataFrame, path: Path | str, metadata: RunMetadata) -> str:
    """Write a BDF frame to ``.bdf.parquet`` with its run metadata, atomically (LZ4, see
    :data:`PARQUET_COMPRESSION`).

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
    tmp = temporary_beside(path, suffix=".parquet")  # 0666 less the umask, not 0600
    try:
        frame.write_parquet(
            tmp,
            compression=PARQUET_COMPRESSION,
            row_group_size=ROW_GROUP_ROWS,
            metadata={
                METADATA_KEY: metadata.model_dump_json(),
                "echelon.version": __version__,
            },
        )
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def read_run_metadata(path: Path | str) -> RunMetadata | None:
    """Echelon run metadata stored in a ``.bdf.parquet`` file, or ``None`` if absent."""
    kv = pl.read_parquet_metadata(path)
    raw = kv.get(METADATA_KEY)
    return RunMetadata.model_validate_json(raw) if raw else None


_LABEL: Final = re.compile(r"^(.+?)\s+/\s+(\S+)$")
_LABEL_NAMES: Final[dict[str, str]] = {
    **{label.split(" / ")[0].lower(): column for label, column in BDF_LABELS.items()},
    # the "Charge Capacity / Ah" spelling of other tools' BDF exports (cellpy's batmo_bdf.csv)
    "charge capacity": CHARGE_AH,
    "discharge capacity": DISCHARGE_AH,
    "charge energy": CHARGE_WH,
    "discharge energy": DISCHARGE_WH,
}


def bdf_label(column: str) -> tuple[str, float, float] | None:
    """``(machine name, scale, offset)`` of a human-readable BDF label, ``None`` if it is none:
    ``Voltage / V`` → ``(voltage_volt, 1, 0)``; a label in another unit of the quantity is
    converted, ``Test Time / h`` → ``(test_time_second, 3600, 0)``, ``Current / mA`` → ``1e-3``."""
    text = column.strip()
    if text in BDF_LABELS:
        return BDF_LABELS[text], 1.0, 0.0
    match = _LABEL.match(text)
    target = _LABEL_NAMES.get(match.group(1).lower()) if match else None
    if match is None or target is None:
        return None
    from echelon.io.units import conversion  # units imports this module

    try:
        unit = conversion(match.group(2), target)
    except ValueError:
        return None
    return target, unit.scale, unit.offset


def normalise_bdf_header(columns: list[str]) -> dict[str, str]:
    """Renames that turn human-readable BDF labels into machine names (machine names kept)."""
    return {c: label[0] for c in columns if (label := bdf_label(c)) is not None}


def labelled_columns(columns: list[str]) -> list[pl.Expr]:
    """Each column under its machine name, converted from the unit its label states (columns
    that are no label pass unchanged)."""
    out = []
    for column in columns:
        label = bdf_label(column)
        if label is None:
            out.append(pl.col(column))
            continue
        target, scale, offset = label
        value = pl.col(column) * scale + offset if (scale, offset) != (1.0, 0.0) else pl.col(column)
        out.append(value.alias(target))
    return out


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
        return lazy.select(labelled_columns(columns)) if renames else lazy, meta


def _is_bdf_header(fields: list[str]) -> bool:
    names = set(fields) | set(normalise_bdf_header(fields).values())
    return all(c in names for c in REQUIRED_COLUMNS)


class BdfCsvReader:
    """Reads BDF CSV files (machine names or human-readable labels in the header).

    The separator is detected (``,``, ``;``, tab) and so are decimal commas with ``;`` or tab.
    """

    name = "bdf_csv"
    version = __version__

    def _layout(self, path: Path) -> TextLayout | None:
        return detect_layout(path, is_header=_is_bdf_header, header_line=0)

    def can_read(self, path: Path) -> bool:
        """A text header naming the required BDF columns (machine names or labels)."""
        if path.suffix.lower() not in (".csv", ".txt"):
            return False
        return self._layout(path) is not None

    def read(self, path: Path) -> tuple[pl.LazyFrame, RunMetadata]:
        """Lazy CSV scan with BDF names; unknown columns are reported in the metadata."""
        layout = self._layout(path)
        if layout is None:
            raise ReaderError(path, ["not a BDF CSV file (no test time, voltage and current)"])
        found = head_lines(path)
        check_field_counts(path, found[0] if found else [], layout)
        check_last_line(path, layout)
        renames = normalise_bdf_header(layout.columns)
        named = [renames.get(c, c) for c in layout.columns]
        schema = {
            c: COLUMN_DTYPES.get(n, pl.String) for c, n in zip(layout.columns, named, strict=True)
        }
        try:
            lazy = pl.scan_csv(
                path,
                has_header=False,
                skip_lines=layout.data_line,
                separator=layout.separator,
                decimal_comma=layout.decimal_comma,
                schema={c: (pl.Float64 if d != pl.String else d) for c, d in schema.items()},
                extra_columns="ignore",
                missing_columns="insert",
                encoding="utf8-lossy",
            )
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ReaderError(path, [f"not a readable CSV file: {exc}"]) from exc
        unmapped = [
            raw for raw, n in zip(layout.columns, named, strict=True) if n not in COLUMN_DTYPES
        ]
        meta = RunMetadata.for_file(path, self, unmapped_columns=unmapped)
        kept = [
            expr
            for expr, n in zip(labelled_columns(layout.columns), named, strict=True)
            if n in COLUMN_DTYPES
        ]
        return lazy.select(kept), meta

    def check_current_sign(
        self, path: Path, frame: pl.LazyFrame, metadata: RunMetadata
    ) -> tuple[pl.LazyFrame, RunMetadata]:
        """``frame`` (what :meth:`read` gave, collected or stored) with its current negated and
        noted when the voltage over its long steps shows it written positive on discharge
        (:func:`echelon.io.sign.voltage_evidence`; other tools' BDF exports, such as cellpy's
        ``batmo_bdf.csv``, are); run on the data in memory or in the Parquet file written, not
        on the text, so the typed scan of a clean file is not repeated."""
        from echelon.io.sign import voltage_evidence, with_checked_sign  # sign imports this

        return with_checked_sign(path, frame, metadata, voltage_evidence(frame))

    def explain(self, path: Path, exc: Exception) -> list[Problem]:
        """Locate the first value that is not a number in each BDF column."""
        layout = self._layout(path)
        if layout is None:
            return []
        # this reader scans numbers as they are written: no placeholder or mark is cleaned
        layout = replace(layout, clean_numbers=False, thousands=None)
        renames = normalise_bdf_header(layout.columns)
        numeric = [c for c in layout.columns if renames.get(c, c) in COLUMN_DTYPES]
        return locate_bad_numbers(path, layout, numeric)


def frame_sha256(frame: pl.DataFrame) -> str:
    """SHA-256 of a BDF frame's values (column names and bytes of each column, in order).

    Two files that hold the same measurements in different wrappers (a workbook saved twice,
    a CSV and its Parquet conversion) have the same data hash but different file hashes; the
    registry and validations use this to recognise a re-submitted test by its data.
    """
    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame.get_column(name)
        digest.update(name.encode())
        digest.update(str(column.dtype).encode())
        values = (
            column.to_numpy() if column.dtype.is_numeric() else column.cast(pl.String).to_numpy()
        )
        digest.update(
            values.tobytes() if values.dtype != object else "\x1f".join(map(str, values)).encode()
        )
    return digest.hexdigest()


def write_bdf_csv(frame: pl.DataFrame, path: Path | str) -> None:
    """Write a BDF frame as CSV with machine-readable column names."""
    frame.write_csv(path)


def metadata_json(metadata: RunMetadata) -> dict[str, object]:
    """Run metadata as a plain JSON-compatible dict (for the registry)."""
    loaded: dict[str, object] = json.loads(metadata.model_dump_json())
    return loaded
