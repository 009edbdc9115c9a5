"""Re-verification of every battery's event chain, of its head record, of the registry's write
log, of the tables projected from the chains, and optionally against an anchor file."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, select

from echelon.errors import ChainError
from echelon.registry.anchor import Anchor
from echelon.registry.chain import GENESIS, add_digests, canonical_json, event_hash, heads_digest
from echelon.registry.core import BATTERIES, PROJECTIONS, Registry
from echelon.registry.heads import HEADS, Head, head_problem, log_totals, recorded_heads
from echelon.registry.readable import as_text, decode_row
from echelon.registry.schema import BatteryRow, EventRow

CHUNK = 1000
_SKIP = ("id", "battery_id", "event_seq")
REGISTRY: Final = "(registry)"
"""``battery_id`` of a problem of the registry as a whole (its write log)."""


@dataclass(frozen=True)
class ChainProblem:
    """One verification failure, located at an event."""

    battery_id: str
    seq: int | None
    event_id: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.battery_id}" + (f" event #{self.seq}" if self.seq is not None else "")
        ident = f" (events.id={self.event_id})" if self.event_id is not None else ""
        return f"{where}{ident}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """``battery_id``, ``seq``, ``event_id``, ``message`` and ``text`` (the line printed)."""
        return asdict(self) | {"text": str(self)}


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`."""

    batteries: int = 0
    events: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    heads: dict[str, Head] = field(default_factory=dict)
    """Each checked battery's last event (``seq``, hash), for an anchor file."""
    anchored: int = 0
    """Batteries checked against an anchor file."""

    def chain_json(self, limit: int = 100) -> dict[str, Any]:
        """``{"ok": …, "problems": [...]}`` with the first ``limit`` problems
        (:meth:`ChainProblem.to_json`): a record's ``chain`` (API, ``echelon show --json``)."""
        return {"ok": self.ok, "problems": [p.to_json() for p in self.problems[:limit]]}

    @property
    def digest(self) -> str:
        """The registry digest of :attr:`heads` (what an anchor of this state states)."""
        return heads_digest((bid, seq, h) for bid, (seq, h) in self.heads.items())

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    @property
    def first_broken(self) -> ChainProblem | None:
        """The first problem found (chains are checked in battery-id order)."""
        return self.problems[0] if self.problems else None


