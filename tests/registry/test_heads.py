"""Chain heads, the write log and anchor files: events cut off the end of a chain, batteries
deleted outright and chains rewritten are found (the last only against an anchor kept off the
database)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from echelon.errors import ChainError, InputError
from echelon.registry import (
    PendingEvent,
    Registry,
    battery_record,
    load_anchor,
    save_anchor,
    take_anchor,
    verify,
    verify_battery,
)
from echelon.registry.chain import GENESIS, digest_change, event_hash, utc_now
from echelon.registry.verify import REGISTRY
from tests.registry.test_registry import _raw, unit

NOTE = [PendingEvent("note", None, {"text": "to bay 7"})]


def _cut(registry: Registry, battery_id: str, from_seq: int) -> None:
    """The reviewer's case: the projections and the last events of a chain deleted."""
    _raw(registry, "DELETE FROM decisions WHERE battery_id = :b", b=battery_id)
    _raw(
        registry, "DELETE FROM events WHERE battery_id = :b AND seq >= :s", b=battery_id, s=from_seq
    )


def test_events_cut_off_the_end_of_a_chain_are_found(registry: Registry) -> None:
    """Before 2026-12-07 a chain cut after its last intact event verified: nothing was left to
    disagree with (the unit graded before now showed as received)."""
    registry.record_units([unit("A-1"), unit("A-2")])
    _cut(registry, "A-1", 2)
    assert battery_record(registry, "A-1").status == "received"  # what the tables say now …
    [problem] = verify(registry).problems  # … flagged
    assert problem.battery_id == "A-1"
    assert problem.message == (
        "its chain ends at #1 but its head record says #2: event(s) #2 were deleted outside Echelon"
    )
    assert verify_battery(registry, "A-1").problems == [problem]
    assert verify_battery(registry, "A-2").ok


def test_a_battery_deleted_outright_is_found(registry: Registry) -> None:
    registry.record_units([unit("A-1"), unit("A-2")])
    for table in ("measurements", "decisions", "intakes", "events", "batteries"):
        _raw(registry, f"DELETE FROM {table} WHERE battery_id = 'A-2'")
    [problem] = verify(registry).problems
    assert (problem.battery_id, problem.message) == (
        "A-2",
        "its head record says #2 but it has no events: they were deleted outside Echelon",
    )
    _raw(registry, "DELETE FROM chain_heads WHERE battery_id = 'A-2'")  # the head as well
    [whole] = verify(registry).problems
    assert whole.battery_id == REGISTRY
    assert whole.message.startswith(
        "the writes recorded 2 batteries with 6 events, the chain heads hold 1 with 3: "
        "batteries (or their head records) were deleted outside Echelon"
    )


def _rewrite(registry: Registry, battery_id: str) -> None:
    """Rewrite a battery's SOH from 85 to 95 % and re-hash its whole chain with the public hash
    function, its head record and the write log included: what someone with write rights who
    read the code can do."""
    with registry.engine.connect() as conn:
        events = conn.execute(
            sa.text("SELECT * FROM events WHERE battery_id = :b ORDER BY seq"), {"b": battery_id}
        ).all()
    prev = GENESIS
    for ev in events:
        payload = ev.payload.replace('"value":85.0', '"value":95.0')
        digest = event_hash(
            prev_hash=prev, battery_id=battery_id, seq=ev.seq, kind=ev.kind, status=ev.status,
            recorded_at=ev.recorded_at, payload_json=payload,
        )  # fmt: skip
        _raw(registry, "UPDATE events SET payload = :p, prev_hash = :v, hash = :h WHERE id = :i",
             p=payload, v=prev, h=digest, i=ev.id)  # fmt: skip
        prev = digest
    last = events[-1]
    _raw(registry, "UPDATE measurements SET value = 95.0 WHERE battery_id = :b", b=battery_id)
    _raw(registry, "UPDATE chain_heads SET hash = :h WHERE battery_id = :b", h=prev, b=battery_id)
    change = digest_change([(battery_id, last.seq, last.hash)], [(battery_id, last.seq, prev)])
    _raw(registry, "INSERT INTO chain_log (batteries, events, digest, recorded_at) "
         "VALUES (0, 0, :d, :t)", d=change, t=utc_now())  # fmt: skip


def test_a_chain_rewritten_with_the_public_hash_is_found_against_an_anchor_only(
    registry: Registry, tmp_path: Path
) -> None:
    registry.record_units([unit("A-1"), unit("A-2")])
    report = verify(registry)
    path = tmp_path / "anchor.json"
    save_anchor(take_anchor(report.heads, registry.url), path)
    _rewrite(registry, "A-1")
    assert battery_record(registry, "A-1").measurements[0].value == 95.0
    assert verify(registry).ok  # the documented limit: nothing inside the database disagrees
    anchored = verify(registry, anchor=load_anchor(path))
    [problem] = anchored.problems
    assert (problem.battery_id, problem.seq) == ("A-1", 2)
    assert "differs from the anchor of" in problem.message
    assert problem.message.endswith("the chain was rewritten since")
    assert anchored.anchored == 2


