"""Alembic environment: runs on the connection `dyngen.adapters.db.schema.upgrade` hands it."""

from __future__ import annotations

from alembic import context

from dyngen.adapters.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `dyngen migrate` (it supplies the database connection)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
