"""Self-discharge from a logged storage rest: a current within the tester's resolution or the step
table's rest dead-band is rest (synthetic known answers and the Nissan Leaf file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.diagnostics import self_discharge_from_rest
from echelon.errors import DiagnosticsError
from echelon.io import read
from echelon.io.bdf import CURRENT, TIME, VOLTAGE

K_MV_PER_DAY = 3.0


def storage_file(rest_current_a: np.ndarray, grid_a: float) -> pl.DataFrame:
    """A 1 h discharge ramping through currents on a ``grid_a`` grid (so the file shows its
    resolution), then a 2-day rest at 60 s sampling whose voltage falls by 3 mV/day and whose
    current reads ``rest_current_a``."""
    t_load = np.arange(0.0, 3600.0, 10.0)
    i_load = -np.round(np.linspace(2.0, 1.0, t_load.size) / grid_a) * grid_a
    t_rest = 3600.0 + np.arange(rest_current_a.size) * 60.0
    v_rest = 3.7 - K_MV_PER_DAY * 1e-3 * (t_rest - t_rest[0]) / 86400.0
    return pl.DataFrame(
        {
            TIME: np.concatenate([t_load, t_rest]),
            VOLTAGE: np.concatenate([np.linspace(3.9, 3.6, t_load.size), v_rest]),
            CURRENT: np.concatenate([i_load, rest_current_a]),
        }
    )


def test_readings_at_the_tester_resolution_are_rest() -> None:
    """A Bitrode at rest reads 0.00 A or 0.01 A (its resolution); the 0.01 A share grows with
    time, as in the Nissan Leaf storage. Every settled sample is an OCV reading (the filter
    ``|I| ≤ |mean I| + 1 mA`` kept only the 0.00 A ones)."""
    n = 2 * 1440 + 1
    rng = np.random.default_rng(2)
    ticks = rng.random(n) < np.linspace(0.2, 0.6, n)
    data = storage_file(np.where(ticks, 0.01, 0.0), grid_a=0.01)
    k = self_discharge_from_rest(data)
    settled = data.filter(pl.col(TIME) >= 3600.0 + 3600.0).height
    assert k.n_readings == settled
    assert k.k_mv_per_day == pytest.approx(K_MV_PER_DAY, rel=1e-6)


def test_a_float_logged_offset_inside_the_dead_band_is_rest() -> None:
    """A tester's zero offset logged as a float (3 ± 1 mA; NASA PCoE rests read up to 6.5 mA)
    shows no grid, so its resolution is 1 mA; the step table calls it rest (dead-band 20 mA on
    this 2 A file), and so does the fit: every settled sample is a reading (it was refused as a
    small load on 2026-12-07)."""
    n = 2 * 1440 + 1
    offset = 0.003 + np.random.default_rng(0).normal(0.0, 0.001, n)
    data = storage_file(offset, grid_a=0.001)
    k = self_discharge_from_rest(data)
    assert k.n_readings == data.filter(pl.col(TIME) >= 3600.0 + 3600.0).height
    assert k.k_mv_per_day == pytest.approx(K_MV_PER_DAY, rel=1e-6)


def test_a_rest_must_be_long_enough() -> None:
    data = storage_file(np.zeros(60), grid_a=0.001)
    with pytest.raises(DiagnosticsError, match="not a storage test"):
        self_discharge_from_rest(data)


@pytest.mark.real_data
def test_nissan_leaf_storage_uses_every_rest_reading(real_dataset: Callable[[str], Path]) -> None:
    """The 48 h rest of the cycling file: 1535 samples at 0.00 A and 1285 at 0.01 A after the
    first hour. With only the 0.00 A ones K was 9.640 ± 0.054 mV/day."""
    path = real_dataset("nissan_leaf") / "NissanLeaf-cell-Cycling-10C-24C-40C.csv"
    k = self_discharge_from_rest(read(path)[0])
    assert k.n_readings == 2820
    assert k.k_mv_per_day == pytest.approx(9.370, abs=0.001)
    assert k.stderr_mv_per_day == pytest.approx(0.038, abs=0.001)
