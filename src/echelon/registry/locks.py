"""Writes whose checks must hold until they commit: a transaction that takes the registry's write
lock before it reads (:func:`locked`, :func:`serialized`), so two writers cannot both pass a
check the other's write makes false (two recycling lots holding the same unit, or a pack built
from a unit a lot is recycling, each checked before the other wrote).

Writes that change units' status, or depend on it, are serialized under one name,
:data:`UNIT_STATUS`: recycling lots (:func:`echelon.recycling.record_lot`) and pack builds
(:meth:`echelon.registry.Registry.record_assemblies`, from ``echelon regroup --record``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, func, select

if TYPE_CHECKING:  # core takes the lock too (record_assemblies): no import of core at run time
    from echelon.registry.core import PendingEvent, Registry

UNIT_STATUS: Final = "unit-status"
"""Lock name of the writes that check units' status and change it (recycling lots, pack
builds): each waits for the other's commit, then checks against it."""


@dataclass(frozen=True)
class SerializedWrite:
    """Writes inside a transaction holding the write lock (:func:`serialized`)."""

    registry: Registry
    conn: Connection

    def append_events_many(self, batch: Sequence[tuple[str, Sequence[PendingEvent]]]) -> list[int]:
        """As :meth:`~echelon.registry.Registry.append_events_many`, in this transaction:
        nothing is committed before the block ends, and a concurrent writer's change to the
        same chains is an error (never retried)."""
        return self.registry._append_many(self.conn, batch)


@contextmanager
def locked(engine: Engine, name: str) -> Iterator[Connection]:
    """A transaction on ``engine`` holding the write lock ``name`` from its start (before its
    first read): it commits when the block ends, and rolls back when the block raises.

    SQLite: ``BEGIN IMMEDIATE``, the database's write lock (other writers wait up to the busy
    timeout, 30 s; readers go on) — whatever the name. PostgreSQL: a transaction advisory lock
    on ``name`` in the current schema (``pg_advisory_xact_lock``): transactions locked under the
    same name wait for the commit; other writers are not held up.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            key = func.hashtext(func.current_schema() + f":echelon:{name}")
            conn.execute(select(func.pg_advisory_xact_lock(key)))
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


@contextmanager
def serialized(registry: Registry, name: str) -> Iterator[SerializedWrite]:
    """A write transaction that holds the registry's write lock for ``name`` from its start
    (:func:`locked`): what is checked inside it stays true until it commits (check and write
    are one).

    Reads through other connections inside the block (e.g.
    :func:`~echelon.registry.units_frame`) see the committed state, which no other writer under
    ``name`` (on SQLite: no other writer at all) can change before the block ends.

    Parameters
    ----------
    registry : Registry
    name : str
        What is serialized (e.g. :data:`UNIT_STATUS`): writers under other names are not held
        up on PostgreSQL.

    Yields
    ------
    SerializedWrite
        Writes inside the transaction; it commits when the block ends, and rolls back (nothing
        written) when the block raises.
    """
    with locked(registry.engine, name) as conn:
        yield SerializedWrite(registry, conn)
