"""Self-discharge rate K [mV/day] from pairs of open-circuit voltages.

A cell with an internal micro-short or high self-discharge loses open-circuit voltage during
storage. Repurposers store cells at a fixed state of charge for days to weeks and measure the OCV
drop; GB/T 34015-2017 (§6.4) and the screening practice of cell sorting use ``K = ΔOCV / Δt``
in mV/day, with the first reading taken only after the voltage has relaxed. Outliers against the
batch (not an absolute number) flag a unit, which the grading gate does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from echelon.diagnostics.steps import step_table
from echelon.errors import DiagnosticsError
from echelon.io.bdf import TIME, VOLTAGE

SECONDS_PER_DAY: Final = 86400.0
SETTLE_S: Final = 3600.0
"""The voltage is taken as OCV only this long after the current stopped (relaxation)."""
MIN_STORAGE_S: Final = 6 * 3600.0


@dataclass(frozen=True)
class SelfDischarge:
    """Self-discharge from OCV readings.

    Attributes
    ----------
    k_mv_per_day : float
        OCV decay rate [mV/day] (positive = losing voltage).
    stderr_mv_per_day : float or None
        Standard error of the slope when more than two readings were fitted.
    days : float
        Storage time between the first and last reading [d].
    n_readings : int
        OCV readings used.
    """

    k_mv_per_day: float
    stderr_mv_per_day: float | None
    days: float
    n_readings: int


def _seconds(value: float | dt.datetime) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def self_discharge_k(times: list[float] | list[dt.datetime], ocv_v: list[float]) -> SelfDischarge:
    """K [mV/day] from two or more OCV readings of a resting cell.

    Parameters
    ----------
    times : list of float [s] or datetime
        When each OCV was read.
    ocv_v : list of float
        Open-circuit voltages [V].

    Returns
    -------
    SelfDischarge
        Two readings: the slope between them; more: the least-squares slope with its error.

    Raises
    ------
    DiagnosticsError
        With fewer than two readings or no time between them.
    """
    t = np.array([_seconds(x) for x in times], dtype=float)
    v = np.asarray(ocv_v, dtype=float)
    if t.size != v.size:
        raise DiagnosticsError(
            f"self-discharge: {t.size} times but {v.size} OCV readings; give one time per reading"
        )
    if t.size < 2:
        raise DiagnosticsError("self-discharge needs at least two (time, OCV) readings")
    days = (t - t.min()) / SECONDS_PER_DAY
    span = float(days.max())
    if span <= 0:
        raise DiagnosticsError("the OCV readings are all at the same time")
    slope, stderr = np.polyfit(days, v * 1000.0, 1)[0], None
    if t.size > 2:
        coef, cov = np.polyfit(days, v * 1000.0, 1, cov=True)
        slope, stderr = coef[0], float(np.sqrt(cov[0, 0]))
    return SelfDischarge(float(-slope), stderr, span, int(t.size))


def self_discharge_from_rest(
    frame: pl.DataFrame, *, settle_s: float = SETTLE_S, min_storage_s: float = MIN_STORAGE_S
) -> SelfDischarge:
    """K [mV/day] from the longest rest of a file (a storage test logged by the tester).

    The OCV readings are the samples of the rest (the first of the longest, in file order) from
    ``settle_s`` after it began to its end (the relaxation before that is not self-discharge):
    every sample the step table calls rest — within its dead-band
    (:func:`~echelon.diagnostics.steps.rest_threshold_a`), which holds a tester's zero offset
    (3–6.5 mA on NASA PCoE rests) and a Bitrode's 0.00/0.01 A readings — is a reading. The slope
    is fitted through them.

    Raises
    ------
    DiagnosticsError
        If the file has no rest of at least ``settle_s + min_storage_s``.
    """
    steps = step_table(frame)
    rests = steps.filter(pl.col("step_type") == "rest").sort(
        "duration_s", descending=True, maintain_order=True
    )
    if rests.height == 0 or rests.get_column("duration_s")[0] < settle_s + min_storage_s:
        raise DiagnosticsError(
            f"no rest of ≥ {(settle_s + min_storage_s) / 3600:g} h: not a storage test"
        )
    longest = rests.row(0, named=True)
    readings = frame.filter(  # every row of a rest step lies within the dead-band
        (pl.col(TIME) >= longest["start_s"] + settle_s) & (pl.col(TIME) <= longest["end_s"])
    )
    return self_discharge_k(
        readings.get_column(TIME).to_list(), readings.get_column(VOLTAGE).to_list()
    )
