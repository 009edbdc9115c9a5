"""Alembic environment: migrations run on a connection handed over by echelon.registry."""

from __future__ import annotations

from alembic import context

from echelon.registry.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable when alembic is run by hand
    raise RuntimeError("run migrations through echelon.registry.open_registry(url)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
