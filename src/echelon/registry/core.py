"""The registry: batteries, their hash-chained events and the projections queried by tools.

Writes go through :meth:`Registry.record_units` (a batch of units, each atomic),
:meth:`Registry.append_events` (one battery) and :meth:`Registry.append_events_many` (many
batteries in one transaction). Every projected row (test run, measurement, decision)
is written together with the event that records it, and the event payload holds the same content,
so the chain alone proves what the tables say.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from echelon.domain import Battery, Status
from echelon.errors import ChainError, RegistryError
from echelon.registry.appending import (
    BATTERIES,
    EVENTS,
    PROJECTIONS,
    EventBatch,
    PendingEvent,
    append_after,
)
from echelon.registry.chain import GENESIS, utc_now
from echelon.registry.chunks import IN_CHUNK, chunked
from echelon.registry.engine import make_engine, migrate, refuse_missing_file
from echelon.registry.heads import Head, recorded_heads, refuse_broken_heads
from echelon.registry.locks import UNIT_STATUS, locked
from echelon.registry.schema import (
    Base,
    BatteryRow,
    EventRow,
    IntakeRow,
)
from echelon.registry.store import Store, server_store_problem
from echelon.settings import default_store_dir

log = logging.getLogger(__name__)

__all__ = [  # the appending names are core's as well (``from echelon.registry.core import …``)
    "BATTERIES",
    "EVENTS",
    "INTAKES",
    "IN_CHUNK",
    "PROJECTIONS",
    "AssemblyWrite",
    "PendingEvent",
    "Registry",
    "UnitWrite",
    "WriteResult",
    "battery_row",
    "chunked",
    "open_registry",
]

INTAKES: Final[Table] = Base.metadata.tables["intakes"]


@dataclass
class UnitWrite:
    """Everything recorded for one unit of an intake batch (written atomically).

    Attributes
    ----------
    battery : Battery
    fingerprint : str
        Hash of the manifest row and its test files' hashes; a unit already taken in with the
        same fingerprint is skipped (idempotent re-runs).
    manifest_sha256 : str
    outcome : str
        ``ok`` or ``failed``.
    attributes : dict
        Custom (``x_``) manifest columns.
    events : list of PendingEvent
        Appended after the ``received`` event the registry writes itself.
    """

    battery: Battery
    fingerprint: str
    manifest_sha256: str
    outcome: str
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[PendingEvent] = field(default_factory=list)


@dataclass(frozen=True)
class WriteResult:
    """What happened to one unit: ``written``, ``skipped`` (same fingerprint), ``refused`` (a
    re-take the unit's status forbids, :func:`~echelon.registry.status_checks.retake_refusals`:
    ``error`` says why) or ``error``."""

    battery_id: str
    result: str
    events: int = 0
    error: str | None = None


@dataclass
class AssemblyWrite:
    """A new assembly (a pack built from regrouped units) and its children, written atomically.

    Attributes
    ----------
    unit : UnitWrite
        The new assembly: its battery (level above its children's), fingerprint (an assembly
        already recorded with the same fingerprint is skipped) and its own events.
    children : dict of str to dict
        Child battery id → payload of the child's event (e.g. its block in the pack).
    payload : dict
        Body of the assembly's ``assembled`` event; the registry adds ``children`` (each child's
        id, payload and chain head at the time of the build).
    child_kind : str
        Kind of the children's event.
    child_status : Status
        Status the children take.
    """

    unit: UnitWrite
    children: dict[str, dict[str, Any]]
    payload: dict[str, Any] = field(default_factory=dict)
    child_kind: str = "regrouped"
    child_status: Status = Status.REGROUPED


def battery_row(battery: Battery, attributes: dict[str, Any], registered_at: str) -> dict[str, Any]:
    """The ``batteries`` row for a battery."""
    data = battery.model_dump(mode="python")
    data["visual_flags"] = ";".join(sorted(f.value for f in battery.visual_flags))
    for key in ("level", "chemistry", "format", "origin_application", "region"):
        value = data[key]
        data[key] = value.value if hasattr(value, "value") else value
    data["attributes"] = attributes
    data["registered_at"] = registered_at
    return data


def _battery_payload(battery: Battery) -> dict[str, Any]:
    dumped: dict[str, Any] = battery.model_dump(mode="json")
    dumped["visual_flags"] = sorted(dumped["visual_flags"])
    return dumped


class Registry:
    """Handle on a registry database and its file store.

    Parameters
    ----------
    engine : Engine
        SQLAlchemy engine (see :func:`open_registry`).
    store : Store or None
        Content-addressed store for raw files and time series; ``None`` when none is set for
        a server database (see :attr:`store`).
    store_problem : str, optional
        Why there is no store, and what to do (the message of :attr:`store`).
    """

    def __init__(self, engine: Engine, store: Store | None, *, store_problem: str = "") -> None:
        self.engine = engine
        self._store = store
        self._store_problem = store_problem

    @property
    def store(self) -> Store:
        """The file store (raw tester files, time series, recycling lot records).

        Raises
        ------
        RegistryError
            For a server database opened without a store: only commands that read or write
            files need one, and a default folder relative to where each command runs would
            split them between working directories.
        """
        if self._store is None:
            raise RegistryError(
                self._store_problem or f"the registry at {self.url} has no file store"
            )
        return self._store

    @property
    def url(self) -> str:
        """Database URL without password."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    def ping(self) -> None:
        """Check that the database answers (a health check).

        Raises
        ------
        RegistryError
            Naming the URL and the driver's reason.
        """
        try:
            with self.engine.connect() as conn:  # a table of the registry, not just SELECT 1
                conn.execute(select(BatteryRow.battery_id).limit(1))
        except OperationalError as exc:
            self.engine.dispose()  # the next check reconnects: pooled connections may be stale
            raise RegistryError(
                f"the registry at {self.url} does not answer: {exc.orig}; check that the "
                "database file or server is reachable"
            ) from exc

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def known_fingerprints(self, battery_ids: Iterable[str]) -> dict[str, set[str]]:
        """Fingerprints already taken in, per battery id (for idempotent intake)."""
        with self.engine.connect() as conn:
            return _fingerprints(conn, list(battery_ids))

    def existing_batteries(self, battery_ids: Iterable[str]) -> dict[str, str]:
        """``{battery_id: level}`` for the ids that are registered."""
        ids = list(battery_ids)
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(ids):
                stmt = select(BatteryRow.battery_id, BatteryRow.level).where(
                    BatteryRow.battery_id.in_(chunk)
                )
                found.update({row[0]: row[1] for row in conn.execute(stmt)})
        return found

    def record_units(self, units: Sequence[UnitWrite]) -> list[WriteResult]:
        """Write a batch of units: one commit, each unit atomic.

        Units whose fingerprint is already registered are skipped. A registered unit with a new
        fingerprint (a re-take) is refused when it is recycled, went with a recycled assembly or
        is regrouped or dismantled (:func:`~echelon.registry.status_checks.retake_refusals`),
        checked in the writing transaction under the unit-status lock
        (:data:`~echelon.registry.UNIT_STATUS`, taken when the batch holds re-takes or new units
        naming a registered parent): a recycling lot or pack build recorded meanwhile is seen. A
        new unit whose parent was recycled, or went with a recycled assembly, is refused too
        (:func:`~echelon.registry.status_checks.parent_refusals`). The batch is written with bulk
        inserts; if that fails (e.g. a concurrent writer, or a registered unit whose chain and
        head record differ), it is retried unit by unit inside savepoints so that one bad unit
        never spoils the others (it is an ``error``).

        Returns
        -------
        list of WriteResult
            One per unit, in order.
        """
        if not units:
            return []
        known = self.known_fingerprints(u.battery.battery_id for u in units)
        todo = [u for u in units if u.fingerprint not in known.get(u.battery.battery_id, set())]
        todo_ids = {u.battery.battery_id for u in todo}
        results = {
            u.battery.battery_id: WriteResult(u.battery.battery_id, "skipped")
            for u in units
            if u.battery.battery_id not in todo_ids
        }
        retakes = [u.battery.battery_id for u in todo if u.battery.battery_id in known]
        new = todo_ids - set(retakes)  # a new unit whose parent is registered: its status counts
        checked = retakes or any(_parent(u, new) for u in todo if u.battery.battery_id in new)
        if todo:
            try:
                with locked(self.engine, UNIT_STATUS) if checked else self.engine.begin() as conn:
                    writable = self._refuse_retakes(conn, todo, retakes, results)
                    counts = self._write(conn, writable) if writable else []
                    for unit, count in zip(writable, counts, strict=True):
                        results[unit.battery.battery_id] = WriteResult(
                            unit.battery.battery_id, "written", count
                        )
            except (IntegrityError, OperationalError, ChainError) as exc:
                # e.g. the same units taken in by a concurrent intake: not a failure (yet)
                log.info("bulk write failed (%s); retrying unit by unit", getattr(exc, "orig", exc))
                results.update(self._write_one_by_one(todo))
        return [results[u.battery.battery_id] for u in units]

    def _write_one_by_one(self, units: Sequence[UnitWrite]) -> dict[str, WriteResult]:
        """Write units one by one inside savepoints, after checking their fingerprints again:
        a unit another writer took in with the same fingerprint meanwhile (two intakes of one
        manifest at once) is ``skipped``, as if it had been registered before, never an error."""
        results: dict[str, WriteResult] = {}
        with locked(self.engine, UNIT_STATUS) as conn:
            known = _fingerprints(conn, [u.battery.battery_id for u in units])
            units = self._refuse_retakes(conn, units, list(known), results)
            for unit in units:
                bid = unit.battery.battery_id
                if unit.fingerprint in known.get(bid, set()):
                    results[bid] = WriteResult(bid, "skipped")
                    continue
                try:
                    with conn.begin_nested():
                        (count,) = self._write(conn, [unit])
                    results[bid] = WriteResult(bid, "written", count)
                except (IntegrityError, OperationalError) as exc:
                    taken = unit.fingerprint in _fingerprints(conn, [bid]).get(bid, set())
                    results[bid] = (
                        WriteResult(bid, "skipped")
                        if taken
                        else WriteResult(bid, "error", error=str(exc.orig))
                    )
                except ChainError as exc:  # its chain was cut or rewritten: nothing appended
                    results[bid] = WriteResult(bid, "error", error=str(exc))
        return results

    @staticmethod
    def _refuse_retakes(
        conn: Connection,
        units: Sequence[UnitWrite],
        registered: list[str],
        results: dict[str, WriteResult],
    ) -> list[UnitWrite]:
        """The ``units`` to write: those of the ``registered`` ids whose status forbids a
        re-take, and the new ones whose parent they cannot join (recycled, or gone with a recycled
        assembly), are ``refused`` in ``results`` (as ``conn`` sees them) and left out."""
        from echelon.registry.status_checks import parent_refusals, retake_refusals  # (core's)

        refused = retake_refusals(conn, registered) if registered else {}
        parents = {
            u.battery.battery_id: parent
            for u in units
            if (parent := u.battery.parent_id) and u.battery.battery_id not in registered
        }
        refused.update(parent_refusals(conn, parents) if parents else {})
        for bid, why in refused.items():
            results[bid] = WriteResult(bid, "refused", error=why)
        return [u for u in units if u.battery.battery_id not in refused]

    def _chain_heads(self, conn: Connection, battery_ids: list[str]) -> dict[str, Head]:
        """The last event (``seq``, hash) of each battery that has events.

        Raises
        ------
        ChainError
            When a battery's last event and its head record differ (events cut off the end of
            its chain, or a chain rewritten, outside Echelon): appending would hide it.
        """
        heads: dict[str, Head] = {}
        for chunk in chunked(battery_ids):
            last = (
                select(EventRow.battery_id, func.max(EventRow.seq).label("seq"))
                .where(EventRow.battery_id.in_(chunk))
                .group_by(EventRow.battery_id)
                .subquery()
            )
            stmt = select(EventRow.battery_id, EventRow.seq, EventRow.hash).join(
                last, (EventRow.battery_id == last.c.battery_id) & (EventRow.seq == last.c.seq)
            )
            heads.update({bid: (seq, h) for bid, seq, h in conn.execute(stmt)})
        refuse_broken_heads(heads, recorded_heads(conn, battery_ids), battery_ids)
        return heads

    def _write(self, conn: Connection, units: Sequence[UnitWrite]) -> list[int]:
        """Insert units' rows with bulk statements; returns events written per unit.

        Raises
        ------
        ChainError
            When a registered unit's chain does not verify (:func:`_refuse_unverified`).
        """
        ids = [u.battery.battery_id for u in units]
        heads = self._chain_heads(conn, ids)
        _refuse_unverified(conn, [bid for bid in ids if bid in heads], "nothing is recorded on it")
        existing = set(heads)
        now = utc_now()
        new_batteries, changed, intakes = [], [], []
        batch = EventBatch(now)
        counts = []
        for unit in units:
            bid = unit.battery.battery_id
            row = battery_row(unit.battery, unit.attributes, now)
            received = PendingEvent(
                "received",
                Status.RECEIVED,
                {
                    "battery": _battery_payload(unit.battery),
                    "attributes": unit.attributes,
                    "fingerprint": unit.fingerprint,
                    "manifest_sha256": unit.manifest_sha256,
                    "retest": bid in existing,
                },
            )
            if bid in existing:
                changed.append(row)
            else:
                new_batteries.append(row)
            batch.add(bid, heads.get(bid, (-1, GENESIS)), [received, *unit.events])
            intakes.append(
                {
                    "battery_id": bid,
                    "fingerprint": unit.fingerprint,
                    "manifest_sha256": unit.manifest_sha256,
                    "outcome": unit.outcome,
                    "event_seq": heads.get(bid, (-1, GENESIS))[0] + 1,
                }
            )
            counts.append(1 + len(unit.events))
        if new_batteries:
            conn.execute(insert(BATTERIES), new_batteries)
        for row in changed:
            keys = {k: v for k, v in row.items() if k not in ("battery_id", "registered_at")}
            conn.execute(
                update(BATTERIES).where(BatteryRow.battery_id == row["battery_id"]).values(**keys)
            )
        conn.execute(insert(INTAKES), intakes)
        batch.flush(conn)
        return counts

    def append_events(self, battery_id: str, events: Sequence[PendingEvent]) -> int:
        """Append events (and their projected rows) to one registered battery, atomically.

        Returns
        -------
        int
            The ``seq`` of the last event written.

        Raises
        ------
        RegistryError
            If the battery is not registered, or a concurrent writer took the same position.
        ChainError
            If its chain's last event and its head record differ (events cut off outside
            Echelon): appending would hide the cut.
        """
        now = utc_now()
        try:
            with self.engine.begin() as conn:
                heads = self._chain_heads(conn, [battery_id])
                if battery_id not in heads:
                    raise RegistryError(f"battery {battery_id!r} is not registered")
                seq, _ = append_after(conn, battery_id, heads[battery_id], events, now)
        except IntegrityError as exc:
            raise RegistryError(
                f"{battery_id}: another writer appended concurrently; retry ({exc.orig})"
            ) from exc
        return seq

    def append_events_many(self, batch: Sequence[tuple[str, Sequence[PendingEvent]]]) -> list[int]:
        """Append events to many registered batteries in one transaction (bulk inserts).

        The whole batch commits or nothing does, so every battery's events stay atomic; use
        chunks of a few hundred batteries for long lists. If the bulk write meets a concurrent
        writer, it is retried battery by battery with :meth:`append_events`.

        Parameters
        ----------
        batch : sequence of (battery_id, events)
            Each battery at most once.

        Returns
        -------
        list of int
            The ``seq`` of each battery's last event, in batch order.

        Raises
        ------
        RegistryError
            If a battery is not registered or appears twice.
        ChainError
            If a battery's chain and its head record differ: nothing of the batch is written.
        """
        try:
            with self.engine.begin() as conn:
                return self._append_many(conn, batch)
        except IntegrityError as exc:
            log.warning("bulk append failed (%s); appending battery by battery", exc.orig)
            return [self.append_events(bid, evs) for bid, evs in batch]

    def _append_many(
        self, conn: Connection, batch: Sequence[tuple[str, Sequence[PendingEvent]]]
    ) -> list[int]:
        """:meth:`append_events_many` inside the open transaction ``conn``."""
        ids = [bid for bid, _ in batch]
        if len(set(ids)) != len(ids):
            raise RegistryError("append_events_many: a battery appears twice in one batch")
        heads = self._chain_heads(conn, ids)
        missing = [bid for bid in ids if bid not in heads]
        if missing:
            raise RegistryError(
                f"not registered: {', '.join(missing[:5])}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
        writes = EventBatch(utc_now())
        last = [writes.add(bid, heads[bid], pending)[0] for bid, pending in batch]
        writes.flush(conn)
        return last

    def record_assemblies(self, assemblies: Sequence[AssemblyWrite]) -> list[WriteResult]:
        """Write new assemblies and their children's events in one transaction (all or nothing).

        For each assembly: its battery, ``received`` event and own events are written as by
        :meth:`record_units`, then an ``assembled`` event listing every child with the child's
        chain head (id, ``seq``, ``hash``); then each child gets an event (``regrouped``) that
        names the assembly's ``assembled`` event by ``seq`` and hash and sets the child's
        ``parent_id`` to the assembly. The two chains therefore vouch for each other.

        Returns
        -------
        list of WriteResult
            ``written`` (events of the assembly) or ``skipped`` (same fingerprint already
            recorded), one per assembly.

        Raises
        ------
        RegistryError
            Nothing is written if a child is unknown, listed twice, already regrouped or recycled,
            a part of a recycled assembly, an assembly id is registered with another fingerprint,
            or a concurrent writer interfered.
        """
        from echelon.registry.status_checks import refuse_taken_children  # (reads core's tables)

        if not assemblies:
            return []
        ids = [a.unit.battery.battery_id for a in assemblies]
        results = {bid: WriteResult(bid, "skipped") for bid in ids}
        now = utc_now()
        try:  # every check under the lock, in the writing transaction: it holds until the commit
            with locked(self.engine, UNIT_STATUS) as conn:
                todo = _assemblies_to_write(conn, assemblies)
                children = [c for a in todo for c in a.children]
                heads = self._chain_heads(conn, children)
                missing = [c for c in children if c not in heads]
                if missing:
                    raise RegistryError(f"unit(s) not registered: {missing[:5]}")
                refuse_taken_children(conn, children)
                _refuse_unverified(conn, children, "no pack is recorded")
                for assembly in todo:
                    results[assembly.unit.battery.battery_id] = self._write_assembly(
                        conn, assembly, heads, now
                    )
        except IntegrityError as exc:
            raise RegistryError(
                f"another writer changed these units while the packs were recorded; re-plan and "
                f"retry ({exc.orig})"
            ) from exc
        return [results[bid] for bid in ids]

    def _write_assembly(
        self,
        conn: Connection,
        assembly: AssemblyWrite,
        heads: dict[str, tuple[int, str]],
        now: str,
    ) -> WriteResult:
        aid = assembly.unit.battery.battery_id
        listed = [
            {"battery_id": c, "seq": heads[c][0], "hash": heads[c][1], **body}
            for c, body in assembly.children.items()
        ]
        assembled = PendingEvent("assembled", None, {**assembly.payload, "children": listed})
        unit = replace(assembly.unit, events=[*assembly.unit.events, assembled])
        (count,) = self._write(conn, [unit])
        seq, digest = self._chain_heads(conn, [aid])[aid]
        for child, body in assembly.children.items():
            event = PendingEvent(
                assembly.child_kind,
                assembly.child_status,
                {**body, "assembly": {"battery_id": aid, "event_seq": seq, "event_hash": digest}},
                battery_update={"parent_id": aid},
            )
            append_after(conn, child, heads[child], [event], now)
        return WriteResult(aid, "written", count)


def _parent(unit: UnitWrite, new: set[str]) -> bool:
    """Whether ``unit`` names a parent that is not one of the ``new`` units of its batch."""
    return unit.battery.parent_id is not None and unit.battery.parent_id not in new


def _assemblies_to_write(
    conn: Connection, assemblies: Sequence[AssemblyWrite]
) -> list[AssemblyWrite]:
    """The assemblies not recorded yet (same fingerprint: skipped); refuses an assembly id
    registered with another fingerprint and a child listed in two assemblies."""
    known = _fingerprints(conn, [a.unit.battery.battery_id for a in assemblies])
    todo = [
        a
        for a in assemblies
        if a.unit.fingerprint not in known.get(a.unit.battery.battery_id, set())
    ]
    clash = [a.unit.battery.battery_id for a in todo if a.unit.battery.battery_id in known]
    if clash:
        raise RegistryError(
            f"assembly id(s) {clash[:5]} already registered with other content; choose another "
            "pack id prefix"
        )
    children = [c for a in todo for c in a.children]
    twice = (
        sorted({c for c in children if children.count(c) > 1})
        if len(set(children)) < len(children)
        else []
    )
    if twice:
        raise RegistryError(f"unit(s) {twice[:5]} listed in more than one assembly")
    return todo


def _refuse_unverified(conn: Connection, battery_ids: list[str], refused: str) -> None:
    """Refuse (``ChainError``) to write to registered batteries whose chains do not verify — a
    projected row edited with the chain head intact included: an event appended to it would
    vouch for data that may have been altered outside Echelon. Only ``battery_ids`` are checked
    (:func:`~echelon.registry.verify.refuse_unverified_writes`)."""
    from echelon.registry.verify import refuse_unverified_writes  # (verify reads core's tables)

    refuse_unverified_writes(conn, battery_ids, refused=refused)


def _fingerprints(conn: Connection, battery_ids: list[str]) -> dict[str, set[str]]:
    """The intake fingerprints recorded for each of ``battery_ids`` (as ``conn`` sees them)."""
    found: dict[str, set[str]] = {}
    for chunk in chunked(battery_ids):
        rows = conn.execute(
            select(IntakeRow.battery_id, IntakeRow.fingerprint).where(
                IntakeRow.battery_id.in_(chunk)
            )
        )
        for bid, fp in rows:
            found.setdefault(bid, set()).add(fp)
    return found


def open_registry(
    url: str | None = None,
    *,
    store_dir: Path | str | None = None,
    schema: str | None = None,
    create: bool = True,
) -> Registry:
    """Open (and migrate) a registry.

    Parameters
    ----------
    url : str, optional
        Database URL; default from settings (``ECHELON_DB_URL``, else ``sqlite:///echelon.db``).
    store_dir : path-like, optional
        File store root; default from settings (``ECHELON_STORE_DIR``), else beside the SQLite
        file. A server database has no default: without an absolute store, the registry opens
        but :attr:`Registry.store` refuses (commands that only read rows need none).
    schema : str, optional
        PostgreSQL schema (``search_path``), e.g. to isolate a test run.
    create : bool
        Create a SQLite file that does not exist (an empty registry). ``False`` for everything
        that only reads or adds to existing units: a mistyped path is refused instead of
        becoming a new, empty registry.

    Returns
    -------
    Registry

    Raises
    ------
    RegistryError
        For an unreachable database, a file that is not an Echelon registry, or (``create=False``)
        a SQLite file that does not exist.
    """
    from echelon.settings import get_settings

    settings = get_settings()
    db_url = url or settings.db_url
    engine = make_engine(db_url, schema=schema)
    if not create:
        refuse_missing_file(engine)
    migrate(engine)
    root = Path(store_dir) if store_dir else settings.store_dir or default_store_dir(db_url)
    problem = server_store_problem(
        engine.url, root, "store_dir" if store_dir else "ECHELON_STORE_DIR"
    )
    if problem:
        return Registry(engine, None, store_problem=problem)
    assert root is not None
    return Registry(engine, Store(root))
