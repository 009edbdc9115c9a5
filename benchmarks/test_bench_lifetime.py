"""Lifetime benchmarks: 10-year hourly simulations (one unit, thousands of units), side by side
with BLAST-Lite on the same duties, and the real-data validation behind docs/validation.md.

Targets (issue "Second-life lifetime forecasting"): a 10-year hourly simulation in ≤ 50 ms per unit,
vectorised over thousands of units (BLAST-Lite ≈ 0.5 s per unit in peer-tools.md §3.16).

BLAST-Lite runs in its own virtual environment (it needs numpy < 2); create it with

    python3 -m venv ../peers/blast-venv        # next to the repository, as the readers' peers
    ../peers/blast-venv/bin/pip install blast-lite 'numpy<2'

or point ``ECHELON_BLAST_PYTHON`` at another interpreter that has it. The comparison skips cleanly
when neither exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from echelon.lifetime import duty, model_table
from echelon.lifetime.duty import CANONICAL_APPLICATIONS
from echelon.lifetime.simulator import simulate, simulate_hourly

pytestmark = pytest.mark.bench
YEARS = 10
RUNNER = Path(__file__).parent / "peers" / "blast_runner.py"
IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
PEERS = Path(os.environ.get("ECHELON_PEER_VENVS", Path(__file__).resolve().parents[2] / "peers"))
DEFAULT_BLAST = PEERS / "blast-venv" / "bin" / "python"
REAL_DATA = Path(
    os.environ.get(
        "ECHELON_REAL_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
    )
)


def ten_year_profiles(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Hourly SOC and temperature of each duty repeated for ten years (duties × hours)."""
    soc = np.stack([np.tile(duty(n).soc, YEARS) for n in names])
    temp = np.stack([np.tile(duty(n).temperature_celsius, YEARS) for n in names])
    return soc, temp


