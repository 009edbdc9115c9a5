"""Capacity from a capacity test: the ampere-hours of the main constant-current discharge, to the
tester's cut-off or to a common cut-off voltage, and capacity per cycle at a reference rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from echelon.diagnostics.segments import MODE, SEGMENT, Transitions, segment_rows
from echelon.diagnostics.steps import step_table
from echelon.errors import DiagnosticsError
from echelon.io.bdf import CYCLE, STEP, TIME, VOLTAGE
from echelon.io.sign import MAX_WRONG_WAY_V, MIN_SIGN_CHARGE_FRACTION

MIN_CAPACITY_DISCHARGE_S = 600.0
"""A discharge shorter than 10 min is not a capacity measurement."""


def _step_at(frame: pl.DataFrame | dict[str, NDArray[Any]] | None, time_s: float) -> int | None:
    """The file's step number at ``time_s`` (None without a frame or step column)."""
    if frame is None or STEP not in frame or TIME not in frame:
        return None
    t, step = (np.asarray(frame[name]) for name in (TIME, STEP))
    return int(step[min(int(np.searchsorted(t, time_s)), t.size - 1)])


def check_current_sign(
    table: pl.DataFrame,
    discharges: pl.DataFrame,
    frame: pl.DataFrame | dict[str, NDArray[Any]] | None = None,
) -> None:
    """Refuse a result when its discharges raised the voltage, or the file's charges at a
    substantial rate (:data:`MIN_SIGN_CHARGE_FRACTION`) lowered it: the current sign looks
    inverted.

    Parameters
    ----------
    table : pl.DataFrame
        The file's step table (:func:`~echelon.diagnostics.steps.step_table`).
    discharges : pl.DataFrame
        The rows of ``table`` a result is measured on.
    frame : pl.DataFrame or dict of arrays, optional
        The file (or its columns), to name the file's step number in the message.

    Raises
    ------
    DiagnosticsError
        Naming the first wrong-way discharge or charge (its test time, and the file's step and
        cycle numbers when known) and how to flip the sign.
    """
    change = pl.col("end_voltage_v") - pl.col("start_voltage_v")
    wrong = discharges.filter(change > MAX_WRONG_WAY_V)
    kind = "discharge"
    if wrong.height == 0:
        long = pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S
        rate = pl.col("mean_current_a").abs()
        substantial = rate >= MIN_SIGN_CHARGE_FRACTION * rate.filter(long).max()
        wrong = table.filter((pl.col(MODE) == 1) & long & substantial & (change < -MAX_WRONG_WAY_V))
        kind = "charge"
    if wrong.height == 0:
        return
    first = wrong.row(0, named=True)
    verb = "raises" if kind == "discharge" else "lowers"
    where = "".join(
        f", {label} {value}"
        for label, value in (
            ("step", _step_at(frame, first["start_s"])),
            ("cycle", first.get(CYCLE)),
        )
        if value is not None
    )
    raise DiagnosticsError(
        f"the current sign looks inverted: the {kind} from t = {first['start_s']:g} s to "
        f"{first['end_s']:g} s ({first['duration_s']:.0f} s at {first['mean_current_a']:.4g} A"
        f"{where}) {verb} the voltage from {first['start_voltage_v']:.3f} to "
        f"{first['end_voltage_v']:.3f} V, the opposite of what a cell does (BDF current is "
        "positive when charging). Read the file with a column map that sets 'invert: true' on "
        "its current column (docs/readers.md), or negate current_ampere in the frame"
    )


@dataclass(frozen=True)
class CapacityResult:
    """Discharge capacity measured by a capacity test.

    Attributes
    ----------
    capacity_ah : float
        Ampere-hours delivered by the longest constant-current discharge segment [A·h] (to
        ``to_voltage_v`` when one was given).
    energy_wh : float
        Watt-hours delivered in that segment [W·h].
    current_a : float
        Mean discharge current [A] (negative, BDF sign convention).
    duration_s : float
        Discharge duration [s].
    end_voltage_v : float
        Voltage at the end of the discharge [V] (the cut-off reached, if it was one:
        :func:`full_discharge_problem` checks it).
    start_s : float
        Test time at the start of the discharge [s].
    top_voltage_v : float
        Highest voltage from the start of the file to the start of the discharge [V] (the end of
        the charge, or the rest, it started from).
    """

    capacity_ah: float
    energy_wh: float
    current_a: float
    duration_s: float
    end_voltage_v: float
    start_s: float = 0.0
    top_voltage_v: float = float("nan")


