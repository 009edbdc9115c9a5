"""Appending events: chaining them in memory and writing them, with their projected rows and
genealogy changes, in bulk statements inside the caller's transaction (:class:`EventBatch`,
:func:`append_after`). :mod:`echelon.registry.core` writes every event through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, Table, insert, update

from echelon.domain import Status
from echelon.errors import RegistryError
from echelon.registry.chain import canonical_json, event_hash
from echelon.registry.heads import Head, advance_heads
from echelon.registry.schema import Base, BatteryRow

PROJECTIONS: Final[dict[str, Table]] = {
    name: Base.metadata.tables[name] for name in ("test_runs", "measurements", "decisions")
}
"""Tables whose rows are recorded inside an event payload (key ``rows``)."""
BATTERIES: Final[Table] = Base.metadata.tables["batteries"]
EVENTS: Final[Table] = Base.metadata.tables["events"]
GENEALOGY_FIELDS: Final = ("parent_id",)
"""Battery fields an event may change after intake (``PendingEvent.battery_update``)."""


@dataclass
class PendingEvent:
    """An event to append, with the projected rows it records.

    Attributes
    ----------
    kind : str
        Event type (``received``, ``test_run_recorded``, ``measured``, ``gated``, ``graded``,
        ``routed``, ``failed``, ``dismantled``, …).
    status : Status or None
        New lifecycle status, or ``None`` if the event does not change it.
    payload : dict
        JSON-serialisable body.
    rows : dict of str to list of dict
        Rows for the projection tables (``test_runs``, ``measurements``, ``decisions``) without
        ``battery_id``/``event_seq``; stored in the payload under ``rows`` as well.
    battery_update : dict
        Changes to the battery's genealogy the event makes (only :data:`GENEALOGY_FIELDS`, e.g.
        ``{"parent_id": "PACK-1"}`` when the unit is built into a new pack); stored in the
        payload under ``battery_update`` and applied to the ``batteries`` row, so the chain
        still proves the row.
    """

    kind: str
    status: Status | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    battery_update: dict[str, Any] = field(default_factory=dict)


def append_after(
    conn: Connection,
    battery_id: str,
    head: tuple[int, str],
    events: Sequence[PendingEvent],
    now: str,
) -> tuple[int, str]:
    """Append events after ``head`` (seq, hash) inside an open transaction; returns the new head."""
    batch = EventBatch(now)
    new_head = batch.add(battery_id, head, events)
    batch.flush(conn)
    return new_head


@dataclass
class EventBatch:
    """Events of several batteries chained in memory, then inserted with bulk statements."""

    now: str
    events: list[dict[str, Any]] = field(default_factory=list)
    projections: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {k: [] for k in PROJECTIONS}
    )
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    old_heads: dict[str, Head] = field(default_factory=dict)
    new_heads: dict[str, Head] = field(default_factory=dict)

    def add(
        self, battery_id: str, head: tuple[int, str], pending_events: Sequence[PendingEvent]
    ) -> tuple[int, str]:
        """Chain ``pending_events`` after ``head`` (seq, hash); returns the new head."""
        self.old_heads.setdefault(battery_id, head)
        seq, prev = head
        for pending in pending_events:
            seq += 1
            event, rows = event_row(battery_id, seq, prev, pending, self.now)
            prev = event["hash"]
            self.events.append(event)
            for table, table_rows in rows.items():
                self.projections[table].extend(table_rows)
            if pending.battery_update:
                self.updates.append((battery_id, pending.battery_update))
        self.new_heads[battery_id] = (seq, prev)
        return seq, prev

    def flush(self, conn: Connection) -> None:
        """Insert the events and projections, apply the genealogy changes (in order), and record
        the new chain heads and the write (:func:`~echelon.registry.heads.advance_heads`)."""
        if self.events:
            conn.execute(insert(EVENTS), self.events)
        for table, table_rows in self.projections.items():
            if table_rows:
                conn.execute(insert(PROJECTIONS[table]), table_rows)
        apply_updates(conn, self.updates)
        advance_heads(conn, self.old_heads, self.new_heads, self.now)


def apply_updates(conn: Connection, updates: list[tuple[str, dict[str, Any]]]) -> None:
    """Apply events' genealogy changes to the ``batteries`` rows (in event order)."""
    for battery_id, change in updates:
        conn.execute(update(BATTERIES).where(BatteryRow.battery_id == battery_id).values(**change))


def event_row(
    battery_id: str, seq: int, prev_hash: str, pending: PendingEvent, recorded_at: str
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    unknown = set(pending.rows) - set(PROJECTIONS)
    if unknown:
        raise RegistryError(f"event {pending.kind}: unknown projection tables {sorted(unknown)}")
    bad = set(pending.battery_update) - set(GENEALOGY_FIELDS)
    if bad:
        raise RegistryError(
            f"event {pending.kind}: battery_update may change only {GENEALOGY_FIELDS}, not "
            f"{sorted(bad)}"
        )
    payload = dict(pending.payload)
    if pending.rows:
        payload["rows"] = pending.rows
    if pending.battery_update:
        payload["battery_update"] = pending.battery_update
    payload_json = canonical_json(payload)
    status = pending.status.value if pending.status is not None else None
    digest = event_hash(
        prev_hash=prev_hash,
        battery_id=battery_id,
        seq=seq,
        kind=pending.kind,
        status=status,
        recorded_at=recorded_at,
        payload_json=payload_json,
    )
    event = {
        "battery_id": battery_id,
        "seq": seq,
        "kind": pending.kind,
        "status": status,
        "payload": payload_json,
        "recorded_at": recorded_at,
        "prev_hash": prev_hash,
        "hash": digest,
    }
    rows = {
        table: [{**r, "battery_id": battery_id, "event_seq": seq} for r in table_rows]
        for table, table_rows in pending.rows.items()
    }
    return event, rows
