"""Step tables: segment reductions (numpy ``reduceat``, no per-step Python loop) and step types.

A *segment* is a maximal run of rows with the same step (the file's ``step_id`` and
``cycle_count`` when present) and the same current mode (rest / charge / discharge, from the sign
of the current with a rest dead-band). :func:`step_table` reduces every segment at once: duration,
charge/discharge ampere-hours and watt-hours by trapezoidal integration, voltages, temperatures and
a step type (CC/CV charge, CC discharge, rest, pulse).
"""

from __future__ import annotations

from typing import Final, Literal

import polars as pl

from echelon.diagnostics.segments import (
    MODE,
    PEAK_MIN_SAMPLES,
    REST_CURRENT_FRACTION,
    SEGMENT,
    Transitions,
    column_arrays,
    rest_threshold,
    segment,
    segment_ids,
    segment_rows,
    segment_table,
)
from echelon.io.bdf import CURRENT

__all__ = [
    "MODE",
    "REST_CURRENT_FRACTION",
    "SEGMENT",
    "StepType",
    "Transitions",
    "classify_steps",
    "rest_threshold_a",
    "segment_rows",
    "segment_table",
    "step_table",
    "with_segments",
]

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
PULSE_MAX_DURATION_S: Final = 60.0
"""Charge/discharge segments no longer than this that start from rest are pulses."""
PULSE_MIN_POINTS: Final = PEAK_MIN_SAMPLES
"""A pulse has at least two samples (a start and an end reading, as step-layer files log it): a
one-sample current transient is not a pulse (its "resistance" would be one reading)."""
CV_CURRENT_DECAY: Final = 0.6
"""A charge segment whose end current is below this fraction of its start current is CV."""


def rest_threshold_a(frame: pl.DataFrame, *, fraction: float = REST_CURRENT_FRACTION) -> float:
    """Current magnitude [A] below which a row is rest (``fraction`` of the peak, ≥ 1 mA; the
    peak is the largest |I| that two samples reach, so one spike cannot set it)."""
    return rest_threshold(frame.get_column(CURRENT).to_numpy(), fraction)


def with_segments(
    frame: pl.DataFrame, *, rest_fraction: float = REST_CURRENT_FRACTION
) -> pl.DataFrame:
    """Add ``segment`` (0, 1, …): a new segment wherever the step, cycle or current mode changes.

    The mode is rest / charge / discharge from the sign of the current with a rest dead-band,
    so files without ``step_id`` are segmented too, and steps that mix modes are split.
    """
    ids = segment_ids(segment(frame, rest_fraction=rest_fraction))
    return frame.with_columns(pl.Series(SEGMENT, ids))


def step_table(
    frame: pl.DataFrame,
    *,
    rest_fraction: float = REST_CURRENT_FRACTION,
    transitions: Transitions = "hold",
) -> pl.DataFrame:
    """Per-segment summary of a BDF frame.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame (:func:`echelon.io.bdf.validate_bdf`).
    rest_fraction : float
        Rest dead-band as a fraction of the peak |current|.
    transitions : {"hold", "trapezoid", "exclude"}
        How the interval between two segments' samples is integrated
        (:func:`echelon.diagnostics.segments.segment`).

    Returns
    -------
    pl.DataFrame
        One row per segment: ``segment``, ``mode`` (−1, 0, 1), ``start_s``, ``end_s``,
        ``duration_s``, ``n_points``, ``mean_current_a``, ``start_current_a``,
        ``end_current_a``, ``start_voltage_v``, ``end_voltage_v``, ``min_voltage_v``,
        ``max_voltage_v``, ``midpoint_voltage_v``, ``charge_ah``, ``discharge_ah``,
        ``charge_wh``, ``discharge_wh``, ``voltage_before_v`` (last voltage of the previous
        segment), ``cycle_count`` and temperatures when the frame has them, and ``step_type``.

    Notes
    -----
    Ampere-hours are the integral of current over time within the segment; counters in the
    file are not trusted because they reset differently per vendor — except on step-level data
    (a tester's step table, :mod:`echelon.diagnostics._steplevel`), whose samples do not hold a
    step's course: there a step's charge and energy are its counters' change.
    """
    current = column_arrays(frame, (CURRENT,))[CURRENT]  # refuses a non-BDF frame
    threshold = rest_threshold(current, rest_fraction)  # once: the segments use it too
    table = segment_table(
        frame, rest_fraction=rest_fraction, transitions=transitions, threshold_a=threshold
    )
    return classify_steps(table.lazy(), threshold).collect()


def classify_steps(table: pl.LazyFrame, threshold_a: float) -> pl.LazyFrame:
    """Add ``step_type`` to a segment table (rest, CC/CV charge, CC discharge, pulses).

    A pulse is a charge or discharge segment of at most :data:`PULSE_MAX_DURATION_S` and at
    least :data:`PULSE_MIN_POINTS` samples that starts from rest; a shorter transient keeps the
    type of a charge or discharge segment.
    """
    is_rest = pl.col("mean_current_a").abs() <= threshold_a
    prev_rest = (pl.col("mean_current_a").shift(1).abs() <= threshold_a).fill_null(True)
    # a pulse starts from rest (its resistance is measured from the resting voltage); what follows
    # may be a rest or, in HPPC, the next pulse or the SOC-adjusting discharge
    short = (
        (pl.col("duration_s") <= PULSE_MAX_DURATION_S)
        & (pl.col("n_points") >= PULSE_MIN_POINTS)
        & prev_rest
    )
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