def _to_voltage(
    frame: pl.DataFrame, segment: int, cutoff_v: float, transitions: Transitions
) -> tuple[float, float]:
    """Ah and Wh of one discharge segment until the voltage first falls below ``cutoff_v``
    (the first sample below it included: the charge delivered until the crossing was seen)."""
    rows = segment_rows(frame, transitions=transitions)
    below = (pl.col(VOLTAGE) < cutoff_v).cast(pl.Int32)
    out = (
        rows.lazy()
        .filter(pl.col(SEGMENT) == segment)
        .filter((below.cum_sum() - below) == 0)
        .select((-pl.col("_dq")).sum(), (-pl.col("_de")).sum())
        .collect()
    )
    return float(out.item(0, 0)), float(out.item(0, 1))


def discharge_capacity(
    frame: pl.DataFrame,
    *,
    steps: pl.DataFrame | None = None,
    to_voltage_v: float | None = None,
    transitions: Transitions = "hold",
) -> CapacityResult:
    """Capacity [A·h] from the largest constant-current discharge in a capacity-test file.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame of a capacity test (full charge, then CC discharge to cut-off).
    steps : pl.DataFrame, optional
        Precomputed :func:`~echelon.diagnostics.steps.step_table` of ``frame`` (same
        ``transitions``).
    to_voltage_v : float, optional
        Count the charge only until the voltage first falls below this value [V] — capacity to
        a common cut-off when tests used different ones (NASA PCoE reports capacity to 2.7 V
        for cells discharged to 2.7, 2.5 and 2.2 V; docs/validation.md).
    transitions : {"hold", "trapezoid", "exclude"}
        Integration of the interval at step changes (:func:`echelon.diagnostics.segments.segment`).

    Returns
    -------
    CapacityResult

    Raises
    ------
    DiagnosticsError
        If the file holds no discharge of at least 10 minutes, or if the voltage rose during
        it (an inverted current sign, :func:`check_current_sign`).

    Notes
    -----
    GB/T 34015-2017 defines residual capacity as the ampere-hours discharged at a constant rate to
    the cut-off voltage after a standard charge; the rate and temperature of the test should be
    recorded with the result (they are in the test run's metadata).
    """
    table = steps if steps is not None else step_table(frame, transitions=transitions)
    candidates = table.filter(
        (pl.col("step_type") == "cc_discharge") & (pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S)
    )
    if candidates.height == 0:
        raise DiagnosticsError(
            "no constant-current discharge of ≥ 10 min found: not a capacity test "
            f"(segments: {', '.join(table.get_column('step_type').unique(maintain_order=True))})"
        )
    best = candidates.sort("discharge_ah", descending=True).row(0, named=True)
    check_current_sign(table, candidates.filter(pl.col(SEGMENT) == best[SEGMENT]), frame)
    capacity, energy = float(best["discharge_ah"]), float(best["discharge_wh"])
    if to_voltage_v is not None:
        capacity, energy = _to_voltage(frame, int(best[SEGMENT]), to_voltage_v, transitions)
    return CapacityResult(
        capacity_ah=capacity,
        energy_wh=energy,
        current_a=float(best["mean_current_a"]),
        duration_s=float(best["duration_s"]),
        end_voltage_v=float(best["end_voltage_v"]),
        start_s=float(best["start_s"]),
        top_voltage_v=_top_voltage(frame, float(best["start_s"]), float(best["start_voltage_v"])),
    )


def _top_voltage(frame: pl.DataFrame, start_s: float, start_voltage_v: float) -> float:
    """Highest voltage up to ``start_s`` (at least the discharge's first voltage)."""
    before = frame.filter(pl.col(TIME) <= start_s).get_column(VOLTAGE).max()
    return (
        max(start_voltage_v, float(before)) if isinstance(before, int | float) else start_voltage_v
    )


