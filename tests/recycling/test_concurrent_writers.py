"""Writes that check units' status, run at the same moment: a recycling lot and a pack build
(regroup) over the same units are serialized (``echelon.registry.UNIT_STATUS``), on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from echelon.domain import Battery
from echelon.errors import RegistryError
from echelon.pipeline import intake
from echelon.recycling import RecordReport, record_lot, recycle_lot, registry_units
from echelon.recycling import records as records_module
from echelon.registry import (
    AssemblyWrite,
    Registry,
    UnitWrite,
    battery_record,
    events_frame,
    verify,
)
from echelon.synth import SynthBatch
from tests.concurrency import hold_after, run_in_thread
from tests.conftest import ARRIVAL


def _pack(pack_id: str, children: list[str]) -> AssemblyWrite:
    """A new pack built from ``children`` (as ``echelon regroup --record`` writes it)."""
    pack = Battery(battery_id=pack_id, level="pack", chemistry="NMC622", nominal_capacity_ah=60.0,
                   series_count=len(children))  # fmt: skip
    unit = UnitWrite(battery=pack, fingerprint=f"fp-{pack_id}", manifest_sha256="1" * 64,
                     outcome="ok")  # fmt: skip
    return AssemblyWrite(unit=unit, children={c: {"block": 1} for c in children})


def test_a_pack_build_during_a_recycling_recording_of_its_units_is_refused(
    registry: Registry, small_batch: SynthBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 2026-12-07 only recycling recordings took the registry's write lock: on PostgreSQL
    a pack build (``Registry.record_assemblies``, from ``echelon regroup --record``) over units a
    recycling lot was recording passed its check (not recycled) and was recorded beside the lot —
    the recycled units became parts of a new pack; on SQLite it was refused only by the chain
    collision ("another writer changed these units"), not naming them. The recording is held
    after its check; the pack build starts meanwhile."""
    intake(small_batch.manifest, registry=registry, workers=0, as_of=ARRIVAL)
    units = registry_units(registry, "route:recycle")
    ids = units["battery_id"].to_list()
    lot = recycle_lot(units.head(4), process="hydro", lot_id="LOT-RACE")
    checked, go = hold_after(monkeypatch, records_module, "plan_record")
    outcome: dict[str, Any] = {}
    recycling = run_in_thread("lot", outcome, lambda: record_lot(registry, lot))
    assert checked.wait(timeout=60)
    shared = ids[2:4]  # in the lot and in the pack
    pack = run_in_thread(
        "pack", outcome, lambda: registry.record_assemblies([_pack("PACK-RACE", ids[2:6])])
    )
    pack.join(timeout=3)  # without the lock, the pack is checked and recorded here
    go.set()
    recycling.join(timeout=120)
    pack.join(timeout=120)
    assert isinstance(outcome["lot"], RecordReport), outcome
    assert outcome["lot"].written == 4
    refused = outcome["pack"]
    assert isinstance(refused, RegistryError), outcome
    assert f"unit(s) already regrouped/recycled: {shared}" in str(refused)
    assert "PACK-RACE" not in set(events_frame(registry)["battery_id"])  # nothing written
    assert all(battery_record(registry, c).battery.parent_id is None for c in ids[2:6])
    recycled = events_frame(registry, kind="recycled")
    assert sorted(recycled["battery_id"]) == sorted(ids[:4])
    assert events_frame(registry, kind="regrouped").height == 0
    assert verify(registry).ok
