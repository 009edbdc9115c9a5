"""Recycling lots against the registry: the one walk of "which parts were recycled" and the SQL
``IN`` lists of that walk."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sqlalchemy import event

from echelon.domain import Battery, Status
from echelon.recycling import recycled_units
from echelon.recycling.reconcile import not_whole
from echelon.registry import (
    PendingEvent,
    Registry,
    UnitWrite,
    battery_record,
    no_longer_whole,
    parts_of,
    recycled_parts,
    units_frame,
)


def _unit(bid: str, parent: str | None, level: str) -> UnitWrite:
    battery = Battery(battery_id=bid, level=level, parent_id=parent, chemistry="LFP",
                      nominal_capacity_ah=50.0, nominal_voltage_v=3.2)  # fmt: skip
    return UnitWrite(battery, f"fp-{bid}", "0" * 64, "ok")


def _recycle(registry: Registry, bid: str, lot: str) -> None:
    """A ``recycled`` event written directly (as an older version, or another tool, could)."""
    payload = {"lot_id": lot, "lot_sha256": "0" * 64, "process": "hydro", "reporting_year": 2026}
    registry.append_events(bid, [PendingEvent("recycled", Status.RECYCLED, payload)])


def test_the_recycled_parts_count_is_the_same_for_a_lot_and_a_passport(
    registry: Registry,
) -> None:
    """Before 2026-12-07 ``recycled_parts`` (a passport's, a forecast's refusal) did not look
    below a recycled part, while a lot's check did: a pack whose module was recycled after one
    of the module's cells was "no longer the assembly it was: 1 of its parts" for the passport
    and "2 of its parts" (cell and module) for ``echelon recycle``."""
    registry.record_units(
        [_unit("P", None, "pack"), _unit("P-M1", "P", "module"), _unit("P-M1-C1", "P-M1", "cell"),
         _unit("P-M1-C2", "P-M1", "cell")]
    )  # fmt: skip
    _recycle(registry, "P-M1-C1", "LOT-1")
    _recycle(registry, "P-M1", "LOT-2")
    passport = recycled_parts(registry, battery_record(registry, "P"))
    genealogy = units_frame(registry).select("battery_id", "parent_id", "level", "status")
    lot = not_whole(["P"], genealogy, recycled_units(registry))["P"]
    counted = re.compile(r"(\d+) of its parts were recycled \(([^)]*)\)")
    in_lot = counted.search(lot)
    in_passport = counted.search(no_longer_whole("P", passport, "…"))
    assert in_lot is not None
    assert in_passport is not None
    assert in_lot.groups() == in_passport.groups() == ("1", "P-M1")


def test_the_genealogy_is_read_in_chunks(registry: Registry) -> None:
    """Before 2026-12-07 ``parts_of`` and ``recycled_parts`` sent every id in one SQL ``IN``
    list (1,200 here; SQLite refuses more than its bound-parameter limit)."""
    registry.record_units([_unit("P", None, "pack"), _unit("P-M1", "P", "module")])
    record = battery_record(registry, "P")
    many = [f"X-{i:04d}" for i in range(1200)]
    widest = 0

    def count(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        nonlocal widest
        if " IN (" in statement.upper():
            widest = max(widest, len(params) if isinstance(params, (list, tuple, dict)) else 0)

    event.listen(registry.engine, "before_cursor_execute", count)
    try:
        assert recycled_parts(registry, dataclasses.replace(record, children=many)) == []
        assert parts_of(registry, ["P", *many])[0].battery.battery_id == "P-M1"
    finally:
        event.remove(registry.engine, "before_cursor_execute", count)
    assert 0 < widest <= 501