def test_an_anchor_accepts_chains_that_grew_and_names_batteries_deleted_since(
    registry: Registry, tmp_path: Path
) -> None:
    registry.record_units([unit("A-1"), unit("A-2")])
    path = tmp_path / "anchor.json"
    save_anchor(take_anchor(verify(registry).heads, registry.url), path)
    anchor = load_anchor(path)
    assert (len(anchor.heads), anchor.events) == (2, 6)
    registry.append_events("A-1", NOTE)
    registry.record_units([unit("A-3")])
    grown = verify(registry, anchor=anchor)
    assert grown.ok, grown.problems
    assert (grown.batteries, grown.anchored) == (3, 2)
    for table in ("measurements", "decisions", "intakes", "events", "batteries", "chain_heads"):
        _raw(registry, f"DELETE FROM {table} WHERE battery_id = 'A-2'")
    problems = verify(registry, anchor=anchor).problems
    assert [p.battery_id for p in problems] == ["A-2", REGISTRY]
    assert "gone from the registry" in problems[0].message


def test_an_altered_or_foreign_anchor_file_is_refused(tmp_path: Path, registry: Registry) -> None:
    registry.record_units([unit("A-1")])
    path = tmp_path / "anchor.json"
    save_anchor(take_anchor(verify(registry).heads, registry.url), path)
    text = path.read_text(encoding="utf-8")
    head = verify(registry).heads["A-1"][1]
    path.write_text(text.replace(head, "0" * 64), encoding="utf-8")
    with pytest.raises(InputError, match="the anchor file was altered: its heads add up to"):
        load_anchor(path)
    path.write_text('{"heads": []}', encoding="utf-8")
    with pytest.raises(InputError, match="not an anchor file written by `echelon verify"):
        load_anchor(path)


def test_nothing_is_appended_to_a_cut_chain(registry: Registry) -> None:
    """Appending to a cut chain would move its head past the cut and hide it."""
    registry.record_units([unit("A-1"), unit("A-2")])
    _cut(registry, "A-1", 2)
    with pytest.raises(ChainError, match=r"^A-1: its chain ends at #1 .* run `echelon verify`"):
        registry.append_events("A-1", NOTE)
    with pytest.raises(ChainError, match=r"^A-1: its chain ends at #1"):
        registry.append_events_many([("A-2", NOTE), ("A-1", NOTE)])
    results = registry.record_units([unit("A-1", fingerprint="e" * 64), unit("A-3")])
    assert [r.result for r in results] == ["error", "written"]
    assert "its head record says #2" in str(results[0].error)
    assert [p.battery_id for p in verify(registry).problems] == ["A-1"]  # still visible
    assert len(battery_record(registry, "A-2").events) == 3  # the refused batch wrote nothing


def test_heads_only_move_forward_and_the_log_is_append_only(registry: Registry) -> None:
    registry.record_units([unit("A-1")])
    refused = [
        ("DELETE FROM chain_heads", "never deleted"),
        ("UPDATE chain_heads SET seq = seq - 1", "only move forward"),
        ("UPDATE chain_log SET events = 0", "append-only"),
        ("DELETE FROM chain_log", "append-only"),
    ]
    for sql, says in refused:
        with pytest.raises(sa.exc.DBAPIError, match=says), registry.engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert verify(registry).ok


def test_the_migration_builds_the_heads_of_an_existing_registry(registry: Registry) -> None:
    """A registry written before the heads existed (revision 0001) verifies after the upgrade,
    with the heads of its chains as they are."""
    from alembic import command

    from echelon.registry.engine import _alembic_config, migrate

    registry.record_units([unit("A-1"), unit("A-2")])
    registry.append_events("A-2", NOTE)
    before = verify(registry)
    with registry.engine.begin() as conn:
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
        assert "chain_heads" not in sa.inspect(conn).get_table_names()
    migrate(registry.engine)
    after = verify(registry)
    assert after.ok, after.problems
    assert (after.heads, after.digest) == (before.heads, before.digest)
    registry.append_events("A-1", NOTE)  # and the writer goes on from them
    assert verify(registry).ok


def test_a_re_test_of_a_unit_with_an_edited_row_is_refused(registry: Registry) -> None:
    """Before 2026-12-07 a re-test (a new fingerprint) appended to a unit whose projected rows
    were edited while its chain head stayed intact, so its new events vouched for the edit."""
    registry.record_units([unit("A-1"), unit("A-2")])
    _raw(registry, "UPDATE measurements SET value = 95.0 WHERE battery_id = :b", b="A-1")
    before = len(battery_record(registry, "A-1").events)
    results = registry.record_units(
        [unit("A-1", fingerprint="e" * 64), unit("A-2", fingerprint="e" * 64), unit("A-3")]
    )
    assert [r.result for r in results] == ["error", "written", "written"]
    error = str(results[0].error)
    assert error.startswith("A-1: the event chain does not verify — A-1 event #1")
    assert "measurements rows differ from what the event recorded" in error
    assert "so nothing is recorded on it" in error
    assert len(battery_record(registry, "A-1").events) == before
