"""Running warm-ups: claim a run with a lease, warm its pending items with bounded concurrency (each through
generation's front door, `WarmupPorts.generate`), store their outcomes as they complete, and finish or
cancel it; `warmup_loop` is a server process's background runner (it also resumes the API's unfinished runs
after a restart). The runs' records, reports and events are `runs.py`'s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.rate_limits import RateLimits
from dyngen.domain.responses import GenerateContentResponse
from dyngen.domain.warmup import (
    ItemOutcome,
    ItemStatus,
    WarmupCounts,
    WarmupItem,
    WarmupRun,
    WarmupStatus,
)
from dyngen.ports import Clock, JobNotifier, RateLimiter, WarmupRepository
from dyngen.services.access import rate_limits
from dyngen.services.generation.front_door import Warmed
from dyngen.services.generation.slots import CALL_SLOT, CallSlot
from dyngen.services.machinery.container import RunningJobs
from dyngen.services.warmup import runs

log = logging.getLogger("dyngen.warmup")

Progress = Callable[[WarmupCounts, ItemOutcome | None], None]


class GenerateContent(Protocol):
    """Generation's front door for one parsed request (`generation.front_door.generate_content`)."""

    async def __call__(self, *, request: GenerateContentRequest) -> GenerateContentResponse: ...


class WarmContent(Protocol):
    """The same, as a warm-up serves an item: nothing answered (`generation.front_door.warm_content`)."""

    async def __call__(self, *, request: GenerateContentRequest) -> Warmed: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WarmupPorts:
    """What running warm-ups takes (`run_warmup`, `warmup_loop`); `dyngen.bootstrap_ports.warmup_ports` builds it.

    Attributes:
        warmups: The stored runs: their items, outcomes, leases and events.
        notifier: Wakes a run's event streams and the background runners, in every process.
        clock: Every time a run reads (leases, event times, waits).
        generate: Serves one item as a player's request is served (cache, single flight, providers), with the
            answer (a bundle's export reads its items through it).
        warm: The same, as a warm-up serves its items: nothing answered.
        rate_limiter: Counts the items of a run started over HTTP against its API key (None: no limits).
        rate_limits: The rate limits the limiter applies.
        running: The work running in this process, so that a cancel reaches it at once.
        runner_id: This process, as the owner of the runs it claims.
        lease_s: How long a claim lasts without a heartbeat (renewed every third of it).
    """

    warmups: WarmupRepository
    notifier: JobNotifier
    clock: Clock
    generate: GenerateContent
    warm: WarmContent
    rate_limiter: RateLimiter | None
    rate_limits: RateLimits
    running: RunningJobs
    runner_id: str
    lease_s: float


async def _warm_one(item: WarmupItem, warm: WarmContent) -> ItemOutcome:
    """Serve one item as a player's request would be served, and say what it took."""
    try:
        request = GenerateContentRequest.model_validate(item.request)
        warmed = await warm(request=request)
    except DyngenError as exc:  # a refused request (invalid node, rate limited, ...): the item failed
        return ItemOutcome(item.position, item.node_id, ItemStatus.FAILED, error_code=exc.code.value)
    except Exception:  # one broken item must not stop the others
        log.exception("warmup.item_crashed node=%s", item.node_id)
        return ItemOutcome(item.position, item.node_id, ItemStatus.FAILED, ErrorCode.GEN_PROVIDER_UNAVAILABLE.value)
    if warmed.error_code is not None:
        status = ItemStatus.FAILED
    else:
        status = ItemStatus.CACHED if warmed.hit else ItemStatus.GENERATED
    return ItemOutcome(
        item.position,
        item.node_id,
        status,
        error_code=warmed.error_code,
        cache_key=warmed.cache_key,
        generation_id=warmed.generation_id if status is ItemStatus.GENERATED else None,
    )


