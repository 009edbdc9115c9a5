"""Classify a tester file by what it contains (capacity test, pulse/HPPC test, EIS, cycling)."""

from __future__ import annotations

import polars as pl

from echelon.diagnostics.capacity import MIN_CAPACITY_DISCHARGE_S
from echelon.diagnostics.steps import step_table
from echelon.domain import TestKind
from echelon.io.bdf import CURRENT, FREQUENCY

CYCLING_MIN_DISCHARGES = 3
HPPC_MIN_PULSES = 3


def classify_test(frame: pl.DataFrame, *, steps: pl.DataFrame | None = None) -> TestKind:
    """Guess the kind of test a BDF frame holds.

    Rules, in order: impedance columns → ``eis``; ≥ 3 long constant-current discharges →
    ``cycling``; one or two long discharges → ``capacity``; ≥ 3 discharge pulses with
    discharges between them (pulses at several SOC) → ``hppc``; pulses only → ``pulse``;
    otherwise ``other``.
    """
    if FREQUENCY in frame.columns or CURRENT not in frame.columns:
        return TestKind.EIS
    table = steps if steps is not None else step_table(frame)
    types = table.get_column("step_type")
    long_discharges = table.filter(
        (pl.col("step_type") == "cc_discharge") & (pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S)
    ).height
    pulses = int((types == "pulse_discharge").sum())
    if long_discharges >= CYCLING_MIN_DISCHARGES and pulses < HPPC_MIN_PULSES:
        return TestKind.CYCLING
    if pulses >= HPPC_MIN_PULSES and int((types == "cc_discharge").sum()) >= pulses - 1:
        return TestKind.HPPC
    if long_discharges:
        return TestKind.CAPACITY
    if types.is_in(["pulse_charge", "pulse_discharge"]).any():
        return TestKind.PULSE
    return TestKind.OTHER
