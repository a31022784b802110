"""Background work: generation jobs (queue, repository, wake-ups) and warm-up runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dyngen.domain.records import GenerationRecord
from dyngen.domain.warmup import ItemOutcome, WarmupCounts, WarmupEvent, WarmupItem, WarmupRun, WarmupStatus


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One entry of a job's event stream (spec section 6): queued, started, progress, cache_hit,
    fallback_applied, completed, failed."""

    id: int
    job_id: str
    type: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewJobEvent:
    """An event to append to a job's stream together with another write (`JobRepository.add`, `claim`,
    `finish`)."""

    type: str
    data: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    oldest_queued_at: datetime | None


class JobRepository(Protocol):
    """Async jobs. A job is its `Generation` record: status queued -> processing -> complete | failed."""

    async def add(self, record: GenerationRecord, *, events: Sequence[NewJobEvent] = ()) -> None:
        """Store a new job, and `events` (its `queued` event) in the same transaction.

        Raises:
            DuplicateIdempotencyKey: another job already holds `record.idempotency_key`.
            RepositoryUnavailable: the store did not answer.
        """
        ...

    async def get(self, generation_id: str) -> GenerationRecord | None: ...

    async def by_idempotency_key(self, key: str) -> GenerationRecord | None: ...

    async def active_for(self, *, cache_key: str, fingerprint: str) -> GenerationRecord | None:
        """A queued or processing job for the same key and config, to join instead of starting another."""
        ...

    async def claim(
        self,
        job_id: str,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
        started: Callable[[GenerationRecord], NewJobEvent] | None = None,
    ) -> GenerationRecord | None:
        """Take a queued job (or one whose lease expired) for `owner`; None when it is not claimable.

        `started` makes the event appended to the job's stream in the claim's transaction, from the
        claimed record (a pure function: it may run on the database writer's thread); nothing is
        appended when the job was not claimed."""
        ...

    async def heartbeat(self, job_id: str, *, owner: str, lease_until: datetime) -> tuple[bool, bool]:
        """Extend the lease; returns (still owned, cancel requested)."""
        ...

    async def finish(self, record: GenerationRecord, *, events: Sequence[NewJobEvent] = ()) -> None:
        """Write a job's final state (and its artifacts), clearing its lease, and append `events` (the
        terminal event) to its stream in the same transaction: whoever sees the record final finds them.
        A job final already is left as it is (a final record written twice: its outbox replay, a retry)."""
        ...

    async def requeue(self, job_id: str, *, attempts: int, owner: str | None) -> bool:
        """Queue a running job again with `attempts`, only while `owner` still holds its lease (a fence: a
        reaper that saw an expired lease must not take the job from a runner that claimed it since).
        True when it was queued again."""
        ...

    async def fail_queued(self, record: GenerationRecord) -> bool:
        """Finish a job with `record` only if it is still queued (nobody runs it); True when it was."""
        ...

    async def request_cancel(self, job_id: str) -> GenerationRecord | None:
        """Mark a job for cancellation; returns its record (None for an unknown id)."""
        ...

    async def expired(self, *, now: datetime) -> list[GenerationRecord]:
        """Processing jobs whose lease has expired (their worker is gone)."""
        ...

    async def queued(self, *, before: datetime) -> list[GenerationRecord]:
        """Jobs queued before `before` (to re-enqueue after a restart or a lost queue message)."""
        ...

    async def add_event(self, job_id: str, type_: str, data: dict[str, Any], *, at: datetime) -> int: ...

    async def events_after(self, job_id: str, after_id: int) -> list[JobEvent]: ...

    async def queue_stats(self) -> QueueStats: ...


class JobQueue(Protocol):
    """Where queued job ids wait for a runner: in-process, or arq workers through Redis."""

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0, attempt: int = 0) -> None:
        """Queue a run of the job. `attempt` tells runs apart: enqueueing the same attempt twice may
        queue it once; a new attempt (after a lost runner) is always queued."""
        ...

    async def cancel(self, job_id: str) -> None:
        """Stop the job's work wherever it runs (the runner cancels its task)."""
        ...


class JobNotifier(Protocol):
    """Wakes whoever streams a job's events when a new one is written (any process)."""

    async def notify(self, job_id: str) -> None: ...

    async def watch(self, job_id: str) -> None:
        """Called by a task before its first look at the job's events: a notify from then on makes that
        task's next `wait` return at once, though another task's wait took the wake-up meanwhile."""
        ...

    async def wait(self, job_id: str, *, timeout_s: float) -> None:
        """Return when `notify` is called for the job, or after `timeout_s`."""
        ...


class WarmupRepository(Protocol):
    """Warm-up runs (`dyngen.domain.warmup`): the run, one row per planned item with its outcome, and the
    run's event stream. A run is claimed with a lease like a job, so one runner works on it at a time."""

    async def add_warmup(self, run: WarmupRun, items: Iterable[WarmupItem]) -> None: ...

    async def get_warmup(self, warmup_id: str) -> WarmupRun | None: ...

    async def claim_warmup(
        self, warmup_id: str, *, owner: str, now: datetime, lease_until: datetime, finished: bool = True
    ) -> WarmupRun | None:
        """Take a run that is queued, running with an expired lease, or (with `finished`, an explicit
        resume) finished, to retry what is left, for `owner`, and put its failed items back to pending;
        None when another runner holds it or it is not claimable."""
        ...

    async def claimable_warmups(self, *, origin: str, now: datetime) -> list[str]:
        """Ids of the runs of `origin` that are queued or whose runner's lease expired, oldest first."""
        ...

    async def heartbeat_warmup(self, warmup_id: str, *, owner: str, lease_until: datetime) -> tuple[bool, bool]:
        """Extend the lease; returns (still owned, cancel requested)."""
        ...

    async def pending_items(self, warmup_id: str) -> list[WarmupItem]:
        """The items not warmed yet, in plan order."""
        ...

    async def record_items(
        self,
        warmup_id: str,
        outcomes: Iterable[ItemOutcome],
        *,
        events: Iterable[tuple[str, dict[str, Any]]],
        at: datetime,
    ) -> None:
        """Store item outcomes and append events, in one transaction."""
        ...

    async def finish_warmup(self, warmup_id: str, *, owner: str | None, status: WarmupStatus, at: datetime) -> bool:
        """End a run (its lease cleared); with `owner`, only while that runner holds it. True when it ended."""
        ...

    async def request_warmup_cancel(self, warmup_id: str) -> WarmupRun | None:
        """Flag a queued or running run for cancellation; returns the run (None for an unknown id)."""
        ...

    async def warmup_counts(self, warmup_id: str) -> WarmupCounts:
        """Items by outcome, failures by code, and the summed cost of the generations the run made."""
        ...

    async def add_warmup_event(self, warmup_id: str, type_: str, data: dict[str, Any], *, at: datetime) -> int: ...

    async def warmup_events_after(self, warmup_id: str, after_id: int) -> list[WarmupEvent]: ...
