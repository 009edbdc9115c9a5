"""parts_of: an assembly's parts read in bulk, as battery_record reads each of them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from echelon.cli.lifetime_cmds import _block_rows
from echelon.domain import Battery, Measurement, Status
from echelon.errors import ChainError
from echelon.registry import (
    PendingEvent,
    Registry,
    UnitWrite,
    battery_record,
    measurement_row,
    parts_of,
    recycled_parts,
)


def _unit(bid: str, parent: str | None, soh: list[float]) -> UnitWrite:
    events = []
    for value in soh:
        m = Measurement(battery_id=bid, quantity="soh_percent", value=value, lower=value - 1.0,
                        method="capacity_test")  # fmt: skip
        events.append(
            PendingEvent("measured", Status.TESTED, {}, {"measurements": [measurement_row(m)]})
        )
    battery = Battery(battery_id=bid, level="pack" if parent is None else "module",
                      parent_id=parent, chemistry="LFP", nominal_capacity_ah=50.0)  # fmt: skip
    return UnitWrite(battery, f"fp-{bid}", "0" * 64, "ok", events=events)


def test_parts_are_read_as_their_records_are(registry: Registry) -> None:
    units = [_unit("P", None, []), _unit("P-M2", "P", [90.0, 84.5]), _unit("P-M1", "P", []),
             _unit("Q-M1", "Q", [70.0])]  # fmt: skip
    registry.record_units(units)
    parts = parts_of(registry, ["P"])
    assert [p.battery.battery_id for p in parts] == ["P-M1", "P-M2"]
    for part in parts:
        record = battery_record(registry, part.battery.battery_id)
        soh = [m for m in record.measurements if m.quantity == "soh_percent"]
        assert part.battery == record.battery
        assert part.parent_id == "P"
        assert part.status == record.status
        assert part.soh == (soh[-1] if soh else None)
    assert parts[1].soh is not None
    assert parts[1].soh.value == 84.5  # the latest
    assert [p.battery.battery_id for p in parts_of(registry, ["P", "Q"])] == [
        "P-M1", "P-M2", "Q-M1"
    ]  # fmt: skip
    assert parts_of(registry, []) == []


def test_an_edited_part_is_named(registry: Registry) -> None:
    registry.record_units([_unit("P", None, []), _unit("P-M1", "P", [])])
    with registry.engine.begin() as conn:
        conn.execute(text("UPDATE batteries SET chemistry = 'NOPE' WHERE battery_id = 'P-M1'"))
    with pytest.raises(ChainError, match=r"P-M1: its records .* run `echelon verify`"):
        parts_of(registry, ["P"])


def _looped(registry: Registry) -> None:
    """P holds P-M1, and P's parent link edited to P-M1: a unit that is a part of its part."""
    registry.record_units([_unit("P", None, []), _unit("P-M1", "P", [])])
    with registry.engine.begin() as conn:
        conn.execute(text("UPDATE batteries SET parent_id = 'P-M1' WHERE battery_id = 'P'"))


def test_a_genealogy_edited_into_a_loop_is_refused_not_walked_forever(registry: Registry) -> None:
    """Before 2026-12-07 ``recycled_parts`` (a passport's, a forecast's check) and a forecast's
    walk down to its blocks followed P → P-M1 → P → … forever."""
    _looped(registry)
    says = r"P: its genealogy loops back to P \(a unit that is a part of its own part\).*verify"
    with pytest.raises(ChainError, match=says):
        recycled_parts(registry, battery_record(registry, "P"))
    with pytest.raises(ChainError, match=says):
        _block_rows(registry, "P")