def _payload(ev: Any) -> dict[str, Any] | None:
    """An event's payload, or ``None`` when it is not a JSON object (edited in the database:
    the chain check reports the event; the projection checks must not crash on it)."""
    try:
        payload = json.loads(ev.payload)
    except (TypeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _check_chain(events: list[Any]) -> list[ChainProblem]:
    problems = []
    prev = GENESIS
    for expected_seq, ev in enumerate(events):
        if ev.seq != expected_seq:
            problems.append(
                ChainProblem(
                    ev.battery_id,
                    ev.seq,
                    ev.id,
                    f"sequence gap: expected #{expected_seq} (event deleted?)",
                )
            )
            break
        if ev.prev_hash != prev:
            problems.append(
                ChainProblem(
                    ev.battery_id,
                    ev.seq,
                    ev.id,
                    "prev_hash does not match the previous event's hash",
                )
            )
            break
        digest = event_hash(
            prev_hash=ev.prev_hash,
            battery_id=ev.battery_id,
            seq=ev.seq,
            kind=ev.kind,
            status=ev.status,
            recorded_at=ev.recorded_at,
            payload_json=ev.payload,
        )
        if digest != ev.hash:
            problems.append(
                ChainProblem(
                    ev.battery_id, ev.seq, ev.id, "content does not match its hash (event edited)"
                )
            )
            break
        prev = ev.hash
    return problems


def _check_projections(
    conn: Connection, ids: list[str], events: dict[str, list[Any]]
) -> list[ChainProblem]:
    problems: list[ChainProblem] = []
    recorded: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    event_ids: dict[tuple[str, int], int] = {}
    for bid, evs in events.items():
        for ev in evs:
            event_ids[(bid, ev.seq)] = ev.id
            payload = _payload(ev)
            if payload is None:
                problems.append(
                    ChainProblem(bid, ev.seq, ev.id, "payload is not a JSON object (event edited)")
                )
                continue
            for table, table_rows in payload.get("rows", {}).items():
                recorded[(bid, ev.seq, table)] = sorted(canonical_json(r) for r in table_rows)
    stored: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    for table_name, table in PROJECTIONS.items():
        for row in conn.execute(as_text(table).where(table.c.battery_id.in_(ids))):
            data = dict(row._mapping)
            key = (data["battery_id"], data["event_seq"], table_name)
            bad = decode_row(table, data)
            if bad:
                bid, seq = key[:2]
                problems.append(
                    ChainProblem(
                        bid, seq, event_ids.get((bid, seq)),
                        f"{table_name}.{bad[0]} (edited in the database)",
                    )
                )  # fmt: skip
            stored[key].append(canonical_json({k: v for k, v in data.items() if k not in _SKIP}))
    for key in sorted(set(recorded) | set(stored)):
        if sorted(stored.get(key, [])) != recorded.get(key, []):
            bid, seq, table = key
            problems.append(
                ChainProblem(
                    bid,
                    seq,
                    event_ids.get((bid, seq)),
                    f"{table} rows differ from what the event recorded",
                )
            )
    return problems


def _check_battery_rows(
    conn: Connection, ids: list[str], events: dict[str, list[Any]]
) -> list[ChainProblem]:
    problems = []
    rows: dict[str, dict[str, Any]] = {}
    unreadable: dict[str, list[str]] = {}
    for r in conn.execute(as_text(BATTERIES).where(BATTERIES.c.battery_id.in_(ids))):
        rows[r.battery_id] = dict(r._mapping)
        unreadable[r.battery_id] = decode_row(BATTERIES, rows[r.battery_id])
    for bid, evs in events.items():
        received = [e for e in evs if e.kind == "received"]
        row = rows.get(bid)
        if not received or row is None:
            problems.append(
                ChainProblem(
                    bid,
                    None,
                    None,
                    "battery row without a received event"
                    if row is not None
                    else "events for an unregistered battery",
                )
            )
            continue
        first = _payload(received[-1])
        if first is None or not isinstance(first.get("battery"), dict):
            continue  # an edited received event: the chain check names it
        if unreadable[bid]:
            problems.append(
                ChainProblem(
                    bid,
                    received[-1].seq,
                    received[-1].id,
                    f"batteries.{unreadable[bid][0]} (edited in the database)",
                )
            )
            continue
        recorded = dict(first["battery"])
        # genealogy changes recorded after intake (a unit built into a new pack)
        for later in (e for e in evs if e.seq > received[-1].seq):
            recorded.update((_payload(later) or {}).get("battery_update", {}))
        for key, value in recorded.items():
            actual = row.get(key)
            if key == "visual_flags":
                actual = sorted(f for f in (actual or "").split(";") if f)
            elif isinstance(actual, dt.date):
                actual = actual.isoformat()
            if actual != value and not (isinstance(value, float) and actual == value):
                problems.append(
                    ChainProblem(
                        bid,
                        received[-1].seq,
                        received[-1].id,
                        f"batteries.{key} = {actual!r} differs from the received event ({value!r})",
                    )
                )
                break
    for bid in set(rows) - set(events):
        problems.append(ChainProblem(bid, None, None, "battery row without any event"))
    return problems


def _check_ids(
    conn: Connection, ids: list[str], report: VerifyReport, anchor: Anchor | None = None
) -> dict[str, Head]:
    """Check the chains, head records, projected rows and battery rows of ``ids`` (and their
    chains against ``anchor``); add to ``report``. Returns the head records read."""
    events: dict[str, list[Any]] = defaultdict(list)
    for ev in conn.execute(
        select(EventRow.__table__)
        .where(EventRow.battery_id.in_(ids))
        .order_by(EventRow.battery_id, EventRow.seq)
    ):
        events[ev.battery_id].append(ev)
    recorded = recorded_heads(conn, ids)
    for bid in ids:
        chain = events.get(bid, [])
        report.events += len(chain)
        report.problems.extend(_check_chain(chain))
        last = (chain[-1].seq, chain[-1].hash) if chain else None
        if last is not None:
            report.heads[bid] = last
        problem = head_problem(last, recorded.get(bid))
        if problem is not None:
            report.problems.append(ChainProblem(bid, None, None, problem))
        if anchor is not None and bid in anchor.heads:
            report.anchored += 1
            report.problems.extend(_check_anchored(bid, chain, anchor))
    report.problems.extend(_check_projections(conn, ids, events))
    report.problems.extend(_check_battery_rows(conn, ids, events))
    return recorded


def _check_anchored(battery_id: str, chain: list[Any], anchor: Anchor) -> list[ChainProblem]:
    """The problem of a chain that no longer holds the event ``anchor`` names."""
    seq, digest = anchor.heads[battery_id]
    when = f"the anchor of {anchor.taken}"
    if not chain:
        message = f"gone from the registry: {when} lists its chain up to #{seq}"
        return [ChainProblem(battery_id, None, None, f"{message} (its record was deleted since)")]
    if chain[-1].seq < seq:
        return [
            ChainProblem(
                battery_id,
                None,
                None,
                f"its chain ends at #{chain[-1].seq}, before #{seq} of {when}: events were "
                "deleted since",
            )
        ]
    event = next((ev for ev in chain if ev.seq == seq), None)
    if event is None or event.hash != digest:
        return [
            ChainProblem(
                battery_id,
                seq,
                None if event is None else event.id,
                f"differs from {when}: the chain was rewritten since",
            )
        ]
    return []


def _check_log(conn: Connection, recorded: dict[str, Head]) -> list[ChainProblem]:
    """The problems of the registry as a whole: the head records do not add up to what the
    writes recorded (``chain_log``)."""
    batteries, events, digests = log_totals(conn)
    held = (len(recorded), sum(seq + 1 for seq, _ in recorded.values()))
    if held != (batteries, events):
        return [
            ChainProblem(
                REGISTRY,
                None,
                None,
                f"the writes recorded {batteries:,} batteries with {events:,} events, the chain "
                f"heads hold {held[0]:,} with {held[1]:,}: batteries (or their head records) were "
                "deleted outside Echelon — `echelon verify --anchor FILE` with an earlier anchor "
                "names them",
            )
        ]
    if heads_digest((b, seq, h) for b, (seq, h) in recorded.items()) != add_digests(digests):
        return [
            ChainProblem(
                REGISTRY,
                None,
                None,
                "the chain heads do not add up to the registry digest the writes recorded: head "
                "records were edited outside Echelon",
            )
        ]
    return []


@contextmanager
def read_snapshot(registry: Registry) -> Iterator[Connection]:
    """One read transaction for the whole check, so that the events and the projected tables
    are read from the same committed state while writers go on (without it every run during a
    write reported rows that differ from their events). SQLite: an explicit ``BEGIN`` (the
    driver starts none for reads; in WAL mode the snapshot is taken at the first read);
    PostgreSQL: ``REPEATABLE READ``."""
    sqlite = registry.engine.dialect.name == "sqlite"
    options = {} if sqlite else {"isolation_level": "REPEATABLE READ"}
    with registry.engine.connect().execution_options(**options) as conn:
        if sqlite:
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()  # read only: nothing to keep


def verify(
    registry: Registry,
    *,
    anchor: Anchor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Re-hash every event chain, compare each chain's end with its head record, the head
    records with the registry's write log, and the projected tables with the chains.

    Parameters
    ----------
    registry : Registry
    anchor : Anchor, optional
        An anchor taken earlier (:func:`~echelon.registry.anchor.load_anchor`): every chain it
        lists must still hold the anchored event at the anchored ``seq``.
    progress : callable, optional
        Called as ``progress(done_batteries, total_batteries)``.

    Returns
    -------
    VerifyReport
        ``ok`` when every chain verifies; otherwise the problems, first broken event first
        (those of the registry as a whole last).
    """
    report = VerifyReport()
    recorded: dict[str, Head] = {}
    with read_snapshot(registry) as conn:
        ids = sorted(
            set(conn.execute(select(EventRow.battery_id).distinct()).scalars())
            | set(conn.execute(select(BatteryRow.battery_id)).scalars())
            | set(conn.execute(select(HEADS.c.battery_id)).scalars())
        )
        report.batteries = len(ids)
        for start in range(0, len(ids), CHUNK):
            recorded.update(_check_ids(conn, ids[start : start + CHUNK], report, anchor))
            if progress:
                progress(min(start + CHUNK, len(ids)), len(ids))
        whole = _check_log(conn, recorded)
    if anchor is not None:  # batteries deleted outright since the anchor
        for bid in sorted(set(anchor.heads) - set(ids)):
            report.anchored += 1
            report.problems.extend(_check_anchored(bid, [], anchor))
    report.problems.sort(key=lambda p: (p.battery_id, -1 if p.seq is None else p.seq))
    report.problems.extend(whole)
    return report


def verify_battery(registry: Registry, battery_id: str) -> VerifyReport:
    """Re-hash one battery's event chain and check its projected rows and its battery row against
    the chain — and the same for every battery whose row names it as parent, since its page and
    record list them as its parts: the checks :func:`verify` runs on every battery, on these
    (what is served of a battery is checked with it).

    Parameters
    ----------
    registry : Registry
    battery_id : str
        A registered battery (:func:`~echelon.registry.battery_record` finds it).

    Returns
    -------
    VerifyReport
        ``batteries`` checked (1 + its parts), ``events`` of their chains; ``ok`` when they
        verify, otherwise the problems, the battery's own first, each in chain order (those of a
        battery row, without an event, first).
    """
    report = VerifyReport()
    with read_snapshot(registry) as conn:
        parts = sorted(
            conn.execute(
                select(BatteryRow.battery_id).where(BatteryRow.parent_id == battery_id)
            ).scalars()
        )
        ids = [battery_id, *parts]
        report.batteries = len(ids)
        _check_ids(conn, ids, report)
    order = {bid: i for i, bid in enumerate(ids)}
    report.problems.sort(key=lambda p: (order.get(p.battery_id, 0), -1 if p.seq is None else p.seq))
    return report


def verify_batteries(registry: Registry, battery_ids: Sequence[str]) -> VerifyReport:
    """The checks :func:`verify` runs on every battery, on ``battery_ids`` only (in one read
    transaction; their parts are not added, unlike :func:`verify_battery`).

    Returns
    -------
    VerifyReport
        The problems in the order of ``battery_ids``, each battery's in chain order.
    """
    ids = list(dict.fromkeys(battery_ids))
    with read_snapshot(registry) as conn:
        return _check_listed(conn, ids)


def _check_listed(conn: Connection, ids: list[str]) -> VerifyReport:
    """The checks of :func:`verify` on ``ids`` read through ``conn``, the problems in the order
    of ``ids``, each battery's in chain order."""
    report = VerifyReport(batteries=len(ids))
    for start in range(0, len(ids), CHUNK):
        _check_ids(conn, ids[start : start + CHUNK], report)
    order = {bid: i for i, bid in enumerate(ids)}
    report.problems.sort(key=lambda p: (order.get(p.battery_id, 0), -1 if p.seq is None else p.seq))
    return report


def refuse_unverified_writes(conn: Connection, battery_ids: Sequence[str], *, refused: str) -> None:
    """Refuse to write to registered batteries whose chains do not verify: the checks of
    :func:`verify` on ``battery_ids`` only, read in the writer's transaction ``conn`` (a
    projected row edited while the chain head is intact is found here, not only a cut chain).

    Raises
    ------
    ChainError
        As :func:`refuse_unverified`, with ``refused``.
    """
    ids = list(dict.fromkeys(battery_ids))
    if ids:
        refuse_unverified(_check_listed(conn, ids), ids, refused=refused)


def refuse_unverified(report: VerifyReport, battery_ids: Sequence[str], *, refused: str) -> None:
    """Nothing when ``report`` (of ``battery_ids``' chains) is ok.

    Parameters
    ----------
    report : VerifyReport
        From :func:`verify_battery` or :func:`verify_batteries`.
    battery_ids : sequence of str
        The batteries the caller acts on (named in the message).
    refused : str
        What is not done, e.g. ``"no passport is built from it"``.

    Raises
    ------
    ChainError
        Naming the first problem (and how many more), that the data may have been altered
        outside Echelon, what is refused and that ``echelon verify`` lists every problem: nothing
        is issued from, or recorded in, a chain that does not verify.
    """
    if report.ok:
        return
    more = len(report.problems) - 1
    also = f" (and {more} more problem(s))" if more else ""
    broken = list(dict.fromkeys(p.battery_id for p in report.problems))
    if len(battery_ids) == 1:
        head, whose = f"{battery_ids[0]}: the event chain does not verify", "its"
    else:
        shown = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        head = f"{len(broken)} of the {len(battery_ids)} units' chains do not verify ({shown})"
        whose = "their"
    raise ChainError(
        f"{head} — {report.first_broken}{also}; {whose} data may have been altered outside "
        f"Echelon, so {refused} (`echelon verify` lists every problem)"
    )