def full_discharge_problem(
    result: CapacityResult,
    *,
    cutoff_v: float,
    full_v: float,
    cells_in_series: int = 1,
    chemistry: str = "the chemistry",
) -> str | None:
    """Why a discharge is not a full capacity measurement, or ``None`` when it is one.

    A capacity test discharges a fully charged unit to the discharge cut-off (GB/T 34015-2017,
    residual capacity); a discharge that stopped above the cut-off, or started from a partial
    charge, measures only part of the capacity (an HPPC step of 3 Ah out of 31 Ah).

    Parameters
    ----------
    result : CapacityResult
        The discharge (:func:`discharge_capacity`).
    cutoff_v : float
        Highest end voltage per cell that counts as the cut-off reached [V] (the chemistry's
        discharge cut-off plus a tolerance).
    full_v : float
        Lowest voltage per cell the unit must have been at before the discharge [V] (after a
        charge to the upper limit, or a rest at a high OCV).
    cells_in_series : int
        Cells in series of the unit (the file's voltages are the unit's).
    chemistry : str
        Name used in the message.

    Returns
    -------
    str or None
        The reason, naming the voltages per cell and the limits, or ``None``.
    """
    end, top = result.end_voltage_v / cells_in_series, result.top_voltage_v / cells_in_series
    what = (
        f"the longest discharge ({result.capacity_ah:.4g} Ah at {abs(result.current_a):.4g} A "
        f"from t = {result.start_s:g} s)"
    )
    if end > cutoff_v:
        return (
            f"not a full capacity test: {what} stopped at {end:.3f} V per cell, above the "
            f"{chemistry} discharge cut-off (≤ {cutoff_v:.3f} V per cell counts as reached): its "
            "ampere-hours are part of the capacity only; run a full discharge to the cut-off"
        )
    if top < full_v:
        return (
            f"not a full capacity test: {what} started from {top:.3f} V per cell at most, below "
            f"a full {chemistry} unit ({full_v:.3f} V per cell): charge it fully before the "
            "discharge"
        )
    return None


def capacity_at_rate(
    frame: pl.DataFrame,
    *,
    rate_c: float,
    nominal_capacity_ah: float,
    tolerance: float = 0.1,
    transitions: Transitions = "hold",
) -> pl.DataFrame:
    """Discharge capacity per cycle for discharges at a reference C-rate.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame (cycling or check-up test).
    rate_c : float
        Reference rate [1/h], e.g. ``1.0`` for 1 C (current = rate × nominal capacity).
    nominal_capacity_ah : float
        Nominal (rated) capacity [A·h] that defines the C-rate.
    tolerance : float
        Accepted relative deviation of the mean discharge current from the reference current.
    transitions : {"hold", "trapezoid", "exclude"}
        Integration at step changes.

    Returns
    -------
    pl.DataFrame
        One row per matching discharge of ≥ 10 min: ``cycle_count`` (when the file has
        cycles), ``start_s``, ``capacity_ah``, ``energy_wh``, ``current_a``, ``rate_c``,
        ``end_voltage_v``. Empty when no discharge is at that rate.

    Raises
    ------
    DiagnosticsError
        If the voltage rose during a matching discharge (an inverted current sign).
    """
    target_a = rate_c * nominal_capacity_ah
    table = step_table(frame, transitions=transitions)
    current = pl.col("mean_current_a").abs()
    keys = [CYCLE] if CYCLE in table.columns else []
    matched = table.filter(
        (pl.col(MODE) == -1)
        & (pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S)
        & ((current - target_a).abs() <= tolerance * target_a)
    )
    check_current_sign(table, matched, frame)
    return matched.select(
        *keys,
        "start_s",
        pl.col("discharge_ah").alias("capacity_ah"),
        pl.col("discharge_wh").alias("energy_wh"),
        pl.col("mean_current_a").alias("current_a"),
        (current / nominal_capacity_ah).alias("rate_c"),
        "end_voltage_v",
    )
