"""A warm-up run driven by its ports alone: `run_warmup` takes `WarmupPorts` (here the memory repository and
notifier, a fake clock and a fake generation), not the assembled service, so a test builds exactly the
run it wants."""

from __future__ import annotations

import asyncio
from typing import Any

from dyngen.adapters.jobs.notifier import MemoryJobNotifier
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.warmups import MemoryWarmupRepository
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus, GenerationType
from dyngen.domain.errors import ErrorCode
from dyngen.domain.rate_limits import RateLimits
from dyngen.domain.responses import CacheInfo, Cost, ErrorInfo, GenerateContentResponse
from dyngen.domain.warmup import WarmupItem, WarmupRun, WarmupStatus
from dyngen.services.generation.front_door import Warmed
from dyngen.services.machinery.container import RunningJobs
from dyngen.services.warmup.runner import WarmupPorts, run_warmup
from tests.fakes import FakeClock
from tests.support.waiting import until


def _response(
    request: GenerateContentRequest, *, hit: bool = False, error: ErrorCode | None = None
) -> GenerateContentResponse:
    return GenerateContentResponse(
        status=GenerationStatus.FAILED if error else GenerationStatus.COMPLETE,
        cache_key=f"key-{request.node_id}",
        cache=CacheInfo(hit=hit),
        cost=Cost(tokens=0, time_ms=0.0),
        deterministic=True,
        generation_id=f"gen-{request.node_id}",
        error=ErrorInfo(code=error, message="refused") if error else None,
    )


def _ports(warmups: MemoryWarmupRepository, clock: FakeClock, generate: Any) -> WarmupPorts:
    async def warm(*, request: GenerateContentRequest) -> Warmed:
        response = await generate(request=request)
        code = response.error.code.value if response.error else None
        return Warmed(response.cache.hit, response.cache_key, response.generation_id, code)

    return WarmupPorts(
        warmups=warmups,
        notifier=MemoryJobNotifier(),
        clock=clock,
        generate=generate,
        warm=warm,
        rate_limiter=None,
        rate_limits=RateLimits(),
        running=RunningJobs(),
        runner_id="unit",
        lease_s=30.0,
    )


def _items(count: int) -> list[WarmupItem]:
    """`count` transitions t0, t1, ... in order."""
    return [
        WarmupItem(
            position=i,
            node_id=f"t{i}",
            request=GenerateContentRequest(type=GenerationType.TRANSITION, node_id=f"t{i}").model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
        )
        for i in range(count)
    ]


def _run(clock: FakeClock, *, concurrency: int) -> WarmupRun:
    return WarmupRun(
        id="w1",
        graph_id="g",
        graph_version=None,
        origin="cli",
        status=WarmupStatus.QUEUED,
        concurrency=concurrency,
        options={},
        skipped=[],
        created_at=clock.now(),
    )


async def test_a_run_warms_each_item_through_the_generation_it_is_given_and_a_resume_retries_what_failed() -> None:
    clock = FakeClock()
    warmups = MemoryWarmupRepository(database=MemoryDatabase())
    asked: list[str | None] = []
    fails_once = {"t1"}

    async def generate(*, request: GenerateContentRequest) -> GenerateContentResponse:
        asked.append(request.node_id)
        if request.node_id in fails_once:
            fails_once.discard(request.node_id)
            return _response(request, error=ErrorCode.GEN_CONSTRAINT_FAIL)
        return _response(request, hit=request.node_id == "t2")

    ports = _ports(warmups, clock, generate)
    await warmups.add_warmup(_run(clock, concurrency=2), _items(4))

    first = await run_warmup(warmup_id="w1", ports=ports)
    assert (first.status, first.generated, first.cached, first.failed) == (
        WarmupStatus.FAILED,
        2,
        1,
        {"GEN_CONSTRAINT_FAIL": 1},
    )
    again = await run_warmup(warmup_id="w1", ports=ports)
    assert (again.status, again.generated, again.cached, again.failed, again.pending) == (
        WarmupStatus.COMPLETE,
        3,
        1,
        {},
        0,
    )
    assert sorted(asked, key=str) == ["t0", "t1", "t1", "t2", "t3"], "the resume asked only for the failed item"
    events = await warmups.warmup_events_after("w1", 0)
    assert [e.type for e in events if e.type == "completed"] == ["completed", "completed"], "one per run"
    assert events[-1].type == "completed"
    assert events[-1].data["status"] == "complete"


class _SlowItems(MemoryWarmupRepository):
    """Stores finished items only once the test lets it (a database slow to take the writes)."""

    def __init__(self) -> None:
        super().__init__(database=MemoryDatabase())
        self.released = asyncio.Event()
        self.writes = 0

    async def record_items(self, warmup_id: str, outcomes: Any, **kwargs: Any) -> None:
        self.writes += 1
        await self.released.wait()
        await super().record_items(warmup_id, outcomes, **kwargs)


async def test_a_worker_takes_its_next_item_while_the_finished_ones_are_written() -> None:
    """Issue 18: the worker whose item finished first wrote everyone's batch itself and took no item
    meanwhile. Here one worker warms all three items while the first write waits."""
    clock = FakeClock()
    warmups = _SlowItems()
    asked: list[str | None] = []

    async def generate(*, request: GenerateContentRequest) -> GenerateContentResponse:
        asked.append(request.node_id)
        return _response(request)

    ports = _ports(warmups, clock, generate)
    await warmups.add_warmup(_run(clock, concurrency=1), _items(3))

    running = asyncio.create_task(run_warmup(warmup_id="w1", ports=ports))
    await until(lambda: len(asked) == 3, what="every item asked for while the first write waits")
    assert warmups.writes == 1
    warmups.released.set()
    report = await running

    assert (report.status, report.generated, report.pending) == (WarmupStatus.COMPLETE, 3, 0)
