"""Incremental capacity (dQ/dV) and differential voltage (dV/dQ) analysis with peak tracking.

For every cycle, the main constant-current charge or discharge is resampled on a uniform voltage
grid (dQ/dV) or capacity grid (dV/dQ) by interpolating the measured curve — all cycles at once
through as-of joins — then differentiated and smoothed along the grid:

1. the voltage is made monotone within the segment (running min on discharge, max on charge),
   which removes the back-steps of sensor noise that make raw dQ/dV explode;
2. the capacity is interpolated at grid voltages ``V_min + k·ΔV`` (ΔV = 5 mV by default);
3. the finite difference is median-filtered (5 points, rejects single spikes) and then smoothed
   by a Gaussian kernel (σ = 10 mV by default).

Peaks are local maxima of the smoothed curve above a fraction of the curve's maximum; tracking
follows each peak from cycle to cycle by its nearest neighbour within a voltage window. Peak
shifts and shrinking with ageing are the classic ICA signatures of loss of lithium inventory and
active material (M. Dubarry, C. Truchot, B. Y. Liaw, J. Power Sources 219 (2012) 204–216,
doi:10.1016/j.jpowsour.2012.07.016).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final, Literal

import numpy as np
import polars as pl

from echelon.diagnostics._interp import interpolate_at
from echelon.diagnostics._steplevel import is_step_level
from echelon.diagnostics.cycles import cycle_segments
from echelon.diagnostics.segments import MODE, SEGMENT, segment_rows
from echelon.errors import DiagnosticsError, UsageError, check_choice
from echelon.io.bdf import CYCLE, STEP, VOLTAGE

Direction = Literal["discharge", "charge"]
VOLTAGE_STEP_V: Final = 0.005
SMOOTHING_V: Final = 0.01
MEDIAN_POINTS: Final = 5
MIN_POINTS: Final = 10


def _main_segments(
    data: pl.DataFrame | pl.LazyFrame | Path | str, direction: Direction
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows (segment, V, cumulative capacity) of each cycle's largest CC segment of a direction."""
    arrays, segments = cycle_segments(data)
    if is_step_level(arrays.get(STEP)):
        raise DiagnosticsError(
            "step-level data (a tester's step table: a few samples per step) holds no curve "
            "inside the steps, so dQ/dV and dV/dQ cannot be computed from it: use the test's "
            "sample-level (record) export"
        )
    frame = pl.DataFrame(arrays)
    rows = segment_rows(frame, keys=(STEP, CYCLE) if CYCLE in frame.columns else (STEP,))
    sign = -1 if direction == "discharge" else 1
    amount = "discharge_ah" if direction == "discharge" else "charge_ah"
    main = (
        segments.filter((pl.col(MODE) == sign) & (pl.col("n_points") >= MIN_POINTS))
        .sort(amount, descending=True)
        .unique(CYCLE, keep="first")
        .select(SEGMENT, CYCLE, pl.col(amount).alias("segment_ah"))
        .sort(CYCLE)
    )
    q = (pl.col("_dq").abs()).cum_sum().over(SEGMENT)
    v_mono = (
        pl.col(VOLTAGE).cum_min().over(SEGMENT)
        if direction == "discharge"
        else pl.col(VOLTAGE).cum_max().over(SEGMENT)
    )
    samples = rows.filter(pl.col(SEGMENT).is_in(main.get_column(SEGMENT).implode())).select(
        SEGMENT, v_mono.alias("v"), q.alias("q")
    )
    return main, samples


def _gaussian(sigma_points: float) -> list[float]:
    half = max(1, math.ceil(3 * sigma_points))
    x = np.arange(-half, half + 1, dtype=float)
    w = np.exp(-0.5 * (x / max(sigma_points, 1e-9)) ** 2)
    return list(w / w.sum())


def _smooth(column: str, sigma_points: float) -> pl.Expr:
    """Median pre-filter, then a normalised Gaussian (edges renormalised), within a segment."""
    weights = _gaussian(sigma_points)
    despiked = (
        pl.col(column).rolling_median(MEDIAN_POINTS, center=True, min_samples=1).over(SEGMENT)
    )
    num = despiked.fill_null(0.0).rolling_sum(
        len(weights), weights=weights, center=True, min_samples=1
    )
    den = (
        despiked.is_not_null()
        .cast(pl.Float64)
        .rolling_sum(len(weights), weights=weights, center=True, min_samples=1)
    )
    return (num / den).over(SEGMENT)


