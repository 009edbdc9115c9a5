"""Direct-current internal resistance (DCIR) from current pulses, and HPPC tables.

All pulses of a file are evaluated at once: the voltage at ``t0 + delay`` of every pulse and delay
comes from one pair of as-of joins (:mod:`echelon.diagnostics._interp`), not a loop over pulses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from echelon.diagnostics._interp import at_column, values_after_onset
from echelon.diagnostics.steps import SEGMENT, step_table, with_segments
from echelon.errors import DiagnosticsError
from echelon.io.bdf import VOLTAGE

DEFAULT_TIMES_S: tuple[float, ...] = (0.1, 1.0, 10.0)
"""Resistance is reported at these times after the pulse's onset (s)."""
END_TOLERANCE = 0.01
"""A requested time may exceed the last pulse sample by this fraction of itself."""
PULSE_TYPES = ("pulse_charge", "pulse_discharge")


@dataclass(frozen=True)
class PulseResistance:
    """Resistance of one pulse at several times after its start.

    Attributes
    ----------
    start_s : float
        First pulse sample [s] (test time).
    current_a : float
        Mean pulse current [A] (negative = discharge).
    voltage_before_v : float
        Resting voltage just before the pulse [V] (≈ OCV).
    resistance_ohm : dict of float to float
        ``{t: R(t)}`` with ``R(t) = |V(t0 + t) − V_before| / |I|`` [Ω], ``t0`` the pulse's
        onset (last resting sample), for every requested ``t`` that lies within the pulse's
        samples.
    """

    start_s: float
    current_a: float
    voltage_before_v: float
    resistance_ohm: dict[float, float]


def dcir_column(delay_s: float) -> str:
    """Column name of the DCIR at ``delay_s``: ``dcir_100ms_ohm``, ``dcir_1s_ohm``, …"""
    if delay_s < 1.0:
        return f"dcir_{delay_s * 1000:g}ms_ohm"
    return f"dcir_{delay_s:g}s_ohm"


def pulse_table(
    frame: pl.DataFrame,
    *,
    times_s: Sequence[float] = DEFAULT_TIMES_S,
    steps: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every pulse of a file with its DCIR at ``times_s`` and at its end (columnar).

    Times are counted from the pulse's onset: the last resting sample, after which the current
    is taken to change (the ``hold`` rule of :func:`~echelon.diagnostics.step_table`). A
    resistance at a time before the pulse's first sample is null: nothing was logged then.

    Returns
    -------
    pl.DataFrame
        One row per pulse (file order): ``segment``, ``onset_s`` (last resting sample),
        ``start_s`` (first pulse sample), ``end_s``, ``first_sample_delay_s`` (``start_s −
        onset_s``), ``duration_s`` (onset to last sample), ``current_a``,
        ``voltage_before_v``, ``end_voltage_v``, ``dcir_<t>_ohm`` for each requested time (null
        when the pulse is shorter or its first sample comes later) and ``dcir_end_ohm``.
    """
    steps = steps if steps is not None else step_table(frame)
    pulses = (
        steps.with_columns(pl.col("end_s").shift(1).alias("onset_s"))
        .filter(pl.col("step_type").is_in(PULSE_TYPES) & pl.col("voltage_before_v").is_not_null())
        .select(
            SEGMENT,
            "onset_s",
            "start_s",
            "end_s",
            (pl.col("start_s") - pl.col("onset_s")).alias("first_sample_delay_s"),
            "duration_s",
            pl.col("mean_current_a").alias("current_a"),
            "voltage_before_v",
            "end_voltage_v",
        )
    )
    if pulses.height == 0:
        return pulses
    samples = with_segments(frame).filter(
        pl.col(SEGMENT).is_in(pulses.get_column(SEGMENT).implode())
    )
    times = sorted({float(t) for t in times_s})
    at = values_after_onset(samples, pulses, times, end_tolerance=END_TOLERANCE)
    before, current = pl.col("voltage_before_v"), pl.col("current_a").abs()
    wide = at.join(pulses.select(SEGMENT, "voltage_before_v", "current_a"), on=SEGMENT).select(
        SEGMENT,
        *(
            ((pl.col(at_column(VOLTAGE, t)) - before).abs() / current).alias(dcir_column(t))
            for t in times
        ),
    )
    end_r = (pl.col("end_voltage_v") - pl.col("voltage_before_v")).abs() / pl.col("current_a").abs()
    return pulses.join(wide, on=SEGMENT, how="left").with_columns(end_r.alias("dcir_end_ohm"))


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
        Validated BDF frame containing rest → pulse sequences.
    times_s : sequence of float
        Times after the pulse's onset (its last resting sample) [s]; voltages are
        interpolated linearly between the pulse's samples, and a time before its first sample
        has no value.
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
    the diffusion polarisation (the usual "10 s DCIR" of HPPC tests; FreedomCAR Battery Test
    Manual for Power-Assist HEVs, DOE/ID-11069, 2003, §3.3).
    """
    table = pulse_table(frame, times_s=times_s, steps=steps)
    out = []
    for row in table.iter_rows(named=True):
        values = {
            float(t): float(row[dcir_column(float(t))])
            for t in times_s
            if row[dcir_column(float(t))] is not None
        }
        out.append(
            PulseResistance(
                float(row["start_s"]),
                float(row["current_a"]),
                float(row["voltage_before_v"]),
                values,
            )
        )
    return out


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
        raise DiagnosticsError("no discharge pulse (rest → discharge ≤ 60 s) found")
    values = discharges[0].resistance_ohm
    return values.get(at_s, values[max(values)])
