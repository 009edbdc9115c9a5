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
    y: str | Sequence[str],
    target: str,
    extrapolate: bool = False,
) -> pl.DataFrame:
    """``targets`` with column(s) ``y`` interpolated linearly from ``samples`` within ``by``.

    Parameters
    ----------
    samples : pl.DataFrame
        Columns ``by``, ``x``, ``y``; within each group ``x`` must not decrease.
    targets : pl.DataFrame
        Columns ``by`` and ``target`` (the ``x`` at which ``y`` is wanted), plus any others
        (kept).
    by, x, target : str
        Column names.
    y : str or sequence of str
        Column(s) to interpolate (from the same pair of samples).
    extrapolate : bool
        Hold the first/last sample's value outside a group's range (else null there).

    Returns
    -------
    pl.DataFrame
        ``targets`` (sorted by ``by``, ``target``) with ``y`` added.
    """
    ys = [y] if isinstance(y, str) else list(y)
    both = targets.sort(by, target)
    right = samples.select(
        by, pl.col(x).alias("_x"), *(pl.col(c).alias(f"_y{k}_") for k, c in enumerate(ys))
    ).sort(by, "_x")
    for side, strategy in (("0", "backward"), ("1", "forward")):  # the samples either side
        both = both.join_asof(
            right.rename({name: name + side for name in right.columns if name != by}),
            left_on=target,
            right_on=f"_x{side}",
            by=by,
            strategy=strategy,  # type: ignore[arg-type]
            check_sortedness=False,
        )
    span = pl.col("_x1") - pl.col("_x0")
    weight = (pl.col(target) - pl.col("_x0")) / span
    outside = pl.col("_x0").is_null() | pl.col("_x1").is_null()
    values = []
    for k, name in enumerate(ys):
        y0, y1 = pl.col(f"_y{k}_0"), pl.col(f"_y{k}_1")
        value = pl.when(span > 0).then(y0 + (y1 - y0) * weight).otherwise(pl.coalesce(y0, y1))
        if not extrapolate:
            value = pl.when(outside).then(None).otherwise(value)
        values.append(value.alias(name))
    helpers = [f"_x{side}" for side in "01"] + [f"_y{k}_{s}" for k in range(len(ys)) for s in "01"]
    return both.with_columns(values).drop(helpers)


ONSET_COLUMNS: Final = (
    pl.col("end_s").shift(1).alias("onset_s"),
    pl.col("end_current_a").shift(1).alias("current_before_a"),
)
"""Of a step-table row: when its load changed (the previous segment's last sample, ``onset_s``)
and the current before it (``current_before_a``)."""
FIRST_SAMPLE_DELAY: Final = (pl.col("start_s") - pl.col("onset_s")).alias("first_sample_delay_s")
"""Of a step-table row with ``onset_s``: how long after the change its first sample came."""


def sampling_period_s(samples: pl.DataFrame) -> pl.DataFrame:
    """``segment`` and ``period_s``: the median interval between a segment's samples [s] (null
    for a one-sample segment)."""
    return samples.group_by(SEGMENT).agg(pl.col(TIME).diff().median().alias("period_s"))


def at_column(column: str, delay_s: float) -> str:
    """Name of ``column`` at ``delay_s`` in :func:`values_after_onset`'s result."""
    return f"{column}@{float(delay_s)!r}"


def values_after_onset(
    samples: pl.DataFrame,
    segments: pl.DataFrame,
    delays_s: Sequence[float],
    *,
    columns: Sequence[str] = (VOLTAGE,),
    end_tolerance: float = 0.0,
) -> pl.DataFrame:
    """Values of each segment at ``onset_s + delay`` for every delay and column.

    The onset is when the current changed: the previous segment's last sample, after which the
    step is taken to change (the ``hold`` rule of
    :func:`~echelon.diagnostics.segments.segment`). A value is reported only where a sample of
    the segment lies at or before the time: a delay shorter than the gap between the onset and
    the segment's first sample is null (nothing was logged then), not an interpolation towards
    the previous segment's sample.

    Parameters
    ----------
    samples : pl.DataFrame
        Rows with ``segment``, ``test_time_second`` and ``columns``.
    segments : pl.DataFrame
        ``segment``, ``onset_s``, ``start_s`` (first sample) and ``end_s`` (last sample).
    delays_s : sequence of float
        Delays after each segment's onset [s].
    columns : sequence of str
        Columns to interpolate (linearly between the segment's samples).
    end_tolerance : float
        A delay may exceed the segment's last sample by this fraction of itself (the value is
        then the last sample's). Times within :data:`TIME_SLACK` of a sampling period of the
        segment's first or last sample count as equal, so float rounding of the time stamps
        (25034.9 + 10.0 > 25044.8 + 0.1) cannot drop a value.

    Returns
    -------
    pl.DataFrame
        ``segment`` and one column per delay and column named :func:`at_column`; null where the
        segment ends before the delay or its first sample comes after it.
    """
    delays = pl.DataFrame({"delay_s": sorted({float(d) for d in delays_s})})
    gap = pl.col("start_s") - pl.col("onset_s")
    slack = TIME_SLACK * pl.coalesce("period_s", gap, pl.lit(0.0))
    targets = (
        segments.select(SEGMENT, "onset_s", "start_s", "end_s")
        .join(sampling_period_s(samples), on=SEGMENT, how="left")
        .join(delays, how="cross")
        .with_columns((pl.col("onset_s") + pl.col("delay_s")).alias("_t"))
        .filter(
            (pl.col("_t") >= pl.col("start_s") - slack)
            & (pl.col("_t") <= pl.col("end_s") + end_tolerance * pl.col("delay_s") + slack)
        )
        .with_columns(pl.col("_t").clip(pl.col("start_s"), pl.col("end_s")))
        .select(SEGMENT, "delay_s", "_t")
    )
    at = interpolate_at(samples, targets, by=SEGMENT, x=TIME, y=list(columns), target="_t")
    wide = segments.select(SEGMENT)
    for column in columns:
        pivot = at.pivot("delay_s", index=SEGMENT, values=column)
        wide = wide.join(
            pivot.rename(
                {str(d): at_column(column, d) for d in delays["delay_s"] if str(d) in pivot.columns}
            ),
            on=SEGMENT,
            how="left",
        )
    names = [at_column(c, d) for c in columns for d in delays.get_column("delay_s")]
    return wide.with_columns(
        pl.lit(None, pl.Float64).alias(c) for c in names if c not in wide.columns
    )
