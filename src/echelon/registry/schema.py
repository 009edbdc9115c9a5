"""Registry tables (SQLAlchemy 2 declarative). Changes go through Alembic migrations.

Time series are not SQL rows: ``test_runs`` reference ``.bdf.parquet`` files in the
content-addressed store by SHA-256. ``events`` is the append-only, hash-chained log; the other
tables are projections of it for querying, each row pointing at the event (``battery_id``,
``event_seq``) that created it, so :func:`echelon.registry.verify.verify` can check them
against the chain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(128)
HASH = String(64)
TIMESTAMP = String(32)
"""Timestamps are ISO-8601 UTC strings (``2026-11-22T10:00:00.000000Z``) so hashes re-verify
byte-for-byte on every backend."""


class Base(DeclarativeBase):
    """Declarative base with a naming convention (stable constraint names for migrations)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class BatteryRow(Base):
    """A registered battery (nameplate and intake inspection)."""

    __tablename__ = "batteries"

    battery_id: Mapped[str] = mapped_column(ID, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[str | None] = mapped_column(ID, index=True)
    chemistry: Mapped[str] = mapped_column(String(16), index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    format: Mapped[str | None] = mapped_column(String(16))
    nominal_capacity_ah: Mapped[float] = mapped_column(Float)
    nominal_voltage_v: Mapped[float | None] = mapped_column(Float)
    nominal_energy_wh: Mapped[float | None] = mapped_column(Float)
    series_count: Mapped[int] = mapped_column(Integer)
    parallel_count: Mapped[int] = mapped_column(Integer)
    origin_application: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    manufacture_date: Mapped[dt.date | None] = mapped_column(Date)
    calendar_expiry_date: Mapped[dt.date | None] = mapped_column(Date)
    has_traceability: Mapped[bool | None] = mapped_column(Boolean)
    visual_flags: Mapped[str] = mapped_column(String(256), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    registered_at: Mapped[str] = mapped_column(TIMESTAMP)


class EventRow(Base):
    """One entry of a battery's append-only, hash-chained event log."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("battery_id", "seq", name="uq_events_battery_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battery_id: Mapped[str] = mapped_column(ID)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[str] = mapped_column(TIMESTAMP)
    prev_hash: Mapped[str] = mapped_column(HASH)
    hash: Mapped[str] = mapped_column(HASH)


class ChainHeadRow(Base):
    """The head of one battery's chain (its last event's ``seq`` and hash), written by the writer
    in the transaction that appends the events: events cut off the end of a chain no longer
    match it."""

    __tablename__ = "chain_heads"

    battery_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(HASH)


class ChainLogRow(Base):
    """One write to the registry (append-only): the events and new batteries it added and the
    change it made to the registry digest (:func:`echelon.registry.chain.heads_digest`). The
    sums over every write must equal what the chain heads hold: a battery deleted outright, or
    a head record edited, no longer adds up."""

    __tablename__ = "chain_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batteries: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(HASH)
    recorded_at: Mapped[str] = mapped_column(TIMESTAMP)


class IntakeRow(Base):
    """Manifest rows (by fingerprint) taken in per battery: makes re-runs idempotent."""

    __tablename__ = "intakes"
    __table_args__ = (UniqueConstraint("battery_id", "fingerprint", name="uq_intakes_battery_fp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battery_id: Mapped[str] = mapped_column(ForeignKey("batteries.battery_id"))
    fingerprint: Mapped[str] = mapped_column(HASH)
    manifest_sha256: Mapped[str] = mapped_column(HASH)
    outcome: Mapped[str] = mapped_column(String(16))
    event_seq: Mapped[int] = mapped_column(Integer)


class TestRunRow(Base):
    """A tester file taken in, converted to BDF, stored by content hash."""

    __tablename__ = "test_runs"
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battery_id: Mapped[str] = mapped_column(ForeignKey("batteries.battery_id"), index=True)
    event_seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    source_path: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(HASH)
    bdf_sha256: Mapped[str] = mapped_column(HASH)
    reader: Mapped[str] = mapped_column(String(64))
    reader_version: Mapped[str] = mapped_column(String(32))
    n_rows: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    run_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MeasurementRow(Base):
    """A scalar measurement or estimate (unit in the quantity name)."""

    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_battery_quantity", "battery_id", "quantity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battery_id: Mapped[str] = mapped_column(ForeignKey("batteries.battery_id"))
    event_seq: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(64))
    source_sha256: Mapped[str | None] = mapped_column(HASH)


class DecisionRow(Base):
    """A gate, grade or route decision with its reasons and the profile that produced it."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    battery_id: Mapped[str] = mapped_column(ForeignKey("batteries.battery_id"), index=True)
    event_seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(64))
    profile_version: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


Index("ix_events_battery_seq_status", EventRow.battery_id, EventRow.seq, EventRow.status)
