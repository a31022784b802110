"""The JobRepository contract (leases, cancel, events, queue stats), run on every database dyngen supports
and on the memory repository.

A job is its generation record; every state change must be one conditional update, so that two runners
never both own a job and a job whose runner died can be found by its expired lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.jobs import SqlAlchemyJobRepository
from dyngen.adapters.db.writer import SqlWriter
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryJobRepository
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.responses import GeneratedContentPayload
from dyngen.ports import DuplicateIdempotencyKey, JobRepository, NewJobEvent

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
K1, K2 = "transition|gap_fill|cafe|roof|per_playthrough|pt-1|1", "transition|gap_fill|cafe|roof|per_playthrough|pt-2|1"
FP = "ef" * 32
QUEUED, PROCESSING = GenerationStatus.QUEUED, GenerationStatus.PROCESSING


def job(
    job_id: str,
    *,
    at: datetime = T0,
    cache_key: str = K1,
    fingerprint: str = FP,
    idempotency_key: str | None = None,
    status: GenerationStatus = QUEUED,
) -> GenerationRecord:
    """A queued job, as `submit_job` writes it."""
    return GenerationRecord(
        id=job_id,
        created_at=at,
        queued_at=at,
        node_id="n-cafe",
        cache_key=cache_key,
        version=1,
        type="transition",
        purpose="gap_fill",
        strategy="per_playthrough",
        seed=42,
        seed_source="playthrough",
        deterministic=True,
        provider="builtin",
        status=status,
        attempts=0,
        config_fingerprint=fingerprint,
        request={"type": "transition", "player_context": {"playthroughId": "pt-1"}},
        idempotency_key=idempotency_key,
        request_hash="ab" * 32 if idempotency_key else None,
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def script_artifact(job_id: str) -> ArtifactRecord:
    """A job's script artifact, as its final record names it."""
    return ArtifactRecord(
        id="a1",
        generation_id=job_id,
        role="script",
        media_type="application/json",
        size=10,
        content_hash="cd" * 32,
        storage_uri="local://artifacts/cd/a1",
        created_at=at(2),
    )


async def claimed(jobs: JobRepository, job_id: str, owner: str = "r1", *, lease_s: float = 10) -> None:
    """Add a job and claim it at T0 for `owner`, its lease running to T0 + lease_s."""
    await jobs.add(job(job_id))
    assert await jobs.claim(job_id, owner=owner, now=T0, lease_until=at(lease_s)) is not None


async def queued_at_0_2_5(jobs: JobRepository) -> None:
    for job_id, seconds in [("b", 2), ("a", 0), ("late", 5)]:
        await jobs.add(job(job_id, at=at(seconds)))
    await jobs.add(job("taken", at=at(1)))
    assert await jobs.claim("taken", owner="r1", now=at(1), lease_until=at(11)) is not None


