"""Recycling lots in the registry: selection, discharge record, status recycled, lot reports."""

from __future__ import annotations

import json

import polars as pl
import pytest

from echelon.errors import NotFoundError, RecyclingError
from echelon.pipeline import intake
from echelon.recycling import (
    load_lot,
    lots_frame,
    parse_source,
    record_lot,
    recycle_lot,
    registry_units,
    year_compliance,
)
from echelon.registry import Registry, battery_record, events_frame, units_frame, verify
from echelon.synth import SynthBatch
from tests.conftest import ARRIVAL


@pytest.fixture
def taken_in(registry: Registry, small_batch: SynthBatch) -> Registry:
    intake(small_batch.manifest, registry=registry, workers=0, as_of=ARRIVAL)
    return registry


def test_sources_are_parsed() -> None:
    assert parse_source("lot:LOT-1").kind == "lot"
    assert parse_source("recycle").value == "route:recycle"
    assert parse_source("status:quarantined").kind == "registry"
    assert parse_source("units.csv").kind == "table"


def test_recording_a_lot_ends_the_passport(taken_in: Registry) -> None:
    registry = taken_in
    units = registry_units(registry, "route:recycle")
    frame = units_frame(registry)
    expected = frame.filter(
        (pl.col("route") == "recycle") & ~pl.col("status").is_in(["dismantled", "recycled"])
    )
    assert sorted(units["battery_id"]) == sorted(expected["battery_id"])
    assert units.height > 0
    assert units["nominal_energy_wh"].is_not_null().all()
    result = recycle_lot(units, process="hydro", year=2027, lot_id="LOT-TEST-1")
    report = record_lot(registry, result, discharge_method="immersion")
    assert (report.written, report.skipped) == (units.height, 0)

    bid = units["battery_id"][0]
    record = battery_record(registry, bid)
    assert record.status == "recycled"
    kinds = [e.kind for e in record.events]
    assert kinds[-2:] == ["discharged", "recycled"]
    discharged = record.events[-2].payload
    assert discharged["method"] == "immersion"
    assert "GB/T 33598.3" in discharged["standard"]
    recycled = record.events[-1].payload
    assert recycled["lot_id"] == "LOT-TEST-1"
    assert "Art. 77(8)" in recycled["passport"]
    assert verify(registry).ok  # the appended events are part of the hash chain

    # idempotent re-run; the same units cannot go into another lot; nothing left to select
    again = record_lot(registry, result)
    assert (again.written, again.skipped) == (0, units.height)
    other = recycle_lot(units, process="mechanical", year=2027, lot_id="LOT-TEST-2")
    with pytest.raises(RecyclingError, match="already recycled in another lot"):
        record_lot(registry, other)
    with pytest.raises(NotFoundError, match="no unit to recycle"):
        registry_units(registry, "route:recycle")

    # the lot report comes back from the store, byte for byte
    loaded = load_lot(registry, "LOT-TEST-1")
    assert loaded.to_json() == result.to_json()
    lots = lots_frame(registry)
    assert lots.row(0, named=True)["units"] == units.height
    compliance, covered = year_compliance(registry, 2027)
    assert covered.height == 1
    assert compliance["verdict"].to_list() == result.compliance["verdict"].to_list()
    assert compliance["value_percent"].to_list() == pytest.approx(
        result.compliance["value_percent"].to_list(), rel=1e-12
    )
    with pytest.raises(NotFoundError, match="no recycling lot 'LOT-NOPE'"):
        load_lot(registry, "LOT-NOPE")
    events = events_frame(registry, kind="recycled")
    assert json.loads(events["payload"][0])["process"] == "hydro"


def test_unregistered_or_charged_units_are_refused(taken_in: Registry) -> None:
    registry = taken_in
    ghost = pl.DataFrame(
        {"battery_id": ["GHOST-1"], "chemistry": ["LFP"], "level": ["cell"], "mass_kg": [1.0]}
    )
    with pytest.raises(NotFoundError, match="not registered"):
        record_lot(registry, recycle_lot(ghost, process="hydro"))
    one = units_frame(registry).filter(pl.col("level") == "cell").head(1)
    charged = one.select("battery_id", "chemistry", "level").with_columns(
        pl.lit(1.0).alias("mass_kg"), pl.lit(3.9).alias("residual_voltage_v")
    )
    with pytest.raises(RecyclingError, match="not discharged"):
        record_lot(registry, recycle_lot(charged, process="hydro"))
    with pytest.raises(RecyclingError, match="unknown discharge method"):
        record_lot(registry, recycle_lot(charged, process="hydro"), discharge_method="freezing")
    assert battery_record(registry, one["battery_id"][0]).status != "recycled"
