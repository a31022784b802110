"""The CircuitBreaker contract: memory and Redis breakers trip, cool down and recover the same way.

To run the contract on another breaker, subclass `CircuitBreakerContract` as `Test<Breaker>` and give it
one fixture, `subject`, that yields a `BreakerUnderTest`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from dyngen.adapters.clock import SystemClock
from dyngen.adapters.messaging.redis import RedisConnection
from dyngen.adapters.providers.breaker import MemoryCircuitBreaker
from dyngen.adapters.providers.redis_breaker import RedisCircuitBreaker
from dyngen.ports import CircuitBreaker
from tests.fakes import FakeClock
from tests.support.databases import PATIENT_REDIS
from tests.support.waiting import until

FAILURES = 3
WINDOW = 60.0
COOLDOWN = 30.0


@dataclass
class BreakerUnderTest:
    """A fresh breaker (failures=3, window=60, cooldown=30, scaled by `time_scale`), and time.

    `after(seconds, check)` lets that much (scaled) time pass, then requires `check`: breakers on an
    injected clock advance it and check once; breakers on a server's clock poll `check` with a deadline.
    `window_passed(name)` is true once the failures counted for `name` have left the window.
    """

    breaker: CircuitBreaker
    after: Callable[[float, Callable[[], Awaitable[bool]]], Awaitable[None]]
    window_passed: Callable[[str], Awaitable[bool]]
    time_scale: float = 1.0
    others: list[CircuitBreaker] = field(default_factory=list)

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


class CircuitBreakerContract:
    """Behaviour every `CircuitBreaker` adapter must have."""

    @pytest.fixture
    def subject(self) -> BreakerUnderTest:
        raise NotImplementedError("a Test<Breaker> subclass provides the breaker under test")

    async def test_a_provider_with_no_failures_is_not_cooling_down(self, subject: BreakerUnderTest) -> None:
        assert await subject.breaker.cooldown("openai") is None
        assert await subject.breaker.cooldowns(["openai", "builtin"]) == {}

    async def test_n_failures_within_the_window_start_a_cooldown_with_reason_and_expiry(
        self, subject: BreakerUnderTest
    ) -> None:
        breaker = subject.breaker
        assert await breaker.record_failure("openai", code="GEN_TIMEOUT") is None
        assert await breaker.record_failure("openai", code="GEN_TIMEOUT") is None
        assert await breaker.cooldown("openai") is None, "two failures of three do not trip it"

        before = datetime.now(UTC)
        tripped = await breaker.record_failure("openai", code="GEN_TIMEOUT")

        assert tripped is not None
        window = f"{subject.scaled(WINDOW):g}"
        assert tripped.reason == f"3 failures in {window} s (GEN_TIMEOUT)"
        current = await breaker.cooldown("openai")
        assert current is not None
        assert current.reason == tripped.reason
        cooldown = timedelta(seconds=subject.scaled(COOLDOWN))
        assert before < current.until <= datetime.now(UTC) + cooldown + timedelta(seconds=1)
        assert set(await breaker.cooldowns(["openai", "builtin"])) == {"openai"}

    async def test_the_reason_names_the_failure_that_tripped_it(self, subject: BreakerUnderTest) -> None:
        for code in ("GEN_TIMEOUT", "GEN_TIMEOUT", "GEN_PROVIDER_UNAVAILABLE"):
            await subject.breaker.record_failure("openai", code=code)
        current = await subject.breaker.cooldown("openai")
        assert current is not None
        assert current.reason.endswith("(GEN_PROVIDER_UNAVAILABLE)")

    async def test_providers_are_counted_apart(self, subject: BreakerUnderTest) -> None:
        for name in ("openai", "openai", "video", "video"):
            await subject.breaker.record_failure(name, code="GEN_TIMEOUT")
        assert await subject.breaker.cooldowns(["openai", "video"]) == {}
        await subject.breaker.record_failure("openai", code="GEN_TIMEOUT")
        assert set(await subject.breaker.cooldowns(["openai", "video"])) == {"openai"}

    async def test_failures_older_than_the_window_do_not_count(self, subject: BreakerUnderTest) -> None:
        await subject.breaker.record_failure("openai", code="GEN_TIMEOUT")
        await subject.breaker.record_failure("openai", code="GEN_TIMEOUT")

        async def window_passed() -> bool:
            return await subject.window_passed("openai")

        await subject.after(WINDOW + 1, window_passed)
        assert await subject.breaker.record_failure("openai", code="GEN_TIMEOUT") is None
        assert await subject.breaker.cooldown("openai") is None

    async def test_the_provider_recovers_when_the_cooldown_ends(self, subject: BreakerUnderTest) -> None:
        for _ in range(FAILURES):
            await subject.breaker.record_failure("openai", code="GEN_TIMEOUT")
        started = time.monotonic()
        assert await subject.breaker.cooldown("openai") is not None

        async def recovered() -> bool:
            return await subject.breaker.cooldown("openai") is None

        await subject.after(COOLDOWN, recovered)
        if subject.time_scale != 1.0:  # on a real clock: it did last (most of) the cooldown
            assert time.monotonic() - started >= subject.scaled(COOLDOWN) * 0.5
        assert await subject.breaker.cooldowns(["openai"]) == {}
        # and it counts afresh: one more failure does not trip it again
        assert await subject.breaker.record_failure("openai", code="GEN_TIMEOUT") is None

    async def test_failures_during_a_cooldown_do_not_extend_it(self, subject: BreakerUnderTest) -> None:
        for _ in range(FAILURES):
            await subject.breaker.record_failure("openai", code="GEN_TIMEOUT")
        first = await subject.breaker.cooldown("openai")
        for _ in range(FAILURES):
            assert await subject.breaker.record_failure("openai", code="GEN_EMPTY_OUTPUT") is None
        again = await subject.breaker.cooldown("openai")
        assert first is not None
        assert again is not None
        assert again.reason == first.reason
        assert again.until <= first.until + timedelta(seconds=0.5)


class TestMemoryCircuitBreaker(CircuitBreakerContract):
    @pytest.fixture
    def subject(self) -> BreakerUnderTest:
        clock = FakeClock(datetime.now(UTC))
        breaker = MemoryCircuitBreaker(clock=clock, failures=FAILURES, window_s=WINDOW, cooldown_s=COOLDOWN)

        async def after(seconds: float, check: Callable[[], Awaitable[bool]]) -> None:
            clock.advance(seconds)
            assert await check()

        async def window_passed(name: str) -> bool:
            return True  # the clock was advanced past it

        return BreakerUnderTest(breaker=breaker, after=after, window_passed=window_passed)


REDIS_SCALE = 0.01  # window 0.6 s, cooldown 0.3 s


class TestRedisCircuitBreaker(CircuitBreakerContract):
    @pytest.fixture
    async def subject(self, redis_url: str, redis_prefix: str) -> AsyncIterator[BreakerUnderTest]:
        connections = [RedisConnection(url=redis_url, prefix=redis_prefix, **PATIENT_REDIS) for _ in range(2)]

        def make(connection: RedisConnection) -> RedisCircuitBreaker:
            return RedisCircuitBreaker(
                connection=connection,
                clock=SystemClock(),
                failures=FAILURES,
                window_s=WINDOW * REDIS_SCALE,
                cooldown_s=COOLDOWN * REDIS_SCALE,
            )

        async def after(seconds: float, check: Callable[[], Awaitable[bool]]) -> None:
            await until(check, what="the breaker's time to pass")

        async def window_passed(name: str) -> bool:
            return not await connections[0].client.exists(connections[0].key("breaker", name, "failures"))

        try:
            yield BreakerUnderTest(
                breaker=make(connections[0]),
                after=after,
                window_passed=window_passed,
                time_scale=REDIS_SCALE,
                others=[make(connections[1])],
            )
        finally:
            for connection in connections:
                await connection.aclose()

    async def test_two_processes_agree_on_a_cooldown(self, subject: BreakerUnderTest) -> None:
        one, other = subject.breaker, subject.others[0]
        await one.record_failure("openai", code="GEN_TIMEOUT")
        await other.record_failure("openai", code="GEN_TIMEOUT")
        assert await one.cooldown("openai") is None

        tripped = await one.record_failure("openai", code="GEN_TIMEOUT")

        assert tripped is not None, "failures in both processes count together"
        seen = await other.cooldown("openai")
        assert seen is not None
        assert seen.reason == tripped.reason
        assert abs((seen.until - tripped.until).total_seconds()) < 0.5

        async def recovered_everywhere() -> bool:
            return await one.cooldown("openai") is None and await other.cooldown("openai") is None

        await until(recovered_everywhere, what="the cooldown to end in both processes")


async def test_redis_breaker_without_redis_falls_back_to_this_process() -> None:
    connection = RedisConnection(url="redis://127.0.0.1:1/0", prefix="nowhere", connect_timeout_s=0.2)
    breaker = RedisCircuitBreaker(connection=connection, clock=SystemClock(), failures=2, window_s=60, cooldown_s=30)
    try:
        assert await breaker.record_failure("openai", code="GEN_TIMEOUT") is None
        tripped = await breaker.record_failure("openai", code="GEN_TIMEOUT")

        assert tripped is not None
        assert tripped.reason == "2 failures in 60 s (GEN_TIMEOUT)"
        assert set(await breaker.cooldowns(["openai", "builtin"])) == {"openai"}
    finally:
        await connection.aclose()