def fleet_chunk(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct 10-year hourly profiles: catalogue duties with a random swing and offset."""
    base_soc, base_t = ten_year_profiles(CANONICAL_APPLICATIONS)
    pick = rng.integers(0, len(CANONICAL_APPLICATIONS), n)
    top = base_soc.max(axis=1, keepdims=True)[pick]
    swing = rng.uniform(0.6, 1.0, (n, 1))
    soc = np.clip(top - (top - base_soc[pick]) * swing, 0.0, 1.0)
    return soc, base_t[pick] + rng.normal(0.0, 4.0, (n, 1))


def test_ten_year_hourly_simulation_speed(record: Any) -> None:
    table = model_table()
    model = table.models["LFP"]
    soc, temp = ten_year_profiles(("ess",))
    simulate_hourly(soc, temp, model, table.anode_potential)  # warm-up (catalogue, tables)
    start = time.perf_counter()
    for _ in range(5):
        one = simulate_hourly(soc, temp, model, table.anode_potential)
    single_ms = (time.perf_counter() - start) / 5 * 1000
    rng = np.random.default_rng(0)
    units, chunk, elapsed = 2000, 250, 0.0
    for _ in range(units // chunk):
        s, t = fleet_chunk(rng, chunk)
        start = time.perf_counter()
        out = simulate_hourly(s, t, model, table.anode_potential)
        elapsed += time.perf_counter() - start
        assert out.capacity.shape == (chunk, YEARS + 1)
    fleet_ms = elapsed / units * 1000
    # 10,000 units sharing one duty but each with its own ageing speed and first-life losses
    from echelon.lifetime.duty import hourly_stressors
    from echelon.lifetime.simulator import day_rates

    rates = day_rates(model, hourly_stressors(soc[0], temp[0]), table.anode_potential)
    n_shared = 10_000
    start = time.perf_counter()
    shared = simulate(rates, model, years=YEARS, acceleration=rng.lognormal(0, 0.3, n_shared),
                      loss_cal0=rng.uniform(0, 0.1, n_shared), record_every=365)  # fmt: skip
    shared_ms = (time.perf_counter() - start) / n_shared * 1000
    assert shared.capacity.shape == (n_shared, YEARS + 1)
    assert 0.8 < one.capacity[0, -1] < 1.0
    record(
        "lifetime_10y_hourly",
        single_unit_ms=round(single_ms, 1),
        fleet_units=units,
        fleet_ms_per_unit=round(fleet_ms, 2),
        shared_duty_units=n_shared,
        shared_duty_ms_per_unit=round(shared_ms, 4),
        target_ms_per_unit=50,
    )


def _blast_python() -> Path:
    path = Path(os.environ.get("ECHELON_BLAST_PYTHON", DEFAULT_BLAST))
    if not path.is_file():
        pytest.skip(f"BLAST-Lite peer venv not found at {path}: see this module's docstring")
    return path


def test_blast_lite_side_by_side(tmp_path: Path, record: Any) -> None:
    python = _blast_python()
    names = CANONICAL_APPLICATIONS
    soc, temp = ten_year_profiles(names)
    np.savez(tmp_path / "profiles.npz", names=np.array(names), soc=soc, temperature_celsius=temp)
    start = time.perf_counter()
    subprocess.run([str(python), str(RUNNER), str(tmp_path / "profiles.npz"),
                    str(tmp_path / "blast.json")], check=True)  # fmt: skip
    blast_wall = time.perf_counter() - start
    blast = json.loads((tmp_path / "blast.json").read_text())
    table = model_table()
    rows = []
    for entry in blast:
        model = table.models[entry["model"]]
        i = names.index(entry["duty"])
        begin = time.perf_counter()
        ours = simulate_hourly(soc[i : i + 1], temp[i : i + 1], model, table.anode_potential)
        seconds = time.perf_counter() - begin
        q_ours = ours.capacity[0, 1:]
        q_blast = np.asarray(entry["q_by_year"])
        rows.append(
            {
                "model": entry["model"],
                "duty": entry["duty"],
                "blast_s": round(entry["seconds"], 3),
                "echelon_s": round(seconds, 4),
                "speed_ratio": round(entry["seconds"] / seconds, 1),
                "q10_blast": round(float(q_blast[-1]), 4),
                "q10_echelon": round(float(q_ours[-1]), 4),
                "max_abs_diff_q": round(float(np.max(np.abs(q_ours - q_blast))), 4),
                # where the application thresholds live (capacity ≥ 60 % of the model basis)
                "max_abs_diff_q_above_60": round(
                    float(np.max(np.abs(q_ours - q_blast)[q_blast >= 0.6], initial=0.0)), 4
                ),
            }
        )
    for row in rows:
        print(row)
    ratios = [r["speed_ratio"] for r in rows]
    record(
        "lifetime_vs_blast_lite",
        runs=len(rows),
        blast_wall_s=round(blast_wall, 1),
        blast_median_s_per_unit=float(np.median([r["blast_s"] for r in rows])),
        echelon_median_s_per_unit=float(np.median([r["echelon_s"] for r in rows])),
        median_speed_ratio=float(np.median(ratios)),
        min_speed_ratio=float(np.min(ratios)),
        max_abs_diff_q_above_60=max(r["max_abs_diff_q_above_60"] for r in rows),
        rows=rows,
    )


def test_lifetime_validation_on_real_data(record: Any) -> None:
    from echelon.lifetime.validation import markdown_table, run_validation
    from echelon.reports.charts import save_chart
    from echelon.reports.lifetime import remaining_life_backtest_chart

    if not REAL_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {REAL_DATA} (set ECHELON_REAL_DATA)")
    start = time.perf_counter()
    run = run_validation(REAL_DATA, draws=10, seed=0, progress=print)
    print(markdown_table(run.summary))
    print("\n".join(run.notes))
    scored = run.cases.filter(
        pl.col("status") == "scored",
        pl.col("method") == "ensemble",
        pl.col("cutoff") == "random_fraction",
        pl.col("pred_cycle").is_not_null(),
    )
    save_chart(
        remaining_life_backtest_chart(
            scored, title="Remaining cycles from random 30–70 % cut-offs (leave one cell out)"
        ),
        IMG / "validation_lifetime_remaining.png",
    )
    record(
        "lifetime_validation",
        seconds=round(time.perf_counter() - start, 1),
        draws=10,
        seed=0,
        notes=run.notes,
        summary=run.summary.to_dicts(),
    )
