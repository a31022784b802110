"""Fixtures of the repository contracts: each test runs once per database in `BACKENDS`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import create_engine
from tests.support.databases import BACKENDS, Backend, empty_postgres
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoS3Server


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


@pytest.fixture
def s3_proxy(s3_server: MotoS3Server) -> Iterator[TcpProxy]:
    """A path to the S3 server that the test can cut and restore."""
    proxy = TcpProxy("127.0.0.1", s3_server.port)
    yield proxy
    proxy.close()
