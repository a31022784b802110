"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import create_engine
from dyngen.adapters.db.schema import upgrade


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite file of the test's own (the embedded default's database)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()
