"""Fixtures of the repository contracts: each test runs once per database in `BACKENDS`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import create_engine
from tests.support.databases import BACKENDS, Backend, empty_postgres, migrated_postgres, migrated_sqlite
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoS3Server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def engine(tmp_path: Path, backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """An engine on a database at the newest schema without rows, or, for a test marked `empty_database`
    (one about migrations), on a database without tables."""
    url = backend.url(tmp_path, request)
    empty = request.node.get_closest_marker("empty_database") is not None
    if backend.name == "postgresql":
        await (empty_postgres(url) if empty else migrated_postgres(url))
    elif not empty:
        await migrated_sqlite(url)
    created = create_engine(url)
    yield created
    await created.dispose()


@pytest.fixture
def s3_proxy(s3_server: MotoS3Server) -> Iterator[TcpProxy]:
    """A path to the S3 server that the test can cut and restore."""
    proxy = TcpProxy("127.0.0.1", s3_server.port)
    yield proxy
    proxy.close()
