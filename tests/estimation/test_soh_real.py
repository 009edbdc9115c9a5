"""SOH estimators on measured retired cells (PulseBat; skipped when the datasets are absent).

Quick checks for ``make test``; the full validation (every group and split) is
benchmarks/test_soh_validation.py, reported in docs/validation.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echelon.estimation.evaluate import cross_validate
from echelon.estimation.readers import read_samples
from echelon.estimation.validation import (
    PULSEBAT,
    PULSEBAT_LFP,
    random_soc_fold,
    random_soc_pairs,
)
from echelon.estimation.zoo import load_model

pytestmark = pytest.mark.real_data
Dataset = Callable[[str], Path]


def test_pulsebat_workbooks_read_as_published(real_dataset: Dataset) -> None:
    root = real_dataset("pulsebat").parent
    samples = read_samples([root / rel for rel in PULSEBAT.values()])
    cells = samples.group_by("batch").agg(pl.col("cell_id").n_unique()).sort("batch")
    # PROVENANCE.md: 95 LMO, 12 physical NMC 2.1 Ah cells (67 ageing states), 52 NMC, 56 LFP
    assert dict(cells.iter_rows()) == {
        "LFP-35.0Ah": 56,
        "LMO-10.0Ah": 95,
        "NMC622-2.1Ah": 12,
        "NMC622-21.0Ah": 52,
    }
    assert samples.height == 2700  # (67 + 95 + 52 + 56) × 10 SOC levels
    soh = samples.get_column("soh_percent")
    assert 51.0 < soh.min() < 53.0  # published SOH range 0.52–1.01
    assert 100.0 < soh.max() < 101.5


def test_random_soc_rows_pair_with_grid_cells(real_dataset: Dataset) -> None:
    root = real_dataset("pulsebat_lfp").parent
    path = root / PULSEBAT_LFP["LFP-20Ah"]
    rows = read_samples(path).with_columns(pl.lit("LFP-20Ah").alias("group"))
    grid = rows.filter(pl.col("sheet") != "SOC TEST RANDOM")
    random = rows.filter(pl.col("sheet") == "SOC TEST RANDOM")
    pairs = random_soc_pairs(grid, random)
    assert pairs.height == 102
    # rank pairing: the random sheet's capacities sit 1–3 % below the paired grid cell's
    joined = pairs.join(random.select("sample_id", "measured_capacity_ah"), on="sample_id").join(
        grid.group_by("cell_id").agg(pl.col("measured_capacity_ah").first().alias("grid_ah")),
        on="cell_id",
    )
    shift = (joined["measured_capacity_ah"] / joined["grid_ah"] - 1.0) * 100
    assert -3.5 < shift.median() < -1.0  # type: ignore[operator]


def test_random_soc_references_are_new_to_the_model(real_dataset: Dataset) -> None:
    root = real_dataset("pulsebat_lfp").parent
    rows = read_samples(root / PULSEBAT_LFP["LFP-20Ah"]).with_columns(pl.lit("g").alias("group"))
    grid = rows.filter(pl.col("sheet") != "SOC TEST RANDOM")
    random = rows.filter(pl.col("sheet") == "SOC TEST RANDOM")
    pairs = random_soc_pairs(grid, random)
    random = random.join(pairs.select("sample_id", "rank"), on="sample_id")
    grid = grid.join(pairs.select("cell_id", "rank"), on="cell_id", how="left")
    rng = np.random.default_rng(0)
    train, test, refs = random_soc_fold(grid, random, 3, 10, 1, 10, rng)
    assert refs.height == 10
    assert set(refs["sample_id"]).isdisjoint(test["sample_id"])
    held = np.concatenate([test["rank"].to_numpy(), refs["rank"].to_numpy()])
    trained = train["rank"].drop_nulls().unique().to_numpy()
    # no trained cell within one rank of a tested or reference unit (mispairing buffer)
    assert np.min(np.abs(trained[:, None] - held[None, :])) > 1
    assert train.height > 0.35 * grid.height  # 20 of 102 units held, each with its neighbours
    none, _, no_refs = random_soc_fold(grid, random, 3, 10, 1, 0, rng)
    assert no_refs.height == 0
    assert none.height > train.height


def test_unseen_nmc_cells_within_target(real_dataset: Dataset) -> None:
    root = real_dataset("pulsebat").parent
    samples = read_samples(root / PULSEBAT["NMC-21Ah"])
    result = cross_validate(samples, split="cells", n_folds=5)
    overall = result.metrics.filter(pl.col("group") == "all").row(0, named=True)
    # docs/validation.md: 1.5 % on this group; 2.5 % leaves room for fold-to-fold variation
    assert overall["mape_percent"] < 2.5
    # 90 % intervals on 52 cells: 0.84–0.97 is the binomial band of a well-calibrated interval
    assert 0.84 < overall["coverage"] < 0.97


def test_shipped_pulse_model_sees_pulsebat_as_in_domain(real_dataset: Dataset) -> None:
    root = real_dataset("pulsebat").parent
    samples = read_samples(root / PULSEBAT["LMO-10Ah"]).filter(pl.col("soc_percent") == 25.0)
    pred = load_model("pulse-u21").predict(samples)
    assert pred.get_column("family").unique().to_list() == ["LMO"]
    assert pred.get_column("out_of_domain").mean() < 0.05  # type: ignore[operator]
