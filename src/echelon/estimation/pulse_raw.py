"""PulseBat turning-point voltages from raw pulse-test time series, in any tester format.

The PulseBat protocol (S. Tao et al., *Nat. Commun.* 15 (2024), doi:10.1038/s41467-024-54454-0;
``shared/datasets/pulsebat/PROVENANCE.md``) tests a cell at one SOC with a rest, then at each
amplitude a = 0.5, 1, 1.5, 2, 2.5 C a +a C pulse of width w, a rest of 15 w, a −a C pulse and a
rest of 15 w. :func:`pulse_points` finds every such *block* in a BDF frame and returns what
:class:`~echelon.estimation.methods.PulseMethod` reads: ``u1_v`` = the last sample of the rest
before the first pulse, then the first sample (after the ohmic jump) and the last sample of each
pulse and rest (``u2_v`` … ``u21_v``; ``u41_v`` with the 2 and 2.5 C pulses). It works on the
step table and numpy index arrays (no per-sample Python loop) and tolerates amplitudes within a
tolerance, pulses cut short by voltage protection, a rest split into several steps, a rest
skipped after a cut pulse and a rest longer than 15 w. :func:`read_pulse_samples` turns a tester
file into sample-table rows.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from echelon.diagnostics.steps import PULSE_MAX_DURATION_S, SEGMENT, step_table, with_segments
from echelon.errors import EchelonWarning, Problem, SchemaError
from echelon.estimation.methods import u_column
from echelon.estimation.samples import (
    BATCH,
    CELL_ID,
    CHEMISTRY,
    NOMINAL,
    SAMPLE_ID,
    SOC,
    SOH,
    SOURCE,
    format_key,
)
from echelon.io.base import Reader, available_readers, read
from echelon.io.bdf import CHARGE_AH, CURRENT, DISCHARGE_AH, STEP, TIME, VOLTAGE

if TYPE_CHECKING:
    from echelon.estimation.readers import ReadOptions

Array = npt.NDArray[np.float64]
ScalarT = TypeVar("ScalarT", bound=np.generic)
Incomplete = Literal["raise", "warn", "drop"]

PULSEBAT_AMPLITUDES_C: Final = (0.5, 1.0, 1.5, 2.0, 2.5)
"""Pulse amplitudes of the protocol [C, of the nominal capacity] (Tao et al. 2024)."""
PULSEBAT_WIDTH_S: Final = 5.0
"""Pulse width of the published U1–U21 features [s] (Tao et al. 2024)."""
REST_PER_WIDTH: Final = 15.0
"""Each rest lasts 15 pulse widths (75 s after 5 s pulses; PROVENANCE.md)."""
AMPLITUDE_TOLERANCE: Final = 0.10
"""A pulse matches amplitude a when |I|/Qn is within ±10 % of a (current accuracy, rounding)."""
TIMING_TOLERANCE: Final = 0.10
"""Pulse width and rest duration match within ±10 % (a 100 Hz log starts 10 ms late: 0.2 %)."""
FULL_DISCHARGE_FRACTION: Final = 0.35
"""A discharge of at least 35 % of the nominal capacity ending at the file's lowest voltage is a
full discharge (SOC 0 reference): PulseBat did not test cells below SOH 0.35
(shared/reference/second-life-domain.md, table of thresholds)."""
FULL_DISCHARGE_MARGIN_V: Final = 0.05
"""… ending within 50 mV of the lowest voltage of the file."""
N_SLOTS: Final = 20
"""Steps of a full block: 5 amplitudes × (+pulse, rest, −pulse, rest)."""
SLOT_MODE: Final = (1, 0, -1, 0)
PROTOCOL: Final = (
    "expected the PulseBat protocol (Tao et al., Nat. Commun. 2024): a rest, then at each "
    "amplitude 0.5, 1, 1.5 (2, 2.5) C a +pulse of width w, a rest of 15 w, a −pulse of width w "
    "and a rest of 15 w"
)
SOC_IN_NAME: Final = re.compile(r"(?:^|[_\-\s.])SOC[_\-]?(\d{1,3}(?:\.\d+)?)", re.IGNORECASE)
PART_IN_NAME: Final = re.compile(r"_Part_(\d+)-(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class _Phases:
    """Steps of a file with consecutive rests merged and missing rests inserted (``virtual``)."""

    mode: npt.NDArray[np.int64]
    start_s: Array
    end_s: Array
    v_start: Array
    v_end: Array
    amp_c: Array
    net_ah: Array
    step: npt.NDArray[np.int64]
    virtual: npt.NDArray[np.bool_]
    cv: npt.NDArray[np.bool_]
    width_s: Array


def _segments(frame: pl.DataFrame, steps: pl.DataFrame) -> tuple[npt.NDArray[np.int64], Array]:
    """Per segment of ``steps``: the file's step number, and the net charge [A·h] within it.

    The charge comes from the tester's counters when it logs both and its step numbers: a
    counter's last minus first value within a step is the step's charge whether it resets per
    step (NEBULA, Neware) or counts over the file (Arbin), and it survives a pause inside a
    step, which a step-level export (two samples per step) turns into hours of current in the
    integral. Otherwise the step table's integral within each step is used.
    """
    counters = [c for c in (CHARGE_AH, DISCHARGE_AH) if c in frame.columns]
    aggs = [pl.col(STEP).first()] if STEP in frame.columns else []
    aggs += [(pl.col(c).last() - pl.col(c).first()).abs().alias(c) for c in counters]
    per = with_segments(frame).group_by(SEGMENT, maintain_order=True).agg(aggs or pl.len())
    step = (
        per.get_column(STEP).fill_null(-1).to_numpy().astype(np.int64)
        if STEP in frame.columns
        else np.arange(1, steps.height + 1, dtype=np.int64)
    )
    nulls = per.select(pl.any_horizontal(pl.col(counters).is_null().any())).item()
    table, names = (
        (per, counters)
        if len(counters) == 2 and STEP in frame.columns and not nulls
        else (steps, ["charge_ah", "discharge_ah"])
    )
    net: Array = (table.get_column(names[0]) - table.get_column(names[1])).to_numpy()
    return step, net.astype(np.float64)


def _phases(steps: pl.DataFrame, frame: pl.DataFrame, nominal_ah: float) -> _Phases:
    mode = steps.get_column("mode").to_numpy().astype(np.int64)
    new = np.ones(mode.size, dtype=bool)
    new[1:] = ~((mode[1:] == 0) & (mode[:-1] == 0))  # a rest split into several steps is one
    first = np.flatnonzero(new)
    last = np.append(first[1:], mode.size) - 1

    step, net = _segments(frame, steps)

    def col(name: str) -> Array:
        return steps.get_column(name).to_numpy().astype(np.float64)

    fields: dict[str, npt.NDArray[Any]] = {
        "mode": mode[first],
        "start_s": col("start_s")[first],
        "end_s": col("end_s")[last],
        "v_start": col("start_voltage_v")[first],
        "v_end": col("end_voltage_v")[last],
        "amp_c": np.abs(col("mean_current_a")[first]) / nominal_ah,
        "net_ah": np.add.reduceat(net, first),
        "step": step[first],
        "virtual": np.zeros(first.size, dtype=bool),
        "cv": (steps.get_column("step_type") == "cv_charge").to_numpy()[first],
    }
    # a pulse cut at once by voltage protection may skip the rest after it: insert an empty rest
    m = fields["mode"]
    gaps = np.flatnonzero((m[1:] != 0) & (m[:-1] != 0)) + 1
    if gaps.size:
        fill: dict[str, Any] = {"mode": 0, "virtual": True, "amp_c": 0.0, "net_ah": 0.0}
        fill |= {"cv": False, "v_start": np.nan, "v_end": np.nan}
        fill |= {"start_s": fields["start_s"][gaps], "end_s": fields["start_s"][gaps]}
        for name, values in fields.items():
            fields[name] = np.insert(values, gaps, fill.get(name, values[gaps]))
    return _Phases(**fields, width_s=fields["end_s"] - fields["start_s"])


def _describe(ph: _Phases, k: int) -> str:
    if k >= ph.mode.size:
        return "the end of the data (truncated file or aborted test?)"
    where = f"step {ph.step[k]} at t = {ph.start_s[k]:.3f} s"
    if k == ph.mode.size - 1:
        where += ", the last step of the data: truncated file or aborted test?"
    if ph.mode[k] == 0:
        return f"a rest of {ph.width_s[k]:.4g} s ({where})"
    sign = "+" if ph.mode[k] > 0 else "−"
    kind = "pulse" if ph.width_s[k] <= PULSE_MAX_DURATION_S else "constant current"
    return f"a {sign}{ph.amp_c[k]:.3g} C {kind} of {ph.width_s[k]:.4g} s ({where})"


def _expected(slot: int, amplitudes_c: tuple[float, ...], width_s: float) -> str:
    r, a = slot % 4, amplitudes_c[slot // 4]
    if r == 0:
        return f"a +{a:g} C pulse of {width_s:.4g} s"
    if r == 2:
        return f"a −{a:g} C pulse of {width_s:.4g} s"
    return f"a rest of {REST_PER_WIDTH * width_s:.4g} s"


def _check_time(frame: pl.DataFrame, source: Path | str) -> Array:
    t: Array = frame.get_column(TIME).to_numpy().astype(np.float64)
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        raise SchemaError(
            source,
            [Problem("test time goes backwards; sort or split the file", row=int(back[0]) + 2)],
        )
    return t


def pulse_points(
    frame: pl.DataFrame,
    *,
    nominal_capacity_ah: float,
    n_points: Literal[21, 41] = 21,
    pulse_width_s: float | None = PULSEBAT_WIDTH_S,
    amplitudes_c: tuple[float, ...] = PULSEBAT_AMPLITUDES_C,
    amplitude_tolerance: float = AMPLITUDE_TOLERANCE,
    timing_tolerance: float = TIMING_TOLERANCE,
    soc0_percent: float | None = None,
    incomplete: Incomplete = "raise",
    steps: pl.DataFrame | None = None,
    source: Path | str = "<frame>",
) -> pl.DataFrame:
    """PulseBat turning-point voltages of every pulse block in a BDF frame.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame (``test_time_second``, ``voltage_volt``, ``current_ampere``
        positive on charge; ``step_id`` when the tester logs it).
    nominal_capacity_ah : float
        Rated capacity [A·h]: pulse amplitudes are in C of it.
    n_points : {21, 41}
        Points a block must have: 21 (±0.5, ±1 C and the +1.5 C pulse with its rest) or 41
        (up to ±2.5 C).
    pulse_width_s : float or None
        Pulse width of the blocks to return [s] (default 5 s, the published features);
        ``None`` returns the blocks of every width.
    amplitudes_c : tuple of float
        Nominal amplitudes in protocol order [C].
    amplitude_tolerance, timing_tolerance : float
        Relative tolerance of amplitudes, and of pulse widths and rest durations.
    soc0_percent : float, optional
        SOC of the first block [%] (e.g. planned, from the file name) when the file has no
        full discharge to count charge from.
    incomplete : {"raise", "warn", "drop"}
        What to do with a block that starts like the protocol but breaks it or ends early.
    steps : pl.DataFrame, optional
        Precomputed ``step_table(frame, transitions="exclude")``: charge is counted within
        steps only, so a pause between two steps (an overnight stop) adds none.
    source : path-like or str
        Named in errors.

    Returns
    -------
    pl.DataFrame
        One row per block in file order: ``block`` (0, 1, …), ``step_id`` and ``start_s`` of its
        first pulse, ``pulse_width_s`` (measured, 10 ms resolution), ``amplitudes_c`` (measured
        mean |I| ÷ Qn per amplitude [C]), ``cut_pulses`` (pulses shorter than the width, e.g.
        cut by voltage protection), ``charge_throughput_ah`` (net charge from the start of the
        file to ``u1_v``), ``soc_percent`` (net charge since the last full discharge ÷ Qn, else
        ``soc0_percent`` plus the charge since the first block, else null), ``n_points`` (21 or
        41) and ``u1_v`` … ``u21_v`` [V] (``u22_v`` … ``u41_v`` when a block has them).

    Raises
    ------
    SchemaError
        Naming ``source``, the step and the time: no pulses; pulses but no PulseBat block
        (what was found, what is expected); an incomplete block when ``incomplete="raise"``;
        test time going backwards.
    """
    if n_points not in (21, 41) or len(amplitudes_c) < (3 if n_points == 21 else 5):
        raise ValueError("n_points must be 21 (≥ 3 amplitudes) or 41 (5 amplitudes)")
    t = _check_time(frame, source)
    steps = steps if steps is not None else step_table(frame, transitions="exclude")
    if steps.height == 0 or not steps.get_column("step_type").str.starts_with("pulse").any():
        raise SchemaError(source, [f"no current pulse (rest → pulse ≤ 60 s) found; {PROTOCOL}"])
    ph = _phases(steps, frame, nominal_capacity_ah)
    n = ph.mode.size
    amps = np.asarray(amplitudes_c, dtype=np.float64)
    a_tol = amplitude_tolerance * amps[0]
    prev_rest = np.zeros(n, dtype=bool)
    prev_rest[1:] = (ph.mode[:-1] == 0) & ~ph.virtual[:-1]
    starts_block = (ph.mode == 1) & prev_rest & (np.abs(ph.amp_c - amps[0]) <= a_tol)
    width_ok = (
        np.abs(ph.width_s - pulse_width_s) <= timing_tolerance * pulse_width_s
        if pulse_width_s is not None
        else ph.width_s <= PULSE_MAX_DURATION_S
    )
    anchors = np.flatnonzero(starts_block & width_ok)
    if anchors.size == 0:
        raise SchemaError(
            source, _no_block_problems(ph, starts_block, pulse_width_s, nominal_capacity_ah)
        )
    width = (
        np.full(anchors.size, pulse_width_s) if pulse_width_s is not None else ph.width_s[anchors]
    )
    rest = REST_PER_WIDTH * width
    n_slots = min(N_SLOTS, 4 * amps.size)
    idx = np.minimum(anchors[:, None] + np.arange(n_slots)[None, :], n)  # n = past the end

    mode, virtual = _take(ph.mode, idx, 9), _take(ph.virtual, idx, False)
    amp, dur, start_s = (_take(a, idx, np.nan) for a in (ph.amp_c, ph.width_s, ph.start_s))
    v_start, v_end = _take(ph.v_start, idx, np.nan), _take(ph.v_end, idx, np.nan)
    slot = np.arange(n_slots)
    want_mode = np.asarray(SLOT_MODE)[slot % 4]
    want_amp = amps[slot // 4]
    pulse = slot % 2 == 0
    ok = mode == want_mode[None, :]
    ok &= ~pulse | (np.abs(amp - want_amp) <= amplitude_tolerance * want_amp)
    ok &= ~pulse | (dur <= (1 + timing_tolerance) * width[:, None])
    ok &= pulse | virtual | (dur >= (1 - timing_tolerance) * rest[:, None])
    # a rest longer than 15 w ends, for the protocol, at 15 w: read the last sample before it
    long_rest = ~pulse & ~virtual & (dur > (1 + timing_tolerance) * rest[:, None])
    if long_rest.any():
        target = start_s + rest[:, None]
        row = np.clip(np.searchsorted(t, target, side="right") - 1, 0, t.size - 1)
        near = (t[row] >= start_s) & (target - t[row] <= timing_tolerance * rest[:, None])
        v_at = frame.get_column(VOLTAGE).to_numpy().astype(np.float64)[row]
        v_end = np.where(long_rest, np.where(near, v_at, np.nan), v_end)
    u = np.full((anchors.size, 1 + 2 * N_SLOTS), np.nan)
    u[:, 0] = ph.v_end[anchors - 1]
    u[:, 1 : 1 + 2 * n_slots : 2] = np.where(ok, v_start, np.nan)
    u[:, 2 : 2 + 2 * n_slots : 2] = np.where(ok, v_end, np.nan)
    complete_slots = np.cumprod(ok & np.isfinite(v_start) & np.isfinite(v_end), axis=1).sum(axis=1)
    points = np.where(complete_slots >= N_SLOTS, 41, np.where(complete_slots >= 10, 21, 0))
    points = np.where(np.isfinite(u[:, 0]), points, 0)
    u[np.arange(u.shape[1])[None, :] >= points[:, None]] = np.nan  # a block has its points only
    in_run = ok & (slot[None, :] < complete_slots[:, None])
    valid = points >= n_points
    if not valid.all():
        bad = ~valid
        args = (anchors[bad], complete_slots[bad], ok[bad], width[bad], amplitudes_c)
        problems = _incomplete(ph, *args)
        if incomplete == "raise" or not valid.any():
            hint = " (incomplete='drop' keeps the complete blocks)" if valid.any() else ""
            raise SchemaError(source, [*problems, PROTOCOL + hint])
        for problem in problems if incomplete == "warn" else []:
            warnings.warn(f"{source}: {problem}; block skipped", EchelonWarning, stacklevel=2)
    q_before = np.concatenate([[0.0], np.cumsum(ph.net_ah)])[anchors]
    soc = _soc_percent(ph, anchors, q_before, nominal_capacity_ah, soc0_percent)
    cut = (pulse & (dur < (1 - timing_tolerance) * width[:, None]) & in_run).sum(axis=1)
    level_amp = amp[:, :n_slots:2].reshape(anchors.size, -1, 2).mean(axis=2)
    level_run = in_run[:, ::2].reshape(anchors.size, -1, 2).all(axis=2)
    level_amp = np.where(level_run, level_amp, np.nan)
    keep = np.flatnonzero(valid)
    last_point = 41 if (points[keep] == 41).any() else 21
    columns: dict[str, object] = {
        "block": np.arange(keep.size, dtype=np.int64),
        "step_id": ph.step[anchors[keep]],
        "start_s": ph.start_s[anchors[keep]],
        "pulse_width_s": np.round(ph.width_s[anchors[keep]], 2),
        "amplitudes_c": [[float(a) for a in row if np.isfinite(a)] for row in level_amp[keep]],
        "cut_pulses": cut[keep].astype(np.int64),
        "charge_throughput_ah": q_before[keep],
        SOC: soc[keep],
        "n_points": points[keep].astype(np.int64),
    }
    out = pl.DataFrame(columns)
    values = [pl.Series(u_column(i + 1), u[keep, i]) for i in range(last_point)]
    return out.with_columns(values).with_columns(
        pl.col([SOC, *(u_column(i) for i in range(1, last_point + 1))]).fill_nan(None)
    )


def _take(
    values: npt.NDArray[ScalarT], idx: npt.NDArray[np.int64], fill: Any
) -> npt.NDArray[ScalarT]:
    """``values[idx]`` where an index equal to ``len(values)`` (past the end) gives ``fill``."""
    out: npt.NDArray[ScalarT] = np.append(values, np.asarray([fill], dtype=values.dtype))[idx]
    return out


def _no_block_problems(
    ph: _Phases, starts_block: npt.NDArray[np.bool_], pulse_width_s: float | None, nominal_ah: float
) -> list[Problem | str]:
    """Why no block starts anywhere: the widths of the +0.5 C pulses found, or the first pulse."""
    if starts_block.any():
        widths = sorted({round(float(w), 2) for w in ph.width_s[starts_block]})
        shown = ", ".join(f"{w:g}" for w in widths[:12])
        return [
            f"no +0.5 C pulse of {pulse_width_s:g} s after a rest; the +0.5 C pulses found last "
            f"{shown} s: pass pulse_width_s (None for every width); {PROTOCOL}"
        ]
    pulses = np.flatnonzero((ph.mode != 0) & (ph.width_s <= PULSE_MAX_DURATION_S))
    return [
        f"the first pulse is {_describe(ph, int(pulses[0]))}; {PROTOCOL} (amplitudes are in C "
        f"of the nominal capacity {nominal_ah:g} A·h: check it)"
    ]


def _incomplete(
    ph: _Phases,
    anchors: npt.NDArray[np.int64],
    complete_slots: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
    width_s: Array,
    amplitudes_c: tuple[float, ...],
) -> list[Problem | str]:
    """Where each incomplete block stops following the protocol."""
    problems: list[Problem | str] = []
    for j, anchor in enumerate(anchors):
        s = int(complete_slots[j])
        if s < ok.shape[1] and ok[j, s] and ph.virtual[anchor + s]:  # a rest was skipped
            why = f"no rest step after {_describe(ph, anchor + s - 1)}"
        elif s < ok.shape[1] and ok[j, s]:
            why = f"{_describe(ph, anchor + s)} has no sample near {REST_PER_WIDTH:g} pulse widths"
        else:
            expected = _expected(s, amplitudes_c, float(width_s[j]))
            why = f"expected {expected}, found {_describe(ph, anchor + s)}"
        problems.append(
            f"the pulse block starting at step {ph.step[anchor]} (t = {ph.start_s[anchor]:.3f} s) "
            f"is incomplete: {why}"
        )
    return problems


def _soc_percent(
    ph: _Phases,
    anchors: npt.NDArray[np.int64],
    q_before: Array,
    nominal_ah: float,
    soc0_percent: float | None,
) -> Array:
    """SOC of each block [% of nominal]: net charge since the last full discharge before it,
    else ``soc0_percent`` plus the net charge since the first block, else NaN."""
    full = _full_discharges(ph, nominal_ah)
    q_after = np.concatenate([[np.nan], np.concatenate([[0.0], np.cumsum(ph.net_ah)])[full + 1]])
    which = np.searchsorted(full, anchors, side="left")  # 1 + index of the last one before
    soc = 100.0 * (q_before - q_after[which]) / nominal_ah
    if soc0_percent is not None:
        planned = soc0_percent + 100.0 * (q_before - q_before[0]) / nominal_ah
        soc = np.where(np.isfinite(soc), soc, planned)
    out: Array = soc
    return out


def _full_discharges(ph: _Phases, nominal_ah: float) -> npt.NDArray[np.int64]:
    low = np.nanmin(np.where(ph.virtual, np.nan, ph.v_end))
    full = (
        (ph.mode == -1)
        & (-ph.net_ah >= FULL_DISCHARGE_FRACTION * nominal_ah)
        & (ph.v_end <= low + FULL_DISCHARGE_MARGIN_V)
    )
    return np.flatnonzero(full)


def measured_capacity_ah(
    frame: pl.DataFrame, *, nominal_capacity_ah: float, steps: pl.DataFrame | None = None
) -> float | None:
    """Capacity [A·h] of the last calibration in the file: a full discharge that follows a CV
    charge and a rest (as PulseBat's capacity calibration, step 4), else ``None``."""
    steps = steps if steps is not None else step_table(frame, transitions="exclude")
    ph = _phases(steps, frame, nominal_capacity_ah)
    full = _full_discharges(ph, nominal_capacity_ah)
    calibrated = [int(k) for k in full if k >= 2 and ph.cv[k - 2] and ph.mode[k - 1] == 0]
    return -float(ph.net_ah[calibrated[-1]]) if calibrated else None


def planned_soc_percent(path: Path | str) -> float | None:
    """SOC of the first block from a file name (``…_SOC_5-55_…``, ``cell_SOC50.csv`` → first
    number); ``None`` without one, or for a later part (``_Part_2-3``) of a split test."""
    name = Path(path).name
    part = PART_IN_NAME.search(name)
    if part is not None and int(part.group(1)) > 1:
        return None
    found = SOC_IN_NAME.search(Path(name).stem)
    return float(found.group(1)) if found else None


def cell_id_from_name(path: Path | str) -> str:
    """The file stem without a ``_Part_<i>-<n>`` tag (the parts of one test are one cell)."""
    return PART_IN_NAME.sub("", Path(path).stem)


def read_pulse_samples(path: Path, options: ReadOptions) -> pl.DataFrame | None:
    """Sample-table rows of a raw pulse-test file (a sample reader of
    :data:`echelon.estimation.readers.SAMPLE_READERS`).

    Parameters
    ----------
    path : Path
        Any tester file :func:`echelon.io.read` reads.
    options : ReadOptions
        ``chemistry`` and ``nominal_capacity_ah`` are required (raw files carry neither).

    Returns
    -------
    pl.DataFrame or None
        ``None`` when no tester reader recognises the file or it holds no current pulse.
        Otherwise one row per 5 s block: ``sample_id`` (``<stem>:block<k>``), ``cell_id`` (the
        stem without ``_Part_i-n``), ``chemistry``, ``nominal_capacity_ah``, ``soc_percent``
        (see :func:`pulse_points`; the planned SOC in the file name is used when the file has
        no full discharge), ``soh_percent`` and ``measured_capacity_ah`` (when the file holds a
        capacity calibration; else null), ``pulse_width_s``, ``block``, ``source``, ``batch``
        (``<chemistry>-<nominal>Ah``), ``u1_v`` …
        ``u21_v`` (``u41_v`` when every block has 41 points).

    Raises
    ------
    ReaderError
        When the tester file cannot be parsed (truncated, corrupt).
    SchemaError
        When chemistry or nominal capacity is missing, or the pulses do not follow the
        protocol (naming file, step and time). Incomplete blocks are skipped with an
        :class:`~echelon.errors.EchelonWarning` as long as one block is complete.
    """
    path = Path(path)
    reader: Reader | None = next((r for r in available_readers() if r.can_read(path)), None)
    if reader is None:
        return None
    frame, _ = read(path, reader=reader)
    if CURRENT not in frame.columns or VOLTAGE not in frame.columns or frame.height < 2:
        return None
    steps = step_table(frame, transitions="exclude")
    if not steps.get_column("step_type").str.starts_with("pulse").any():
        return None
    chemistry, nominal = options.chemistry, options.nominal_capacity_ah
    if chemistry is None or nominal is None:
        absent = {"--chemistry": chemistry is None, "--nominal-capacity-ah": nominal is None}
        wanted = " and ".join(flag for flag, missing in absent.items() if missing)
        raise SchemaError(
            path, [f"a raw pulse-test file states no chemistry or rated capacity: pass {wanted}"]
        )
    points = pulse_points(
        frame,
        nominal_capacity_ah=nominal,
        soc0_percent=planned_soc_percent(path),
        incomplete="warn",
        steps=steps,
        source=path,
    )
    if "u41_v" in points.columns and not (points.get_column("n_points") == 41).all():
        points = points.drop([u_column(i) for i in range(22, 42)])
    capacity = measured_capacity_ah(frame, nominal_capacity_ah=nominal, steps=steps)
    u_cols = [c for c in points.columns if re.fullmatch(r"u\d+_v", c)]
    return points.select(
        (pl.lit(f"{path.stem}:block") + pl.col("block").cast(pl.String)).alias(SAMPLE_ID),
        pl.lit(cell_id_from_name(path)).alias(CELL_ID),
        pl.lit(chemistry).alias(CHEMISTRY),
        pl.lit(float(nominal)).alias(NOMINAL),
        pl.col(SOC),
        pl.lit(None if capacity is None else 100.0 * capacity / nominal, pl.Float64).alias(SOH),
        pl.lit(capacity, pl.Float64).alias("measured_capacity_ah"),
        "pulse_width_s",
        "block",
        pl.lit(str(path)).alias(SOURCE),
        *u_cols,
    ).with_columns(format_key().alias(BATCH))
