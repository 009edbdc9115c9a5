"""Registry on SQLite and real PostgreSQL: writes, derived status, tamper detection, append-only."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from echelon.domain import Battery, Decision, Measurement, Reason, Status
from echelon.errors import NotFoundError, RegistryError
from echelon.registry import (
    PendingEvent,
    Registry,
    UnitWrite,
    battery_record,
    decision_row,
    list_batteries,
    measurement_row,
    verify,
)
from echelon.registry.chain import GENESIS, canonical_json, event_hash
from echelon.registry.engine import head_revision


def unit(bid: str, fingerprint: str = "f" * 64, soh: float = 85.0) -> UnitWrite:
    battery = Battery(
        battery_id=bid,
        level="cell",
        chemistry="LFP",
        nominal_capacity_ah=3.0,
        has_traceability=True,
    )
    measured = Measurement(
        battery_id=bid,
        quantity="soh_percent",
        value=soh,
        lower=soh - 1,
        upper=soh + 1,
        method="capacity_test",
    )
    grade = Decision(
        battery_id=bid,
        kind="grade",
        outcome="A",
        profile="p",
        profile_version="1",
        reasons=(Reason(rule="grade.A.soh", passed=True, message="ok"),),
    )
    return UnitWrite(
        battery=battery,
        fingerprint=fingerprint,
        manifest_sha256="m" * 64,
        outcome="ok",
        events=[
            PendingEvent("measured", None, {}, {"measurements": [measurement_row(measured)]}),
            PendingEvent(
                "graded", Status.GRADED, {"outcome": "A"}, {"decisions": [decision_row(grade)]}
            ),
        ],
    )


def test_record_query_and_verify(registry: Registry) -> None:
    results = registry.record_units([unit("A-1"), unit("A-2", soh=70.0)])
    assert [r.result for r in results] == ["written", "written"]
    assert [r.events for r in results] == [3, 3]
    frame = list_batteries(registry, status="graded")
    assert frame["battery_id"].to_list() == ["A-1", "A-2"]
    assert frame["soh_percent"].to_list() == [85.0, 70.0]
    rec = battery_record(registry, "A-1")
    assert rec.status == "graded"
    assert [e.kind for e in rec.events] == [
        "received",
        "measured",
        "graded",
    ]
    assert rec.decisions[0].reasons[0].rule == "grade.A.soh"
    report = verify(registry)
    assert report.ok
    assert report.events == 6
    assert report.batteries == 2


def test_same_fingerprint_is_skipped_new_one_appends(registry: Registry) -> None:
    registry.record_units([unit("A-1")])
    assert registry.record_units([unit("A-1")])[0].result == "skipped"
    again = registry.record_units([unit("A-1", fingerprint="e" * 64, soh=80.0)])
    assert again[0].result == "written"
    rec = battery_record(registry, "A-1")
    assert [e.seq for e in rec.events] == list(range(6))
    assert rec.events[3].payload["retest"] is True
    assert verify(registry).ok


def test_append_events_and_unknown_battery(registry: Registry) -> None:
    registry.record_units([unit("A-1")])
    seq = registry.append_events("A-1", [PendingEvent("note", None, {"text": "moved to bay 3"})])
    assert seq == 3
    assert verify(registry).ok
    with pytest.raises(RegistryError, match="not registered"):
        registry.append_events("nope", [PendingEvent("note")])
    with pytest.raises(NotFoundError, match="no battery 'A-9'"):
        battery_record(registry, "A-9")


PROTECTED = ("events", "chain_heads", "chain_log")
"""Tables whose triggers refuse edits (an attacker with the rights drops or disables them)."""


def _raw(registry: Registry, sql: str, **params: object) -> None:
    """Run ``sql`` as someone with rights to bypass the append-only triggers."""
    with registry.engine.begin() as conn:
        if registry.engine.dialect.name == "sqlite":
            triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            for name in conn.execute(sa.text(triggers)).scalars().all():
                conn.execute(sa.text(f"DROP TRIGGER {name}"))
        else:
            for table in PROTECTED:
                conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        conn.execute(sa.text(sql), params)


def test_events_are_append_only(registry: Registry) -> None:
    registry.record_units([unit("A-1")])
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), registry.engine.begin() as conn:
        conn.execute(sa.text("UPDATE events SET kind = 'x'"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), registry.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events"))


def test_edited_event_is_named(registry: Registry) -> None:
    registry.record_units([unit("A-1"), unit("A-2")])
    # an attacker with database rights bypasses the trigger and edits one event's payload
    _raw(
        registry,
        "UPDATE events SET payload = REPLACE(payload, '85.0', '95.0') "
        "WHERE battery_id = 'A-1' AND seq = 1",
    )
    report = verify(registry)
    assert not report.ok
    first = report.first_broken
    assert first is not None
    assert (first.battery_id, first.seq) == ("A-1", 1)
    assert "edited" in first.message
    assert all(p.battery_id == "A-1" for p in report.problems)


def test_deleted_event_and_edited_projection_are_found(registry: Registry) -> None:
    registry.record_units([unit("A-1"), unit("A-2")])
    _raw(registry, "DELETE FROM events WHERE battery_id = 'A-2' AND seq = 1")
    _raw(registry, "UPDATE decisions SET outcome = 'B' WHERE battery_id = 'A-1'")
    messages = {(p.battery_id, p.seq): p.message for p in verify(registry).problems}
    assert "sequence gap" in messages[("A-2", 2)]
    assert "decisions rows differ" in messages[("A-1", 2)]


@pytest.mark.parametrize(
    ("sql", "where", "says"),
    [
        ("UPDATE events SET payload = '{not json' WHERE battery_id = 'A-1' AND seq = 1",
         ("A-1", 1), "edited"),
        ("UPDATE events SET payload = '[1, 2]' WHERE battery_id = 'A-1' AND seq = 0",
         ("A-1", 0), "edited"),
    ],
)  # fmt: skip
def test_an_event_edited_into_invalid_json_is_named_not_a_crash(
    registry: Registry, sql: str, where: tuple[str, int], says: str
) -> None:
    """What verify exists to find must not crash it (it raised JSONDecodeError/AttributeError
    before 2026-12-07: `echelon verify` and /api/verify answered "internal error")."""
    registry.record_units([unit("A-1"), unit("A-2")])
    _raw(registry, sql)
    report = verify(registry)
    located = [p.message for p in report.problems if (p.battery_id, p.seq) == where]
    assert any(says in message for message in located), located
    assert all(p.battery_id == "A-1" for p in report.problems)


def test_a_projected_json_value_edited_into_invalid_json_is_named(
    sqlite_registry: Registry,
) -> None:
    """(SQLite only: PostgreSQL's json type cannot hold invalid JSON.)"""
    sqlite_registry.record_units([unit("A-1"), unit("A-2")])
    _raw(sqlite_registry, "UPDATE decisions SET reasons = '[{oops' WHERE battery_id = 'A-2'")
    problems = verify(sqlite_registry).problems
    assert {(p.battery_id, p.seq) for p in problems} == {("A-2", 2)}
    assert any("decisions.reasons is not valid JSON" in p.message for p in problems)


def test_verify_reads_one_snapshot_while_a_writer_goes_on(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event committed by another connection between verify's reads of the events and of
    the projected tables is not seen half: before 2026-12-07 every verify during a write
    reported "measurements rows differ" (the reads were separate transactions)."""
    verify_module = importlib.import_module("echelon.registry.verify")

    registry.record_units([unit("A-1")])
    original = verify_module._check_projections
    extra = PendingEvent(
        "measured",
        None,
        {},
        {"measurements": [measurement_row(Measurement(
            battery_id="A-1", quantity="ocv_v", value=3.3, method="race"))]},
    )  # fmt: skip

    def write_then_check(*args: object, **kwargs: object) -> object:
        registry.append_events("A-1", [extra])  # another connection, committed
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module, "_check_projections", write_then_check)
    report = verify(registry)
    assert report.ok, [str(p) for p in report.problems]
    assert report.events == 3  # the snapshot before the write
    monkeypatch.undo()
    assert verify(registry).events == 4


def test_edited_battery_row_is_found(registry: Registry) -> None:
    registry.record_units([unit("A-1")])
    _raw(registry, "UPDATE batteries SET nominal_capacity_ah = 30 WHERE battery_id = 'A-1'")
    problems = verify(registry).problems
    assert problems
    assert "nominal_capacity_ah" in problems[0].message


def test_schema_is_at_head_and_matches_models(registry: Registry) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from echelon.registry.schema import Base

    with registry.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, Base.metadata) == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=8),
            st.one_of(st.integers(), st.text(max_size=8), st.floats(allow_nan=False)),
        ),
        min_size=1,
        max_size=6,
    ),
    st.data(),
)
def test_any_single_change_breaks_the_chain(
    payloads: list[dict[str, object]], data: st.DataObject
) -> None:
    chain = []
    prev = GENESIS
    for seq, payload in enumerate(payloads):
        body = canonical_json(payload)
        digest = event_hash(
            prev_hash=prev,
            battery_id="B",
            seq=seq,
            kind="k",
            status=None,
            recorded_at="2026-11-22T00:00:00.000000Z",
            payload_json=body,
        )
        chain.append((seq, body, prev, digest))
        prev = digest
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1))
    seq, body, prev_hash, digest = chain[index]
    assert (
        event_hash(
            prev_hash=prev_hash,
            battery_id="B",
            seq=seq,
            kind="k",
            status=None,
            recorded_at="2026-11-22T00:00:00.000000Z",
            payload_json=body + " ",
        )
        != digest
    )
    assert (
        event_hash(
            prev_hash=prev_hash,
            battery_id="B",
            seq=seq,
            kind="k",
            status="graded",
            recorded_at="2026-11-22T00:00:00.000000Z",
            payload_json=body,
        )
        != digest
    )


def test_append_events_many_is_one_atomic_batch(registry: Registry) -> None:
    registry.record_units([unit("A-1"), unit("A-2"), unit("A-3")])
    note = [PendingEvent("note", None, {"text": "to bay 7"})]
    seqs = registry.append_events_many([("A-1", note), ("A-3", note + note)])
    assert seqs == [3, 4]
    assert verify(registry).ok
    # an unregistered id refuses the whole batch: nothing of it is written
    with pytest.raises(RegistryError, match="not registered: NOPE"):
        registry.append_events_many([("A-2", note), ("NOPE", note)])
    assert [e.kind for e in battery_record(registry, "A-2").events][-1] == "graded"
    with pytest.raises(RegistryError, match="appears twice"):
        registry.append_events_many([("A-2", note), ("A-2", note)])


def test_a_corrupt_or_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    """Random bytes, or another application's database: a RegistryError (CLI exit 5) naming the
    file — before 2026-12-07 "internal error … This is a bug", and a foreign database got
    Echelon's tables added to it."""
    from echelon.registry import open_registry

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(bytes(range(256)) * 16)
    with pytest.raises(RegistryError, match=r"corrupt\.db: file is not a database"):
        open_registry(f"sqlite:///{corrupt}")
    assert corrupt.read_bytes() == bytes(range(256)) * 16
    foreign = tmp_path / "notes.db"
    with sa.create_engine(f"sqlite:///{foreign}").begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (x TEXT)"))
    with pytest.raises(RegistryError, match=r"not an Echelon registry: it holds tables \(notes\)"):
        open_registry(f"sqlite:///{foreign}")
    assert sa.inspect(sa.create_engine(f"sqlite:///{foreign}")).get_table_names() == ["notes"]


def test_a_record_edited_into_invalid_json_is_a_chain_error_not_a_crash(
    sqlite_registry: Registry,
) -> None:
    """`echelon show`, the API and the dashboard read a battery through battery_record: rows
    edited into something Echelon never writes are a ChainError (exit 6, HTTP 409) that says to
    run verify — before 2026-12-07 an "internal error … This is a bug"."""
    from echelon.errors import ChainError

    sqlite_registry.record_units([unit("A-1"), unit("A-2")])
    _raw(sqlite_registry, "UPDATE decisions SET reasons = '[{oops' WHERE battery_id = 'A-2'")
    with pytest.raises(ChainError, match=r"A-2: its records .* run `echelon verify`"):
        battery_record(sqlite_registry, "A-2")
    _raw(sqlite_registry, "UPDATE events SET payload = '[1, 2]' WHERE battery_id = 'A-1'")
    with pytest.raises(ChainError, match="A-1: its records in the registry cannot be read"):
        battery_record(sqlite_registry, "A-1")


def test_a_batterys_check_covers_the_rows_that_name_it_as_parent(registry: Registry) -> None:
    """A pack's page lists as its parts every row whose parent_id names it: a row re-parented
    behind Echelon's back shows on the pack's check too (before 2026-12-07 only on the part's)."""
    from echelon.registry import verify_battery

    registry.record_units([unit("A-1"), unit("A-2")])
    assert verify_battery(registry, "A-1").ok
    _raw(registry, "UPDATE batteries SET parent_id = 'A-1' WHERE battery_id = 'A-2'")
    report = verify_battery(registry, "A-1")
    assert report.batteries == 2
    [problem] = report.problems
    assert problem.battery_id == "A-2"
    assert "batteries.parent_id = 'A-1' differs from the received event" in problem.message
