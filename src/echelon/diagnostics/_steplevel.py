"""Step-level data — a few samples per tester step, as the NEBULA step tables of PulseBat — where
a step's charge and energy come from the tester's own per-step counters.

Integrating the samples of such a file gives a step's charge only where the current is constant
between them: a CV phase, the interval between two steps and the voltage curve of a long CC step
are not in the samples. The tester's counters are: their last minus first value within a step is
the step's charge whether they reset per step or accumulate.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl
from numpy.typing import NDArray

from echelon.io.bdf import CHARGE_AH, CHARGE_WH, DISCHARGE_AH, DISCHARGE_WH, STEP

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


def counter_totals(
    frame: pl.DataFrame | dict[str, NDArray[Any]],
    arrays: dict[str, NDArray[Any]],
    starts: NDArray[np.int64],
    keys: tuple[str, ...],
) -> dict[str, NDArray[np.float64]]:
    """Charge [A·h] and energy [W·h] of each segment from the tester's counters, on step-level
    data that logs both charge and discharge counters; empty otherwise.

    Parameters
    ----------
    frame : pl.DataFrame or dict of arrays
        The file, whose counters are read only when it is step-level.
    arrays : dict of arrays
        The file's ``step_id`` and ``keys`` columns as arrays.
    starts : int array
        First row of each segment.
    keys : tuple of str
        Columns whose change starts a segment (the step and cycle).

    Returns
    -------
    dict
        ``charge_ah`` and ``discharge_ah`` (and ``charge_wh``, ``discharge_wh`` when both energy
        counters are logged): the magnitude of the counter's change over the segment, counted
        from the previous row when that row belongs to the same step (a step split into
        segments by its current mode keeps its whole charge).
    """
    if not is_step_level(arrays.get(STEP)):
        return {}
    n = next(iter(arrays.values())).size
    last = np.append(starts[1:], n) - 1
    same = starts > 0
    for key in keys:
        if key in arrays:
            values = arrays[key]
            same &= values[starts - 1] == values[starts]
    base = np.where(same, starts - 1, starts)
    out: dict[str, NDArray[np.float64]] = {}
    for pair in (("charge_ah", "discharge_ah"), ("charge_wh", "discharge_wh")):
        found = [_column(frame, COUNTERS[name]) for name in pair]
        counters = [np.asarray(c, dtype=np.float64) for c in found if c is not None]
        if len(counters) < 2 or any(np.isnan(c).any() for c in counters):
            continue
        for name, column in zip(pair, counters, strict=True):
            out[name] = np.abs(column[last] - column[base])
    return out if "charge_ah" in out else {}