class _Recorder:
    """Stores outcomes as they arrive, in a task of its own: it writes everything waiting in one transaction
    (with an `item` event each and one `progress` event), so a batch forms while the previous one is
    written and nothing waits on a timer. The workers never wait for it: one that wrote the batches itself
    took no item meanwhile (issue 18: the warm-up ran at 0.91x the service path alone). A failed write
    fails the next `add` (its worker, and so the run) and `flush`, as when the worker wrote it."""

    def __init__(self, ports: WarmupPorts, warmup_id: str, counts: WarmupCounts) -> None:
        self._ports = ports
        self._id = warmup_id
        self._counts = counts
        self._waiting: list[ItemOutcome] = []
        self._writer: asyncio.Task[None] | None = None

    def add(self, outcome: ItemOutcome) -> None:
        self._waiting.append(outcome)
        if self._writer is not None and self._writer.done():
            writer, self._writer = self._writer, None
            writer.result()  # the last write's failure, if any
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_waiting())

    async def flush(self) -> None:
        """Wait until every outcome added so far is stored."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer
        await self._write_waiting()

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            events: list[tuple[str, dict[str, Any]]] = [("item", _item_event(o)) for o in batch]
            events.append(("progress", runs.progress_of(self._counts)))
            try:
                await self._ports.warmups.record_items(self._id, batch, events=events, at=self._ports.clock.now())
            except BaseException:  # cancelled or failed mid-write: the next flush writes them
                self._waiting[:0] = batch
                raise
            await self._ports.notifier.notify(self._id)


def _item_event(outcome: ItemOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {"position": outcome.position, "node_id": outcome.node_id, "status": outcome.status.value}
    if outcome.error_code:
        data["code"] = outcome.error_code
    if outcome.cache_key:
        data["cache_key"] = outcome.cache_key
    if outcome.generation_id:
        data["generation_id"] = outcome.generation_id
    return data


async def _paced(ports: WarmupPorts, api_key_id: str | None) -> None:
    """Wait until the starting API key's rate limit admits one more generation (counted like a request)."""
    while True:
        try:
            await rate_limits.admit_request(
                api_key_id=api_key_id,
                player=None,
                limiter=ports.rate_limiter,
                limits=ports.rate_limits,
            )
        except DyngenError as exc:
            if exc.code is not ErrorCode.GEN_RATE_LIMITED:
                raise
            await ports.clock.sleep(max(0.01, exc.retry_after_s or 1.0))
        else:
            return


async def _work(
    ports: WarmupPorts, run: WarmupRun, items: list[WarmupItem], counts: WarmupCounts, progress: Progress | None
) -> None:
    """Warm `items` with at most `run.concurrency` provider runs at once (`generation/slots.py`), and up to
    twice as many items under way in all: an item is prepared and looked up in the cache before it takes a
    slot, and its record and cache entry are written after it gave the slot back, while the other items'
    calls run (issue 18: an item that held its slot through all of it kept the warm-up at ~0.81 of what the
    provider's latency allows)."""
    recorder = _Recorder(ports, run.id, counts)
    calls = asyncio.Semaphore(run.concurrency)
    under_way = asyncio.Semaphore(2 * run.concurrency)
    running: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    async def warm(item: WarmupItem) -> None:
        slot = CallSlot(calls)
        try:
            CALL_SLOT.set(slot)  # in this task's own context, which the flight it starts copies
            outcome = await _warm_one(item, ports.warm)
            counts.count(outcome)
            if progress is not None:
                progress(counts, outcome)
            recorder.add(outcome)
        finally:
            slot.give_back()
            under_way.release()

    def ended(task: asyncio.Task[None]) -> None:
        running.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            failures.append(error)

    try:
        for item in items:
            await under_way.acquire()
            if failures:
                break
            if run.origin == runs.ORIGIN_API:
                await _paced(ports, run.options.get("api_key_id"))
            task = asyncio.ensure_future(warm(item))
            running.add(task)
            task.add_done_callback(ended)
        if running and not failures:
            await asyncio.wait(set(running), return_when=asyncio.FIRST_EXCEPTION)
        if failures:
            raise failures[0]
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await recorder.flush()  # what finished before a cancel or a crash is kept


async def _keep_lease(
    ports: WarmupPorts, warmup_id: str, owner: str, work: asyncio.Future[None], lost: list[bool]
) -> None:
    lease = ports.lease_s
    while not work.done():
        await asyncio.sleep(lease / 3)
        try:
            owned, cancel = await ports.warmups.heartbeat_warmup(
                warmup_id, owner=owner, lease_until=ports.clock.now() + timedelta(seconds=lease)
            )
        except Exception:  # the database is briefly unreachable: try again at the next beat
            log.warning("warmup.heartbeat_failed id=%s", warmup_id)
            continue
        if cancel or not owned:
            lost.append(not owned)
            work.cancel()
            return


async def _claim(ports: WarmupPorts, warmup_id: str, *, wait: bool, finished: bool) -> WarmupRun | None:
    """Claim a run for this process; with `wait`, wait out a lease that a dead runner left behind."""
    lease = ports.lease_s
    for attempt in range(2):
        now = ports.clock.now()
        run = await ports.warmups.claim_warmup(
            warmup_id,
            owner=ports.runner_id,
            now=now,
            lease_until=now + timedelta(seconds=lease),
            finished=finished,
        )
        if run is not None or not wait or attempt:
            return run
        current = await runs.get_warmup(warmup_id=warmup_id, warmups=ports.warmups)
        until = current.lease_expires_at
        if until is None:
            return None
        log.info("warmup.waiting_for_lease id=%s owner=%s until=%s", warmup_id, current.lease_owner, until)
        await ports.clock.sleep(max(0.0, (until - now).total_seconds()) + 0.05)
    return None


async def _release(ports: WarmupPorts, warmup_id: str) -> None:
    """Let the lease go at once (an orderly stop), so the run can be resumed without waiting it out."""
    try:
        await ports.warmups.heartbeat_warmup(warmup_id, owner=ports.runner_id, lease_until=ports.clock.now())
    except Exception:  # it expires by itself
        log.warning("warmup.release_failed id=%s", warmup_id)


