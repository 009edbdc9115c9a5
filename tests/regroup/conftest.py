"""Synthetic inventories for the regrouping tests (real spreads are tested in test_real_data)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from echelon.regroup import validate_inventory


def synthetic_inventory(
    n: int,
    *,
    seed: int = 0,
    chemistries: tuple[str, ...] = ("LFP",),
    models: tuple[str, ...] = ("M1",),
    grades: tuple[str, ...] = ("A", "B", "C"),
    nominal_ah: float = 30.0,
) -> pl.DataFrame:
    """Retired units: SOH 60–95 %, DCIR rising as SOH falls, self-discharge 0.5–3 mV/day."""
    rng = np.random.default_rng(seed)
    soh = rng.uniform(0.6, 0.95, n)
    return validate_inventory(
        pl.DataFrame(
            {
                "battery_id": [f"U{i:05d}" for i in range(n)],
                "chemistry": rng.choice(list(chemistries), n),
                "model": rng.choice(list(models), n),
                "capacity_ah": nominal_ah * soh,
                "dcir_ohm": 0.002 * (1 + 2 * (0.95 - soh)) * rng.lognormal(0.0, 0.08, n),
                "self_discharge_mv_per_day": rng.uniform(0.5, 3.0, n),
                "grade": rng.choice(list(grades), n),
            }
        )
    )


@pytest.fixture
def inventory_500() -> pl.DataFrame:
    """500 LFP units of one model."""
    return synthetic_inventory(500, seed=1)
