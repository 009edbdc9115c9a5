"""Chain heads and the write log: each battery's last event, and the registry digest of them.

Built from the events already stored (their last event per battery), so an existing registry
keeps working; from then on the writer keeps both up to date. A chain cut before this
migration ran cannot be told from one that ended there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from echelon.registry.chain import heads_digest, utc_now

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(128)
HASH = sa.String(64)
TS = sa.String(32)

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER chain_heads_no_delete BEFORE DELETE ON chain_heads
    BEGIN SELECT RAISE(ABORT, 'chain heads are never deleted: DELETE refused'); END""",
    """CREATE TRIGGER chain_heads_forward BEFORE UPDATE ON chain_heads
    WHEN NEW.seq <= OLD.seq OR NEW.battery_id <> OLD.battery_id
    BEGIN SELECT RAISE(ABORT, 'chain heads only move forward: UPDATE refused'); END""",
    """CREATE TRIGGER chain_log_append_only_update BEFORE UPDATE ON chain_log
    BEGIN SELECT RAISE(ABORT, 'chain_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER chain_log_append_only_delete BEFORE DELETE ON chain_log
    BEGIN SELECT RAISE(ABORT, 'chain_log is append-only: DELETE refused'); END""",
)
_PG_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION echelon_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END;
    $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION echelon_heads_forward() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'chain heads are never deleted: DELETE refused';
      END IF;
      IF NEW.seq <= OLD.seq OR NEW.battery_id <> OLD.battery_id THEN
        RAISE EXCEPTION 'chain heads only move forward: UPDATE refused';
      END IF;
      RETURN NEW;
    END;
    $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER chain_heads_forward BEFORE UPDATE OR DELETE ON chain_heads
    FOR EACH ROW EXECUTE FUNCTION echelon_heads_forward()""",
    """CREATE TRIGGER chain_log_append_only BEFORE UPDATE OR DELETE ON chain_log
    FOR EACH ROW EXECUTE FUNCTION echelon_append_only()""",
)


def upgrade() -> None:
    heads = op.create_table(
        "chain_heads",
        sa.Column("battery_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("battery_id", name="pk_chain_heads"),
    )
    log = op.create_table(
        "chain_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batteries", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("digest", HASH, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chain_log"),
    )
    bind = op.get_bind()
    events = sa.table("events", sa.column("battery_id"), sa.column("seq"), sa.column("hash"))
    last = (
        sa.select(events.c.battery_id, sa.func.max(events.c.seq).label("seq"))
        .group_by(events.c.battery_id)
        .subquery()
    )
    found = [
        (bid, seq, digest)
        for bid, seq, digest in bind.execute(
            sa.select(events.c.battery_id, events.c.seq, events.c.hash).join(
                last, (events.c.battery_id == last.c.battery_id) & (events.c.seq == last.c.seq)
            )
        )
    ]
    if found:
        op.bulk_insert(heads, [{"battery_id": b, "seq": s, "hash": h} for b, s, h in found])
    op.bulk_insert(
        log,
        [
            {
                "batteries": len(found),
                "events": sum(seq + 1 for _, seq, _ in found),
                "digest": heads_digest(found),
                "recorded_at": utc_now(),
            }
        ],
    )
    dialect = bind.dialect.name
    for statement in {"sqlite": _SQLITE_TRIGGERS, "postgresql": _PG_TRIGGERS}.get(dialect, ()):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS chain_heads_forward ON chain_heads")
        op.execute("DROP TRIGGER IF EXISTS chain_log_append_only ON chain_log")
    else:
        for name in (
            "chain_heads_no_delete",
            "chain_heads_forward",
            "chain_log_append_only_update",
            "chain_log_append_only_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("chain_log")
    op.drop_table("chain_heads")
