"""Classify a tester file by what it contains (capacity test, pulse test, EIS, cycling)."""

from __future__ import annotations

import polars as pl

from echelon.diagnostics.capacity import MIN_CAPACITY_DISCHARGE_S
from echelon.diagnostics.steps import step_table
from echelon.domain import TestKind
from echelon.io.bdf import FREQUENCY

CYCLING_MIN_DISCHARGES = 3


def classify_test(frame: pl.DataFrame, *, steps: pl.DataFrame | None = None) -> TestKind:
    """Guess the kind of test a BDF frame holds.

    Rules, in order: impedance columns → ``eis``; ≥ 3 long constant-current discharges →
    ``cycling``; one or two long discharges → ``capacity``; pulses only → ``pulse``;
    otherwise ``other``.
    """
    if FREQUENCY in frame.columns:
        return TestKind.EIS
    table = steps if steps is not None else step_table(frame)
    types = table.get_column("step_type")
    long_discharges = table.filter(
        (pl.col("step_type") == "cc_discharge") & (pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S)
    ).height
    if long_discharges >= CYCLING_MIN_DISCHARGES:
        return TestKind.CYCLING
    if long_discharges:
        return TestKind.CAPACITY
    if types.is_in(["pulse_charge", "pulse_discharge"]).any():
        return TestKind.PULSE
    return TestKind.OTHER