def incremental_capacity(
    data: pl.DataFrame | pl.LazyFrame | Path | str,
    *,
    direction: Direction = "discharge",
    voltage_step_v: float = VOLTAGE_STEP_V,
    smoothing_v: float = SMOOTHING_V,
) -> pl.DataFrame:
    """dQ/dV [A·h/V] of every cycle's main constant-current charge or discharge.

    Parameters
    ----------
    data : frame, lazy frame or ``.bdf.parquet`` path
        BDF time series (cycles from ``cycle_count`` or detected).
    direction : {"discharge", "charge"}
        Which half-cycle to analyse.
    voltage_step_v : float
        Grid spacing [V].
    smoothing_v : float
        Standard deviation of the Gaussian smoothing [V] (0 disables it; the median
        pre-filter still runs).

    Returns
    -------
    pl.DataFrame
        Long table: ``cycle_count``, ``voltage_v`` (grid, ascending), ``capacity_ah``
        (delivered since the start of the half-cycle) and ``dq_dv_ah_per_v`` (positive for
        both directions: the magnitude of dQ/dV).

    Raises
    ------
    DiagnosticsError
        On step-level data (a tester's step table), which holds no curve inside the steps.
    """
    check_choice("direction", direction, Direction)
    if not voltage_step_v > 0 or not smoothing_v >= 0:
        raise UsageError(
            f"voltage_step_v={voltage_step_v!r} must be > 0 and smoothing_v={smoothing_v!r} ≥ 0 [V]"
        )
    main, samples = _main_segments(data, direction)
    if main.height == 0:
        return pl.DataFrame(
            schema={
                CYCLE: pl.Int64,
                "voltage_v": pl.Float64,
                "capacity_ah": pl.Float64,
                "dq_dv_ah_per_v": pl.Float64,
            }
        )
    bounds = samples.group_by(SEGMENT).agg(
        pl.col("v").min().alias("_lo"), pl.col("v").max().alias("_hi")
    )
    start = (pl.col("_lo") / voltage_step_v).ceil() * voltage_step_v
    grid = (
        bounds.with_columns(start.alias("_v0"))
        .with_columns(
            ((pl.col("_hi") - pl.col("_v0")) / voltage_step_v).floor().cast(pl.Int64).alias("_n")
        )
        .filter(pl.col("_n") >= 2)
        .with_columns(pl.int_ranges(0, pl.col("_n") + 1).alias("_k"))
        .explode("_k")
        .select(SEGMENT, (pl.col("_v0") + pl.col("_k") * voltage_step_v).alias("voltage_v"))
    )
    # interpolation needs x ascending: for a discharge V falls as q grows, so sort by V
    ordered = samples.sort(SEGMENT, "v", "q", descending=[False, False, direction == "discharge"])
    at = interpolate_at(ordered, grid, by=SEGMENT, x="v", y="q", target="voltage_v")
    slope = (pl.col("q").diff().abs() / voltage_step_v).over(SEGMENT)
    curve = at.sort(SEGMENT, "voltage_v").with_columns(slope.alias("_raw"))
    smoothed = _smooth("_raw", smoothing_v / voltage_step_v) if smoothing_v > 0 else pl.col("_raw")
    return (
        curve.with_columns(smoothed.alias("dq_dv_ah_per_v"))
        .join(main.select(SEGMENT, CYCLE), on=SEGMENT)
        .select(
            CYCLE,
            "voltage_v",
            # capacity moved since the half-cycle started, when it passes this voltage
            pl.col("q").alias("capacity_ah"),
            "dq_dv_ah_per_v",
        )
        .drop_nulls("dq_dv_ah_per_v")
        .sort(CYCLE, "voltage_v")
    )


