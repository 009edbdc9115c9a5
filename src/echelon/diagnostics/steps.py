"""Step segmentation and per-step reductions (columnar: one group-by, no per-step Python loop).

A *segment* is a maximal run of rows with the same step (the file's ``step_id`` when present and
the current's mode otherwise). :func:`step_table` reduces every segment at once: duration,
charge/discharge ampere-hours and watt-hours by trapezoidal integration, voltages, and a step type.
"""

from __future__ import annotations

from typing import Final, Literal

import polars as pl

from echelon.io.bdf import CURRENT, STEP, TIME, VOLTAGE

StepType = Literal[
    "rest",
    "cc_charge",
    "cv_charge",
    "cc_discharge",
    "pulse_charge",
    "pulse_discharge",
    "charge",
    "discharge",
]

SEGMENT: Final = "segment"
REST_CURRENT_FRACTION: Final = 0.002
"""|I| below this fraction of the file's peak |I| counts as rest (tester offset/noise)."""
PULSE_MAX_DURATION_S: Final = 60.0
"""Charge/discharge segments no longer than this, flanked by rests, are pulses."""
CV_CURRENT_DECAY: Final = 0.6
"""A charge segment whose end current is below this fraction of its start current is CV."""


def rest_threshold_a(frame: pl.DataFrame) -> float:
    """Current magnitude [A] below which a row is rest (0.2 % of the peak, at least 1 mA)."""
    peak = frame.get_column(CURRENT).abs().max()
    return max(float(peak) * REST_CURRENT_FRACTION if peak is not None else 0.0, 1e-3)  # type: ignore[arg-type]


def _segment_expr(columns: list[str], threshold: float) -> pl.Expr:
    mode = (
        pl.when(pl.col(CURRENT) > threshold)
        .then(1)
        .when(pl.col(CURRENT) < -threshold)
        .then(-1)
        .otherwise(0)
    )
    changed = mode != mode.shift(1)
    if STEP in columns:
        changed = changed | (pl.col(STEP) != pl.col(STEP).shift(1))
    return changed.fill_null(False).cum_sum().cast(pl.Int64).alias(SEGMENT)


def with_segments(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``segment`` (0, 1, …): a new segment wherever the step or the current's mode changes.

    The mode is rest / charge / discharge from the sign of the current with a rest dead-band,
    so files without ``step_id`` are segmented too, and steps that mix modes are split.
    """
    return frame.with_columns(_segment_expr(frame.columns, rest_threshold_a(frame)))


def step_table(frame: pl.DataFrame) -> pl.DataFrame:
    """Per-segment summary of a BDF frame.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame (:func:`echelon.io.bdf.validate_bdf`).

    Returns
    -------
    pl.DataFrame
        One row per segment: ``segment``, ``start_s``, ``end_s``, ``duration_s``,
        ``n_points``, ``mean_current_a``, ``start_current_a``, ``end_current_a``,
        ``start_voltage_v``, ``end_voltage_v``, ``min_voltage_v``, ``max_voltage_v``,
        ``charge_ah``, ``discharge_ah``, ``charge_wh``, ``discharge_wh``,
        ``voltage_before_v`` (last voltage of the previous segment), and ``step_type``.

    Notes
    -----
    Ampere-hours are the trapezoidal integral of current over time within the segment
    (the interval from the previous segment's last sample is included, so no charge is lost at
    boundaries); counters in the file are not trusted because they reset differently per vendor.
    """
    threshold = rest_threshold_a(frame)
    dt = pl.col(TIME).diff().fill_null(0.0)
    i_mid = ((pl.col(CURRENT) + pl.col(CURRENT).shift(1)) / 2).fill_null(0.0)
    v_mid = ((pl.col(VOLTAGE) + pl.col(VOLTAGE).shift(1)) / 2).fill_null(pl.col(VOLTAGE))
    table = (
        frame.lazy()
        .select(
            _segment_expr(frame.columns, threshold),
            TIME,
            VOLTAGE,
            CURRENT,
            (i_mid * dt / 3600.0).alias("_dq"),
            (i_mid * v_mid * dt / 3600.0).alias("_de"),
        )
        .group_by(SEGMENT, maintain_order=True)
        .agg(
            pl.col(TIME).first().alias("start_s"),
            pl.col(TIME).last().alias("end_s"),
            pl.len().alias("n_points"),
            pl.col(CURRENT).mean().alias("mean_current_a"),
            pl.col(CURRENT).first().alias("start_current_a"),
            pl.col(CURRENT).last().alias("end_current_a"),
            pl.col(VOLTAGE).first().alias("start_voltage_v"),
            pl.col(VOLTAGE).last().alias("end_voltage_v"),
            pl.col(VOLTAGE).min().alias("min_voltage_v"),
            pl.col(VOLTAGE).max().alias("max_voltage_v"),
            pl.col("_dq").clip(lower_bound=0).sum().alias("charge_ah"),
            (-pl.col("_dq").clip(upper_bound=0)).sum().alias("discharge_ah"),
            pl.col("_de").clip(lower_bound=0).sum().alias("charge_wh"),
            (-pl.col("_de").clip(upper_bound=0)).sum().alias("discharge_wh"),
        )
        .with_columns(
            # a segment starts where the previous one ended: duration spans the gap
            (pl.col("end_s") - pl.col("end_s").shift(1).fill_null(pl.col("start_s"))).alias(
                "duration_s"
            ),
            pl.col("end_voltage_v").shift(1).alias("voltage_before_v"),
        )
    )
    return _classify(table, threshold).collect()


def _classify(table: pl.LazyFrame, threshold_a: float) -> pl.LazyFrame:
    is_rest = pl.col("mean_current_a").abs() <= threshold_a
    prev_rest = (pl.col("mean_current_a").shift(1).abs() <= threshold_a).fill_null(True)
    next_rest = (pl.col("mean_current_a").shift(-1).abs() <= threshold_a).fill_null(True)
    short = (pl.col("duration_s") <= PULSE_MAX_DURATION_S) & prev_rest & next_rest
    charging = pl.col("mean_current_a") > 0
    decaying = pl.col("end_current_a").abs() < CV_CURRENT_DECAY * pl.col("start_current_a").abs()
    step_type = (
        pl.when(is_rest)
        .then(pl.lit("rest"))
        .when(short & charging)
        .then(pl.lit("pulse_charge"))
        .when(short)
        .then(pl.lit("pulse_discharge"))
        .when(charging & decaying)
        .then(pl.lit("cv_charge"))
        .when(charging)
        .then(pl.lit("cc_charge"))
        .otherwise(pl.lit("cc_discharge"))
    )
    return table.with_columns(step_type.alias("step_type"))
