"""The simulator: deterministic, realistic mix, injected defects, both file formats."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl

from echelon.domain import Level
from echelon.io import detect_reader
from echelon.synth import simulate_population, write_batch

DAY = dt.date(2026, 11, 22)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.csv")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_batch(tmp_path: Path) -> None:
    a = write_batch(tmp_path / "a", n=15, seed=11, arrival_date=DAY, workers=0)
    b = write_batch(tmp_path / "b", n=15, seed=11, arrival_date=DAY, workers=0)
    c = write_batch(tmp_path / "c", n=15, seed=12, arrival_date=DAY, workers=0)
    assert digest(a.folder) == digest(b.folder) != digest(c.folder)


def test_population_mix_and_defects() -> None:
    units = simulate_population(600, seed=1, arrival_date=DAY)
    assert len(units) == 600
    assert {u.battery.level for u in units} == set(Level)
    assert len({u.battery.chemistry for u in units}) >= 9
    ids = {u.battery.battery_id for u in units}
    assert all(u.battery.parent_id in ids for u in units if u.battery.parent_id)
    sohs = [u.true_soh for u in units if u.tested]
    assert min(sohs) >= 0.5
    assert max(sohs) <= 1.0
    assert max(sohs) - min(sohs) > 0.3
    defects = {d for u in units for d in u.defects}
    assert {"visual_damage", "over_discharged", "self_discharge_outlier"} <= defects
    assert not any(u.tested for u in units if "visual_damage" in u.defects)
    # resistance grows as capacity fades (within one archetype)
    group = [u for u in units if u.archetype == "ev_nmc622_module" and u.ecm]
    low = [u.ecm.r0_ohm for u in group if u.true_soh < 0.75 and u.ecm]
    high = [u.ecm.r0_ohm for u in group if u.true_soh > 0.9 and u.ecm]
    assert sum(low) / len(low) > sum(high) / len(high)


def test_files_are_readable_in_both_formats(tmp_path: Path) -> None:
    batch = write_batch(tmp_path, n=60, seed=2, arrival_date=DAY, workers=0)
    manifest = pl.read_csv(batch.manifest, infer_schema=False)
    assert batch.n_files == manifest["test_files"].str.count_matches(":").sum()
    readers = {detect_reader(p).name for p in (tmp_path / "tests").glob("*.csv")}
    assert readers == {"bdf_csv", "arbin_csv"}
