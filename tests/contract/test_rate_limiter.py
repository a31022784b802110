"""The RateLimiter contract: the memory and Redis limiters admit the same requests.

Redis limits on its own clock, so its subject cannot be driven by a FakeClock: rates there are fast
enough that real time does the advancing, and the checks allow for it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from dyngen.adapters.clock import SystemClock
from dyngen.adapters.messaging.redis import RedisConnection
from dyngen.adapters.rate_limits.memory import MemoryRateLimiter
from dyngen.adapters.rate_limits.redis import RedisRateLimiter
from dyngen.ports import RateLimiter
from tests.support.servers import free_port
from tests.support.waiting import HANG_GUARD_S, until


class RateLimiterContract:
    @pytest.fixture
    def limiters(self) -> list[RateLimiter]:
        raise NotImplementedError("a Test<Limiter> subclass provides the limiters (sharing state) under test")

    async def test_a_burst_then_refusal_with_a_retry_after(self, limiters: list[RateLimiter]) -> None:
        key = uuid.uuid4().hex
        decisions = [await limiters[0].acquire(key, per_second=0.5, burst=3) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert 1.5 < decisions[-1].retry_after_s <= 2.0

    async def test_keys_do_not_share_a_limit(self, limiters: list[RateLimiter]) -> None:
        a, b = uuid.uuid4().hex, uuid.uuid4().hex
        assert (await limiters[0].acquire(a, per_second=0.5, burst=1)).allowed
        assert not (await limiters[0].acquire(a, per_second=0.5, burst=1)).allowed
        assert (await limiters[0].acquire(b, per_second=0.5, burst=1)).allowed

    async def test_the_limit_is_admitted_again_after_the_interval(self, limiters: list[RateLimiter]) -> None:
        key = uuid.uuid4().hex
        assert (await limiters[0].acquire(key, per_second=20, burst=1)).allowed
        refused = await limiters[0].acquire(key, per_second=20, burst=1)
        assert not refused.allowed
        assert 0 < refused.retry_after_s <= 0.05

        async def admitted() -> bool:
            return (await limiters[0].acquire(key, per_second=20, burst=1)).allowed

        await until(admitted, what="the next slot")  # the deadline guards against hanging only

    async def test_concurrent_callers_share_one_limit(self, limiters: list[RateLimiter]) -> None:
        key = uuid.uuid4().hex
        # A refill of one slot per hour: however slow the machine, only the burst is admitted.
        decisions = await asyncio.gather(
            *(limiters[i % len(limiters)].acquire(key, per_second=1 / 3600, burst=10) for i in range(100))
        )
        assert sum(d.allowed for d in decisions) == 10


class TestMemoryRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiters(self) -> list[RateLimiter]:
        return [MemoryRateLimiter(clock=SystemClock())]


@pytest.mark.services
class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    async def limiters(self, redis_url: str, redis_prefix: str) -> AsyncIterator[list[RateLimiter]]:
        # What is under test is one limit shared by three processes, not Redis faults: on a busy machine 100
        # callers queueing for the pools can pass the default 1 s deadline, and each limiter would then
        # admit its own burst from its in-process fallback (seen in CI: 40 admitted of a burst of 10).
        connections = [
            RedisConnection(url=redis_url, prefix=redis_prefix, timeout_s=HANG_GUARD_S, connect_timeout_s=HANG_GUARD_S)
            for _ in range(3)
        ]
        yield [RedisRateLimiter(connection=c, clock=SystemClock()) for c in connections]
        for connection in connections:
            await connection.aclose()


async def test_while_redis_is_down_each_process_still_limits() -> None:
    dead = RedisConnection(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.2)
    limiter = RedisRateLimiter(connection=dead, clock=SystemClock())
    try:
        decisions = [await limiter.acquire("k", per_second=0.5, burst=2) for _ in range(3)]
    finally:
        await dead.aclose()
    assert [d.allowed for d in decisions] == [True, True, False]
