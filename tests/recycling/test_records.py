"""Recycling lots in the registry: selection, discharge record, status recycled, lot reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from echelon.domain import Battery
from echelon.errors import NotFoundError, RecyclingError, SchemaError, UsageError
from echelon.pipeline import intake
from echelon.recycling import (
    load_lot,
    lots_frame,
    parse_source,
    record_lot,
    recycle_lot,
    registry_units,
    select_registry_units,
    year_compliance,
)
from echelon.recycling import records as records_module
from echelon.registry import (
    AssemblyWrite,
    Registry,
    SerializedWrite,
    UnitWrite,
    battery_record,
    events_frame,
    units_frame,
    verify,
)
from echelon.synth import SynthBatch
from tests.conftest import ARRIVAL


def _rows(registry: Registry, ids: list[str]) -> pl.DataFrame:
    """Registered units as a lot table (mass estimated from the registered nameplate)."""
    return (
        units_frame(registry)
        .filter(pl.col("battery_id").is_in(ids))
        .select(
            "battery_id",
            "chemistry",
            "level",
            "nominal_capacity_ah",
            "nominal_voltage_v",
            pl.lit(None, dtype=pl.Float64).alias("mass_kg"),
        )
    )


def _recycled_events(registry: Registry) -> int:
    return events_frame(registry, kind="recycled").height


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
    charged = _rows(registry, one["battery_id"].to_list()).with_columns(
        pl.lit(3.9).alias("residual_voltage_v")
    )
    with pytest.raises(RecyclingError, match="not discharged"):
        record_lot(registry, recycle_lot(charged, process="hydro"))
    with pytest.raises(RecyclingError, match="unknown discharge method"):
        record_lot(registry, recycle_lot(charged, process="hydro"), discharge_method="freezing")
    assert battery_record(registry, one["battery_id"][0]).status != "recycled"


def test_a_table_that_contradicts_the_registry_is_refused(taken_in: Registry) -> None:
    # the reviewer's case: a registered 432 Wh NMC811 e-bike pack (≈ 2.1 kg) as a 500 kg LFP cell
    registry = taken_in
    wrong = pl.DataFrame(
        {
            "battery_id": ["EB-00001", "EB-00002"],
            "chemistry": ["NMC811", "LFP"],
            "level": ["pack", "cell"],
            "mass_kg": [3.0, 500.0],
        }
    )
    with pytest.raises(SchemaError) as caught:
        record_lot(registry, recycle_lot(wrong, process="hydro", year=2028))
    problems = {(p.row, p.column): p.message for p in caught.value.problems}
    assert set(problems) == {(2, "chemistry"), (2, "level"), (2, "mass_kg")}
    assert "registered as NMC811" in problems[(2, "chemistry")]
    assert "registered as a pack" in problems[(2, "level")]
    assert "about 2.11 kg" in problems[(2, "mass_kg")]
    assert _recycled_events(registry) == 0  # nothing written, not even EB-00001's row
    # a mass estimated from the row's own nameplate is checked the same way, named by its column
    big = pl.DataFrame(
        {
            "battery_id": ["EB-00003"],
            "chemistry": ["NCM811"],
            "level": ["pack"],
            "nominal_capacity_ah": [1200.0],
            "nominal_voltage_v": [36.0],
        }
    )
    with pytest.raises(SchemaError, match="estimated from this row's nominal energy") as caught:
        record_lot(registry, recycle_lot(big, process="hydro", year=2028))
    assert caught.value.problems[0].column == "nominal_capacity_ah"
    # any spelling of the registered chemistry, and a real pack's mass (1.4 × EverBatt's) pass
    ok = wrong.head(1).with_columns(pl.lit("NCM 811").alias("chemistry"))
    assert record_lot(registry, recycle_lot(ok, process="hydro", year=2028)).written == 1


def _assemble(registry: Registry, pack_id: str, modules: list[str]) -> None:
    """Build ``modules`` into a new registered pack (as ``echelon regroup --record`` does)."""
    pack = Battery(
        battery_id=pack_id,
        level="pack",
        chemistry="NMC622",
        nominal_capacity_ah=60.0,
        nominal_voltage_v=43.2 * len(modules),
        series_count=12 * len(modules),
    )
    unit = UnitWrite(battery=pack, fingerprint=f"fp-{pack_id}", manifest_sha256="1" * 64,
                     outcome="ok")  # fmt: skip
    assembly = AssemblyWrite(unit=unit, children={m: {"block": 1} for m in modules})
    assert registry.record_assemblies([assembly])[0].result == "written"


def test_packs_and_their_parts_are_not_recycled_twice(taken_in: Registry) -> None:
    registry = taken_in
    pack, m = "EVB-P0001", [f"EVB-P0001-M0{i}" for i in range(1, 9)]
    lot = 0

    def record(ids: list[str]) -> None:
        nonlocal lot
        lot += 1
        result = recycle_lot(_rows(registry, ids), process="hydro", lot_id=f"LOT-G{lot}")
        record_lot(registry, result)

    # the reviewer's case: modules recycled, then the dismantled pack recorded whole
    record([m[2], m[3]])
    with pytest.raises(RecyclingError) as caught:
        record([pack])
    message = str(caught.value)
    assert f"{pack} was dismantled into {m[0]}" in message
    assert f"its part(s) {m[2]}, {m[3]} were already recycled (lot LOT-G1 on" in message
    # a pack regrouped from modules: a module recycled first, or in the same lot, refuses the
    # pack; a module of a recycled pack is refused (it was recycled with it)
    _assemble(registry, "REG-1", [m[0], m[1]])
    _assemble(registry, "REG-2", [m[4], m[5]])
    with pytest.raises(RecyclingError) as caught:  # a table naming both: refused, both named
        record(["REG-2", m[5]])
    assert f"REG-2 and its part(s) {m[5]} are both in the lot: the pack's recycling covers" in str(
        caught.value
    )
    assert "remove the part(s) from the lot (recycled with the pack)" in str(caught.value)
    record([m[0]])
    with pytest.raises(RecyclingError, match=f"REG-1: its part\\(s\\) {m[0]} were already"):
        record(["REG-1"])
    record(["REG-2"])
    with pytest.raises(RecyclingError, match=f"{m[4]}: its pack REG-2 was recycled in lot"):
        record([m[4]])
    recycled = set(events_frame(registry, kind="recycled")["battery_id"])
    assert recycled == {m[2], m[3], m[0], "REG-2"}  # the refused lots wrote nothing
    assert verify(registry).ok


@pytest.mark.filterwarnings("ignore:.*but metal.Co is not")  # linked-price note
def test_a_recorded_lot_is_recorded_again_only_as_it_was(
    taken_in: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = taken_in
    units = registry_units(registry, "route:recycle")
    first = recycle_lot(units, process="hydro", year=2027, lot_id="LOT-R")
    # interrupted after the first chunk: the lot is one transaction, so nothing of it is
    # recorded, and the re-run records it whole under the same lot record
    monkeypatch.setattr(records_module, "RECORD_CHUNK", 2)
    calls = 0
    append = SerializedWrite.append_events_many

    def crash_after_one(self: SerializedWrite, batch: Any) -> list[int]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("killed")
        return append(self, batch)

    monkeypatch.setattr(SerializedWrite, "append_events_many", crash_after_one)
    with pytest.raises(RuntimeError, match="killed"):
        record_lot(registry, first)
    monkeypatch.undo()
    assert calls == 2
    assert _recycled_events(registry) == 0
    assert not list(registry.store.root.rglob("*.json"))  # its lot record removed again
    resumed = record_lot(registry, recycle_lot(units, process="hydro", year=2027, lot_id="LOT-R"))
    assert (resumed.written, resumed.skipped) == (units.height, 0)
    stored = sorted(registry.store.root.rglob("*.json"))
    assert len(stored) == 1
    shas = {json.loads(p)["lot_sha256"] for p in events_frame(registry, kind="recycled")["payload"]}
    assert shas == {resumed.lot_sha256}

    # the reviewer's case: the same units under the same lot id, another year and prices
    prices = tmp_path / "prices.csv"
    prices.write_text("item,value,unit,source,as_of\ncobalt_salt,30.0,USD/kg Co,a quote,2026-01\n")
    other = recycle_lot(units, process="hydro", year=2028, prices=prices, lot_id="LOT-R")
    with pytest.raises(UsageError) as caught:
        record_lot(registry, other)
    message = str(caught.value)
    assert "reporting_year 2028 (recorded: 2027)" in message
    assert f"overridden by {prices}" in message
    assert "lot:LOT-R" in message
    for changed in (
        recycle_lot(units, process="hydro", year=2027, prices=prices, lot_id="LOT-R"),
        recycle_lot(units, process="hydro", year=2027, dismantle="modules", lot_id="LOT-R"),
        recycle_lot(units, process="hydro", year=2027, location="China", lot_id="LOT-R"),
        recycle_lot(units.head(3), process="hydro", year=2027, lot_id="LOT-R"),
    ):
        with pytest.raises(UsageError, match="cannot be recorded again with"):
            record_lot(registry, changed)
    # the same lot again: nothing written, and the recorded lot record named
    again = record_lot(registry, recycle_lot(units, process="hydro", year=2027, lot_id="LOT-R"))
    assert (again.written, again.skipped, again.lot_sha256) == (
        0,
        units.height,
        resumed.lot_sha256,
    )
    assert sorted(registry.store.root.rglob("*.json")) == stored
    years = {
        json.loads(p)["reporting_year"] for p in events_frame(registry, kind="recycled")["payload"]
    }
    assert years == {2027}
    assert verify(registry).ok


def test_a_lot_is_recorded_with_the_catalogue_it_was_checked_against(
    taken_in: Registry, tmp_path: Path
) -> None:
    # a custom catalogue (another discharge standard, a higher LFP cut-off) is the one recorded,
    # not the packaged one
    registry = taken_in
    packaged = Path(records_module.__file__).parents[1] / "catalog" / "data"
    processes = (packaged / "recycling_processes.toml").read_text(encoding="utf-8")
    assert processes.count('standard = "GB/T 33598.3-2021') == 1
    (tmp_path / "recycling_processes.toml").write_text(
        processes.replace('standard = "GB/T 33598.3-2021', 'standard = "PLANT-STD-7 (test)', 1),
        encoding="utf-8",
    )
    chemistries = (packaged / "chemistries.toml").read_text(encoding="utf-8")
    lfp = chemistries.index("[chemistry.LFP]")
    cutoff = chemistries.index("discharge_cutoff_v = 2.5", lfp)
    (tmp_path / "chemistries.toml").write_text(
        chemistries[:cutoff] + "discharge_cutoff_v = 3.0" + chemistries[cutoff + 24 :],
        encoding="utf-8",
    )
    frame = units_frame(registry)
    module = frame.filter((pl.col("level") == "module") & (pl.col("chemistry") == "LFP")).head(1)
    bid, cells = module["battery_id"][0], module["series_count"][0]
    residual = 2.8 * cells  # above the packaged cut-off (2.5 V a cell), below the custom 3.0 V
    rows = _rows(registry, [bid]).with_columns(pl.lit(residual).alias("residual_voltage_v"))
    lot = recycle_lot(rows, process="hydro", lot_id="LOT-CAT", catalog_dir=tmp_path)
    with pytest.raises(RecyclingError, match="not discharged"):
        record_lot(registry, lot)
    plan = records_module.plan_record(registry, lot, catalog_dir=tmp_path)
    records_module.record_planned(registry, plan)
    discharged = battery_record(registry, bid).events[-2].payload
    assert discharged["standard"].startswith("PLANT-STD-7 (test)")
    assert discharged["limit_v"] == pytest.approx(3.0 * cells)


def test_a_selection_leaves_out_units_no_longer_whole(taken_in: Registry) -> None:
    registry = taken_in
    m = [f"EVB-P0001-M0{i}" for i in range(1, 9)]  # M02, M04 and M06 are routed to recycling
    _assemble(registry, "REG-A", [m[0], m[1]])
    record_lot(registry, recycle_lot(_rows(registry, ["REG-A"]), process="hydro", lot_id="LOT-A"))
    _assemble(registry, "REG-B", [m[3], m[4]])
    record_lot(registry, recycle_lot(_rows(registry, [m[4]]), process="hydro", lot_id="LOT-B"))

    # the reviewer's case: M02 went with its recycled pack REG-A; route:recycle selected it, and
    # the lot was then refused naming it
    selection = select_registry_units(registry, "route:recycle")
    assert list(selection.left_out) == [m[1]]
    assert selection.left_out[m[1]].startswith(f"{m[1]}: its pack REG-A was recycled in lot LOT-A")
    chosen = set(selection.units["battery_id"])
    assert m[1] not in chosen
    assert {m[3], m[5]} <= chosen  # M04's pack REG-B is not recycled
    assert set(registry_units(registry, "route:recycle")["battery_id"]) == chosen
    report = record_lot(registry, recycle_lot(selection.units, process="hydro", lot_id="LOT-C"))
    assert report.written == len(chosen)
    # an assembly some of whose parts were recycled (M05, and M04 in LOT-C) is left out of a
    # status selection too
    status = units_frame(registry).filter(pl.col("battery_id") == "REG-B")["status"][0]
    with pytest.raises(NotFoundError) as caught:
        select_registry_units(registry, f"status:{status}")
    message = str(caught.value)
    assert "left out 1 unit(s) no longer whole" in message
    assert (
        f"REG-B is no longer the assembly it was: 2 of its parts were recycled ({m[3]}, {m[4]})"
        in message
    )
    # naming it explicitly is still refused, with the reason
    with pytest.raises(RecyclingError, match=f"{m[1]}: its pack REG-A was recycled in lot LOT-A"):
        record_lot(registry, recycle_lot(_rows(registry, [m[1]]), process="hydro"))
    assert verify(registry).ok
