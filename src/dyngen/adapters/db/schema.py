"""Applies the Alembic migrations on an async engine (used by `dyngen migrate` and at serve start).

An empty database gets the newest schema in one step: the tables as `tables.metadata` declares them,
created together, then stamped with the head revision (Alembic's recipe for a new database). The
migrations, one after another, are for a database that already holds data; the two ways give the same
schema (`tests/contract/test_schema.py` compares them on SQLite and PostgreSQL). A database already at
the head is left alone without loading the migration scripts.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.tables import metadata
from dyngen.domain.errors import DyngenError, ErrorCode

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """The migration scripts this version of dyngen ships (read once per process: they never change)."""
    return ScriptDirectory.from_config(_config())


def _upgrade(connection: Connection, revision: str) -> None:
    if revision == "head":
        context = MigrationContext.configure(connection)
        current = context.get_current_revision()
        if current == head_revision():
            return
        if current is None and not inspect(connection).get_table_names():
            metadata.create_all(connection, checkfirst=False)
            context.stamp(_scripts(), "head")
            return
    command.upgrade(_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def head_revision() -> str | None:
    """The newest revision this version of dyngen ships."""
    return _scripts().get_current_head()


async def ensure_current(engine: AsyncEngine, *, migrate: bool) -> None:
    """Migrate (when `migrate`), else check the schema is current.

    Raises:
        DyngenError: DEPENDENCY_UNAVAILABLE when the schema is behind and `migrate` is False.
    """
    if migrate:
        await upgrade(engine)
        return
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise DyngenError(
            ErrorCode.DEPENDENCY_UNAVAILABLE,
            f"the database schema is at revision {current}, this dyngen needs {head}: run `dyngen migrate`",
        )
