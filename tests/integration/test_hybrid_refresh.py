"""Hybrid refreshes across processes: two service instances sharing PostgreSQL and Redis (their own memory
tiers, as two processes have) both serve a stale entry at once, and only one refresh runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dyngen.bootstrap import build, generation_ports
from dyngen.config import Settings
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.ports import GenerationFilter
from dyngen.services.generation.front_door import generate_content
from dyngen.services.machinery.container import Services

pytestmark = pytest.mark.services

DEADLINE_S = 15.0


@pytest.fixture
async def pair(tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[list[Services]]:
    built: list[Services] = []
    try:
        for n in range(2):
            settings = Settings(
                data_dir=tmp_path / f"data{n}",
                database_url=postgres_url,
                redis_url=redis_url,
                redis_prefix=redis_prefix,
            )
            built.append(await build(settings, migrate=True))
        yield built
    finally:
        for services in built:
            await services.aclose()


def hybrid(node: str, *, latency_ms: int = 0) -> GenerateContentRequest:
    return GenerateContentRequest.model_validate(
        {
            "type": "dialogue",
            "node_id": node,
            "from_scene": {"id": "tavern"},
            "to_scene": {"id": "street"},
            "hybrid": True,
            "simulate": {"latency_ms": latency_ms},
            "fallback": {"mode": "skip", "timeoutMs": 10_000},
        }
    )


async def test_two_processes_serving_a_stale_entry_run_one_refresh(pair: list[Services]) -> None:
    one, two = pair
    node = f"hybrid-{uuid.uuid4().hex[:8]}"
    first = await generate_content(request=hybrid(node), ports=generation_ports(one))
    assert first.cache.hit is False

    # Both serve the entry at once (from Redis for the second) and start a refresh that takes 500 ms.
    served = await asyncio.gather(
        generate_content(request=hybrid(node, latency_ms=500), ports=generation_ports(one)),
        generate_content(request=hybrid(node, latency_ms=500), ports=generation_ports(two)),
    )

    assert [s.cache.stale for s in served] == [True, True]
    assert {s.generation_id for s in served} == {first.generation_id}
    assert len(one.refreshes) == len(two.refreshes) == 1
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while len(one.refreshes) or len(two.refreshes):
        assert asyncio.get_running_loop().time() < deadline, "the refreshes did not finish"
        await asyncio.sleep(0.05)
    records = await one.repository.find(GenerationFilter(node_id=node))
    assert len(records) == 2, "one generation in the foreground, one refresh for both processes"
