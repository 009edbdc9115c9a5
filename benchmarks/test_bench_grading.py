"""Grading and routing throughput: target ≥ 100,000 units/s, vectorised (issue "Grading, application
routing and the reuse-or-recycle decision").

The table is a realistic incoming population — the simulator's archetypes (EV modules and packs,
e-bike packs, consumer and storage cells, defects, expired and untraceable units) with their true
SOH (± an estimator's interval), R0 as DCIR, and intake OCV, self-discharge and insulation —
tiled to 10⁵ rows with unique ids. Measured: ``grade_table`` end to end (prepare, gate, grade,
route with break-even), the same without break-even, and the ``echelon grade`` output formatting.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import polars as pl
import pytest

from echelon.cli.grading_cmds import decisions_frame
from echelon.grading import grade_table, load_profile
from echelon.grading.table import battery_fields
from echelon.synth.population import simulate_population

pytestmark = pytest.mark.bench
DAY = dt.date(2026, 11, 22)
UNITS = 100_000
TARGET_UNITS_PER_S = 100_000
REPEATS = 5


def population_table(n: int, *, seed: int = 11) -> pl.DataFrame:
    """``n`` rows of a simulated incoming population as a grading table."""
    base_units = simulate_population(min(n, 5000), seed=seed, arrival_date=DAY)
    rows: list[dict[str, Any]] = []
    for unit in base_units:
        tested = unit.tested and not math.isnan(unit.true_soh)
        soh = 100.0 * unit.true_soh if tested else None
        rows.append(
            battery_fields(unit.battery)
            | {
                "soh_percent": soh,
                "soh_lower_percent": None if soh is None else soh - 1.0,
                "dcir_ohm": unit.ecm.r0_ohm if unit.ecm is not None else None,
                "ocv_v": unit.measured.get("ocv_v"),
                "self_discharge_mv_per_day": unit.measured.get("self_discharge_mv_per_day"),
                "insulation_mohm": unit.measured.get("insulation_mohm"),
            }
        )
    one = pl.DataFrame(rows, infer_schema_length=None)
    copies = -(-n // one.height)
    return pl.concat(
        [one.with_columns(pl.col("battery_id") + f"-{k}") for k in range(copies)]
    ).head(n)


@pytest.mark.parametrize("profile", ["eu", "cn"])
def test_grading_throughput(profile: str, record: Any) -> None:
    table = population_table(UNITS)
    prof = load_profile(profile)
    grade_table(table.head(200), profile=prof, as_of=DAY)  # warm caches
    timings: dict[str, float] = {}
    for label, kwargs in (("full", {"break_even": True}), ("no_break_even", {"break_even": False})):
        best = cpu = math.inf
        for _ in range(REPEATS):  # best of n: the machine is shared, wall times are noisy
            start, start_cpu = time.perf_counter(), time.process_time()
            graded = grade_table(table, profile=prof, as_of=DAY, **kwargs)
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - start_cpu)
        timings[label] = best
        timings[f"{label}_cpu"] = cpu
    start = time.perf_counter()
    out = decisions_frame(graded)
    timings["output_formatting"] = time.perf_counter() - start
    assert out.height == UNITS
    routes = graded.get_column("route").value_counts().sort("count", descending=True)
    units_per_s = UNITS / timings["full"]
    record(
        "grading_throughput",
        profile=profile,
        units=UNITS,
        full_s=round(timings["full"], 3),
        full_cpu_s=round(timings["full_cpu"], 3),
        no_break_even_s=round(timings["no_break_even"], 3),
        output_formatting_s=round(timings["output_formatting"], 3),
        units_per_s=round(units_per_s),
        target_units_per_s=TARGET_UNITS_PER_S,
        ratio_to_target=round(units_per_s / TARGET_UNITS_PER_S, 2),
        routes=dict(routes.iter_rows()),
    )
