"""Recycling benchmarks: a lot of 100,000 units balanced and valued; recording a lot.

Target (issue "Recycling"): a lot of 100,000 units balanced and valued in ≤ 1 s. No peer tool exists
(EverBatt is an Excel workbook and has no Python implementation; see docs/performance.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from echelon.domain import Battery
from echelon.errors import EchelonWarning
from echelon.recycling import record_lot, recycle_lot, unit_recycling_value
from echelon.recycling.catalog import clear_caches
from echelon.registry import UnitWrite, open_registry

pytestmark = pytest.mark.bench
CHEMISTRIES = ["NMC811", "NMC622", "NMC532", "NMC111", "NCA", "LFP", "LMO", "LCO", "unknown"]


def lot_table(n: int, seed: int = 0) -> pl.DataFrame:
    """A mixed lot as read from a CSV (strings), a third of the masses left to estimate."""
    rng = np.random.default_rng(seed)
    level = rng.choice(["cell", "module", "pack"], n, p=[0.7, 0.2, 0.1])
    mass = np.where(level == "cell", rng.uniform(0.04, 1.2, n), rng.uniform(8.0, 600.0, n))
    estimate = rng.random(n) < 0.33
    return pl.DataFrame(
        {
            "battery_id": [f"U{i:07d}" for i in range(n)],
            "chemistry": rng.choice(CHEMISTRIES, n),
            "level": level,
            "mass_kg": [None if e else f"{m:.3f}" for e, m in zip(estimate, mass, strict=True)],
            "nominal_capacity_ah": [f"{a:.1f}" for a in rng.uniform(2.0, 300.0, n)],
            "nominal_voltage_v": np.where(level == "cell", "3.6", "355").tolist(),
        }
    )


def test_lot_of_100000_units(record: Any) -> None:
    table = lot_table(100_000)
    clear_caches()
    start = time.perf_counter()
    recycle_lot(table, process="hydro", year=2027)
    cold = time.perf_counter() - start
    runs = []
    for process in ("hydro", "pyro", "direct", "hydro", "pyro"):
        subset = table if process != "direct" else table.filter(pl.col("chemistry") != "unknown")
        start = time.perf_counter()
        result = recycle_lot(subset, process=process, year=2027)  # type: ignore[arg-type]
        runs.append((process, time.perf_counter() - start))
        assert result.units.height == subset.height
    start = time.perf_counter()
    with pytest.warns(EchelonWarning, match="unknown chemistry"):
        values = unit_recycling_value(table, process="hydro", year=2027)
    per_unit = time.perf_counter() - start
    assert values.height == 100_000
    record(
        "recycling_lot_100000_units",
        units=100_000,
        cold_s=round(cold, 3),
        warm_s=[[p, round(t, 3)] for p, t in runs],
        best_s=round(min(t for _, t in runs), 3),
        unit_recycling_value_s=round(per_unit, 3),
        target_s=1.0,
    )


def test_cli_path_100000_units(tmp_path: Path, record: Any) -> None:
    """The same lot as ``echelon recycle``: read the CSV, balance, value, write every output."""
    from echelon.reports.recycling import write_lot_outputs

    path = tmp_path / "lot.csv"
    lot_table(100_000).write_csv(path)
    start = time.perf_counter()
    result = recycle_lot(path, process="hydro", year=2027)
    balanced = time.perf_counter()
    write_lot_outputs(result, tmp_path / "out")
    written = time.perf_counter()
    record(
        "recycling_cli_path_100000_units",
        read_balance_value_s=round(balanced - start, 3),
        write_outputs_s=round(written - balanced, 3),
    )


def test_record_lot_in_registry(tmp_path: Path, record: Any) -> None:
    n = 2000
    registry = open_registry(f"sqlite:///{tmp_path / 'r.db'}", store_dir=tmp_path / "store")
    table = lot_table(n, seed=1)
    registry.record_units(
        [
            UnitWrite(
                battery=Battery(
                    battery_id=row["battery_id"],
                    level=row["level"],
                    chemistry=row["chemistry"],
                    nominal_capacity_ah=float(row["nominal_capacity_ah"]),
                    series_count=1 if row["level"] == "cell" else 96,
                ),
                fingerprint=f"{i:064d}",
                manifest_sha256="0" * 64,
                outcome="ok",
            )
            for i, row in enumerate(table.iter_rows(named=True))
        ]
    )
    result = recycle_lot(table, process="hydro", year=2027)
    start = time.perf_counter()
    report = record_lot(registry, result)
    elapsed = time.perf_counter() - start
    registry.close()
    assert report.written == n
    record(
        "recycling_record_lot_sqlite",
        units=n,
        seconds=round(elapsed, 2),
        units_per_s=round(n / elapsed),
        events_per_s=round(2 * n / elapsed),
    )
