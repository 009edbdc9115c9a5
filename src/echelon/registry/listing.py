"""A cheap check of what a battery listing shows against the events that recorded it.

A listing (``echelon batteries``, ``GET /api/batteries``, the dashboard) reads the projected
tables, which someone with database rights can edit. :func:`listing_warnings` checks, for each
listed battery, the values the listing shows — its latest gate, grade and route, its latest SOH
and DCIR, its status, level, chemistry and model — against the events that recorded them (each of
those events re-hashed), and its chain's end against its head record. It reads a handful of events
per battery, not whole chains: :func:`echelon.registry.verify` remains the check of everything
(events deleted inside a chain, rows not listed, the registry's write log, anchors).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

import polars as pl
from sqlalchemy import Connection, Select, case, func, select

from echelon.registry.chain import canonical_json, event_hash
from echelon.registry.core import BATTERIES, EVENTS, PROJECTIONS, Registry, chunked
from echelon.registry.heads import head_problem, recorded_heads
from echelon.registry.queries import with_warnings
from echelon.registry.verify import read_snapshot

LISTED_DECISIONS: Final = ("gate", "grade", "route")
"""Decision kinds a listing shows."""
LISTED_QUANTITIES: Final = ("soh_percent", "dcir_ohm")
"""Measurements a listing shows (their value, interval and method)."""
LISTED_FIELDS: Final = ("level", "chemistry", "model")
"""``batteries`` columns a listing shows, recorded by the latest ``received`` event."""
CHUNK: Final = 500
MEASURED: Final = ("quantity", "value", "lower", "upper", "method", "source_sha256")
"""A measurement row's members (as :func:`~echelon.registry.measurement_row` writes them)."""
DECIDED: Final = ("kind", "outcome", "profile", "profile_version")
"""The scalar members of a decision row, compared with the event's."""

DECISIONS = PROJECTIONS["decisions"]
MEASUREMENTS = PROJECTIONS["measurements"]


def _latest(
    table: Any, key: str, values: tuple[str, ...], shown: tuple[str, ...], chunk: list[str]
) -> Select[Any]:
    """The ``battery_id``, ``event_seq`` and ``shown`` columns of the latest row of ``table``
    per battery and ``key`` value among ``values``."""
    ranked = (
        select(
            table.c.battery_id,
            table.c.event_seq,
            *(table.c[name] for name in shown),
            func.row_number()
            .over(
                partition_by=(table.c.battery_id, table.c[key]),
                order_by=(table.c.event_seq.desc(), table.c.id.desc()),
            )
            .label("rn"),
        )
        .where(table.c.battery_id.in_(chunk), table.c[key].in_(values))
        .subquery()
    )
    return select(ranked).where(ranked.c.rn == 1)


def _markers(conn: Connection, chunk: list[str]) -> dict[str, tuple[int, int | None, int | None]]:
    """Per battery: the ``seq`` of its last event, of its latest event with a status and of its
    latest ``received`` event."""
    seq = EVENTS.c.seq
    stmt = (
        select(
            EVENTS.c.battery_id,
            func.max(seq),
            func.max(case((EVENTS.c.status.is_not(None), seq))),
            func.max(case((EVENTS.c.kind == "received", seq))),
        )
        .where(EVENTS.c.battery_id.in_(chunk))
        .group_by(EVENTS.c.battery_id)
    )
    return {bid: (last, status, received) for bid, last, status, received in conn.execute(stmt)}


class _Events:
    """The events a chunk's listed values come from, each re-hashed and its payload decoded once."""

    def __init__(self, conn: Connection, chunk: list[str], wanted: set[tuple[str, int]]) -> None:
        seqs = sorted({seq for _, seq in wanted})
        stmt = select(EVENTS).where(EVENTS.c.battery_id.in_(chunk), EVENTS.c.seq.in_(seqs))
        self.rows = {
            (ev.battery_id, ev.seq): ev
            for ev in conn.execute(stmt)
            if (ev.battery_id, ev.seq) in wanted
        }
        self.payloads: dict[tuple[str, int], dict[str, Any] | None] = {}

    def problem(self, battery_id: str, seq: int) -> str | None:
        """What is wrong with the event itself (missing, edited), or ``None``."""
        ev = self.rows.get((battery_id, seq))
        if ev is None:
            return f"event #{seq} is missing (deleted)"
        digest = event_hash(
            prev_hash=ev.prev_hash, battery_id=ev.battery_id, seq=ev.seq, kind=ev.kind,
            status=ev.status, recorded_at=ev.recorded_at, payload_json=ev.payload,
        )  # fmt: skip
        return None if digest == ev.hash else f"event #{seq} does not match its hash (edited)"

    def payload(self, battery_id: str, seq: int) -> dict[str, Any]:
        """The decoded payload of an event (``{}`` when it is missing or not a JSON object)."""
        key = (battery_id, seq)
        if key not in self.payloads:
            ev = self.rows.get(key)
            try:
                decoded = json.loads(ev.payload) if ev is not None else None
            except ValueError:
                decoded = None
            self.payloads[key] = decoded if isinstance(decoded, dict) else None
        return self.payloads[key] or {}

    def holds(self, battery_id: str, seq: int, fragment: str) -> bool:
        """Whether an event's payload (canonical JSON) holds ``fragment`` as it is."""
        ev = self.rows.get((battery_id, seq))
        return ev is not None and fragment in ev.payload


