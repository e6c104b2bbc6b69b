"""Alembic environment: always run online on the connection NEXUS hands over."""

from __future__ import annotations

from alembic import context

from nexus_server_ext.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - NEXUS always passes its own connection
    raise RuntimeError("NEXUS migrations run through nexus_server_ext.store.Database.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
