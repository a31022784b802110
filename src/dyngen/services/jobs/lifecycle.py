"""Async generation jobs (spec section 6): submit, run, cancel, reap, and their event streams.

A job is its `Generation` record: queued -> processing -> complete | failed. A runner (the in-process
runner, or a `dyngen worker` through arq) *claims* a job with a lease and keeps it alive with heartbeats;
a job whose runner died is found by the reaper when its lease expires and goes back to the queue (or fails
with `GEN_WORKER_LOST` after the retry limit), so no job stays "processing" forever. Cancelling a queued
job fails it at once; cancelling a running one cancels its task wherever it runs (the heartbeat sees the
flag too), which cancels the provider call.

Each use case names its ports: `JobPorts` (records, queue, notifier, metrics, clock) for what submits,
cancels and hands jobs on; `JobRunner` for running one (the provider run itself is generation's, reached
through `JobRunner.generate`). `dyngen.bootstrap` builds both from the assembled service.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from dyngen.domain import fallback
from dyngen.domain.cache_keys import ResolvedSeed, resolve_seed
from dyngen.domain.contracts import FallbackMode, GenerateContentRequest, GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import GenerationRecord
from dyngen.domain.responses import CacheInfo, Cost, ErrorInfo, FallbackInfo, GenerateContentResponse
from dyngen.ports import (
    Clock,
    DuplicateIdempotencyKey,
    GenerationRepository,
    JobEvent,
    JobNotifier,
    JobQueue,
    JobRepository,
    Metrics,
    NewJobEvent,
    RecordOutbox,
    RemoteJob,
)
from dyngen.services.generation.attempts import Progress
from dyngen.services.generation.outcomes import ArtifactRef, Prepared
from dyngen.services.generation.request import Preparer
from dyngen.services.generation.serving import cached
from dyngen.services.jobs.progress import DELAY_S, HeldEvents
from dyngen.services.machinery.background import BackgroundTasks
from dyngen.services.machinery.container import RunningJobs
from dyngen.services.machinery.ids import new_id
from dyngen.services.machinery.layered_cache import LayeredCache
from dyngen.services.machinery.media import MediaLinks
from dyngen.services.machinery.memo import LruMemo
from dyngen.services.reporting.records import record_generation

log = logging.getLogger("dyngen.jobs")

TERMINAL = frozenset({"completed", "failed"})


@dataclass(frozen=True, slots=True)
class Submitted:
    """A submitted job, and whether this call created it (False: same idempotency key, or joined)."""

    job: GenerationRecord
    created: bool


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a runner should do after `run_job`: nothing, or run the job again after `retry_in_s`."""

    ran: bool
    retry_in_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPorts:
    """Where jobs live and are announced: what submits, cancels, resumes and hands jobs on writes to.

    Attributes:
        jobs: The job records and their event streams.
        queue: The queue the runners take jobs from.
        notifier: Wakes a job's event streams, in every process.
        metrics: Counts job events.
        clock: Every time a job reads (queued, completed, leases).
    """

    jobs: JobRepository
    queue: JobQueue
    notifier: JobNotifier
    metrics: Metrics
    clock: Clock


class JobGeneration(Protocol):
    """A job's provider run (`generation.runs.generate_for_job`): runs the provider for the prepared
    request, caches a success, and returns the job's final record for the job to store."""

    async def __call__(
        self,
        prepared: Prepared,
        seed: ResolvedSeed,
        *,
        job: GenerationRecord,
        progress: Progress,
        remote_job: RemoteJob | None,
    ) -> GenerationRecord: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRunner:
    """What running a job takes (`run_job`), besides `ports`.

    Attributes:
        preparer: Prepares the job's stored request again when it runs.
        cache: Where a job for content already made finds it.
        entries: Decoded cache entries, remembered by their bytes (shared with the serving path).
        generate: The provider run, through generation.
        repository: The generation records, as `record_generation` takes them (a job's final record
            finishes its job row through `ports.jobs`).
        outbox: Records the database could not take in time (None: such a record is lost).
        tasks: Runs the final record's write, so that a write given up on still finishes behind.
        running: The jobs running in this process, so that a cancel reaches them.
        entropy: Fresh seeds and the jitter of retries.
        lease_s: How long a runner's claim lasts without a heartbeat (renewed every third of it).
        max_attempts: Runs of a job before a retryable failure is final.
        retry_base_s: First delay before a job runs again; doubles per attempt, with jitter.
        record_timeout_s: How long the database has to take the job's final record.
        progress_delay_s: How long a reported event waits for the job's next write (`progress.HeldEvents`).
    """

    ports: JobPorts
    preparer: Preparer
    cache: LayeredCache
    entries: LruMemo[bytes, Any]
    generate: JobGeneration
    repository: GenerationRepository
    outbox: RecordOutbox | None
    tasks: BackgroundTasks
    running: RunningJobs
    entropy: random.Random
    lease_s: float
    max_attempts: int
    retry_base_s: float
    record_timeout_s: float
    progress_delay_s: float = DELAY_S


