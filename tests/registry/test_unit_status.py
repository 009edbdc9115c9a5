"""Units' status guards the writes that would contradict it: an intake re-take of a recycled or
regrouped unit (checked again at write time, under the unit-status lock) and a pack build from a
part of a recycled assembly (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from echelon.domain import Battery, Status
from echelon.errors import RegistryError
from echelon.pipeline import intake
from echelon.recycling import record_lot, recycle_lot, registry_units
from echelon.registry import (
    PendingEvent,
    Registry,
    UnitWrite,
    battery_record,
    units_frame,
    verify,
)
from echelon.synth import SynthBatch
from tests.concurrency import hold_after, run_in_thread
from tests.conftest import ARRIVAL
from tests.recycling.test_concurrent_writers import _pack

intake_module = importlib.import_module("echelon.pipeline.intake")


def _unit(bid: str, parent: str | None, level: str, fingerprint: str = "") -> UnitWrite:
    battery = Battery(battery_id=bid, parent_id=parent, level=level, chemistry="NMC622",
                      nominal_capacity_ah=60.0)  # fmt: skip
    return UnitWrite(battery=battery, fingerprint=fingerprint or f"fp-{bid}",
                     manifest_sha256="0" * 64, outcome="ok")  # fmt: skip


def _pack_p() -> list[UnitWrite]:
    """Pack P, its module P-M1 and the module's cell P-M1-C1."""
    return [
        _unit("P", None, "pack"),
        _unit("P-M1", "P", "module"),
        _unit("P-M1-C1", "P-M1", "cell"),
    ]


def _recycle(registry: Registry, bid: str, lot: str) -> None:
    """A ``recycled`` event on ``bid`` (as a recording of lot ``lot`` appends it)."""
    registry.append_events(bid, [PendingEvent("recycled", Status.RECYCLED, {"lot_id": lot})])


def _retake_manifest(batch: SynthBatch, tmp_path: Path, registry: Registry) -> Path:
    """The batch taken in, and a copy of its manifest to change rows of."""
    folder = tmp_path / "batch"
    shutil.copytree(batch.folder, folder)
    intake(folder / "manifest.csv", registry=registry, workers=0, as_of=ARRIVAL)
    return folder / "manifest.csv"


def _change(manifest: Path, ids: list[str]) -> None:
    """New OCV values in the rows of ``ids`` (a new fingerprint: a re-take of each)."""
    rows = pl.read_csv(manifest, infer_schema=False)
    rows.with_columns(
        pl.when(pl.col("battery_id").is_in(ids))
        .then((pl.col("ocv_v").cast(pl.Float64) + 0.01).cast(pl.String))
        .otherwise(pl.col("ocv_v"))
        .alias("ocv_v")
    ).write_csv(manifest)


def _routed(registry: Registry, manifest: Path, count: int) -> list[str]:
    """Routed units without a parent whose manifest rows have an OCV."""
    rows = pl.read_csv(manifest, infer_schema=False).filter(
        pl.col("ocv_v").is_not_null() & pl.col("parent_id").is_null()
    )
    frame = units_frame(registry).filter(
        pl.col("battery_id").is_in(rows["battery_id"].to_list()) & (pl.col("status") == "routed")
    )
    return sorted(frame["battery_id"].to_list())[:count]


def test_a_regrouped_unit_is_not_taken_out_of_its_pack_by_a_retake(
    sqlite_registry: Registry, small_batch: SynthBatch, tmp_path: Path
) -> None:
    """Before 2026-12-07 a changed manifest row of a unit built into a pack (``regroup --record``)
    was taken in again: status received … routed, ``parent_id`` back to the manifest's (none),
    so the pack lost a part and the unit could be built into a second pack."""
    registry = sqlite_registry
    manifest = _retake_manifest(small_batch, tmp_path, registry)
    in_pack, other, third = _routed(registry, manifest, 3)
    registry.record_assemblies([_pack("PACK-R", [in_pack, third])])
    history = [e.hash for e in battery_record(registry, in_pack).events]
    _change(manifest, [in_pack, other])
    report = intake(manifest, registry=registry, workers=0, as_of=ARRIVAL)
    assert [bid for bid, _ in report.refused] == [in_pack]
    assert report.failures == report.refused
    reason = report.refused[0][1]
    assert "regrouped into pack PACK-R on 20" in reason
    assert "its changed manifest row is not taken in" in reason
    assert report.written == 1  # the other changed unit is taken in as usual
    record = battery_record(registry, in_pack)
    assert [e.hash for e in record.events] == history
    assert (record.status, record.battery.parent_id) == ("regrouped", "PACK-R")
    assert battery_record(registry, other).events[-1].kind != "regrouped"
    with pytest.raises(RegistryError, match="already regrouped/recycled"):
        registry.record_assemblies([_pack("PACK-2", [in_pack])])
    assert verify(registry).ok


