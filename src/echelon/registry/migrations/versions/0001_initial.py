"""Initial registry: batteries, events (append-only), intakes, test runs, measurements, decisions.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(128)
HASH = sa.String(64)
TS = sa.String(32)

_APPEND_ONLY_SQLITE = """
CREATE TRIGGER events_append_only_{op} BEFORE {OP} ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: {op} refused'); END
"""
_APPEND_ONLY_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION echelon_events_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'events are append-only: % refused', TG_OP; END;
$$ LANGUAGE plpgsql
"""
_APPEND_ONLY_PG = """
CREATE TRIGGER events_append_only_{op} BEFORE {OP} ON events
FOR EACH ROW EXECUTE FUNCTION echelon_events_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "batteries",
        sa.Column("battery_id", ID, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("chemistry", sa.String(16), nullable=False),
        sa.Column("manufacturer", sa.String(128), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("nominal_capacity_ah", sa.Float(), nullable=False),
        sa.Column("nominal_voltage_v", sa.Float(), nullable=True),
        sa.Column("nominal_energy_wh", sa.Float(), nullable=True),
        sa.Column("series_count", sa.Integer(), nullable=False),
        sa.Column("parallel_count", sa.Integer(), nullable=False),
        sa.Column("origin_application", sa.String(32), nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("manufacture_date", sa.Date(), nullable=True),
        sa.Column("calendar_expiry_date", sa.Date(), nullable=True),
        sa.Column("has_traceability", sa.Boolean(), nullable=True),
        sa.Column("visual_flags", sa.String(256), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("battery_id", name="pk_batteries"),
    )
    op.create_index("ix_batteries_parent_id", "batteries", ["parent_id"])
    op.create_index("ix_batteries_chemistry", "batteries", ["chemistry"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battery_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("battery_id", "seq", name="uq_events_battery_seq"),
    )
    op.create_index("ix_events_battery_seq_status", "events", ["battery_id", "seq", "status"])

    op.create_table(
        "intakes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battery_id", ID, nullable=False),
        sa.Column("fingerprint", HASH, nullable=False),
        sa.Column("manifest_sha256", HASH, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"], ["batteries.battery_id"], name="fk_intakes_battery_id_batteries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_intakes"),
        sa.UniqueConstraint("battery_id", "fingerprint", name="uq_intakes_battery_fp"),
    )

    op.create_table(
        "test_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battery_id", ID, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("source_sha256", HASH, nullable=False),
        sa.Column("bdf_sha256", HASH, nullable=False),
        sa.Column("reader", sa.String(64), nullable=False),
        sa.Column("reader_version", sa.String(32), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("run_metadata", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"], ["batteries.battery_id"], name="fk_test_runs_battery_id_batteries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_test_runs"),
    )
    op.create_index("ix_test_runs_battery_id", "test_runs", ["battery_id"])

    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battery_id", ID, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("lower", sa.Float(), nullable=True),
        sa.Column("upper", sa.Float(), nullable=True),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("source_sha256", HASH, nullable=True),
        sa.ForeignKeyConstraint(
            ["battery_id"], ["batteries.battery_id"], name="fk_measurements_battery_id_batteries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_measurements"),
    )
    op.create_index("ix_measurements_battery_quantity", "measurements", ["battery_id", "quantity"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("battery_id", ID, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("profile_version", sa.String(32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"], ["batteries.battery_id"], name="fk_decisions_battery_id_batteries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_battery_id", "decisions", ["battery_id"])

    dialect = op.get_bind().dialect.name
    for name in ("update", "delete"):
        if dialect == "sqlite":
            op.execute(_APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))
        elif dialect == "postgresql":
            op.execute(_APPEND_ONLY_PG_FUNCTION)
            op.execute(_APPEND_ONLY_PG.format(op=name, OP=name.upper()))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in ("update", "delete"):
        op.execute(
            f"DROP TRIGGER IF EXISTS events_append_only_{name}"
            + (" ON events" if dialect == "postgresql" else "")
        )
    for table in ("decisions", "measurements", "test_runs", "intakes", "events", "batteries"):
        op.drop_table(table)
