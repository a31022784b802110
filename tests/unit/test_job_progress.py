"""A running job's reported events (`HeldEvents`): held for the job's next write, written on their own
after their delay, at once when a runner taking the job over must find them, and always in the order
they were reported, before or with the job's final record."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from dyngen.adapters.jobs.notifier import MemoryJobNotifier
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryJobRepository
from dyngen.adapters.metrics.prometheus import PrometheusMetrics
from dyngen.domain.contracts import GenerationStatus
from dyngen.ports import RepositoryUnavailable
from dyngen.services.jobs.lifecycle import JobPorts
from dyngen.services.jobs.progress import HeldEvents
from tests.contract.test_job_repository import job
from tests.fakes import FakeClock, FakeJobQueue
from tests.support.waiting import until

LONG_S = 3600.0  # a delay no test reaches: only the job's next write takes the events


class GatedJobRepository(MemoryJobRepository):
    """Event writes that wait for `gate` (a write under way), or fail with `error`."""

    def __init__(self) -> None:
        super().__init__(database=MemoryDatabase())
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = 0
        self.error: Exception | None = None

    async def add_event(self, job_id: str, type_: str, data: dict[str, Any], *, at: datetime) -> int:
        self.writing += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return await super().add_event(job_id, type_, data, at=at)


async def job_ports() -> tuple[JobPorts, GatedJobRepository, MemoryJobNotifier]:
    clock = FakeClock()
    jobs = GatedJobRepository()
    notifier = MemoryJobNotifier()
    await jobs.add(job("j1", at=clock.now(), status=GenerationStatus.PROCESSING))
    ports = JobPorts(jobs=jobs, queue=FakeJobQueue(), notifier=notifier, metrics=PrometheusMetrics(), clock=clock)
    return ports, jobs, notifier


async def written(jobs: MemoryJobRepository) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.data) for e in await jobs.events_after("j1", 0)]


async def test_reported_events_wait_for_the_jobs_next_write_which_takes_them_in_order() -> None:
    ports, jobs, _ = await job_ports()
    held = HeldEvents(ports, "j1", delay_s=LONG_S)

    await held.report("progress", {"attempt": 1})
    await held.report("progress", {"upstream": {"percent": 50}})

    assert await written(jobs) == [], "no write of their own"
    taken = await held.take()
    assert [(e.type, e.data) for e in taken] == [
        ("progress", {"attempt": 1}),
        ("progress", {"upstream": {"percent": 50}}),
    ]
    assert await held.take() == [], "taken once"


async def test_the_job_started_upstream_is_written_at_once_with_the_events_before_it() -> None:
    ports, jobs, notifier = await job_ports()
    held = HeldEvents(ports, "j1", delay_s=LONG_S)
    await held.report("progress", {"attempt": 1})

    await held.report("progress", {"remote_job": {"provider": "http_video", "id": "r-1"}})

    assert await written(jobs) == [
        ("progress", {"attempt": 1}),
        ("progress", {"remote_job": {"provider": "http_video", "id": "r-1"}}),
    ]
    await notifier.wait("j1", timeout_s=0)  # the stream was woken (the flag is set: no wait)
    assert await held.take() == []


async def test_events_no_write_comes_for_are_written_on_their_own_after_the_delay() -> None:
    ports, jobs, _ = await job_ports()
    held = HeldEvents(ports, "j1", delay_s=0)

    await held.report("progress", {"attempt": 1})
    await held.report("progress", {"attempt": 2})

    await until(lambda: written(jobs), what="the held events written after their delay")
    assert await written(jobs) == [("progress", {"attempt": 1}), ("progress", {"attempt": 2})]
    assert await held.take() == []


async def test_the_final_write_takes_its_events_after_a_write_under_way_so_their_order_is_kept() -> None:
    ports, jobs, _ = await job_ports()
    held = HeldEvents(ports, "j1", delay_s=0)
    jobs.gate.clear()
    await held.report("progress", {"attempt": 1})
    await until(lambda: jobs.writing, what="the delayed write under way")
    await held.report("progress", {"attempt": 2})  # while the first is being written

    taking = asyncio.ensure_future(held.take())
    for _ in range(5):
        await asyncio.sleep(0)  # let `take` run as far as it goes
    assert not taking.done(), "it waits for the write under way"
    jobs.gate.set()
    taken = await taking

    assert await written(jobs) == [("progress", {"attempt": 1})]
    assert [(e.type, e.data) for e in taken] == [("progress", {"attempt": 2})], "after it, with the final record"


async def test_events_whose_own_write_failed_stay_held_for_the_final_write() -> None:
    ports, jobs, _ = await job_ports()
    jobs.error = RepositoryUnavailable("the database is unreachable")
    held = HeldEvents(ports, "j1", delay_s=0)
    await held.report("progress", {"attempt": 1})
    await until(lambda: jobs.writing, what="the delayed write, which fails")
    await held.report("progress", {"attempt": 2})

    taken = await held.take()

    assert [(e.type, e.data) for e in taken] == [("progress", {"attempt": 1}), ("progress", {"attempt": 2})]
    assert await written(jobs) == []