def test_the_registry_refuses_a_retake_of_a_recycled_unit_and_writes_the_rest(
    registry: Registry,
) -> None:
    """``Registry.record_units`` itself (not only intake's early check) refuses a re-take of a
    recycled unit or of a part of a recycled pack; the other units of the batch are written."""
    registry.record_units([*_pack_p(), _unit("X", None, "module")])
    _recycle(registry, "P", "LOT-P")
    again = registry.record_units([_unit("P", None, "pack", "fp-2"),
                                   _unit("P-M1-C1", "P-M1", "cell", "fp-2"),
                                   _unit("X", None, "module", "fp-2")])  # fmt: skip
    assert [r.result for r in again] == ["refused", "refused", "written"]
    assert "recycled in lot LOT-P on 20" in str(again[0].error)
    assert "its pack P was recycled in lot LOT-P" in str(again[1].error)
    assert "with P-M1-C1 in it" in str(again[1].error)
    assert battery_record(registry, "P").status == "recycled"
    assert battery_record(registry, "P-M1-C1").status == "received"
    assert battery_record(registry, "P-M1-C1").events[-1].seq == 0
    assert verify(registry).ok


def test_a_pack_is_not_built_from_parts_of_a_recycled_pack(registry: Registry) -> None:
    """Before 2026-12-07 a pack build refused a child regrouped or recycled, but not a module or
    cell of a pack that was recycled (they went with it)."""
    registry.record_units([*_pack_p(), _unit("Q-M1", None, "module")])
    _recycle(registry, "P", "LOT-P")
    with pytest.raises(RegistryError) as info:
        registry.record_assemblies([_pack("NEW", ["Q-M1", "P-M1-C1"])])
    message = str(info.value)
    assert "1 unit(s) went with a recycled assembly" in message
    assert "P-M1-C1: its pack P was recycled in lot LOT-P on 20" in message
    assert battery_record(registry, "Q-M1").battery.parent_id is None  # nothing written
    assert registry.record_assemblies([_pack("NEW", ["Q-M1"])])[0].result == "written"
    assert verify(registry).ok