class JobRepositoryContract:
    """Behaviour every `JobRepository` adapter must have."""

    @pytest.fixture
    async def jobs(self) -> JobRepository:
        raise NotImplementedError("a Test<Repository> subclass provides the repository under test")

    async def test_of_twenty_concurrent_claims_of_one_job_exactly_one_wins(self, jobs: JobRepository) -> None:
        await jobs.add(job("j1"))

        results = await asyncio.gather(
            *(jobs.claim("j1", owner=f"runner-{n}", now=T0, lease_until=at(10)) for n in range(20))
        )

        winners = [(n, r) for n, r in enumerate(results) if r is not None]
        assert len(winners) == 1
        n, won = winners[0]
        assert won.status is PROCESSING
        assert won.lease_owner == f"runner-{n}"
        stored = await jobs.get("j1")
        assert stored is not None
        assert stored.lease_owner == f"runner-{n}"
        assert stored.lease_expires_at == at(10)
        assert stored.started_at == T0

    async def test_a_claimed_job_cannot_be_claimed_again_until_its_lease_expires(self, jobs: JobRepository) -> None:
        await claimed(jobs, "j1", "r1", lease_s=10)

        assert await jobs.claim("j1", owner="r2", now=at(5), lease_until=at(15)) is None
        taken = await jobs.claim("j1", owner="r2", now=at(11), lease_until=at(21))

        assert taken is not None
        assert taken.lease_owner == "r2"
        assert taken.lease_expires_at == at(21)
        assert taken.started_at == T0  # the first start is kept

    async def test_an_unknown_job_cannot_be_claimed(self, jobs: JobRepository) -> None:
        assert await jobs.claim("nope", owner="r1", now=T0, lease_until=at(10)) is None

    async def test_a_heartbeat_extends_the_lease_only_for_its_owner(self, jobs: JobRepository) -> None:
        await claimed(jobs, "j1", "r1", lease_s=10)

        assert await jobs.heartbeat("j1", owner="r2", lease_until=at(100)) == (False, False)
        assert (await jobs.get("j1")).lease_expires_at == at(10)  # type: ignore[union-attr]
        assert await jobs.heartbeat("j1", owner="r1", lease_until=at(20)) == (True, False)
        assert (await jobs.get("j1")).lease_expires_at == at(20)  # type: ignore[union-attr]
        # Extended, the lease keeps others out past its first end.
        assert await jobs.claim("j1", owner="r2", now=at(15), lease_until=at(25)) is None

    async def test_a_heartbeat_reports_a_cancel_request_and_a_lost_job(self, jobs: JobRepository) -> None:
        await claimed(jobs, "j1", "r1")

        await jobs.request_cancel("j1")

        assert await jobs.heartbeat("j1", owner="r1", lease_until=at(20)) == (True, True)
        assert await jobs.heartbeat("gone", owner="r1", lease_until=at(20)) == (False, True)

    async def test_a_heartbeat_after_another_runner_took_the_job_over_says_it_is_lost(
        self,
        jobs: JobRepository,
    ) -> None:
        await claimed(jobs, "j1", "r1", lease_s=10)
        assert await jobs.claim("j1", owner="r2", now=at(11), lease_until=at(21)) is not None

        assert await jobs.heartbeat("j1", owner="r1", lease_until=at(40)) == (False, False)
        assert (await jobs.get("j1")).lease_expires_at == at(21)  # type: ignore[union-attr]

    async def test_finish_writes_the_final_state_and_clears_the_lease(self, jobs: JobRepository) -> None:
        await claimed(jobs, "j1", "r1")
        content = GeneratedContentPayload(type="dialogue", dialogue=["The phone rings."])
        script = script_artifact("j1")
        running = await jobs.get("j1")
        assert running is not None
        final = running.model_copy(
            update={
                "status": GenerationStatus.COMPLETE,
                "content": content,
                "artifacts": [script],
                "completed_at": at(2),
                "attempts": 1,
                "job_attempts": 1,
                "lease_owner": None,
                "lease_expires_at": None,
            }
        )

        await jobs.finish(final)

        assert await jobs.get("j1") == final
        assert await jobs.claim("j1", owner="r2", now=at(100), lease_until=at(110)) is None
        assert await jobs.expired(now=at(100)) == []

    async def test_a_final_record_written_twice_adds_its_artifact_and_events_once(self, jobs: JobRepository) -> None:
        """Its outbox replay can run while its own write still waits in the writer's queue."""
        await claimed(jobs, "j1", "r1")
        running = await jobs.get("j1")
        assert running is not None
        script = script_artifact("j1")
        final = running.model_copy(
            update={"status": GenerationStatus.FAILED, "artifacts": [script], "completed_at": at(2), "job_attempts": 1}
        )
        terminal = [NewJobEvent("failed", {"code": "GEN_TIMEOUT"}, at(2))]

        await asyncio.gather(jobs.finish(final, events=terminal), jobs.finish(final, events=terminal))
        await jobs.finish(final, events=terminal)

        assert [e.type for e in await jobs.events_after("j1", 0)] == ["failed"]
        stored = await jobs.get("j1")
        assert stored is not None
        assert [a.id for a in stored.artifacts] == ["a1"]

    async def test_request_cancel_marks_a_live_job_and_keeps_runners_off_a_queued_one(
        self,
        jobs: JobRepository,
    ) -> None:
        await jobs.add(job("j1"))

        marked = await jobs.request_cancel("j1")

        assert marked is not None
        assert marked.cancel_requested is True
        assert marked.status is QUEUED
        assert await jobs.claim("j1", owner="r1", now=T0, lease_until=at(10)) is None
        assert await jobs.active_for(cache_key=K1, fingerprint=FP) is None
        assert await jobs.request_cancel("nope") is None

    async def test_request_cancel_does_not_touch_a_finished_job(self, jobs: JobRepository) -> None:
        await jobs.add(job("done", status=GenerationStatus.COMPLETE))

        after = await jobs.request_cancel("done")

        assert after is not None
        assert after.cancel_requested is False
        assert after.status is GenerationStatus.COMPLETE

    async def test_fail_queued_fails_a_job_only_while_it_is_queued(self, jobs: JobRepository) -> None:
        await jobs.add(job("waiting"))
        await claimed(jobs, "running", "r1")
        cancelled = {"status": GenerationStatus.FAILED, "error_code": "GEN_CANCELLED", "completed_at": at(1)}

        assert await jobs.fail_queued(job("waiting").model_copy(update=cancelled)) is True
        assert await jobs.fail_queued(job("running").model_copy(update=cancelled)) is False

        waiting, running = await jobs.get("waiting"), await jobs.get("running")
        assert waiting is not None
        assert running is not None
        assert (waiting.status, waiting.error_code) == (GenerationStatus.FAILED, "GEN_CANCELLED")
        assert (running.status, running.lease_owner) == (PROCESSING, "r1")
        assert await jobs.claim("waiting", owner="r2", now=at(2), lease_until=at(12)) is None

    async def test_requeue_puts_a_job_back_with_its_attempts_and_no_lease(self, jobs: JobRepository) -> None:
        await claimed(jobs, "j1", "r1")

        assert await jobs.requeue("j1", attempts=1, owner="r1") is True

        back = await jobs.get("j1")
        assert back is not None
        assert (back.status, back.lease_owner, back.lease_expires_at, back.job_attempts) == (QUEUED, None, None, 1)
        again = await jobs.claim("j1", owner="r2", now=at(1), lease_until=at(11))
        assert again is not None
        assert again.job_attempts == 1

    async def test_requeue_is_fenced_by_the_lease_owner(self, jobs: JobRepository) -> None:
        # A reaper saw r1's lease expired; r2 claimed the job before the reaper acted: r2 keeps it.
        await claimed(jobs, "j1", "r1", lease_s=10)
        assert await jobs.claim("j1", owner="r2", now=at(11), lease_until=at(21)) is not None

        assert await jobs.requeue("j1", attempts=1, owner="r1") is False

        running = await jobs.get("j1")
        assert running is not None
        assert (running.status, running.lease_owner) == (PROCESSING, "r2")

    async def test_expired_lists_the_running_jobs_whose_lease_ran_out(self, jobs: JobRepository) -> None:
        await jobs.add(job("queued"))
        await claimed(jobs, "lapsed", "r1", lease_s=10)
        await claimed(jobs, "alive", "r2", lease_s=30)

        assert [r.id for r in await jobs.expired(now=at(20))] == ["lapsed"]
        assert {r.id for r in await jobs.expired(now=at(31))} == {"lapsed", "alive"}
        assert await jobs.expired(now=at(5)) == []

    async def test_queued_lists_the_jobs_still_queued_before_a_time(self, jobs: JobRepository) -> None:
        await queued_at_0_2_5(jobs)

        assert {r.id for r in await jobs.queued(before=at(3))} == {"a", "b"}
        assert {r.id for r in await jobs.queued(before=at(10))} == {"a", "b", "late"}
        assert await jobs.queued(before=at(0)) == []

    async def test_queued_lists_the_oldest_job_first(self, jobs: JobRepository) -> None:
        await queued_at_0_2_5(jobs)

        # `resume` enqueues in this order after a restart: the job that waited longest must run first.
        assert [r.id for r in await jobs.queued(before=at(10))] == ["a", "b", "late"]

    async def test_events_append_with_increasing_ids_and_page_after_an_id(self, jobs: JobRepository) -> None:
        await jobs.add(job("j1"))
        await jobs.add(job("j2", cache_key=K2))
        written = []
        for n, type_ in enumerate(["queued", "started", "progress", "progress", "completed"]):
            written.append(await jobs.add_event("j1", type_, {"step": n, "note": "caf\u00e9"}, at=at(n)))
            await jobs.add_event("j2", "queued", {}, at=at(n))

        events = await jobs.events_after("j1", 0)

        assert [e.id for e in events] == written
        assert written == sorted(set(written))
        assert [e.type for e in events] == ["queued", "started", "progress", "progress", "completed"]
        assert [e.data for e in events] == [{"step": n, "note": "caf\u00e9"} for n in range(5)]
        assert [e.created_at for e in events] == [at(n) for n in range(5)]
        assert {e.job_id for e in events} == {"j1"}
        assert await jobs.events_after("j1", written[2]) == events[3:]
        assert await jobs.events_after("j1", written[-1]) == []
        assert len(await jobs.events_after("j2", 0)) == 5

    async def test_queue_stats_count_the_queued_jobs_and_the_oldest(self, jobs: JobRepository) -> None:
        empty = await jobs.queue_stats()
        assert (empty.depth, empty.oldest_queued_at) == (0, None)
        for job_id, seconds in [("b", 2), ("a", 1), ("c", 3)]:
            await jobs.add(job(job_id, at=at(seconds)))
        await jobs.add(job("done", status=GenerationStatus.COMPLETE))
        assert await jobs.claim("a", owner="r1", now=at(4), lease_until=at(14)) is not None

        stats = await jobs.queue_stats()

        assert stats.depth == 2
        assert stats.oldest_queued_at == at(2)

    async def test_by_idempotency_key_finds_the_job_and_a_key_is_used_once(self, jobs: JobRepository) -> None:
        await jobs.add(job("j1", idempotency_key="order-17"))
        await jobs.add(job("j2", idempotency_key="order-18", cache_key=K2))

        found = await jobs.by_idempotency_key("order-17")

        assert found is not None
        assert found.id == "j1"
        assert await jobs.by_idempotency_key("order-99") is None
        with pytest.raises(DuplicateIdempotencyKey) as raised:  # the port's error, whatever the store's
            await jobs.add(job("j3", idempotency_key="order-17", cache_key=K2))
        assert raised.value.key == "order-17"
        assert await jobs.get("j3") is None

    async def test_active_for_finds_the_oldest_live_job_for_a_key_and_config(self, jobs: JobRepository) -> None:
        assert await jobs.active_for(cache_key=K1, fingerprint=FP) is None
        await jobs.add(job("done", status=GenerationStatus.COMPLETE))
        await jobs.add(job("other-config", fingerprint="00" * 32))
        await jobs.add(job("other-key", cache_key=K2))
        assert await jobs.active_for(cache_key=K1, fingerprint=FP) is None

        await jobs.add(job("newer", at=at(5)))
        await jobs.add(job("older", at=at(1)))
        assert await jobs.claim("older", owner="r1", now=at(6), lease_until=at(16)) is not None

        found = await jobs.active_for(cache_key=K1, fingerprint=FP)
        assert found is not None
        assert found.id == "older"  # processing counts as live
        await jobs.finish(found.model_copy(update={"status": GenerationStatus.COMPLETE, "lease_owner": None}))
        assert (await jobs.active_for(cache_key=K1, fingerprint=FP)).id == "newer"  # type: ignore[union-attr]

    async def test_a_new_job_is_stored_with_its_queued_event_and_a_refused_one_with_none(
        self, jobs: JobRepository
    ) -> None:
        queued = NewJobEvent("queued", {"cache_key": K1}, T0)
        await jobs.add(job("j1", idempotency_key="order-17"), events=[queued])
        await jobs.add(job("j2", cache_key=K2), events=[queued])

        with pytest.raises(DuplicateIdempotencyKey):
            await jobs.add(job("j3", idempotency_key="order-17", cache_key=K2), events=[queued])

        for job_id in ("j1", "j2"):
            [event] = await jobs.events_after(job_id, 0)
            assert (event.type, event.data, event.created_at) == ("queued", {"cache_key": K1}, T0)
        assert await jobs.events_after("j3", 0) == []

    async def test_a_claim_appends_the_started_event_it_makes_only_when_it_takes_the_job(
        self, jobs: JobRepository
    ) -> None:
        await jobs.add(job("j1"), events=[NewJobEvent("queued", {}, T0)])

        def started(record: GenerationRecord) -> NewJobEvent:
            return NewJobEvent("started", {"attempt": record.job_attempts + 1, "owner": record.lease_owner}, at(1))

        taken = await jobs.claim("j1", owner="r1", now=at(1), lease_until=at(11), started=started)
        refused = await jobs.claim("j1", owner="r2", now=at(2), lease_until=at(12), started=started)

        assert taken is not None
        assert refused is None
        events = await jobs.events_after("j1", 0)
        assert [(e.type, e.data) for e in events] == [("queued", {}), ("started", {"attempt": 1, "owner": "r1"})]
        assert events[1].created_at == at(1)

    async def test_events_written_with_a_final_record_follow_the_earlier_ones_in_order(
        self, jobs: JobRepository
    ) -> None:
        await claimed(jobs, "j1", "r1")
        first = await jobs.add_event("j1", "started", {}, at=at(1))
        running = await jobs.get("j1")
        assert running is not None
        held = [NewJobEvent("progress", {"attempt": n}, at(2)) for n in (1, 2)]

        await jobs.finish(
            running.model_copy(update={"status": GenerationStatus.COMPLETE, "completed_at": at(3)}),
            events=[*held, NewJobEvent("completed", {"generation_id": "j1"}, at(3))],
        )

        events = await jobs.events_after("j1", first)
        assert [(e.type, e.data) for e in events] == [
            ("progress", {"attempt": 1}),
            ("progress", {"attempt": 2}),
            ("completed", {"generation_id": "j1"}),
        ]
        assert [e.id for e in events] == sorted(e.id for e in events)
        assert (await jobs.get("j1")).status is GenerationStatus.COMPLETE  # type: ignore[union-attr]


