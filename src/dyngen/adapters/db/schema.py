"""Applies the Alembic migrations on an async engine (used by `dyngen migrate` and at serve start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.domain.errors import DyngenError, ErrorCode

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def head_revision() -> str | None:
    """The newest revision this version of dyngen ships."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


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
