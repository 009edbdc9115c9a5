"""Batch-relative limits on a re-grade: the intake's recorded self-discharge outlier limit is
exported and used, and `echelon grade` says which limit it computed over the table given."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from echelon.cli import app
from echelon.grading import grade_table
from echelon.pipeline import intake
from echelon.registry import Registry, battery_record, list_batteries
from echelon.registry.batch_limits import recorded_outlier_limits
from echelon.synth import SynthBatch, write_batch
from tests.conftest import ARRIVAL
from tests.grading.test_grading import AS_OF, PROFILE, unit

runner = CliRunner()
LIMIT = "self_discharge_outlier_limit_mv_per_day"


def batch(**extra: object) -> pl.DataFrame:
    """Ten modules of one model around 12 mV/day and one at 14 mV/day (within the batch's own
    outlier limit, about 15 mV/day)."""
    rows = [
        unit(battery_id=f"U{i}", self_discharge_mv_per_day=12.0 + 0.5 * (i % 3), **extra)
        for i in range(10)
    ]
    rows.append(unit(battery_id="EDGE", self_discharge_mv_per_day=14.0, **extra))
    return pl.DataFrame(rows)


def test_a_recorded_limit_in_the_table_is_used_instead_of_the_one_computed_over_it() -> None:
    computed = grade_table(batch(), profile=PROFILE, as_of=AS_OF)
    assert computed.filter(pl.col("gate") == "quarantine").height == 0
    recorded = grade_table(batch(**{LIMIT: 13.0}), profile=PROFILE, as_of=AS_OF)
    assert recorded.filter(pl.col("gate") == "quarantine")["battery_id"].to_list() == ["EDGE"]
    # a single unit, no batch to compute from: the recorded limit still applies
    alone = grade_table(batch(**{LIMIT: 13.0}).tail(1), profile=PROFILE, as_of=AS_OF)
    assert alone.row(0, named=True)["gate"] == "quarantine"


def test_grade_says_when_it_computes_a_batch_limit_over_the_table(tmp_path: Path) -> None:
    table = tmp_path / "units.parquet"
    batch().write_parquet(table)
    result = runner.invoke(app, ["grade", str(table), "--as-of", str(AS_OF), "--profile",
                                 "baseline", "-o", str(tmp_path / "out.csv")])  # fmt: skip
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "gate.self_discharge_outlier: batch-relative limit" in note
    assert re.search(r"NMC622/M/module: 1\d\.\d\d mV/day over the 11 unit\(s\) given", note)
    assert f"column {LIMIT}" in note
    batch(**{LIMIT: 13.0}).write_parquet(table)
    result = runner.invoke(app, ["grade", str(table), "--as-of", str(AS_OF), "--profile",
                                 "baseline", "-o", str(tmp_path / "out.csv")])  # fmt: skip
    note = " ".join(result.stderr.split())
    assert "11 unit(s) checked against the batch limit recorded at intake" in note
    assert "batch-relative limit (median" not in note


def test_the_export_carries_each_units_recorded_limit(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    args = ["demo", "--n", "80", "--seed", "5", "--date", "2026-11-22", "--workers", "0",
            "--db", f"sqlite:///{db}", "--out", str(tmp_path / "out")]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    table = tmp_path / "all.parquet"
    result = runner.invoke(app, ["batteries", "--db", f"sqlite:///{db}", "--format", "grading",
                                 "-o", str(table)])  # fmt: skip
    assert result.exit_code == 0, result.output
    exported = dict(pl.read_parquet(table).select("battery_id", LIMIT).iter_rows())
    with sqlite3.connect(db) as conn:
        gates = conn.execute("SELECT battery_id, reasons FROM decisions WHERE kind = 'gate'")
        expected = {
            bid: next(
                r["limit"] for r in json.loads(text) if r["rule"] == "gate.self_discharge_outlier"
            )
            for bid, text in gates
        }
    numbers = {b: v for b, v in expected.items() if isinstance(v, float)}
    assert len(numbers) >= 5  # the demo's batch has groups large enough for the rule
    assert {b: exported[b] for b in numbers} == pytest.approx(numbers)


def test_grade_says_when_the_resistance_reference_is_the_tables_median(tmp_path: Path) -> None:
    # no rated capacity: no application R_max, so R/R_ref decides, R_ref the batch's median DCIR
    rows = [
        unit(battery_id=f"U{i}", reference_dcir_ohm=None, nominal_capacity_ah=None)
        for i in range(6)
    ]
    table = tmp_path / "units.parquet"
    pl.DataFrame(rows).write_parquet(table)
    result = runner.invoke(app, ["grade", str(table), "--as-of", str(AS_OF), "--profile",
                                 "baseline", "-o", str(tmp_path / "out.csv")])  # fmt: skip
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "grade.resistance: 6 unit(s) graded on R/R_ref with R_ref the median DCIR" in note


@pytest.fixture(scope="module")
def grouped_batch(tmp_path_factory: pytest.TempPathFactory) -> SynthBatch:
    """80 units: groups of one model large enough for the outlier rule."""
    folder = tmp_path_factory.mktemp("grouped")
    return write_batch(folder, n=80, seed=5, arrival_date=ARRIVAL, workers=0)


def test_recorded_limits_are_read_on_both_backends(
    registry: Registry, grouped_batch: SynthBatch
) -> None:
    intake(grouped_batch.manifest, registry=registry, workers=0, as_of=ARRIVAL)
    ids = list_batteries(registry).get_column("battery_id").to_list()
    limits = dict(recorded_outlier_limits(registry, ids).iter_rows())
    expected = {}
    for bid in ids:
        gate = battery_record(registry, bid).latest_decisions().get("gate")
        if gate is not None:
            rule = next(r for r in gate.reasons if r.rule == "gate.self_discharge_outlier")
            expected[bid] = rule.limit if isinstance(rule.limit, float) else None
    assert len(expected) >= 60
    assert sum(v is not None for v in expected.values()) >= 5  # groups large enough for the rule
    assert limits == pytest.approx(expected)
