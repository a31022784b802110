"""The reaper driven by its ports alone: `reap` takes `JobPorts` (here the memory job repository and
notifier, a fake queue and clock), the outbox and two options, not the assembled service."""

from __future__ import annotations

from datetime import timedelta

from dyngen.adapters.jobs.notifier import MemoryJobNotifier
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryJobRepository
from dyngen.adapters.metrics.prometheus import PrometheusMetrics
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import GenerationRecord
from dyngen.services.jobs.lifecycle import JobPorts, reap
from tests.fakes import FakeClock, FakeJobQueue


async def test_a_job_whose_runner_died_is_queued_again_then_fails_with_its_fallback_at_the_attempt_limit() -> None:
    clock = FakeClock()
    jobs = MemoryJobRepository(database=MemoryDatabase())
    queue = FakeJobQueue()
    ports = JobPorts(jobs=jobs, queue=queue, notifier=MemoryJobNotifier(), metrics=PrometheusMetrics(), clock=clock)
    now = clock.now()
    await jobs.add(
        GenerationRecord(
            id="j1",
            created_at=now,
            queued_at=now,
            node_id="n1",
            cache_key="k1",
            version=1,
            type="transition",
            purpose="gap_fill",
            strategy="once",
            seed=7,
            seed_source="node",
            deterministic=True,
            provider="builtin",
            status=GenerationStatus.QUEUED,
            attempts=0,
            config_fingerprint="fp",
            request={"type": "transition", "node_id": "n1", "fallback": {"mode": "skip"}},
        )
    )

    async def runner_dies() -> None:
        claimed_at = clock.now()
        lease_until = claimed_at + timedelta(seconds=5)
        assert await jobs.claim("j1", owner="dead", now=claimed_at, lease_until=lease_until) is not None
        clock.advance(6)  # its lease runs out

    await runner_dies()
    assert await reap(ports=ports, outbox=None, lease_s=5, max_attempts=2) >= 1
    # (Queued longer than a lease ago, it is also enqueued again as a job a restart left behind: the same
    # attempt, which a queue takes once.)
    assert set(queue.enqueued) == {("j1", 1)}, "queued again as its second attempt"
    record = await jobs.get("j1")
    assert record is not None
    assert (record.status, record.job_attempts) == (GenerationStatus.QUEUED, 1)

    await runner_dies()
    assert await reap(ports=ports, outbox=None, lease_s=5, max_attempts=2) == 1
    assert set(queue.enqueued) == {("j1", 1)}, "not queued a third time"
    record = await jobs.get("j1")
    assert record is not None
    assert (record.status, record.error_code, record.fallback_mode) == (
        GenerationStatus.FAILED,
        "GEN_WORKER_LOST",
        "skip",
    )
    events = [e.type for e in await jobs.events_after("j1", 0)]
    assert events == ["queued", "failed"]
