"""Registry.record_assemblies: a new pack and its children in one transaction (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from echelon.domain import Battery, Status
from echelon.errors import RegistryError
from echelon.registry import (
    AssemblyWrite,
    PendingEvent,
    Registry,
    UnitWrite,
    battery_record,
    list_batteries,
    verify,
)


def _cells(registry: Registry, ids: list[str]) -> None:
    units = [
        UnitWrite(
            battery=Battery(
                battery_id=bid,
                level="cell",
                parent_id="OLD-PACK",
                chemistry="LFP",
                nominal_capacity_ah=30.0,
            ),
            fingerprint=f"fp-{bid}",
            manifest_sha256="0" * 64,
            outcome="ok",
            events=[PendingEvent("routed", Status.ROUTED, {"outcome": "stationary_storage"})],
        )
        for bid in ids
    ]
    assert all(r.result == "written" for r in registry.record_units(units))


def _assembly(pack_id: str, children: list[str], fingerprint: str = "pack-fp") -> AssemblyWrite:
    pack = Battery(
        battery_id=pack_id, level="pack", chemistry="LFP", nominal_capacity_ah=55.0, series_count=2
    )
    unit = UnitWrite(battery=pack, fingerprint=fingerprint, manifest_sha256="1" * 64, outcome="ok")
    return AssemblyWrite(
        unit=unit,
        children={c: {"block": i // 2 + 1} for i, c in enumerate(children)},
        payload={"series": 2, "parallel": 2},
    )


def test_pack_and_children_are_linked_both_ways(registry: Registry) -> None:
    cells = ["C1", "C2", "C3", "C4"]
    _cells(registry, cells)
    before = battery_record(registry, "C1").events[-1]
    (result,) = registry.record_assemblies([_assembly("PACK-1", cells)])
    assert result.result == "written"
    pack = battery_record(registry, "PACK-1")
    assert pack.children == cells
    assembled = pack.events[-1]
    assert assembled.kind == "assembled"
    listed = {c["battery_id"]: c for c in assembled.payload["children"]}
    assert listed["C1"]["hash"] == before.hash
    assert listed["C1"]["seq"] == before.seq
    child = battery_record(registry, "C1")
    assert child.status == "regrouped"
    assert child.battery.parent_id == "PACK-1"
    link = child.events[-1].payload["assembly"]
    assert link == {
        "battery_id": "PACK-1",
        "event_seq": assembled.seq,
        "event_hash": assembled.hash,
    }
    assert child.events[-1].payload["battery_update"] == {"parent_id": "PACK-1"}
    assert list_batteries(registry, status="regrouped").height == 4
    assert verify(registry).ok


def test_nothing_is_written_when_one_assembly_fails(registry: Registry) -> None:
    _cells(registry, ["C1", "C2", "C3", "C4", "C5", "C6", "C7"])
    with pytest.raises(RegistryError, match="not registered"):
        registry.record_assemblies(
            [
                _assembly("PACK-1", ["C1", "C2", "C3", "C4"]),
                _assembly("PACK-2", ["C5", "C6", "C7", "NOPE"]),
            ]
        )
    assert "PACK-1" not in set(list_batteries(registry)["battery_id"].to_list())
    assert battery_record(registry, "C1").status == "routed"
    assert battery_record(registry, "C1").battery.parent_id == "OLD-PACK"
    assert verify(registry).ok


def test_a_unit_joins_one_assembly_only_and_reruns_are_idempotent(registry: Registry) -> None:
    _cells(registry, ["C1", "C2", "C3", "C4"])
    registry.record_assemblies([_assembly("PACK-1", ["C1", "C2", "C3", "C4"])])
    (again,) = registry.record_assemblies([_assembly("PACK-1", ["C1", "C2", "C3", "C4"])])
    assert again.result == "skipped"
    with pytest.raises(RegistryError, match="already regrouped"):
        registry.record_assemblies([_assembly("PACK-2", ["C1", "C2", "C3", "C4"], "other")])
    with pytest.raises(RegistryError, match="already registered with other content"):
        registry.record_assemblies([_assembly("PACK-1", ["C1", "C2", "C3", "C4"], "changed")])
    with pytest.raises(RegistryError, match="more than one assembly"):
        registry.record_assemblies(
            [_assembly("PACK-3", ["C1", "C2"], "a"), _assembly("PACK-4", ["C2", "C3"], "b")]
        )


def test_verify_sees_a_tampered_parent(registry: Registry) -> None:
    _cells(registry, ["C1", "C2", "C3", "C4"])
    registry.record_assemblies([_assembly("PACK-1", ["C1", "C2", "C3", "C4"])])
    with registry.engine.begin() as conn:
        conn.execute(text("UPDATE batteries SET parent_id = 'ELSEWHERE' WHERE battery_id = 'C2'"))
    report = verify(registry)
    assert not report.ok
    assert report.first_broken is not None
    assert report.first_broken.battery_id == "C2"
    assert "parent_id" in report.first_broken.message


def test_battery_update_is_limited_to_genealogy(registry: Registry) -> None:
    _cells(registry, ["C1"])
    with pytest.raises(RegistryError, match="may change only"):
        registry.append_events(
            "C1", [PendingEvent("edit", None, {}, battery_update={"chemistry": "NCA"})]
        )
    registry.append_events(
        "C1", [PendingEvent("moved", None, {}, battery_update={"parent_id": "RACK-9"})]
    )
    assert battery_record(registry, "C1").battery.parent_id == "RACK-9"
    payload = battery_record(registry, "C1").events[-1].payload
    assert payload["battery_update"] == {"parent_id": "RACK-9"}
    assert verify(registry).ok