class TestSqlAlchemyJobRepository(JobRepositoryContract):
    @pytest.fixture
    async def jobs(self, engine: AsyncEngine) -> JobRepository:
        await schema.upgrade(engine)
        return SqlAlchemyJobRepository(engine=engine)


class TestSqlAlchemyJobRepositoryGroupCommit(JobRepositoryContract):
    """As `dyngen serve` and `dyngen worker` build it: events and final records through the group-commit
    writer, batched with the other writes of the moment."""

    @pytest.fixture
    async def jobs(self, engine: AsyncEngine) -> AsyncIterator[JobRepository]:
        await schema.upgrade(engine)
        writer = SqlWriter(engine=engine)
        yield SqlAlchemyJobRepository(engine=engine, writer=writer)
        await writer.aclose()

    async def test_events_written_together_keep_each_job_its_own_ids_in_order(self, jobs: JobRepository) -> None:
        for job_id, key in (("j1", K1), ("j2", K2)):
            await jobs.add(job(job_id, cache_key=key))

        # Concurrent writes meet in one batch: each is told its own event's id.
        written = await asyncio.gather(
            *(jobs.add_event(job_id, "progress", {"n": n}, at=at(n)) for n in range(10) for job_id in ("j1", "j2"))
        )

        for job_id in ("j1", "j2"):
            events = await jobs.events_after(job_id, 0)
            assert [e.data["n"] for e in events] == list(range(10))
            assert {e.id for e in events} <= set(written)
        assert len(set(written)) == 20

    async def test_claims_and_new_jobs_written_together_each_get_their_own_events(self, jobs: JobRepository) -> None:
        for n in range(5):
            await jobs.add(job(f"old-{n}", cache_key=f"{K1}-{n}"))

        # Claims and new jobs of one moment meet in one batch (one transaction).
        claims = [
            jobs.claim(
                f"old-{n}",
                owner="r1",
                now=at(1),
                lease_until=at(11),
                started=lambda record: NewJobEvent("started", {"job": record.id}, at(1)),
            )
            for n in range(5)
        ]
        adds = [
            jobs.add(job(f"new-{n}", cache_key=f"{K2}-{n}"), events=[NewJobEvent("queued", {"job": f"new-{n}"}, T0)])
            for n in range(5)
        ]
        results = await asyncio.gather(*claims, *adds)

        assert all(r is not None for r in results[:5])
        for n in range(5):
            assert [(e.type, e.data) for e in await jobs.events_after(f"old-{n}", 0)] == [
                ("started", {"job": f"old-{n}"})
            ]
            assert [(e.type, e.data) for e in await jobs.events_after(f"new-{n}", 0)] == [
                ("queued", {"job": f"new-{n}"})
            ]

    async def test_claims_of_one_batch_each_get_their_own_outcome(self, jobs: JobRepository) -> None:
        await jobs.add(job("queued"))
        await jobs.add(job("cancelled", cache_key=K2))
        await jobs.request_cancel("cancelled")
        await claimed(jobs, "running", "r0", lease_s=100)
        await jobs.add(job("expired", cache_key=K2))
        assert await jobs.claim("expired", owner="r0", now=T0, lease_until=at(1)) is not None

        # One moment's claims meet in one batch (one statement for their first claim of each job).
        results = await asyncio.gather(
            *(
                jobs.claim(job_id, owner=owner, now=at(5), lease_until=at(15))
                for job_id, owner in [
                    ("queued", "r1"),
                    ("cancelled", "r1"),
                    ("running", "r1"),
                    ("expired", "r2"),
                    ("unknown", "r1"),
                    ("queued", "r2"),  # the same job again: the first claim holds it
                ]
            )
        )

        owners = [r.lease_owner if r is not None else None for r in results]
        assert owners == ["r1", None, None, "r2", None, None]
        expired = results[3]
        assert expired is not None
        assert (expired.id, expired.started_at, expired.lease_expires_at) == ("expired", T0, at(15))
        assert (await jobs.get("running")).lease_owner == "r0"  # type: ignore[union-attr]


class TestMemoryJobRepository(JobRepositoryContract):
    @pytest.fixture
    def jobs(self) -> JobRepository:
        return MemoryJobRepository(database=MemoryDatabase())
