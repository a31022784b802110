"""Fixtures of the repository contracts: each test runs once per database in `BACKENDS`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import create_engine
from tests.support.databases import BACKENDS, Backend, empty_postgres


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def engine(tmp_path: Path, backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    url = backend.url(tmp_path, request)
    if backend.name == "postgresql":
        await empty_postgres(url)
    created = create_engine(url)
    yield created
    await created.dispose()