def _decision_fragment(row: Any) -> str:
    """How a decision row's ``kind``, ``outcome``, ``profile`` and ``profile_version`` read in
    the canonical JSON of the event that recorded it: consecutive members of the row, whose keys
    sort ``inputs``, ``kind``, ``outcome``, ``profile``, ``profile_version``, ``reasons``."""
    members = ",".join(f"{json.dumps(k)}:{canonical_json(getattr(row, k))}" for k in DECIDED)
    return f'{members},"reasons":'


def _measurement_fragment(row: Any) -> str:
    """A measurement row as the canonical JSON of the event that recorded it holds it."""
    return canonical_json({k: getattr(row, k) for k in MEASURED})


def _check_chunk(conn: Connection, chunk: list[str], found: dict[str, list[str]]) -> None:
    decisions = conn.execute(_latest(DECISIONS, "kind", LISTED_DECISIONS, DECIDED, chunk)).all()
    measures = conn.execute(
        _latest(MEASUREMENTS, "quantity", LISTED_QUANTITIES, MEASURED, chunk)
    ).all()
    markers = _markers(conn, chunk)
    heads = recorded_heads(conn, chunk)
    batteries = {
        row.battery_id: row
        for row in conn.execute(
            select(BATTERIES.c.battery_id, *(BATTERIES.c[f] for f in LISTED_FIELDS)).where(
                BATTERIES.c.battery_id.in_(chunk)
            )
        )
    }
    wanted = {(r.battery_id, r.event_seq) for r in [*decisions, *measures]}
    wanted |= {(bid, s) for bid, marks in markers.items() for s in marks if s is not None}
    events = _Events(conn, chunk, wanted)
    for bid, seq in sorted(wanted):
        problem = events.problem(bid, seq)
        if problem is not None:
            found[bid].append(problem)
    for bid in chunk:
        last = markers.get(bid)
        ev = events.rows.get((bid, last[0])) if last is not None else None
        problem = head_problem((ev.seq, ev.hash) if ev is not None else None, heads.get(bid))
        if problem is not None:
            found[bid].append(problem)
    for row in decisions:
        if not events.holds(row.battery_id, row.event_seq, _decision_fragment(row)):
            found[row.battery_id].append(
                f"{row.kind} {row.outcome} differs from what event #{row.event_seq} recorded"
            )
    for row in measures:
        if not events.holds(row.battery_id, row.event_seq, _measurement_fragment(row)):
            found[row.battery_id].append(
                f"{row.quantity} {row.value!r} differs from what event #{row.event_seq} recorded"
            )
    for bid, row in batteries.items():
        received = markers.get(bid, (0, None, None))[2]
        if received is None:
            continue  # no received event: verify names it
        battery = events.payload(bid, received).get("battery")
        if not isinstance(battery, dict):
            continue  # an edited received event: its hash check names it
        for name in LISTED_FIELDS:
            if getattr(row, name) != battery.get(name):
                found[bid].append(
                    f"batteries.{name} {getattr(row, name)!r} differs from what event "
                    f"#{received} recorded"
                )


def listing_warnings(registry: Registry, battery_ids: Sequence[str]) -> dict[str, list[str]]:
    """What a listing of ``battery_ids`` would show that their event chains do not prove.

    Parameters
    ----------
    registry : Registry
    battery_ids : sequence of str
        The batteries listed.

    Returns
    -------
    dict of str to list of str
        Battery id → problems (``grade A differs from what event #6 recorded``, ``its chain ends
        at #4 but its head record says #7: …``), only for batteries with problems. Read in one
        transaction; a few events per battery.
    """
    found: dict[str, list[str]] = defaultdict(list)
    with read_snapshot(registry) as conn:
        for chunk in chunked(list(dict.fromkeys(battery_ids)), CHUNK):
            _check_chunk(conn, chunk, found)
    return dict(found)


def flag_listed(registry: Registry, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (rows of a listing, with ``battery_id``) with :func:`listing_warnings` of its
    batteries added to its ``warning`` column (problems joined by ``; ``)."""
    if frame.height == 0:
        return with_warnings(frame, {})
    return with_warnings(frame, listing_warnings(registry, frame["battery_id"].to_list()))
