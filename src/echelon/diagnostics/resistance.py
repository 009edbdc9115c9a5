"""Direct-current internal resistance (DCIR) from current pulses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from echelon.diagnostics.steps import SEGMENT, step_table, with_segments
from echelon.errors import DiagnosticsError
from echelon.io.bdf import CURRENT, TIME, VOLTAGE

DEFAULT_TIMES_S: tuple[float, ...] = (0.1, 1.0, 10.0)
"""Resistance is reported at these times after the pulse start (s)."""
END_TOLERANCE = 0.01
"""A requested time may exceed the last pulse sample by this fraction of itself."""


@dataclass(frozen=True)
class PulseResistance:
    """Resistance of one pulse at several times after its start.

    Attributes
    ----------
    start_s : float
        Pulse start [s] (test time).
    current_a : float
        Mean pulse current [A] (negative = discharge).
    voltage_before_v : float
        Resting voltage just before the pulse [V] (≈ OCV).
    resistance_ohm : dict of float to float
        ``{t: R(t)}`` with ``R(t) = |V(t0 + t) − V_before| / |I|`` [Ω], for every requested
        ``t`` that lies within the pulse.
    """

    start_s: float
    current_a: float
    voltage_before_v: float
    resistance_ohm: dict[float, float]


def pulse_resistances(
    frame: pl.DataFrame,
    *,
    times_s: Sequence[float] = DEFAULT_TIMES_S,
    steps: pl.DataFrame | None = None,
) -> list[PulseResistance]:
    """DCIR of every pulse in a file at ``times_s`` after each pulse start.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame containing rest → pulse → rest sequences.
    times_s : sequence of float
        Times after the pulse start [s]; voltages are interpolated linearly between samples.
    steps : pl.DataFrame, optional
        Precomputed :func:`~echelon.diagnostics.steps.step_table` of ``frame``.

    Returns
    -------
    list of PulseResistance
        In file order; empty if the file holds no pulse.

    Notes
    -----
    ``R(t) = ΔV(t) / ΔI`` with ΔV measured from the last resting sample before the pulse. The
    0.1 s value approximates the ohmic resistance R0; 10 s includes charge-transfer and part of
    the diffusion polarisation (the usual "10 s DCIR" of HPPC tests).
    """
    steps = steps if steps is not None else step_table(frame)
    pulses = steps.filter(pl.col("step_type").is_in(["pulse_charge", "pulse_discharge"]))
    if pulses.height == 0:
        return []
    seg = with_segments(frame).select(SEGMENT, TIME, VOLTAGE, CURRENT)
    groups = seg.filter(pl.col(SEGMENT).is_in(pulses.get_column(SEGMENT).implode())).partition_by(
        SEGMENT, as_dict=True, maintain_order=True
    )
    results = []
    for pulse in pulses.iter_rows(named=True):
        samples = groups[(pulse[SEGMENT],)]
        t = samples.get_column(TIME).to_numpy()
        v = samples.get_column(VOLTAGE).to_numpy()
        v_before = pulse["voltage_before_v"]
        if v_before is None:
            continue
        current = float(pulse["mean_current_a"])
        # testers log the first sample of a step at the step change: that sample is t0
        t0 = float(pulse["start_s"])
        # a pulse of exactly ``delay`` seconds ends a hair before t0 + delay when its first sample
        # is logged just after the step change: accept the last sample within 1 %
        values = {}
        for delay in times_s:
            if t0 + delay <= t[-1] + END_TOLERANCE * delay:
                v_at = float(np.interp(min(t0 + delay, t[-1]), t, v))
                values[float(delay)] = abs(v_at - float(v_before)) / abs(current)
        results.append(PulseResistance(float(pulse["start_s"]), current, float(v_before), values))
    return results


def dcir_ohm(
    frame: pl.DataFrame, *, at_s: float = 10.0, pulses: Sequence[PulseResistance] | None = None
) -> float:
    """DCIR [Ω] of the first discharge pulse at ``at_s`` after its start (default 10 s).

    Falls back to the longest available time if the pulse is shorter than ``at_s``.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame with at least one discharge pulse.
    at_s : float
        Time after the pulse start [s].
    pulses : sequence of PulseResistance, optional
        Precomputed :func:`pulse_resistances` of ``frame`` including ``at_s``.

    Raises
    ------
    DiagnosticsError
        If the file holds no discharge pulse.
    """
    found = (
        pulses if pulses is not None else pulse_resistances(frame, times_s=(*DEFAULT_TIMES_S, at_s))
    )
    discharges = [p for p in found if p.current_a < 0 and p.resistance_ohm]
    if not discharges:
        raise DiagnosticsError("no discharge pulse (rest → discharge ≤ 60 s → rest) found")
    values = discharges[0].resistance_ohm
    return values.get(at_s, values[max(values)])
