"""Cycle detection and the per-cycle summary (two group-bys: rows → segments → cycles).

The per-cycle summary reduces a whole file in one pass over its rows (segment reductions, see
:mod:`echelon.diagnostics.steps`) and a second, tiny pass over the segments — there is no Python
loop over cycles and no per-cycle boolean mask, so the cost is linear in the rows and independent
of the number of cycles (peer tools that filter the whole frame once per cycle are quadratic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

import polars as pl

from echelon.diagnostics._steplevel import COUNTERS, is_step_level
from echelon.diagnostics.capacity import MIN_CAPACITY_DISCHARGE_S, check_current_sign
from echelon.diagnostics.segments import (
    MODE,
    REST_CURRENT_FRACTION,
    Arrays,
    Transitions,
    column_arrays,
    segment_table,
    take_arrays,
)
from echelon.errors import check_choice
from echelon.io.bdf import CURRENT, CYCLE, STEP, SURFACE_T, TIME, VOLTAGE

CycleSource = Literal["auto", "file", "detect"]

SUMMARY_COLUMNS: Final = (
    "cycle_count",
    "start_s",
    "end_s",
    "duration_s",
    "n_points",
    "charge_ah",
    "discharge_ah",
    "charge_wh",
    "discharge_wh",
    "coulombic_efficiency",
    "energy_efficiency",
    "mean_charge_voltage_v",
    "mean_discharge_voltage_v",
    "midpoint_voltage_v",
    "min_voltage_v",
    "max_voltage_v",
    "charge_duration_s",
    "discharge_duration_s",
    "rest_duration_s",
    "mean_discharge_current_a",
    "mean_charge_current_a",
)
"""Columns of :func:`cycle_summary` (plus ``min/max/mean_temperature_c`` when measured)."""


def detect_cycles(segments: pl.LazyFrame) -> pl.LazyFrame:
    """Number cycles on a segment table: a new cycle starts at each charge that follows a
    discharge (rests in between allowed); the first cycle is 1.

    A file that opens with a discharge therefore has that discharge in cycle 1 and its first
    full charge → discharge in cycle 2, which keeps a capacity check-up (discharge, charge,
    discharge) readable cycle by cycle.
    """
    mode = pl.col(MODE)
    previous = pl.when(mode != 0).then(mode).otherwise(None).forward_fill().shift(1)
    starts = ((mode == 1) & (previous == -1)).fill_null(False)
    return segments.with_columns((starts.cum_sum() + 1).cast(pl.Int64).alias(CYCLE))


def _ratio(numerator: str, denominator: str) -> pl.Expr:
    """``numerator / denominator``, null where the denominator is not positive."""
    return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))


def _per_cycle(segments: pl.LazyFrame, temperatures: bool) -> pl.LazyFrame:
    mode, dur = pl.col(MODE), pl.col("duration_s")
    zero = pl.lit(0.0)
    temps = []
    if temperatures:
        temps = [
            pl.col("min_temperature_c").min(),
            pl.col("max_temperature_c").max(),
            # the mean of the samples logged; null for a cycle without any
            pl.when(pl.col("n_temperature_points").sum() > 0)
            .then(pl.col("_t_sum").sum() / pl.col("n_temperature_points").sum())
            .alias("mean_temperature_c"),
        ]
    # per-segment helper columns first, so the per-cycle step is plain sums (fast group-by)
    helpers = [
        pl.when(mode == 1).then(dur).otherwise(zero).alias("_dur_charge"),
        pl.when(mode == -1).then(dur).otherwise(zero).alias("_dur_discharge"),
        pl.when(mode == 0).then(dur).otherwise(zero).alias("_dur_rest"),
        pl.when(mode == 1).then(pl.col("charge_ah")).otherwise(zero).alias("_q_charging"),
        pl.when(mode == -1).then(pl.col("discharge_ah")).otherwise(-1.0).alias("_q_main"),
        pl.when(mode == -1).then(pl.col("discharge_ah")).otherwise(zero).alias("_q_discharging"),
    ]
    if temperatures:
        helpers.append(
            (pl.col("mean_temperature_c") * pl.col("n_temperature_points")).alias("_t_sum")
        )
    return (
        segments.with_columns(helpers)
        .group_by(CYCLE, maintain_order=True)
        .agg(
            pl.col("start_s").first(),
            pl.col("end_s").last(),
            dur.sum().alias("duration_s"),
            pl.col("n_points").sum(),
            pl.col("charge_ah").sum(),
            pl.col("discharge_ah").sum(),
            pl.col("charge_wh").sum(),
            pl.col("discharge_wh").sum(),
            # mid-point voltage of the cycle's largest discharge
            pl.col("midpoint_voltage_v").get(pl.col("_q_main").arg_max()),
            pl.col("_q_main").max().alias("_main"),
            pl.col("min_voltage_v").min(),
            pl.col("max_voltage_v").max(),
            pl.col("_dur_charge").sum().alias("charge_duration_s"),
            pl.col("_dur_discharge").sum().alias("discharge_duration_s"),
            pl.col("_dur_rest").sum().alias("rest_duration_s"),
            pl.col("_q_discharging").sum().alias("_q_dis"),
            pl.col("_q_charging").sum().alias("_q_chg"),
            *temps,
        )
        .with_columns(
            pl.when(pl.col("_main") > 0).then(pl.col("midpoint_voltage_v")),
            _ratio("discharge_ah", "charge_ah").alias("coulombic_efficiency"),
            _ratio("discharge_wh", "charge_wh").alias("energy_efficiency"),
            _ratio("charge_wh", "charge_ah").alias("mean_charge_voltage_v"),
            _ratio("discharge_wh", "discharge_ah").alias("mean_discharge_voltage_v"),
            (-3600.0 * _ratio("_q_dis", "discharge_duration_s")).alias("mean_discharge_current_a"),
            (3600.0 * _ratio("_q_chg", "charge_duration_s")).alias("mean_charge_current_a"),
        )
    )


def as_lazy(data: pl.DataFrame | pl.LazyFrame | Path | str) -> pl.LazyFrame:
    """A lazy frame from a frame, a lazy frame or a ``.bdf.parquet`` path (scanned)."""
    if isinstance(data, Path | str):
        return pl.scan_parquet(data)
    return data.lazy() if isinstance(data, pl.DataFrame) else data


def _arrays(data: pl.DataFrame | pl.LazyFrame | Path | str, wanted: list[str]) -> Arrays:
    """The wanted columns as contiguous numpy arrays, each held once in memory: a Parquet file
    is read with only those columns (columns decoded in parallel; zero-copy when the file has
    one row group, as Echelon writes them), a frame is viewed, a lazy frame collected."""
    if isinstance(data, Path | str):
        names = pl.read_parquet_schema(data)
        return take_arrays(pl.read_parquet(data, columns=[c for c in wanted if c in names]))
    if isinstance(data, pl.DataFrame):
        return column_arrays(data, tuple(wanted))
    columns = data.collect_schema().names()
    return take_arrays(data.select([c for c in wanted if c in columns]).collect())


def cycle_segments(
    data: pl.DataFrame | pl.LazyFrame | Path | str,
    *,
    cycles: CycleSource = "auto",
    transitions: Transitions = "hold",
    rest_fraction: float = REST_CURRENT_FRACTION,
) -> tuple[Arrays, pl.DataFrame]:
    """The columns a segmentation needs (as numpy arrays, only those columns read) and the
    segment table with a ``cycle_count`` on each segment (the file's, or detected — see
    :func:`cycle_summary`)."""
    check_choice("cycles", cycles, CycleSource)
    columns = as_lazy(data).collect_schema().names()
    use_file = CYCLE in columns and cycles in ("auto", "file")
    wanted = [TIME, VOLTAGE, CURRENT, STEP, SURFACE_T, *([CYCLE] if use_file else [])]
    arrays = _arrays(data, wanted)
    counters = all(name in columns for name in COUNTERS.values())
    if counters and is_step_level(arrays.get(STEP)):  # a step's charge may be in the counters
        arrays |= _arrays(data, list(COUNTERS.values()))
    keys = (STEP, CYCLE) if use_file else (STEP,)
    segments = segment_table(
        arrays, rest_fraction=rest_fraction, transitions=transitions, keys=keys
    )
    if not use_file:
        segments = detect_cycles(segments.lazy()).collect()
    return arrays, segments


def cycle_summary(
    data: pl.DataFrame | pl.LazyFrame | Path | str,
    *,
    cycles: CycleSource = "auto",
    transitions: Transitions = "hold",
    rest_fraction: float = REST_CURRENT_FRACTION,
) -> pl.DataFrame:
    """Per-cycle summary of a BDF time series.

    Parameters
    ----------
    data : pl.DataFrame, pl.LazyFrame or path
        A validated BDF frame, a lazy one, or a ``.bdf.parquet`` file (scanned: only the
        columns needed are read).
    cycles : {"auto", "file", "detect"}
        ``file``: the file's ``cycle_count``; ``detect``: :func:`detect_cycles`; ``auto``: the
        file's when it has one, else detected.
    transitions : {"hold", "trapezoid", "exclude"}
        How the interval between two steps' samples is integrated (see
        :func:`~echelon.diagnostics.steps.segment_rows`).
    rest_fraction : float
        Rest dead-band as a fraction of the peak |current|.

    Returns
    -------
    pl.DataFrame
        One row per cycle with :data:`SUMMARY_COLUMNS` (+ temperatures when measured): charge
        and discharge capacity [A·h] and energy [W·h], coulombic and energy efficiency, mean
        charge/discharge voltage (energy ÷ capacity) [V], mid-point voltage of the main
        discharge (at half its capacity) [V], min/max voltage, durations [s] by mode, mean
        currents [A].

    Notes
    -----
    A file whose long discharges raise the voltage (or long charges lower it) is refused: its
    current sign looks inverted (:func:`~echelon.diagnostics.capacity.check_current_sign`).

    Coulombic efficiency is discharge ÷ charge within the cycle, so it is meaningful for cycles
    that charge then discharge (or the reverse) to the same limits; partial cycles at file
    boundaries show up as outliers and are easy to filter on ``discharge_ah``.
    """
    columns = as_lazy(data).collect_schema().names()
    arrays, segments = cycle_segments(
        data, cycles=cycles, transitions=transitions, rest_fraction=rest_fraction
    )
    long = (pl.col(MODE) == -1) & (pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S)
    check_current_sign(segments, segments.filter(long), arrays)
    summary = _per_cycle(segments.lazy(), SURFACE_T in columns)
    ordered = [c for c in SUMMARY_COLUMNS if c != "cycle_count"]
    extra = ["min_temperature_c", "max_temperature_c", "mean_temperature_c"]
    return summary.select(
        pl.col(CYCLE).alias("cycle_count"),
        *ordered,
        *(extra if SURFACE_T in columns else []),
    ).collect()
