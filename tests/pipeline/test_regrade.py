"""Registered units exported as a grading table re-grade to the decisions the registry recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from echelon.grading import decisions_from_row, grade_by_region, to_grading_table
from echelon.grading.reader import read_grading_table
from echelon.grading.table import MEASURED_FROM
from echelon.pipeline import intake
from echelon.registry import Registry, battery_record, list_batteries, open_registry
from echelon.registry.queries import SUMMARY_QUANTITIES
from echelon.synth import SynthBatch
from tests.conftest import ARRIVAL


def regrade(
    registry: Registry, path: Path, profile: str | None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Export every registered unit to ``path``, read it back as `echelon grade` does, grade it."""
    table = to_grading_table(list_batteries(registry))
    if path.suffix == ".csv":
        table.write_csv(path)
    else:
        table.write_parquet(path)
    return grade_by_region(read_grading_table(path), profile=profile, as_of=ARRIVAL)


def recorded(registry: Registry) -> pl.DataFrame:
    """The latest gate, grade and route the registry holds for each unit it decided on."""
    return (
        list_batteries(registry)
        .filter(pl.col("gate").is_not_null())
        .select("battery_id", "gate", "grade", "route")
    )


def test_the_registry_gives_every_quantity_the_grading_table_is_filled_from() -> None:
    sources = {q for quantities in MEASURED_FROM.values() for q in quantities}
    assert sources <= set(SUMMARY_QUANTITIES)


@pytest.mark.parametrize(("profile", "suffix"), [(None, ".csv"), ("cn", ".parquet")])
def test_exported_units_regrade_to_the_recorded_decisions_and_reasons(
    registry: Registry, small_batch: SynthBatch, tmp_path: Path, profile: str | None, suffix: str
) -> None:
    intake(small_batch.manifest, registry=registry, workers=0, as_of=ARRIVAL, profile=profile)
    graded, inputs = regrade(registry, tmp_path / f"export{suffix}", profile)
    before = recorded(registry)
    # a batch whose decisions differ, so that an export losing an input shows
    assert before["gate"].n_unique() == 2
    assert before["grade"].drop_nulls().n_unique() >= 3
    assert before["route"].n_unique() >= 3
    after = graded.select(before.columns).filter(pl.col("battery_id").is_in(before["battery_id"]))
    assert after.sort("battery_id").equals(before.sort("battery_id"))
    rows = {r["battery_id"]: r for r in graded.iter_rows(named=True)}
    for bid in before["battery_id"]:  # every rule, its numbers and the profile version too
        row = rows[bid]
        decided = [
            (d.kind, d.outcome, d.profile, d.profile_version, d.reasons, d.inputs)
            for d in decisions_from_row(row, inputs[row["profile"]])
        ]
        stored = [
            (d.kind, d.outcome, d.profile, d.profile_version, d.reasons, d.inputs)
            for d in battery_record(registry, bid).decisions
        ]
        assert decided == stored, bid


def test_an_export_regraded_under_another_profile_is_that_profiles_intake(
    sqlite_registry: Registry, small_batch: SynthBatch, tmp_path: Path
) -> None:
    intake(small_batch.manifest, registry=sqlite_registry, workers=0, as_of=ARRIVAL)  # EU units
    graded, _ = regrade(sqlite_registry, tmp_path / "export.csv", "cn")
    with open_registry(
        f"sqlite:///{tmp_path / 'cn.db'}", store_dir=tmp_path / "cn-store"
    ) as under_cn:
        intake(small_batch.manifest, registry=under_cn, workers=0, as_of=ARRIVAL, profile="cn")
        expected = recorded(under_cn).sort("battery_id")
    assert not expected.equals(recorded(sqlite_registry).sort("battery_id"))  # CN grades differ
    after = graded.select(expected.columns).filter(
        pl.col("battery_id").is_in(expected["battery_id"])
    )
    assert after.sort("battery_id").equals(expected)
