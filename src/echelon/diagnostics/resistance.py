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
from echelon.diagnostics.capacity import MIN_CAPACITY_DISCHARGE_S as MIN_FULL_DISCHARGE_S
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
STANDARD_DCIR_S = 10.0
"""The DCIR a file stands for is read 10 s after the onset, or at the end of a shorter pulse
(FreedomCAR Battery Test Manual for Power-Assist HEVs, DOE/ID-11069, 2003, §3.3: 10 s pulses;
single DCIR pulses of 1–10 s, second-life-domain.md §1.6 [S31]; PulseBat pulses are 5 s)."""
MIN_DCIR_PULSE_S = 1.0
"""A pulse shorter than this (PulseBat's 30–700 ms widths) is not a DCIR pulse when the file also
holds longer ones: the shortest "single DCIR pulse" is 1 s (second-life-domain.md §1.6 [S31])."""
DCIR_REFERENCE_SOC = 0.2
"""SOC at which the file's DCIR is read when its pulses span several SOC levels: the ``power_soc``
at which R_max is computed for ess, ups, telecom, ebike, lsv and ev_reman (auto12v: 0.5; DCIR is
higher at low SOC, so 0.2 is the conservative choice) — catalogue applications@2, 2026-12-07."""
SOC_LEVEL_TOLERANCE = 0.02
"""Pulses within this SOC of the level nearest :data:`DCIR_REFERENCE_SOC` belong to that level
(PulseBat levels are 5 % apart; the pulses of one level move the SOC by < 1 %)."""
FULL_DISCHARGE_SHARE = 0.5
"""A full discharge (the SOC = 0 reference) is the file's largest constant-current discharge, of
≥ 10 min, holding at least this share of all the charge the file discharges (a capacity test, not
an SOC-conditioning step of an HPPC)."""


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
    duration_s : float or None
        Onset to the pulse's last sample [s].
    end_ohm : float or None
        ``R`` at the pulse's last sample [Ω].
    soc : float or None
        SOC at the pulse [0–1] counted from the file's full discharge (see :func:`pulse_table`),
        null without one.
    """

    start_s: float
    current_a: float
    voltage_before_v: float
    resistance_ohm: dict[float, float]
    current_varies: bool = False
    duration_s: float | None = None
    end_ohm: float | None = None
    soc: float | None = None

    @property
    def dcir_read_s(self) -> float:
        """When its standard DCIR is read: :data:`STANDARD_DCIR_S` after the onset, or at the
        end of a shorter pulse [s]."""
        return min(STANDARD_DCIR_S, self.duration_s or 0.0)


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
        first sample comes later), ``dcir_end_ohm`` and ``soc`` (at the onset, counted from the
        end of the file's full discharge and scaled by the charge it delivered — the largest
        constant-current discharge of ≥ 10 min with at least :data:`FULL_DISCHARGE_SHARE` of the
        file's discharged charge, a capacity test as PulseBat's; null before it or without one).
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
        return pulses.with_columns(
            pl.lit(False).alias("current_varies"), pl.lit(None, pl.Float64).alias("soc")
        ).drop("end_current_a")
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
    # a pulse logged at its start and end only (a step table) has no value between them: a
    # straight line through a 5 s pulse is no measurement of its voltage at 1 s
    counts = samples.group_by(SEGMENT).agg(pl.len().alias("_n"))
    wide = wide.join(counts, on=SEGMENT).join(
        pulses.select(SEGMENT, "onset_s", "start_s", "end_s"), on=SEGMENT
    )
    wide = wide.with_columns(
        pl.when(
            (pl.col("_n") <= 2)
            & (pl.col("onset_s") + t > pl.col("start_s") + END_TOLERANCE * t)
            & (pl.col("onset_s") + t < pl.col("end_s") - END_TOLERANCE * t)
        )
        .then(None)
        .otherwise(pl.col(dcir_column(t)))
        .alias(dcir_column(t))
        for t in times
    ).drop("_n", "onset_s", "start_s", "end_s")
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
        .join(_pulse_soc(steps), on=SEGMENT, how="left")
        .with_columns(end_r.alias("dcir_end_ohm"))
        .drop("end_current_a")
    )


def _pulse_soc(steps: pl.DataFrame) -> pl.DataFrame:
    """``segment`` and ``soc`` of every segment after the file's full discharge (SOC = 0 at its
    end, scaled by the charge it delivered; :data:`FULL_DISCHARGE_SHARE`); empty without one."""
    net = (pl.col("charge_ah") - pl.col("discharge_ah")).cum_sum()
    ledger = steps.select(SEGMENT, "step_type", "duration_s", "discharge_ah", net.alias("_q_end"))
    discharges = ledger.filter(pl.col("step_type") == "cc_discharge").sort(
        "discharge_ah", descending=True
    )
    total = float(steps.get_column("discharge_ah").sum())
    if discharges.height == 0:
        return pl.DataFrame(schema={SEGMENT: pl.Int64, "soc": pl.Float64})
    full = discharges.row(0, named=True)
    capacity = float(full["discharge_ah"])
    if full["duration_s"] < MIN_FULL_DISCHARGE_S or capacity < FULL_DISCHARGE_SHARE * total:
        return pl.DataFrame(schema={SEGMENT: pl.Int64, "soc": pl.Float64})
    # a segment's state at its start: the net charge at the previous segment's end
    return ledger.filter(pl.col(SEGMENT) > full[SEGMENT]).select(
        pl.col(SEGMENT).cast(pl.Int64),
        ((pl.col("_q_end").shift(1).fill_null(full["_q_end"]) - full["_q_end"]) / capacity).alias(
            "soc"
        ),
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
                float(row["duration_s"]),
                row["dcir_end_ohm"],
                row["soc"],
            )
        )
    return out


def reference_pulse(
    pulses: Sequence[PulseResistance], *, soc: float = DCIR_REFERENCE_SOC
) -> PulseResistance | None:
    """The pulse whose DCIR stands for the file (``None`` if there is none).

    Of the discharge pulses with a constant current and a value: those of at least
    :data:`MIN_DCIR_PULSE_S` when there are any; of these, the ones read nearest the standard
    10 s (:attr:`PulseResistance.dcir_read_s` ≥ 90 % of the longest, e.g. PulseBat's 5 s pulses
    rather than its 1 s and 3 s ones); of these, when their SOC is known and spans several
    levels, those of the level nearest ``soc`` (within :data:`SOC_LEVEL_TOLERANCE`); and of these
    the first in file order of those with the largest current (within
    :data:`CURRENT_TOLERANCE`): the one nearest an application's peak current (1–3 C), and on
    PulseBat the highest DCIR of its level (3.72 mΩ at 0.5 C, 4.37 mΩ at 2.5 C on the 21 A·h NMC
    B6 at 5 % SOC).
    """
    found = [
        p
        for p in pulses
        if p.current_a < 0
        and not p.current_varies
        and (p.resistance_ohm or (p.end_ohm is not None and p.dcir_read_s >= MIN_DCIR_PULSE_S))
    ]
    long_enough = [p for p in found if p.dcir_read_s >= MIN_DCIR_PULSE_S]
    found = long_enough or found
    if not found:
        return None
    longest = max(p.dcir_read_s for p in found)
    found = [p for p in found if p.dcir_read_s >= 0.9 * longest]
    known = [p.soc for p in found if p.soc is not None]
    if known and max(known) - min(known) > SOC_LEVEL_TOLERANCE:
        nearest = min(abs(s - soc) for s in known)
        found = [
            p
            for p in found
            if p.soc is not None and abs(p.soc - soc) <= nearest + SOC_LEVEL_TOLERANCE
        ]
    strongest = max(abs(p.current_a) for p in found)
    return next(p for p in found if abs(p.current_a) >= (1 - CURRENT_TOLERANCE) * strongest)


def dcir_method(pulse: PulseResistance) -> str:
    """Method name of the DCIR :func:`dcir_ohm` reads from ``pulse``: ``pulse_dcir_10s``, or
    ``pulse_dcir_5s`` for a 5 s pulse read at its end (``pulse_dcir_end`` below 1 s), with
    ``_soc20`` when its SOC is known."""
    at_s = STANDARD_DCIR_S
    read_s = at_s if at_s in pulse.resistance_ohm else min(at_s, pulse.duration_s or at_s)
    soc = f"_soc{round(100 * pulse.soc):d}" if pulse.soc is not None else ""
    return f"pulse_dcir_{round(read_s):d}s{soc}" if read_s >= 1.0 else f"pulse_dcir_end{soc}"


def dcir_ohm(
    frame: pl.DataFrame, *, at_s: float = 10.0, pulses: Sequence[PulseResistance] | None = None
) -> float:
    """DCIR [Ω] at ``at_s`` after its onset (default 10 s) of the file's reference pulse.

    The reference pulse (:func:`reference_pulse`) is the first discharge pulse in file order
    whose current is constant and that has a value — pre-conditioning pulses before an HPPC's full
    charge included; a pulse shorter than ``at_s`` is read at its end (PulseBat: 5 s).

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
    if at_s in values:
        return values[at_s]
    if chosen.end_ohm is not None and (chosen.duration_s or 0.0) < at_s:
        return float(chosen.end_ohm)  # a shorter pulse: at its end
    return values[max(values)]