async def run_warmup(
    *,
    warmup_id: str,
    ports: WarmupPorts,
    progress: Progress | None = None,
    wait_for_lease: bool = False,
    finished_too: bool = True,
) -> runs.WarmupReport:
    """Claim a run and warm what it has left: pending items and items that failed before.

    Args:
        progress: Called (synchronously) with the counts at the start and after every item.
        wait_for_lease: When another runner holds the run, wait until its lease would expire and try once
            more (a killed `dyngen warm` leaves a lease behind; a live runner keeps renewing it).
        finished_too: Also take a finished run (an explicit resume retries its failed items); the
            background runner passes False.

    Raises:
        DyngenError: NOT_FOUND for an unknown id; CONFLICT when another runner is working on it.
    """
    warmups, notifier, clock = ports.warmups, ports.notifier, ports.clock
    run = await runs.get_warmup(warmup_id=warmup_id, warmups=warmups)
    claimed = await _claim(ports, warmup_id, wait=wait_for_lease, finished=finished_too)
    if claimed is None:
        current = await runs.get_warmup(warmup_id=warmup_id, warmups=warmups)
        until = f" until {current.lease_expires_at:%H:%M:%S} UTC" if current.lease_expires_at else ""
        raise DyngenError(
            ErrorCode.CONFLICT,
            f"warm-up {warmup_id} is being run by {current.lease_owner or 'another runner'}{until}",
        )
    run = claimed
    items = await warmups.pending_items(run.id)
    counts = await warmups.warmup_counts(run.id)
    resumed = counts.done > 0
    log.info("warmup.started id=%s items=%d already_done=%d", run.id, len(items), counts.done)
    started = {"status": WarmupStatus.RUNNING.value, "resumed": resumed, **runs.progress_of(counts)}
    await runs.emit(run.id, "progress", started, warmups=warmups, notifier=notifier, clock=clock)
    if progress is not None:
        progress(counts, None)
    lost: list[bool] = []
    work = asyncio.ensure_future(_work(ports, run, items, counts, progress))
    ports.running.add(runs.task_name(run.id), work)
    keeper = asyncio.ensure_future(_keep_lease(ports, run.id, ports.runner_id, work, lost))
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.cancelled():
            # This runner is shutting down: stop the work, keep what finished; the lease expires and the
            # run is resumed (by a server's runner, or `dyngen warm --resume`).
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            await _release(ports, run.id)
            raise
        if lost and lost[0]:
            log.warning("warmup.lease_lost id=%s", run.id)
            return await runs.get_report(warmup_id=run.id, warmups=warmups)
        status = WarmupStatus.CANCELLED
    else:
        final = await warmups.warmup_counts(run.id)
        status = WarmupStatus.COMPLETE if final.pending == 0 and not final.failed else WarmupStatus.FAILED
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    await warmups.finish_warmup(run.id, owner=ports.runner_id, status=status, at=clock.now())
    report = await runs.completed(run.id, warmups=warmups, notifier=notifier, clock=clock)
    log.info(
        "warmup.finished id=%s status=%s generated=%d cached=%d failed=%s",
        run.id,
        report.status.value,
        report.generated,
        report.cached,
        report.failed,
    )
    return report


async def warmup_loop(*, ports: WarmupPorts) -> None:
    """Background runner of a server process: claims the API's queued runs, and runs whose runner died
    (their lease expired; this is how unfinished runs resume after a restart), and runs them."""
    running: dict[str, asyncio.Task[Any]] = {}
    idle_s = max(0.5, ports.lease_s / 2)
    try:
        while True:
            try:
                for warmup_id in await ports.warmups.claimable_warmups(origin=runs.ORIGIN_API, now=ports.clock.now()):
                    if warmup_id not in running:
                        running[warmup_id] = asyncio.create_task(_run_claimable(ports, warmup_id))
            except Exception:  # a failed sweep is retried at the next one
                log.exception("warmup.sweep_failed")
            for warmup_id in [w for w, t in running.items() if t.done()]:
                running.pop(warmup_id)
            await ports.notifier.wait(runs.WAKE, timeout_s=idle_s)
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)


async def _run_claimable(ports: WarmupPorts, warmup_id: str) -> None:
    warmups = ports.warmups
    run = await warmups.get_warmup(warmup_id)
    if run is not None and run.cancel_requested:
        # Cancelled while nobody ran it (queued, or its runner was gone): end it here.
        if await warmups.finish_warmup(warmup_id, owner=None, status=WarmupStatus.CANCELLED, at=ports.clock.now()):
            await runs.completed(warmup_id, warmups=warmups, notifier=ports.notifier, clock=ports.clock)
        return
    try:
        await run_warmup(warmup_id=warmup_id, ports=ports, finished_too=False)
    except DyngenError as exc:
        if exc.code is not ErrorCode.CONFLICT:  # CONFLICT: another process claimed it first
            log.warning("warmup.failed id=%s code=%s message=%s", warmup_id, exc.code.value, exc.message)
    except Exception:
        log.exception("warmup.crashed id=%s", warmup_id)
