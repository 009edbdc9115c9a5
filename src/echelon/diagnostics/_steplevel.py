"""Step-level data — a few samples per tester step, as the NEBULA step tables of PulseBat — where
a step's charge and energy come from the tester's own per-step counters when they resolve it.

Integrating the samples of such a file gives a step's charge only where the current is constant
between them: a CV phase, the interval between two steps and the voltage curve of a long CC step
are not in the samples. The tester's counters are: their last minus first value within a step is
the step's charge whether they reset per step or accumulate. But they are logged to a fixed
resolution (PulseBat: 0.1 mA·h and 0.1 mW·h), so a short pulse reads 0–2 counts and its
energy ÷ charge is no voltage (2–8 V, inf). A step whose counters change by fewer than
:data:`MIN_COUNTS` resolution steps takes its charge and energy from the samples within the step
instead (exact for a CC pulse: I × its duration, the interval before its first sample left out).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl
from numpy.typing import NDArray

from echelon.io.bdf import (
    CHARGE_AH,
    CHARGE_WH,
    CURRENT,
    DISCHARGE_AH,
    DISCHARGE_WH,
    STEP,
    TIME,
    VOLTAGE,
)

STEP_LEVEL_MAX_SAMPLES: Final = 3.0
"""A file with at most this many samples per step on average logs steps, not their course
(NEBULA step tables: two, plus the corner samples of CC-CV steps and the ends of gaps)."""
COUNTERS: Final = {
    "charge_ah": CHARGE_AH,
    "discharge_ah": DISCHARGE_AH,
    "charge_wh": CHARGE_WH,
    "discharge_wh": DISCHARGE_WH,
}
"""Segment-table column ← the tester's counter it is taken from on step-level data."""
MIN_COUNTS: Final = 1000.0
"""A step's counters are used when its charge and its energy counter each change by at least this
many resolution steps (a quantisation error ≤ 0.1 %); otherwise the samples within the step are."""
MAX_RESOLUTION: Final = 1e-3
"""The coarsest counter resolution assumed [A·h or W·h]: a file whose counters take only a few
values (a handful of long steps) shows no grid, and testers log to 1 mA·h / 1 mW·h or finer."""


def is_step_level(step: NDArray[np.int64] | None) -> bool:
    """Whether a file's step numbers describe step-level data (≤ :data:`STEP_LEVEL_MAX_SAMPLES`
    samples per step on average).

    Parameters
    ----------
    step : int array or None
        The file's ``step_id`` column, in file order (None when it has none).

    Returns
    -------
    bool
    """
    if step is None or step.size < 2:
        return False
    runs = 1 + int(np.count_nonzero(step[1:] != step[:-1]))
    return step.size <= STEP_LEVEL_MAX_SAMPLES * runs


def _column(frame: pl.DataFrame | dict[str, NDArray[Any]], name: str) -> NDArray[Any] | None:
    if isinstance(frame, dict):
        return frame.get(name)
    return frame.get_column(name).to_numpy() if name in frame.columns else None


def counter_resolution(counter: NDArray[np.float64]) -> float:
    """A counter's logged resolution [A·h or W·h]: the smallest step between its distinct
    magnitudes (steps below 1e-9, float noise, skipped), at most :data:`MAX_RESOLUTION`."""
    steps = np.diff(np.unique(np.abs(counter)))
    steps = steps[steps > 1e-9]
    return min(float(steps.min()), MAX_RESOLUTION) if steps.size else MAX_RESOLUTION


def _within_step(
    arrays: dict[str, NDArray[Any]],
    starts: NDArray[np.int64],
    same: NDArray[np.bool_],
) -> dict[str, NDArray[np.float64]]:
    """Charge [A·h] and energy [W·h] of each segment from its samples, by direction: the
    trapezoid rule between its rows; the interval from the previous row held at the segment's
    first current when that row is of the same step (a pause inside a step logs 0 A at its end),
    left out when it is the previous step's (the gap between two steps is neither's)."""
    t, v, i = (np.asarray(arrays[k], dtype=np.float64) for k in (TIME, VOLTAGE, CURRENT))
    dq = np.zeros(t.size)
    dq[1:] = 0.5 * (i[1:] + i[:-1]) * np.diff(t) / 3600.0
    de = np.zeros(t.size)
    de[1:] = dq[1:] * 0.5 * (v[1:] + v[:-1])
    held = starts[same]
    dq[starts] = 0.0
    de[starts] = 0.0
    dq[held] = i[held] * (t[held] - t[held - 1]) / 3600.0
    de[held] = dq[held] * v[held]
    out: dict[str, NDArray[np.float64]] = {}
    for name, values in (("ah", dq), ("wh", de)):
        for direction, part in (
            ("charge", np.maximum(values, 0.0)),
            ("discharge", np.maximum(-values, 0.0)),
        ):
            out[f"{direction}_{name}"] = np.add.reduceat(part, starts) if starts.size else part[:0]
    return out


def counter_totals(
    frame: pl.DataFrame | dict[str, NDArray[Any]],
    arrays: dict[str, NDArray[Any]],
    starts: NDArray[np.int64],
    keys: tuple[str, ...],
) -> dict[str, NDArray[np.float64]]:
    """Charge [A·h] and energy [W·h] of each segment on step-level data that logs all four
    counters (charge and discharge, A·h and W·h); empty otherwise.

    Parameters
    ----------
    frame : pl.DataFrame or dict of arrays
        The file, whose counters are read only when it is step-level.
    arrays : dict of arrays
        The file's time, voltage, current, ``step_id`` and ``keys`` columns as arrays.
    starts : int array
        First row of each segment.
    keys : tuple of str
        Columns whose change starts a segment (the step and cycle).

    Returns
    -------
    dict
        ``charge_ah``, ``discharge_ah``, ``charge_wh`` and ``discharge_wh``, each counted from
        the previous row when that row belongs to the same step (a step split into segments by
        its current mode keeps its whole charge): the magnitude of the counters' change over the
        segment when both its charge and its energy counters change by at least
        :data:`MIN_COUNTS` resolution steps (:func:`counter_resolution`), else the trapezoid
        integral of the samples within the step. Charge and energy of a segment come from the
        same source, so energy ÷ charge is a voltage.
    """
    names = frame.keys() if isinstance(frame, dict) else frame.columns
    if not all(c in names for c in COUNTERS.values()) or not is_step_level(arrays.get(STEP)):
        return {}  # the counters' names first: a file without them is not scanned for its steps
    found = {name: _column(frame, column) for name, column in COUNTERS.items()}
    counters = {name: np.asarray(c, dtype=np.float64) for name, c in found.items()}
    if any(np.isnan(c).any() for c in counters.values()):
        return {}
    n = next(iter(arrays.values())).size
    last = np.append(starts[1:], n) - 1
    same = starts > 0
    for key in keys:
        if key in arrays:
            values = arrays[key]
            same &= values[starts - 1] == values[starts]
    base = np.where(same, starts - 1, starts)
    change = {name: np.abs(c[last] - c[base]) for name, c in counters.items()}
    resolved = np.ones(starts.size, dtype=bool)
    for pair in (("charge_ah", "discharge_ah"), ("charge_wh", "discharge_wh")):
        resolution = max(counter_resolution(counters[name]) for name in pair)
        resolved &= np.maximum(change[pair[0]], change[pair[1]]) >= MIN_COUNTS * resolution
    if resolved.all():
        return change
    samples = _within_step(arrays, starts, same)
    return {name: np.where(resolved, change[name], samples[name]) for name in change}
