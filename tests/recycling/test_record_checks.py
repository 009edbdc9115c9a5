"""A lot's check and its recording are one: concurrent recordings, a pack selected with its own
parts, the one walk of "which parts were recycled", and the SQL ``IN`` lists of that walk."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import polars as pl
import pytest
from sqlalchemy import event

from echelon.domain import Battery, Status
from echelon.errors import RecyclingError
from echelon.pipeline import intake
from echelon.recycling import (
    RecordReport,
    record_lot,
    recycle_lot,
    recycled_units,
    registry_units,
    select_registry_units,
)
from echelon.recycling import records as records_module
from echelon.recycling.reconcile import not_whole
from echelon.registry import (
    PendingEvent,
    Registry,
    UnitWrite,
    battery_record,
    events_frame,
    no_longer_whole,
    parts_of,
    recycled_parts,
    units_frame,
    verify,
)
from echelon.synth import SynthBatch
from tests.concurrency import hold_after, run_in_thread
from tests.conftest import ARRIVAL


def test_two_overlapping_recordings_at_once_record_one(
    registry: Registry, small_batch: SynthBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 2026-12-07 a lot was checked (``plan_record``) and then written in other
    transactions: a second recording of the same units, checked while the first was between its
    check and its write, passed too, and both recycled the units (two ``recycled`` events each).
    The first recording is held after its check; the second starts meanwhile."""
    intake(small_batch.manifest, registry=registry, workers=0, as_of=ARRIVAL)
    units = registry_units(registry, "route:recycle")
    assert units.height >= 6
    first = recycle_lot(units.head(4), process="hydro", lot_id="LOT-FIRST")
    second = recycle_lot(units.slice(2, 4), process="hydro", lot_id="LOT-SECOND")  # 2 shared
    checked, go = hold_after(
        monkeypatch, records_module, "plan_record", lambda plan: plan.lot_id == "LOT-FIRST"
    )
    outcome: dict[str, Any] = {}
    one = run_in_thread("LOT-FIRST", outcome, lambda: record_lot(registry, first))
    assert checked.wait(timeout=60)
    two = run_in_thread("LOT-SECOND", outcome, lambda: record_lot(registry, second))
    two.join(timeout=3)  # without the lock, the second recording is checked and written here
    go.set()
    one.join(timeout=120)
    two.join(timeout=120)
    assert isinstance(outcome["LOT-FIRST"], RecordReport), outcome
    assert outcome["LOT-FIRST"].written == 4
    refused = outcome["LOT-SECOND"]
    assert isinstance(refused, RecyclingError), outcome
    shared = units["battery_id"].to_list()[2:4]
    message = str(refused)
    assert "2 unit(s) were already recycled in another lot (their passport has ended)" in message
    assert f"{', '.join(shared)} in lot LOT-FIRST" in message
    events = events_frame(registry)
    second_lot = events.filter(pl.col("payload").str.contains('"lot_id":"LOT-SECOND"'))
    assert second_lot.height == 0  # the refused lot wrote nothing, not even a discharge
    recycled = events_frame(registry, kind="recycled")
    assert sorted(recycled["battery_id"]) == sorted(units["battery_id"].head(4))
    assert verify(registry).ok


def _unit(bid: str, parent: str | None, level: str) -> UnitWrite:
    battery = Battery(battery_id=bid, level=level, parent_id=parent, chemistry="LFP",
                      nominal_capacity_ah=50.0, nominal_voltage_v=3.2)  # fmt: skip
    return UnitWrite(battery, f"fp-{bid}", "0" * 64, "ok")


def _recycle(registry: Registry, bid: str, lot: str) -> None:
    """A ``recycled`` event written directly (as an older version, or another tool, could)."""
    payload = {"lot_id": lot, "lot_sha256": "0" * 64, "process": "hydro", "reporting_year": 2026}
    registry.append_events(bid, [PendingEvent("recycled", Status.RECYCLED, payload)])


def test_a_pack_selected_with_its_own_parts_is_recycled_once(registry: Registry) -> None:
    """Before 2026-12-07 a selector matching a pack and its own modules (or their cells) chose
    them all, and the lot was refused: "P and its part(s) … are all in the lot"."""
    registry.record_units(
        [_unit("P", None, "pack"), _unit("P-M1", "P", "module"), _unit("P-M2", "P", "module"),
         _unit("P-M1-C1", "P-M1", "cell"), _unit("Q", None, "pack")]
    )  # fmt: skip
    selection = select_registry_units(registry, f"status:{Status.RECEIVED.value}")
    assert sorted(selection.units["battery_id"]) == ["P", "Q"]
    assert selection.left_out == {}
    assert selection.counted_once == {
        "P-M1": "P-M1 is part of pack P, which is in the lot: counted once, with it",
        "P-M2": "P-M2 is part of pack P, which is in the lot: counted once, with it",
        "P-M1-C1": "P-M1-C1 is part of pack P, which is in the lot: counted once, with it",
    }
    note = records_module.counted_once_note(selection.counted_once)
    assert note.startswith("left out 3 part(s) of assemblies in the lot")
    report = record_lot(registry, recycle_lot(selection.units, process="hydro", lot_id="LOT-P"))
    assert report.written == 2
    assert sorted(events_frame(registry, kind="recycled")["battery_id"]) == ["P", "Q"]
    assert verify(registry).ok


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
