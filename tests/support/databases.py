"""The databases the repository contracts run on: SQLite in the test's folder, and the machine's
PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

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
