"""Hybrid refreshes across processes: two service instances sharing PostgreSQL and Redis (their own memory
tiers, as two processes have) both serve a stale entry at once, and only one refresh runs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
from dyngen.config import Settings
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.ports import GenerationFilter
from dyngen.services.generation.front_door import generate_content
from dyngen.services.machinery.container import Services
from tests.fakes import FakeProvider
from tests.support.waiting import signalled, until

pytestmark = pytest.mark.services


@pytest.fixture
def provider() -> FakeProvider:
    """Both processes' provider: it answers the foreground generation and holds the refresh's call until
    released, so the refresh is still running when the other process looks (no latency to race)."""
    return FakeProvider(name="builtin", hang_after=1)


@pytest.fixture
async def pair(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str, provider: FakeProvider
) -> AsyncIterator[list[Services]]:
    built: list[Services] = []
    try:
        for n in range(2):
            settings = Settings(
                data_dir=tmp_path / f"data{n}",
                database_url=postgres_url,
                redis_url=redis_url,
                redis_prefix=redis_prefix,
            )
            built.append(await build(settings, migrate=True, providers={"builtin": provider}))
        yield built
    finally:
        provider.release()
        for services in built:
            await services.aclose()


@contextlib.asynccontextmanager
async def lease_checked(redis_url: str, prefix: str) -> AsyncIterator[asyncio.Event]:
    """An event set once a client checks a held flight lease (Redis MONITOR sees a `PTTL` on a lock under
    `prefix`): a process that found another's flight running and waits on it."""
    checked, ready = asyncio.Event(), asyncio.Event()
    redis = aioredis.Redis.from_url(redis_url)

    async def watch() -> None:
        async with redis.monitor() as monitor:
            ready.set()
            async for info in monitor.listen():
                command = str(info.get("command", ""))
                if command.upper().startswith("PTTL") and f"{prefix}:flight:lock:" in command:
                    checked.set()

    watcher = asyncio.create_task(watch())
    try:
        await signalled(ready, what="Redis's MONITOR to start")
        yield checked
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await redis.aclose()


def hybrid(node: str) -> GenerateContentRequest:
    return GenerateContentRequest.model_validate(
        {
            "type": "dialogue",
            "node_id": node,
            "from_scene": {"id": "tavern"},
            "to_scene": {"id": "street"},
            "hybrid": True,
            "fallback": {"mode": "skip", "timeoutMs": 10_000},
        }
    )


async def test_two_processes_serving_a_stale_entry_run_one_refresh(
    pair: list[Services], provider: FakeProvider, redis_url: str, redis_prefix: str
) -> None:
    one, two = pair
    node = f"hybrid-{uuid.uuid4().hex[:8]}"
    first = await generate_content(request=hybrid(node), ports=generation_ports(one))
    assert first.cache.hit is False

    async with lease_checked(redis_url, redis_prefix) as waiting:
        # Both serve the entry at once (from Redis for the second) and start a refresh, held at its provider.
        served = await asyncio.gather(
            generate_content(request=hybrid(node), ports=generation_ports(one)),
            generate_content(request=hybrid(node), ports=generation_ports(two)),
        )

        assert [s.cache.stale for s in served] == [True, True]
        assert {s.generation_id for s in served} == {first.generation_id}
        assert len(one.refreshes) == len(two.refreshes) == 1
        await signalled(waiting, what="a process to wait on the other's refresh")
    provider.release()
    await until(lambda: not len(one.refreshes) and not len(two.refreshes), what="the refreshes to finish")
    records = await one.repository.find(GenerationFilter(node_id=node))
    assert len(records) == 2, "one generation in the foreground, one refresh for both processes"
