"""Grouped linear interpolation as two as-of joins (columnar, no loop over groups).

``interpolate_at`` answers "what is ``y`` at ``x = target`` within group ``g``" for many groups
and targets at once: a backward and a forward as-of join find the samples on either side of each
target, and the value is interpolated between them. Used for voltages at fixed delays after a
pulse or a rest starts, capacity on a voltage grid (dQ/dV) and voltage on a capacity grid (dV/dQ).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from echelon.io.bdf import TIME, VOLTAGE

SEGMENT = "segment"
TIME_SLACK: Final = 0.01
"""Two times closer than this fraction of the segment's sampling period are the same time: time
stamps such as 25034.9 s and 25044.8 s carry float rounding that a bare comparison sees."""


def interpolate_at(
    samples: pl.DataFrame,
    targets: pl.DataFrame,
    *,
    by: str,
    x: str,
    y: str,
    target: str,
    extrapolate: bool = False,
) -> pl.DataFrame:
    """``targets`` with a column ``y`` interpolated linearly from ``samples`` within ``by``.

    Parameters
    ----------
    samples : pl.DataFrame
        Columns ``by``, ``x``, ``y``; within each group ``x`` must not decrease.
    targets : pl.DataFrame
        Columns ``by`` and ``target`` (the ``x`` at which ``y`` is wanted), plus any others
        (kept).
    by, x, y, target : str
        Column names.
    extrapolate : bool
        Hold the first/last sample's value outside a group's range (else null there).

    Returns
    -------
    pl.DataFrame
        ``targets`` (sorted by ``by``, ``target``) with ``y`` added.
    """
    both = targets.sort(by, target)
    right = samples.select(by, pl.col(x).alias("_x"), pl.col(y).alias("_y")).sort(by, "_x")
    for side, strategy in (("0", "backward"), ("1", "forward")):  # the samples either side
        both = both.join_asof(
            right.rename({"_x": f"_x{side}", "_y": f"_y{side}"}),
            left_on=target,
            right_on=f"_x{side}",
            by=by,
            strategy=strategy,  # type: ignore[arg-type]
            check_sortedness=False,
        )
    span = pl.col("_x1") - pl.col("_x0")
    inside = (
        pl.col("_y0") + (pl.col("_y1") - pl.col("_y0")) * (pl.col(target) - pl.col("_x0")) / span
    )
    value = pl.when(span > 0).then(inside).otherwise(pl.coalesce("_y0", "_y1"))
    if not extrapolate:
        value = (
            pl.when(pl.col("_x0").is_null() | pl.col("_x1").is_null()).then(None).otherwise(value)
        )
    return both.with_columns(value.alias(y)).drop("_x0", "_y0", "_x1", "_y1")


def sampling_period_s(samples: pl.DataFrame) -> pl.DataFrame:
    """``segment`` and ``period_s``: the median interval between a segment's samples [s] (null
    for a one-sample segment)."""
    return samples.group_by(SEGMENT).agg(pl.col(TIME).diff().median().alias("period_s"))


def voltages_after_start(
    samples: pl.DataFrame,
    segments: pl.DataFrame,
    delays_s: Sequence[float],
    *,
    end_tolerance: float = 0.0,
) -> pl.DataFrame:
    """Voltage of each segment at ``start_s + delay`` for every delay (one column per delay).

    Parameters
    ----------
    samples : pl.DataFrame
        Rows with ``segment``, ``test_time_second`` and ``voltage_volt``.
    segments : pl.DataFrame
        ``segment``, ``start_s`` and ``end_s`` of the segments wanted.
    delays_s : sequence of float
        Delays after each segment's first sample [s].
    end_tolerance : float
        A delay may exceed the segment's last sample by this fraction of itself (the value is
        then the last sample's): a pulse of exactly 10 s logged from 1 ms after its start still
        has a 10 s value. Times within :data:`TIME_SLACK` of a sampling period of the segment's
        last sample count as equal, so float rounding of the time stamps (25034.9 + 10.0 >
        25044.8 + 0.1) cannot drop a value.

    Returns
    -------
    pl.DataFrame
        ``segment`` and one column per delay named ``str(float(delay))``, voltages [V]; null
        where the segment ends before the delay.
    """
    delays = pl.DataFrame({"delay_s": sorted({float(d) for d in delays_s})})
    slack = TIME_SLACK * pl.col("period_s").fill_null(0.0)
    targets = (
        segments.select(SEGMENT, "start_s", "end_s")
        .join(sampling_period_s(samples), on=SEGMENT, how="left")
        .join(delays, how="cross")
        .with_columns((pl.col("start_s") + pl.col("delay_s")).alias("_t"))
        .filter(pl.col("_t") <= pl.col("end_s") + end_tolerance * pl.col("delay_s") + slack)
        .with_columns(pl.min_horizontal("_t", "end_s").alias("_t"))
        .select(SEGMENT, "delay_s", "_t")
    )
    at = interpolate_at(samples, targets, by=SEGMENT, x=TIME, y=VOLTAGE, target="_t")
    wide = segments.select(SEGMENT).join(
        at.pivot("delay_s", index=SEGMENT, values=VOLTAGE), on=SEGMENT, how="left"
    )
    missing = [str(d) for d in delays.get_column("delay_s") if str(d) not in wide.columns]
    return wide.with_columns(pl.lit(None, pl.Float64).alias(c) for c in missing)