def differential_voltage(
    data: pl.DataFrame | pl.LazyFrame | Path | str,
    *,
    direction: Direction = "discharge",
    points: int = 200,
    smoothing_fraction: float = 0.01,
) -> pl.DataFrame:
    """dV/dQ [V/A·h] of every cycle's main constant-current half-cycle, on a capacity grid.

    Parameters
    ----------
    data : frame, lazy frame or ``.bdf.parquet`` path
        BDF time series.
    direction : {"discharge", "charge"}
        Which half-cycle.
    points : int
        Grid points per half-cycle (spacing = its capacity ÷ ``points``).
    smoothing_fraction : float
        Gaussian σ as a fraction of the half-cycle's capacity.

    Returns
    -------
    pl.DataFrame
        ``cycle_count``, ``capacity_ah`` (grid), ``voltage_v`` and ``dv_dq_v_per_ah``
        (magnitude).
    """
    main, samples = _main_segments(data, direction)
    grid = (
        main.filter(pl.col("segment_ah") > 0)
        .with_columns(pl.int_ranges(0, points + 1).alias("_k"))
        .explode("_k")
        .select(SEGMENT, CYCLE, (pl.col("_k") * pl.col("segment_ah") / points).alias("capacity_ah"))
    )
    raw = samples.select(SEGMENT, "q", pl.col("v"))
    at = interpolate_at(
        raw.sort(SEGMENT, "q"),
        grid,
        by=SEGMENT,
        x="q",
        y="v",
        target="capacity_ah",
        extrapolate=True,
    )
    step = (pl.col("capacity_ah").diff()).over(SEGMENT)
    slope = (pl.col("v").diff().abs() / step).over(SEGMENT)
    curve = at.sort(SEGMENT, "capacity_ah").with_columns(slope.alias("_raw"))
    smoothed = (
        _smooth("_raw", smoothing_fraction * points) if smoothing_fraction > 0 else pl.col("_raw")
    )
    return (
        curve.with_columns(smoothed.alias("dv_dq_v_per_ah"))
        .select(CYCLE, "capacity_ah", pl.col("v").alias("voltage_v"), "dv_dq_v_per_ah")
        .drop_nulls("dv_dq_v_per_ah")
        .sort(CYCLE, "capacity_ah")
    )


def ica_peaks(
    curves: pl.DataFrame,
    *,
    min_height_fraction: float = 0.1,
    window: float = 0.03,
    x: str = "voltage_v",
    y: str = "dq_dv_ah_per_v",
) -> pl.DataFrame:
    """Local maxima of each cycle's curve (columnar).

    A point is a peak when it is the maximum within ±``window`` (in units of ``x``: volts for
    dQ/dV) and at least ``min_height_fraction`` of its cycle's highest point.

    Returns
    -------
    pl.DataFrame
        ``cycle_count``, ``voltage_v`` (or ``x``), ``height`` — sorted by cycle and position.
    """
    if curves.height == 0:
        return pl.DataFrame(schema={CYCLE: pl.Int64, x: pl.Float64, "height": pl.Float64})
    median = curves.group_by(CYCLE).agg(pl.col(x).diff().median()).get_column(x).median()
    spacing = float(median) if isinstance(median, int | float) and median > 0 else 1.0
    half = max(1, round(window / spacing))
    local_max = pl.col(y).rolling_max(2 * half + 1, center=True, min_samples=1).over(CYCLE)
    return (
        curves.filter(
            (pl.col(y) >= local_max)
            & (pl.col(y) >= min_height_fraction * pl.col(y).max().over(CYCLE))
        )
        .select(CYCLE, x, pl.col(y).alias("height"))
        .sort(CYCLE, x)
    )


def track_peaks(
    peaks: pl.DataFrame, *, max_shift_v: float = 0.05, x: str = "voltage_v"
) -> pl.DataFrame:
    """Follow peaks across cycles: each peak joins the track whose last position is nearest.

    Tracks start at the first cycle's peaks; a peak further than ``max_shift_v`` from every
    track's last position starts a new track. The loop runs over the (small) peak table,
    cycle by cycle, never over the time series.

    Returns
    -------
    pl.DataFrame
        ``peaks`` with a ``track`` column (1, 2, … in order of first appearance, by position).
    """
    positions: list[float] = []
    tracks: list[int] = []
    for cycle_peaks in peaks.sort(CYCLE, x).partition_by(CYCLE, maintain_order=True):
        used: set[int] = set()
        for value in cycle_peaks.get_column(x).to_list():
            best, best_d = -1, max_shift_v
            for k, last in enumerate(positions):
                d = abs(value - last)
                if k not in used and d <= best_d:
                    best, best_d = k, d
            if best < 0:
                positions.append(value)
                best = len(positions) - 1
            else:
                positions[best] = value
            used.add(best)
            tracks.append(best + 1)
    return peaks.sort(CYCLE, x).with_columns(pl.Series("track", tracks, dtype=pl.Int64))
