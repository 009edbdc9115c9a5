"""Regrouping benchmarks (issue "Regrouping"; numbers in docs/performance.md).

Targets: ≥ 99 % of the capacity upper bound for inventories of 10⁴ and 10⁵ units in ≤ 30 s;
proven optimal (or gap ≤ 0.1 %) on instances of ≤ 100 units; every baseline compared on synthetic
inventories and on real spreads of retired cells (PulseBat, read in place).

Run: ``make bench`` (or ``pytest benchmarks/test_bench_regroup.py -m bench -s -p no:xdist``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from echelon.errors import InfeasibleError
from echelon.regroup import (
    PackSpec,
    RegroupConstraints,
    compare,
    load_constraints,
    regroup,
    validate_inventory,
)
from echelon.regroup.exact import cpsat_available
from echelon.regroup.pulsebat import pulsebat_inventory, resample_inventory

pytestmark = pytest.mark.bench
DATASETS = Path(
    os.environ.get("ECHELON_SHARED_DATASETS")
    or next(
        (p.parent / "shared" / "datasets" for p in Path(__file__).resolve().parents
         if (p.parent / "shared" / "datasets").is_dir()),
        Path("/nonexistent"),
    )
)  # fmt: skip
LAYOUTS = [(14, 4), (16, 1), (4, 2)]
"""A 14S4P module-style pack, a 16S1P string, a small 4S2P pack."""
BASELINES = ("sort_chunk", "kmeans", "random")


def synthetic(n: int, *, seed: int = 0) -> pl.DataFrame:
    """A heterogeneous inventory: 3 chemistries × 3 models, SOH 60–95 %, DCIR rising with fade."""
    rng = np.random.default_rng(seed)
    chem = rng.choice(["LFP", "NMC622", "LMO"], n, p=[0.5, 0.3, 0.2])
    model = rng.choice(["A", "B", "C"], n)
    nominal = np.select([chem == "LFP", chem == "NMC622"], [100.0, 60.0], 10.0)
    soh = rng.uniform(0.6, 0.95, n)
    return validate_inventory(
        pl.DataFrame(
            {
                "battery_id": [f"S{i:06d}" for i in range(n)],
                "chemistry": chem,
                "model": model,
                "capacity_ah": nominal * soh,
                "dcir_ohm": 0.1 / nominal * (1 + 2 * (0.95 - soh)) * rng.lognormal(0, 0.1, n),
                "grade": rng.choice(["A", "B", "C", "D"], n, p=[0.3, 0.4, 0.2, 0.1]),
            }
        )
    )


def real_cells() -> pl.DataFrame:
    if not (DATASETS / "pulsebat").is_dir() or not (DATASETS / "pulsebat_lfp").is_dir():
        pytest.skip(f"PulseBat datasets not found under {DATASETS}")
    return pulsebat_inventory(DATASETS)


def _scale_run(name: str, inventory: pl.DataFrame, limits: RegroupConstraints, record: Any) -> None:
    for series, parallel in LAYOUTS:
        spec = PackSpec(series=series, parallel=parallel)
        start = time.perf_counter()
        result = regroup(inventory, spec, constraints=limits, method="heuristic")
        seconds = time.perf_counter() - start
        entry: dict[str, Any] = {
            "units": inventory.height,
            "layout": f"{series}S{parallel}P",
            "packs": result.packs.height,
            "bound_packs": result.bound.packs,
            "ratio_to_bound": round(result.ratio_to_bound, 5),
            "seconds": round(seconds, 2),
            "violating_packs": result.violating_packs,
        }
        for method in BASELINES:
            base = regroup(inventory, spec, constraints=limits, method=method)
            entry[f"{method}_ratio"] = round(base.ratio_to_bound, 5)
            compliant = base.summary()["usable_capacity_in_compliant_packs_ah"]
            entry[f"{method}_compliant_ratio"] = round(compliant / result.bound.capacity_ah, 5)
        record(name, **entry)
        assert result.violating_packs == 0


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_heuristic_synthetic(n: int, record: Any) -> None:
    _scale_run("regroup_synthetic", synthetic(n), RegroupConstraints.defaults(), record)


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_heuristic_real_spreads(n: int, record: Any) -> None:
    cells = resample_inventory(real_cells(), n, seed=n)
    _scale_run("regroup_real_spreads", cells, load_constraints(allowed_grades=None), record)


def test_real_cells_all_methods(record: Any) -> None:
    cells = real_cells()
    limits = load_constraints(allowed_grades=None)
    for series, parallel in LAYOUTS:
        table = compare(
            cells,
            PackSpec(series=series, parallel=parallel),
            constraints=limits,
            methods=("heuristic", *BASELINES),
        )
        for row in table.iter_rows(named=True):
            record("regroup_real_cells_401", layout=f"{series}S{parallel}P", **row)


EXACT_LAYOUTS = [(4, 2), (3, 3), (5, 4), (8, 1)]


@pytest.mark.parametrize("method", ["milp", "cpsat"])
def test_exact_small_instances(method: str, record: Any) -> None:
    if method == "cpsat" and not cpsat_available():
        pytest.skip("OR-Tools not installed (pip install 'echelon[optim]')")
    cells = real_cells()
    limits = load_constraints(allowed_grades=None)
    instances = [
        (f"PulseBat {g}", cells.filter(pl.col("model") == g))
        for g in ("LFP-35Ah", "NMC-21Ah", "LMO-10Ah", "LFP-68Ah")
    ]
    lfp = synthetic(400, seed=7).filter(pl.col("chemistry") == "LFP").head(100)
    instances.append(("synthetic LFP 100", lfp.with_columns(pl.lit("A").alias("model"))))
    for label, inventory in instances:
        for series, parallel in EXACT_LAYOUTS:
            spec = PackSpec(series=series, parallel=parallel)
            start = time.perf_counter()
            rules = limits if "PulseBat" in label else RegroupConstraints.defaults()
            try:
                result = regroup(inventory, spec, constraints=rules, method=method, time_limit_s=60)
            except InfeasibleError as exc:
                record(f"regroup_exact_{method}", instance=label, infeasible=str(exc))
                continue
            record(
                f"regroup_exact_{method}",
                instance=label,
                units=inventory.height,
                layout=f"{series}S{parallel}P",
                packs=result.packs.height,
                gap=None if result.gap is None else round(result.gap, 6),
                proven_optimal=result.proven_optimal,
                ratio_to_bound=round(result.ratio_to_bound, 5),
                plan=result.method,
                seconds=round(time.perf_counter() - start, 2),
            )
