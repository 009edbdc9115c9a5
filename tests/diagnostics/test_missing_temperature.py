"""Temperatures with missing samples (an empty cell: null, or NaN): the step table and the cycle
summary ignore them — the same samples for min, max and mean — and give null where none was
logged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import cycle_summary, step_table
from echelon.io.bdf import CURRENT, CYCLE, SURFACE_T, TIME, VOLTAGE


def logged(temperature: list[float | None]) -> pl.DataFrame:
    """Rest (4 rows), charge (4), discharge (4), one cycle; 10 s sampling."""
    n = len(temperature)
    return pl.DataFrame(
        {
            TIME: np.arange(n) * 10.0,
            VOLTAGE: np.linspace(3.6, 3.8, n),
            CURRENT: [0.0] * 4 + [1.0] * 4 + [-1.0] * 4,
            CYCLE: [1] * n,
            SURFACE_T: pl.Series(temperature, dtype=pl.Float64),
        }
    )


MISSING_AT_START = [None] * 6 + [26.0, 28.0, 30.0, 31.0, 32.0, 33.0]


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
def test_missing_temperatures_are_skipped_or_null(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kernel == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv("ECHELON_KERNEL", kernel)
    steps = step_table(logged(MISSING_AT_START))
    assert steps["n_temperature_points"].to_list() == [0, 2, 4]
    # a segment without any sample: null (was NaN), not a number
    assert steps.row(0, named=True)["mean_temperature_c"] is None
    assert steps.row(0, named=True)["min_temperature_c"] is None
    charge = steps.row(1, named=True)
    assert (charge["min_temperature_c"], charge["max_temperature_c"]) == (26.0, 28.0)
    assert charge["mean_temperature_c"] == pytest.approx(27.0)  # was NaN
    summary = cycle_summary(logged(MISSING_AT_START)).row(0, named=True)
    assert summary["min_temperature_c"] == 26.0
    assert summary["max_temperature_c"] == 33.0
    assert summary["mean_temperature_c"] == pytest.approx(np.mean([26, 28, 30, 31, 32, 33]))


def test_a_nan_temperature_counts_as_missing() -> None:
    data = logged(MISSING_AT_START).with_columns(pl.col(SURFACE_T).fill_null(float("nan")))
    assert step_table(data)["mean_temperature_c"].to_list()[1:] == pytest.approx([27.0, 31.5])
    assert cycle_summary(data)["mean_temperature_c"][0] == pytest.approx(30.0)


def test_a_cycle_without_any_temperature_has_null_temperatures() -> None:
    summary = cycle_summary(logged([None] * 12)).row(0, named=True)
    assert summary["min_temperature_c"] is None
    assert summary["max_temperature_c"] is None
    assert summary["mean_temperature_c"] is None
