"""The databases the repository contracts run on: SQLite in the test's folder, and the machine's
PostgreSQL (a database per test module, without the rows of the module's earlier tests)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from dyngen.adapters.db import schema
from dyngen.adapters.db.repository import create_engine


@dataclass(frozen=True)
class Backend:
    name: str
    # An async SQLAlchemy URL of an empty database, given the test's tmp_path and its fixture request.
    url: Callable[[Path, pytest.FixtureRequest], str]


async def empty_postgres(url: str) -> None:
    """Drop every table of the test database (one schema, recreated)."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def migrated_postgres(url: str) -> None:
    """The database at `url` at the newest schema, without the rows of an earlier test.

    A database already at the head revision keeps its tables, truncated in one statement: migrating an
    empty database costs ~0.4 s of PostgreSQL's time (DDL and its commits), and the suite did it hundreds
    of times. Any other (empty, older, stamped by another revision) is dropped to nothing and migrated.
    Migrations write no rows, so either way the database is what migrating an empty one gives.
    """
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            tables = set((await conn.execute(text(TABLES))).scalars())
            stamped = "alembic_version" in tables and (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalars().all() == [schema.head_revision()]
            if stamped:
                if rows := sorted(tables - {"alembic_version"}):
                    names = ", ".join(f'"{name}"' for name in rows)
                    await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await schema.upgrade(engine)
    finally:
        await engine.dispose()


TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"


async def migrated_sqlite(url: str, *, unless_present: bool = False) -> None:
    """The SQLite database file of `url` at the newest schema, without rows: a copy of a file this process
    migrated once (a file copy per test instead of every migration, ~0.06 s). With `unless_present`, a file
    already there is left as it is."""
    template = _SQLITE_TEMPLATES.get("head")
    if template is None or not template.is_file():
        folder = tempfile.mkdtemp(prefix="dyngen-sqlite-template-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = Path(folder) / "dyngen.db"
        engine = create_engine(f"sqlite+aiosqlite:///{template}")
        try:
            await schema.upgrade(engine)
        finally:
            await engine.dispose()
        _SQLITE_TEMPLATES["head"] = template
    _copy(template, Path(str(make_url(url).database)), unless_present=unless_present)


def _copy(template: Path, path: Path, *, unless_present: bool) -> None:
    if unless_present and path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)


_SQLITE_TEMPLATES: dict[str, Path] = {}  # this process's migrated file, copied for each test


def _postgres(_tmp: Path, request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("postgres_url")
    return url


BACKENDS = [
    pytest.param(Backend("sqlite", lambda tmp, _: f"sqlite+aiosqlite:///{tmp / 'dyngen.db'}"), id="sqlite"),
    pytest.param(Backend("postgresql", _postgres), id="postgresql", marks=pytest.mark.services),
]


# The machine's Redis for tests about what a Redis-backed part does, not about Redis failing: deadlines
# no busy machine reaches (the defaults, 1 s, are for noticing a Redis that is down; a run beside
# `stress-ng --cpu 2` saw 120 racing callers time out connecting). The fault tests keep short ones.
PATIENT_REDIS = {"connect_timeout_s": 30.0, "timeout_s": 30.0}