def test_a_lot_recorded_during_an_intake_retake_is_seen_at_write_time(
    registry: Registry, small_batch: SynthBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 2026-12-07 intake checked that a re-taken unit was not recycled before processing
    its tests, outside any lock: a lot recorded meanwhile was not seen, and the recycled unit
    came back to life (received … routed). The intake is held after that check; the lot is
    recorded meanwhile."""
    manifest = _retake_manifest(small_batch, tmp_path, registry)
    units = registry_units(registry, "route:recycle")
    rows = pl.read_csv(manifest, infer_schema=False).filter(pl.col("ocv_v").is_not_null())
    units = units.filter(pl.col("battery_id").is_in(rows["battery_id"].to_list())).head(1)
    gone = units["battery_id"][0]
    other = _routed(registry, manifest, 1)[0]
    _change(manifest, [gone, other])
    checked, go = hold_after(monkeypatch, intake_module, "refused_retakes")
    outcome: dict[str, Any] = {}
    taking = run_in_thread("intake", outcome, lambda: intake(manifest, registry=registry, workers=0,
                                                      as_of=ARRIVAL))  # fmt: skip
    assert checked.wait(timeout=120)
    record_lot(registry, recycle_lot(units, process="hydro", year=2027, lot_id="LOT-MID"))
    history = [e.hash for e in battery_record(registry, gone).events]
    go.set()
    taking.join(timeout=300)
    report = outcome["intake"]
    assert not isinstance(report, BaseException), report
    assert [bid for bid, _ in report.refused] == [gone]
    assert report.failures == report.refused
    assert "recycled in lot LOT-MID on 20" in report.refused[0][1]
    assert report.written == 1
    assert [e.hash for e in battery_record(registry, gone).events] == history
    assert battery_record(registry, gone).status == "recycled"
    assert battery_record(registry, other).events[-1].kind != "received"
    assert verify(registry).ok


def test_a_retake_of_a_dismantled_pack_is_refused(registry: Registry) -> None:
    """Before 2026-12-07 a changed manifest row of a dismantled pack was taken in again (received …
    routed) while its modules carried on as units of their own."""
    dismantled = PendingEvent("dismantled", Status.DISMANTLED, {"children": ["D-M1"]})
    pack = replace(_unit("D", None, "pack"), events=[dismantled])
    registry.record_units([pack, _unit("D-M1", "D", "module")])
    history = [e.hash for e in battery_record(registry, "D").events]
    again = registry.record_units([_unit("D", None, "pack", "fp-2"),
                                   _unit("D-M1", "D", "module", "fp-2")])  # fmt: skip
    assert [r.result for r in again] == ["refused", "written"]
    assert "dismantled into D-M1 on 20" in str(again[0].error)
    assert "its changed manifest row is not taken in" in str(again[0].error)
    assert [e.hash for e in battery_record(registry, "D").events] == history
    assert battery_record(registry, "D").status == "dismantled"
    assert verify(registry).ok


def test_a_new_unit_naming_a_recycled_parent_is_refused(registry: Registry) -> None:
    """Before 2026-12-07 a new manifest row whose ``parent_id`` named a recycled pack (or a module
    of one) was taken in: a live unit inside a recycled pack. A module of a dismantled pack is
    taken in (its parts carry on as units of their own)."""
    registry.record_units([*_pack_p(), _unit("D", None, "pack")])
    _recycle(registry, "P", "LOT-P")
    registry.append_events("D", [PendingEvent("dismantled", Status.DISMANTLED, {"children": []})])
    results = registry.record_units([_unit("P-M2", "P", "module"),
                                     _unit("P-M2-C1", "P-M2", "cell"),
                                     _unit("P-M1-C2", "P-M1", "cell"),
                                     _unit("D-M1", "D", "module"),
                                     _unit("Y", None, "module")])  # fmt: skip
    assert [r.result for r in results] == ["refused", "refused", "refused", "written", "written"]
    assert "its parent P was recycled in lot LOT-P on 20" in str(results[0].error)
    assert "fix its parent_id" in str(results[0].error)
    assert "its parent P-M2 is not taken in" in str(results[1].error)
    assert "its parent P-M1: its pack P was recycled in lot LOT-P" in str(results[2].error)
    assert units_frame(registry).filter(pl.col("battery_id").str.starts_with("P-M")).height == 2
    assert verify(registry).ok


def test_intake_refuses_a_new_row_naming_a_recycled_parent_before_reading_files(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    """The refusal comes with intake's early check (no file read) and names the row's parent."""
    registry = sqlite_registry
    registry.record_units(_pack_p())
    _recycle(registry, "P", "LOT-P")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "battery_id,parent_id,level,chemistry,nominal_capacity_ah,nominal_voltage_v,series_count,"
        "ocv_v,visual_flags,has_traceability,test_files\n"
        "P-M9,P,module,NMC622,60,43.2,12,45.1,,true,capacity:missing.csv\n"
        "C-9,,cell,LCO,4,3.6,1,3.81,,true,\n"
    )
    report = intake(manifest, registry=registry, workers=0, as_of=ARRIVAL)
    assert [bid for bid, _ in report.refused] == ["P-M9"]
    assert "its parent P was recycled in lot LOT-P" in report.refused[0][1]
    assert report.failures == report.refused  # its missing test file was never read
    assert report.written == 1
    assert "P-M9" not in units_frame(registry)["battery_id"].to_list()
