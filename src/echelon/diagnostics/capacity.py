"""Capacity from a capacity test: the ampere-hours of the main constant-current discharge."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from echelon.diagnostics.steps import step_table
from echelon.errors import DiagnosticsError

MIN_CAPACITY_DISCHARGE_S = 600.0
"""A discharge shorter than 10 min is not a capacity measurement."""


@dataclass(frozen=True)
class CapacityResult:
    """Discharge capacity measured by a capacity test.

    Attributes
    ----------
    capacity_ah : float
        Ampere-hours delivered by the longest constant-current discharge segment [A·h].
    energy_wh : float
        Watt-hours delivered in that segment [W·h].
    current_a : float
        Mean discharge current [A] (negative, BDF sign convention).
    duration_s : float
        Discharge duration [s].
    end_voltage_v : float
        Voltage at the end of the discharge [V] (the cut-off reached).
    """

    capacity_ah: float
    energy_wh: float
    current_a: float
    duration_s: float
    end_voltage_v: float


def discharge_capacity(frame: pl.DataFrame, *, steps: pl.DataFrame | None = None) -> CapacityResult:
    """Capacity [A·h] from the largest constant-current discharge in a capacity-test file.

    Parameters
    ----------
    frame : pl.DataFrame
        Validated BDF frame of a capacity test (full charge, then CC discharge to cut-off).
    steps : pl.DataFrame, optional
        Precomputed :func:`~echelon.diagnostics.steps.step_table` of ``frame``.

    Returns
    -------
    CapacityResult

    Raises
    ------
    DiagnosticsError
        If the file holds no discharge of at least 10 minutes.

    Notes
    -----
    GB/T 34015-2017 defines residual capacity as the ampere-hours discharged at a constant rate to
    the cut-off voltage after a standard charge; the rate and temperature of the test should be
    recorded with the result (they are in the test run's metadata).
    """
    table = steps if steps is not None else step_table(frame)
    candidates = table.filter(
        (pl.col("step_type") == "cc_discharge") & (pl.col("duration_s") >= MIN_CAPACITY_DISCHARGE_S)
    )
    if candidates.height == 0:
        raise DiagnosticsError(
            "no constant-current discharge of ≥ 10 min found: not a capacity test "
            f"(segments: {', '.join(table.get_column('step_type').unique(maintain_order=True))})"
        )
    best = candidates.sort("discharge_ah", descending=True).row(0, named=True)
    return CapacityResult(
        capacity_ah=float(best["discharge_ah"]),
        energy_wh=float(best["discharge_wh"]),
        current_a=float(best["mean_current_a"]),
        duration_s=float(best["duration_s"]),
        end_voltage_v=float(best["end_voltage_v"]),
    )