async def emit(ports: JobPorts, job_id: str, type_: str, data: dict[str, Any] | None = None) -> None:
    """Append an event to a job's stream and wake its listeners (in every process)."""
    await ports.jobs.add_event(job_id, type_, data or {}, at=ports.clock.now())
    await _announce(ports, job_id, [type_])


async def _announce(ports: JobPorts, job_id: str, types: list[str]) -> None:
    """Wake a job's listeners for events already written, and count them."""
    await ports.notifier.notify(job_id)
    for type_ in types:
        ports.metrics.job_event(type_=type_)


async def _finish(
    ports: JobPorts, record: GenerationRecord, type_: str, data: dict[str, Any], *, held: HeldEvents | None = None
) -> None:
    """Write a job's final record, the events its run `held` and its terminal event (one transaction),
    then wake its listeners."""
    events = [*(await held.take() if held is not None else []), NewJobEvent(type_, data, ports.clock.now())]
    await ports.jobs.finish(record, events=events)
    await _announce(ports, record.id, [event.type for event in events])


async def submit_job(
    *,
    request: GenerateContentRequest,
    request_hash: str,
    idempotency_key: str | None,
    preparer: Preparer,
    ports: JobPorts,
) -> Submitted:
    """Queue a generation. The same idempotency key with the same body returns the same job; a request for
    content that a queued or running job is already making joins that job.

    Raises:
        DyngenError: as `generation.prepare` (422, 403); CONFLICT (409) for a reused idempotency key with
            another body.
    """
    jobs = ports.jobs
    prepared = preparer.prepare(request)
    if idempotency_key is not None and (existing := await _by_key(jobs, idempotency_key, request_hash)):
        return Submitted(existing, created=False)
    if prepared.cacheable:
        active = await jobs.active_for(cache_key=prepared.key, fingerprint=prepared.fingerprint)
        if active is not None:
            return Submitted(active, created=False)
    now = ports.clock.now()
    record = GenerationRecord(
        id=new_id(),
        created_at=now,
        queued_at=now,
        node_id=request.node_id,
        cache_key=prepared.key,
        version=request.version,
        type=request.type.value,
        purpose=request.purpose.value,
        strategy=request.strategy.value,
        seed=prepared.seed.value if prepared.seed else None,
        seed_source=(prepared.seed.source.value if prepared.seed else "timestamp"),
        deterministic=prepared.seed is not None,
        provider=prepared.provider.info.name,
        status=GenerationStatus.QUEUED,
        attempts=0,
        config_fingerprint=prepared.fingerprint,
        request=request.model_dump(mode="json", by_alias=True, exclude_none=True),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    # Its `queued` event goes in with the record (one write): nobody can listen to a job whose id this call
    # has not returned yet, so it wakes nobody.
    queued = NewJobEvent("queued", {"cache_key": record.cache_key}, now)
    try:
        await jobs.add(record, events=[queued])
    except DuplicateIdempotencyKey:
        # Two submissions with one idempotency key raced: the other one's insert won.
        if idempotency_key is not None and (existing := await _by_key(jobs, idempotency_key, request_hash)):
            return Submitted(existing, created=False)
        raise
    ports.metrics.job_event(type_="queued")
    await ports.queue.enqueue(record.id)
    return Submitted(record, created=True)


def request_hash(request: GenerateContentRequest) -> str:
    """What an `Idempotency-Key` is held to: the parsed request, so that whitespace and key order don't
    make two bodies different."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _by_key(jobs: JobRepository, key: str, request_hash: str) -> GenerationRecord | None:
    existing = await jobs.by_idempotency_key(key)
    if existing is not None and existing.request_hash != request_hash:
        raise DyngenError(ErrorCode.CONFLICT, "this Idempotency-Key was already used with another request body")
    return existing


def job_response(record: GenerationRecord, *, media: MediaLinks, clock: Clock) -> GenerateContentResponse:
    """A job as the client sees it: a `GenerateContentResponse` with its status, its URLs signed now."""
    from_cache = record.status is GenerationStatus.COMPLETE and record.attempts == 0
    content, artifacts = media.present(
        record.content,
        [ArtifactRef(id=a.id, role=a.role, media_type=a.media_type, bytes=a.size) for a in record.artifacts],
        exp=media.expiry(clock.now()),
    )
    return GenerateContentResponse(
        status=record.status,
        content=content,
        artifacts=artifacts,
        cache_key=record.cache_key,
        cache=CacheInfo(hit=from_cache),
        cost=Cost(tokens=record.cost_tokens, time_ms=record.latency_ms),
        deterministic=record.deterministic,
        seed=record.seed,
        generation_id=record.id,
        job_id=record.id,
        provider=record.provider,
        fallback=(
            FallbackInfo(applied=True, mode=FallbackMode(record.fallback_mode), reason=record.fallback_reason or "")
            if record.fallback_mode
            else None
        ),
        error=ErrorInfo(code=ErrorCode(record.error_code), message=record.error_message or "")
        if record.error_code
        else None,
        elements=record.elements,
        stages=record.stages,
    )


async def get_job(*, job_id: str, jobs: JobRepository) -> GenerationRecord:
    """Raises DyngenError NOT_FOUND for an id that is not a job."""
    record = await jobs.get(job_id)
    if record is None or record.queued_at is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no generation job {job_id!r}")
    return record


async def cancel_job(*, job_id: str, ports: JobPorts) -> GenerationRecord:
    """Cancel a job: a queued one fails at once, a running one has its task cancelled where it runs."""
    jobs = ports.jobs
    await get_job(job_id=job_id, jobs=jobs)
    record = await jobs.request_cancel(job_id)
    if record is None or record.status not in (GenerationStatus.QUEUED, GenerationStatus.PROCESSING):
        return await get_job(job_id=job_id, jobs=jobs)
    if record.status is GenerationStatus.QUEUED:
        cancelled = _cancelled(record, ports.clock)
        if await jobs.fail_queued(cancelled):
            await emit(ports, job_id, "failed", {"code": ErrorCode.GEN_CANCELLED.value})
            return cancelled
    await ports.queue.cancel(job_id)
    return await get_job(job_id=job_id, jobs=jobs)


def _cancelled(record: GenerationRecord, clock: Clock) -> GenerationRecord:
    return record.model_copy(
        update={
            "status": GenerationStatus.FAILED,
            "error_code": ErrorCode.GEN_CANCELLED.value,
            "error_message": "cancelled on request",
            "completed_at": clock.now(),
            "cancel_requested": True,
        }
    )


async def run_job(*, job_id: str, owner: str, runner: JobRunner) -> RunResult:
    """Claim a job and run it to its end (or to a retry). Safe to call twice: a job runs once at a time."""
    ports = runner.ports
    jobs, clock = ports.jobs, ports.clock
    now = clock.now()
    record = await jobs.claim(
        job_id,
        owner=owner,
        now=now,
        lease_until=now + timedelta(seconds=runner.lease_s),
        started=lambda claimed: NewJobEvent("started", {"attempt": claimed.job_attempts + 1}, now),
    )
    if record is None:
        return RunResult(ran=False)
    await _announce(ports, job_id, ["started"])  # written with the claim
    try:
        prepared = runner.preparer.prepare(GenerateContentRequest.model_validate(record.request))
    except DyngenError as exc:
        failed = record.model_copy(
            update={
                "status": GenerationStatus.FAILED,
                "error_code": exc.code.value,
                "error_message": exc.message,
                "completed_at": clock.now(),
            }
        )
        await _finish(ports, failed, "failed", {"code": exc.code.value, "message": exc.message})
        return RunResult(ran=True)

    # A job that never ran before (its first claim set started_at to this claim's time, and no runner
    # put it back) has no provider job upstream to carry on with: no need to read its events for one.
    first_run = record.job_attempts == 0 and record.started_at == now
    held = HeldEvents(ports, job_id, delay_s=runner.progress_delay_s)
    work = asyncio.ensure_future(_execute(runner, prepared, record, held, first_run=first_run))
    runner.running.add(job_id, work)
    keeper = asyncio.ensure_future(_keep_lease(ports, runner.lease_s, job_id, owner, work))
    try:
        final = await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.cancelled():
            held.close()
            raise  # this runner is shutting down: the lease expires and the reaper hands the job on
        cancelled = _cancelled(record, clock)
        await _finish(ports, cancelled, "failed", {"code": ErrorCode.GEN_CANCELLED.value}, held=held)
        log.info("job.cancelled id=%s", job_id)
        return RunResult(ran=True)
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    return await _conclude(runner, record, final, held)


async def _execute(
    runner: JobRunner, prepared: Prepared, record: GenerationRecord, held: HeldEvents, *, first_run: bool
) -> GenerationRecord:
    """The job's work: its content from the cache, or a provider run; returns the job's final record. The
    events it reports wait in `held` for the job's next write."""
    ports = runner.ports
    if (
        prepared.cacheable
        and (hit := await cached(prepared, cache=runner.cache, memo=runner.entries, durable=True)) is not None
    ):
        ports.metrics.cache_request(node=prepared.node, tier=hit.tier, hit=True)
        await held.report("cache_hit", {"tier": hit.tier, "generation_id": hit.outcome.generation_id})
        outcome = hit.outcome
        return record.model_copy(
            update={
                "status": outcome.status,
                "content": outcome.content,
                "provider": outcome.provider,
                "seed": outcome.seed,
                "deterministic": outcome.deterministic,
                "attempts": 0,
                "completed_at": ports.clock.now(),
            }
        )

    if prepared.cacheable:
        ports.metrics.cache_request(node=prepared.node, tier="none", hit=False)
    seed = prepared.seed or resolve_seed(prepared.request, entropy=runner.entropy)
    remote = None if first_run else await _remote_job(ports.jobs, record.id)
    return await runner.generate(prepared, seed, job=record, progress=held.report, remote_job=remote)


async def _remote_job(jobs: JobRepository, job_id: str) -> RemoteJob | None:
    """The last job a provider started upstream for this job (a worker that died left it running)."""
    found: RemoteJob | None = None
    for event in await jobs.events_after(job_id, 0):
        remote = event.data.get("remote_job") if event.type == "progress" else None
        if isinstance(remote, dict) and isinstance(remote.get("provider"), str) and isinstance(remote.get("id"), str):
            found = RemoteJob(provider=remote["provider"], id=remote["id"])
    return found


async def _keep_lease(ports: JobPorts, lease: float, job_id: str, owner: str, work: asyncio.Future[Any]) -> None:
    """Extend the lease every third of its length; cancel the work when a cancel was requested or the
    lease was lost (another runner took the job over)."""
    while not work.done():
        await asyncio.sleep(lease / 3)
        now = ports.clock.now()
        try:
            owned, cancel = await ports.jobs.heartbeat(job_id, owner=owner, lease_until=now + timedelta(seconds=lease))
        except Exception:  # the database is briefly unreachable: try again at the next beat
            log.warning("job.heartbeat_failed id=%s", job_id)
            continue
        if cancel or not owned:
            work.cancel()
            return


async def _conclude(
    runner: JobRunner, record: GenerationRecord, final: GenerationRecord, held: HeldEvents
) -> RunResult:
    ports = runner.ports
    attempts = record.job_attempts + 1
    code = ErrorCode(final.error_code) if final.error_code and final.error_code in ErrorCode.__members__ else None
    if (
        final.status is GenerationStatus.FAILED
        and code is not None
        and code.retryable
        and attempts < runner.max_attempts
    ):
        delay = runner.retry_base_s * 2 ** (attempts - 1) * (0.5 + runner.entropy.random())
        held.close()
        await held.flush()  # before the job is queued again: the next run's events come after them
        if not await ports.jobs.requeue(record.id, attempts=attempts, owner=record.lease_owner):
            return RunResult(ran=True)  # the lease was lost meanwhile: the job is another runner's now
        await emit(
            ports, record.id, "progress", {"retry_in_s": round(delay, 3), "error": code.value, "attempt": attempts}
        )
        return RunResult(ran=True, retry_in_s=delay)
    final = final.model_copy(update={"job_attempts": attempts})
    now = ports.clock.now()
    events = await held.take()  # written with the job's final record, before its own events
    if final.fallback_mode:
        data = {"mode": final.fallback_mode, "reason": final.fallback_reason, "code": final.error_code}
        events.append(NewJobEvent("fallback_applied", data, now))
    if final.status is GenerationStatus.COMPLETE:
        events.append(NewJobEvent("completed", {"generation_id": final.id}, now))
    else:
        events.append(NewJobEvent("failed", {"code": final.error_code, "message": final.error_message}, now))
    # Through the outbox like every generation record: the job's URLs may already be cached and served.
    # Its events go with it, in one transaction: a client that sees the job final finds its terminal event.
    kept = await record_generation(
        record=final,
        within_s=runner.record_timeout_s,
        repository=runner.repository,
        jobs=ports.jobs,
        outbox=runner.outbox,
        tasks=runner.tasks,
        events=events,
    )
    if not kept:
        log.warning("job.record_kept id=%s status=%s", record.id, final.status.value)
        return RunResult(ran=True)  # the outbox's replay finishes the job and adds its terminal event
    await _announce(ports, record.id, [event.type for event in events])
    return RunResult(ran=True)


async def reap(*, ports: JobPorts, outbox: RecordOutbox | None, lease_s: float, max_attempts: int) -> int:
    """Hand on the jobs whose runner died (lease expired) and re-enqueue queued jobs a restart or a lost
    queue message left behind. Returns how many jobs it touched.

    Args:
        outbox: Where finished jobs' records wait while the database is down (such a job is not lost).
        lease_s: A queued job older than this is enqueued again.
        max_attempts: Runs of a job before a lost runner fails it for good (GEN_WORKER_LOST).
    """
    jobs, clock = ports.jobs, ports.clock
    now = clock.now()
    touched = 0
    for record in await jobs.expired(now=now):
        if await _kept(outbox, record.id):
            continue  # it finished while the database was down: its record waits in the outbox
        attempts = record.job_attempts + 1
        if record.cancel_requested:
            # Cancelled while its runner was gone: nobody is left to see the flag, so end it here.
            await _finish(ports, _cancelled(record, clock), "failed", {"code": ErrorCode.GEN_CANCELLED.value})
        elif attempts < max_attempts:
            if not await jobs.requeue(record.id, attempts=attempts, owner=record.lease_owner):
                continue  # another runner claimed it since `expired` listed it: it is not lost
            await emit(ports, record.id, "queued", {"reason": "its runner stopped; queued again", "attempt": attempts})
            await ports.queue.enqueue(record.id, attempt=attempts)
        else:
            error = DyngenError(ErrorCode.GEN_WORKER_LOST, f"the runner stopped {attempts} times; giving up")
            request = GenerateContentRequest.model_validate(record.request)
            payload, info = fallback.apply(request, error, mode=request.fallback.mode, attempts=attempts)
            await _finish(
                ports,
                record.model_copy(
                    update={
                        "status": GenerationStatus.FAILED,
                        "error_code": error.code.value,
                        "error_message": error.message,
                        "fallback_mode": info.mode.value,
                        "fallback_reason": info.reason,
                        "content": payload,
                        "job_attempts": attempts,
                        "completed_at": now,
                    }
                ),
                "failed",
                {"code": error.code.value, "message": error.message},
            )
        touched += 1
    for record in await jobs.queued(before=now - timedelta(seconds=lease_s)):
        if record.cancel_requested:
            if await jobs.fail_queued(_cancelled(record, clock)):
                await emit(ports, record.id, "failed", {"code": ErrorCode.GEN_CANCELLED.value})
        else:
            await ports.queue.enqueue(record.id, attempt=record.job_attempts)
        touched += 1
    return touched


async def _kept(outbox: RecordOutbox | None, job_id: str) -> bool:
    return outbox is not None and outbox.holding() and await outbox.get(job_id) is not None


async def reaper_loop(*, ports: JobPorts, outbox: RecordOutbox | None, lease_s: float, max_attempts: int) -> None:
    """Run `reap` every half lease, forever (a background task of every API process and worker)."""
    while True:
        try:
            await reap(ports=ports, outbox=outbox, lease_s=lease_s, max_attempts=max_attempts)
        except Exception:  # a failed sweep is retried at the next one
            log.exception("jobs.reap_failed")
        await asyncio.sleep(lease_s / 2)


async def resume(*, ports: JobPorts) -> int:
    """At start: enqueue every queued job (a restart must not strand them)."""
    queued = await ports.jobs.queued(before=ports.clock.now() + timedelta(days=1))
    for record in queued:
        await ports.queue.enqueue(record.id, attempt=record.job_attempts)
    return len(queued)


async def stream_events(
    *, job_id: str, after: int, jobs: JobRepository, notifier: JobNotifier
) -> AsyncIterator[JobEvent | None]:
    """A job's events from `after` on, ending with its terminal event. Yields None when nothing happened
    for a while (the caller may send a keep-alive)."""
    last = after
    await notifier.watch(job_id)  # before the first look: a notify from here on is not lost to another stream
    while True:
        events = await jobs.events_after(job_id, last)
        for event in events:
            yield event
            last = event.id
            if event.type in TERMINAL:
                return
        if not events:
            yield None
        await notifier.wait(job_id, timeout_s=1.0)
