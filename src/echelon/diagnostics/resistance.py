"""Direct-current internal resistance (DCIR) from current pulses, and HPPC tables.

All pulses of a file are evaluated at once: the voltage at ``t0 + delay`` of every pulse and delay
comes from one pair of as-of joins (:mod:`echelon.diagnostics._interp`), not a loop over pulses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from echelon.diagnostics._interp import (
    FIRST_SAMPLE_DELAY,
    ONSET_COLUMNS,
    at_column,
    values_after_onset,
)
from echelon.diagnostics.steps import SEGMENT, step_table, with_segments
from echelon.errors import DiagnosticsError
from echelon.io.bdf import CURRENT, VOLTAGE

DEFAULT_TIMES_S: tuple[float, ...] = (0.1, 1.0, 10.0)
"""Resistance is reported at these times after the pulse's onset (s)."""
END_TOLERANCE = 0.01
"""A requested time may exceed the last pulse sample by this fraction of itself."""
PULSE_TYPES = ("pulse_charge", "pulse_discharge")
CURRENT_TOLERANCE = 0.05
"""A pulse whose |current| spans more than this fraction of its median after its first sample is
flagged ``current_varies`` (e.g. a charge pulse held at the voltage limit: 22.5 → 16.1 A)."""


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
        ``{t: R(t)}`` with ``R(t) = |ΔV(t0 + t) / ΔI(t0 + t)|`` [Ω] from the resting voltage
        and current, ``t0`` the pulse's onset (last resting sample), for every requested ``t``
        that lies within the pulse's samples.
    current_varies : bool
        The pulse's current is not constant (see :func:`pulse_table`).
    """

    start_s: float
    current_a: float
    voltage_before_v: float
    resistance_ohm: dict[float, float]
    current_varies: bool = False


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

    ``R(t) = |ΔV(t) / ΔI(t)|``, with ΔV and ΔI the voltage and the current at ``t`` (both
    interpolated between the pulse's samples) minus the last resting sample's: a pulse whose
    current is not constant (clamped at the voltage limit) is divided by its current at that
    instant, not by its mean. Times are counted from the pulse's onset: the last resting sample,
    after which the current is taken to change (the ``hold`` rule of
    :func:`~echelon.diagnostics.step_table`). A resistance at a time before the pulse's first
    sample is null: nothing was logged then.

    Returns
    -------
    pl.DataFrame
        One row per pulse (file order): ``segment``, ``pulse`` (1, 2, … in file order: the
        number :func:`~echelon.diagnostics.hppc_table` and
        :func:`~echelon.diagnostics.pulse_ecm` use), ``onset_s`` (last resting sample),
        ``start_s`` (first pulse sample), ``end_s``, ``first_sample_delay_s`` (``start_s −
        onset_s``), ``duration_s`` (onset to last sample), ``current_a`` (mean),
        ``current_before_a`` and ``voltage_before_v`` (last resting sample), ``end_voltage_v``,
        ``current_varies`` (the current after the first sample spans more than
        :data:`CURRENT_TOLERANCE` of its median: not a constant-current pulse, read its DCIR with
        care), ``dcir_<t>_ohm`` for each requested time (null when the pulse is shorter or its
        first sample comes later) and ``dcir_end_ohm``.
    """
    steps = steps if steps is not None else step_table(frame)
    pulses = (
        steps.with_columns(*ONSET_COLUMNS)
        .filter(pl.col("step_type").is_in(PULSE_TYPES) & pl.col("voltage_before_v").is_not_null())
        .select(
            SEGMENT,
            pl.int_range(1, pl.len() + 1).alias("pulse"),
            "onset_s",
            "start_s",
            "end_s",
            FIRST_SAMPLE_DELAY,
            "duration_s",
            pl.col("mean_current_a").alias("current_a"),
            "current_before_a",
            "voltage_before_v",
            "end_voltage_v",
            "end_current_a",
        )
    )
    if pulses.height == 0:
        return pulses.with_columns(pl.lit(False).alias("current_varies")).drop("end_current_a")
    samples = with_segments(frame).filter(
        pl.col(SEGMENT).is_in(pulses.get_column(SEGMENT).implode())
    )
    times = sorted({float(t) for t in times_s})
    at = values_after_onset(
        samples, pulses, times, columns=(VOLTAGE, CURRENT), end_tolerance=END_TOLERANCE
    )
    wide = at.join(pulses, on=SEGMENT).select(
        SEGMENT,
        *(
            _resistance(pl.col(at_column(VOLTAGE, t)), pl.col(at_column(CURRENT, t))).alias(
                dcir_column(t)
            )
            for t in times
        ),
    )
    # after the first sample (often logged while the current ramps up), a constant-current pulse
    # stays within CURRENT_TOLERANCE of its median
    held = pl.col(CURRENT).abs().slice(1)
    varies = samples.group_by(SEGMENT).agg(
        ((held.max() - held.min()) > CURRENT_TOLERANCE * held.median())
        .fill_null(False)
        .alias("current_varies")
    )
    end_r = _resistance(pl.col("end_voltage_v"), pl.col("end_current_a"))
    return (
        pulses.join(varies, on=SEGMENT, how="left")
        .join(wide, on=SEGMENT, how="left")
        .with_columns(end_r.alias("dcir_end_ohm"))
        .drop("end_current_a")
    )


def _resistance(voltage: pl.Expr, current: pl.Expr) -> pl.Expr:
    """``|ΔV / ΔI|`` from the resting voltage and current before the pulse [Ω]."""
    return ((voltage - pl.col("voltage_before_v")) / (current - pl.col("current_before_a"))).abs()


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
                bool(row["current_varies"]),
            )
        )
    return out


def reference_pulse(pulses: Sequence[PulseResistance]) -> PulseResistance | None:
    """The pulse whose DCIR stands for the file: the first discharge pulse in file order with a
    constant current and at least one resistance value (``None`` if there is none)."""
    return next(
        (p for p in pulses if p.current_a < 0 and not p.current_varies and p.resistance_ohm),
        None,
    )


def dcir_ohm(
    frame: pl.DataFrame, *, at_s: float = 10.0, pulses: Sequence[PulseResistance] | None = None
) -> float:
    """DCIR [Ω] at ``at_s`` after its onset (default 10 s) of the file's reference pulse.

    The reference pulse (:func:`reference_pulse`) is the first discharge pulse in file order
    whose current is constant and that has a value — pre-conditioning pulses before an HPPC's full
    charge included; falls back to its longest available time if it is shorter than ``at_s``.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame with at least one discharge pulse.
    at_s : float
        Time after the pulse's onset [s].
    pulses : sequence of PulseResistance, optional
        Precomputed :func:`pulse_resistances` of ``frame`` including ``at_s``.

    Raises
    ------
    DiagnosticsError
        If the file holds no constant-current discharge pulse.
    """
    found = (
        pulses if pulses is not None else pulse_resistances(frame, times_s=(*DEFAULT_TIMES_S, at_s))
    )
    chosen = reference_pulse(found)
    if chosen is None:
        raise DiagnosticsError(
            "no discharge pulse (rest → constant-current discharge ≤ 60 s) found"
        )
    values = chosen.resistance_ohm
    return values.get(at_s, values[max(values)])
