"""Shared fixtures: settings in a temporary data dir, services, and an HTTP client on the app."""

from __future__ import annotations

import concurrent.futures
import gc
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.services.machinery.container import Services
from tests.support.databases import migrated_sqlite
from tests.support.servers import VENV_BIN, MotoS3Server, RedisServer, port_open

REQUIRE_SERVICES = os.environ.get("DYNGEN_REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """Transitions come from the text provider in tests unless a test asks for video.

    The default (`builtin_video`) renders an MP4 per transition, 0.3-1.5 s of CPU each; the suite makes
    hundreds of transitions that are about caching, jobs and fallbacks, not pixels. The video path has
    its own tests, and `tests/e2e/test_video_default.py` checks that an unset environment renders video.
    Servers the tests start inherit this environment, so they behave the same.
    """
    os.environ.setdefault("DYNGEN_PROVIDERS_BY_TYPE", "{}")


# Under `pytest -n` with `--dist loadfile`, a worker takes the next test file in collection order when it
# is free. The files of the folders first here hold minutes of processes, faults and deadlines; the unit
# tests (milliseconds each) come last and fill whichever worker frees first, so neither waits alone at the
# end for a long file the other could have started earlier (longest first).
HEAVY_FIRST = ("faults", "integration", "browser", "clients", "e2e", "contract", "unit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        folder = item.path.parent.name
        return HEAVY_FIRST.index(folder) if folder in HEAVY_FIRST else len(HEAVY_FIRST)

    items.sort(key=rank)  # stable: the order within a folder stays


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (dyngen, the test modules, hypothesis, schemathesis: ~700k objects) lives
    until the end: out of the collector's sight, each full collection of a test process walks only what
    the tests made since (before: ~100 full collections of the whole heap per worker, a quarter of its CPU)."""
    gc.collect()
    gc.freeze()


def need_service(reason: str) -> None:
    """Skip the test because a real service is missing, or fail when DYNGEN_REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    if settings.is_sqlite:
        # A copy of a file migrated once per process: `build` finds it at the newest schema (what its own
        # migration of a new file gives), instead of running every migration for each of ~350 tests.
        await migrated_sqlite(settings.resolved_database_url, unless_present=True)
    built = await build(settings)
    await built.start()  # the in-process job runner and the reaper, as the API's lifespan does
    yield built
    await built.aclose()


@pytest.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        yield http


# --- real services -------------------------------------------------------------------------------

MACHINE_REDIS = "redis://127.0.0.1:6379/0"
MACHINE_POSTGRES = os.environ.get("DYNGEN_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis (skips, or fails under DYNGEN_REQUIRE_SERVICES=1, when it is not running)."""
    if not port_open("127.0.0.1", 6379):
        need_service("Redis is not running on 127.0.0.1:6379")
    return MACHINE_REDIS


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = f"dyngen-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL for this test module (dropped at its end): what one
    module leaves (an API key, which switches enforcement on) never reaches another, whichever order the
    xdist workers take the modules in."""
    if not port_open("127.0.0.1", 5432):
        need_service("PostgreSQL is not running on 127.0.0.1:5432")
    import asyncio

    import asyncpg

    name = f"dyngen_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def run_sql(sql: str) -> None:
        conn = await asyncpg.connect(MACHINE_POSTGRES)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def admin(sql: str) -> None:
        # In a thread of its own: this fixture may be first requested from inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run_sql(sql)).result()

    try:
        admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        need_service(f"cannot create a PostgreSQL database: {exc}")
    base = MACHINE_POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3Server]:
    """moto's S3-protocol server on loopback, for the whole session."""
    if not (VENV_BIN / "moto_server").exists():
        need_service("moto_server is not installed (pip install 'moto[server]')")
    server = MotoS3Server(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may stop and restart."""
    server = RedisServer(tmp_path)
    try:
        server.start()
    except FileNotFoundError:
        need_service("redis-server is not installed")
    yield server
    server.stop()
