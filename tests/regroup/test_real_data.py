"""Regrouping real retired cells (PulseBat, read in place; skipped when the datasets are absent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.regroup import PackSpec, compare, load_constraints, regroup
from echelon.regroup.pulsebat import GROUPS, pulsebat_inventory

pytestmark = pytest.mark.real_data


@pytest.fixture
def cells(real_dataset: Callable[[str], Path]) -> pl.DataFrame:
    root = real_dataset("pulsebat").parent
    real_dataset("pulsebat_lfp")
    return pulsebat_inventory(root)


def test_inventory_of_real_cells(cells: pl.DataFrame) -> None:
    counts = dict(cells.group_by("model").len().iter_rows())
    assert counts == {
        "LMO-10Ah": 95,
        "NMC-21Ah": 52,
        "LFP-35Ah": 56,
        "LFP-20Ah": 102,
        "LFP-68Ah": 96,
    }
    assert set(GROUPS) == set(counts)
    for model, group in cells.group_by("model"):
        q, r = group["capacity_ah"].to_numpy(), group["dcir_ohm"].to_numpy()
        # a pulse DCIR of retired cells: milliohms, rising as capacity fades (PulseBat [S25])
        assert r.min() > 0.5e-3, model
        assert r.max() < 30e-3, model
        assert np.corrcoef(q, r)[0, 1] < -0.3, model


def test_real_cells_beat_every_baseline(cells: pl.DataFrame) -> None:
    limits = load_constraints(allowed_grades=None)  # PulseBat cells carry no grade
    table = compare(cells, PackSpec(series=4, parallel=2), constraints=limits, time_limit_s=20)
    ours = table.row(0, named=True)
    assert ours["violating_packs"] == 0
    for row in table.iter_rows(named=True):
        assert (
            ours["usable_capacity_in_compliant_packs_ah"]
            >= row["usable_capacity_in_compliant_packs_ah"]
        )


def test_exact_gap_on_a_real_group(cells: pl.DataFrame) -> None:
    nmc = cells.filter(pl.col("model") == "NMC-21Ah")
    limits = load_constraints(allowed_grades=None)
    result = regroup(
        nmc, PackSpec(series=3, parallel=3), constraints=limits, method="milp", time_limit_s=30
    )
    assert result.gap is not None
    assert result.gap <= 1e-3
    assert result.violating_packs == 0
