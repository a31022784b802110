"""Pre-generation warm-up (spec section 9, "high latency transitions"; section 15): generate a scene
graph's critical transitions ahead of play, with bounded concurrency, resumable after an interruption.

What is warmed and in what order: `dyngen.domain.warmup`. Each item is the request `play` would send for
the node between its two scenes, with a player context holding only the ids the caller named, and goes
through generation's front door (`generate_content`, reached through `WarmupPorts.generate`): the same
cache, single flight, provider path, budgets and rate limits as a player's request. An item already in
the cache counts as `cached` and is not generated again.

A run is a stored record (`WarmupRepository`) claimed with a lease, like a job: every item's outcome is
stored as it completes (outcomes finished together are written in one transaction), so a run that was
interrupted (killed, restarted) resumes with the items still pending, and items that failed are tried
again. Runs started over HTTP are run by a background runner in a server process (`warmup_loop`), which
also resumes the API's unfinished runs after a restart; `dyngen warm` runs its own in the foreground and
resumes with `--resume ID`.

This module keeps the runs' records: create, read, report, cancel, and their event stream; running them is
`runner.py`'s.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from dyngen.domain.contracts import Id, SnakeModel
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.domain.warmup import (
    DEFAULT_CONCURRENCY,
    FINISHED,
    MAX_CONCURRENCY,
    WarmupCounts,
    WarmupEvent,
    WarmupRun,
    WarmupStatus,
)
from dyngen.ports import Clock, GraphRepository, JobNotifier, WarmupRepository
from dyngen.services.authoring.graphs import get_graph
from dyngen.services.generation.request import Preparer
from dyngen.services.machinery.container import RunningJobs
from dyngen.services.machinery.ids import new_id
from dyngen.services.warmup.plan import plan

log = logging.getLogger("dyngen.warmup")

ORIGIN_API = "api"
ORIGIN_CLI = "cli"
WAKE = "warmups"  # the notifier channel that tells background runners a run was queued
TERMINAL_EVENT = "completed"


class WarmRequest(SnakeModel):
    """`POST /api/graphs/{graph_id}/warm`: what to warm (every field optional)."""

    playthrough: list[Id] | None = Field(default=None, max_length=10_000)
    concurrency: Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)] | None = None
    playthrough_id: Id | None = None
    player_id: Id | None = None


class SkippedNode(BaseModel):
    node_id: str
    reason: str


class WarmupReport(BaseModel):
    """A run's report: items by outcome (`failed` by error code), the cost of the generations it made."""

    warmup_id: str
    graph_id: str
    graph_version: int | None
    status: WarmupStatus
    total: int
    pending: int
    generated: int
    cached: int
    failed: dict[str, int]
    cost: float
    concurrency: int
    skipped: list[SkippedNode]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def report_of(run: WarmupRun, counts: WarmupCounts) -> WarmupReport:
    return WarmupReport(
        warmup_id=run.id,
        graph_id=run.graph_id,
        graph_version=run.graph_version,
        status=run.status,
        total=counts.total,
        pending=counts.pending,
        generated=counts.generated,
        cached=counts.cached,
        failed=dict(sorted(counts.failed.items())),
        cost=round(counts.cost, 6),
        concurrency=run.concurrency,
        skipped=[SkippedNode(**s) for s in run.skipped],
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


async def create_warmup(
    *,
    graph: SceneGraph,
    graph_version: int | None,
    playthroughs: Sequence[Sequence[str]] = (),
    playthrough_id: str | None = None,
    player_id: str | None = None,
    concurrency: int | None = None,
    origin: str,
    api_key_id: str | None = None,
    preparer: Preparer,
    warmups: WarmupRepository,
    clock: Clock,
) -> WarmupRun:
    """Plan a warm-up of `graph` and store it as a queued run (nothing is generated yet).

    `api_key_id`: the key that started a run over HTTP; each of its transitions counts against that key's
    rate limit, and the run waits when the limit is spent (a run of the CLI is not an API client).

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a playthrough that does not fit the graph, or a concurrency
            outside 1..256.
    """
    workers = concurrency or DEFAULT_CONCURRENCY
    if not 1 <= workers <= MAX_CONCURRENCY:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"concurrency must be 1..{MAX_CONCURRENCY}",
            details=[{"field": "concurrency", "message": f"must be 1..{MAX_CONCURRENCY}", "type": "value_error"}],
        )
    items, skipped = plan(
        graph=graph, playthroughs=playthroughs, playthrough_id=playthrough_id, player_id=player_id, preparer=preparer
    )
    run = WarmupRun(
        id=new_id(),
        graph_id=graph.id,
        graph_version=graph_version,
        origin=origin,
        status=WarmupStatus.QUEUED,
        concurrency=workers,
        options={
            "playthroughs": [list(p) for p in playthroughs],
            "playthrough_id": playthrough_id,
            "player_id": player_id,
            "api_key_id": api_key_id,
        },
        skipped=[{"node_id": s.node_id, "reason": s.reason} for s in skipped],
        created_at=clock.now(),
    )
    await warmups.add_warmup(run, items)
    log.info("warmup.created id=%s graph=%s items=%d skipped=%d", run.id, graph.id, len(items), len(skipped))
    return run


async def warm_stored_graph(
    *,
    graph_id: str,
    body: WarmRequest,
    api_key_id: str | None = None,
    graphs: GraphRepository,
    preparer: Preparer,
    warmups: WarmupRepository,
    notifier: JobNotifier,
    clock: Clock,
) -> WarmupRun:
    """`POST /api/graphs/{graph_id}/warm`: queue a warm-up of a stored graph's current version for the
    background runner.

    Raises:
        DyngenError: NOT_FOUND for an unknown graph; GEN_INVALID_CONFIG as `create_warmup`.
    """
    stored = await get_graph(graph_id=graph_id, version=None, graphs=graphs)
    run = await create_warmup(
        graph=SceneGraph.model_validate(stored.body),
        graph_version=stored.version,
        playthroughs=[body.playthrough] if body.playthrough else [],
        playthrough_id=body.playthrough_id,
        player_id=body.player_id,
        concurrency=body.concurrency,
        origin=ORIGIN_API,
        api_key_id=api_key_id,
        preparer=preparer,
        warmups=warmups,
        clock=clock,
    )
    counts = await warmups.warmup_counts(run.id)
    progress = {"status": run.status.value, **progress_of(counts)}
    await emit(run.id, "progress", progress, warmups=warmups, notifier=notifier, clock=clock)
    await notifier.notify(WAKE)
    return run


async def get_warmup(*, warmup_id: str, warmups: WarmupRepository) -> WarmupRun:
    """Raises DyngenError NOT_FOUND for an unknown id."""
    run = await warmups.get_warmup(warmup_id)
    if run is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no warm-up {warmup_id!r}")
    return run


async def get_report(*, warmup_id: str, warmups: WarmupRepository) -> WarmupReport:
    """The report of a run, from its stored progress."""
    run = await get_warmup(warmup_id=warmup_id, warmups=warmups)
    return report_of(run, await warmups.warmup_counts(run.id))


async def cancel_warmup(
    *, warmup_id: str, warmups: WarmupRepository, notifier: JobNotifier, clock: Clock, running: RunningJobs
) -> WarmupReport:
    """Cancel a run: a queued one at once; a running one stops where it runs (items in flight finish or
    are abandoned; what finished stays stored, so the run can be resumed). `running`: the work running
    in this process (a run that runs elsewhere sees the cancel at its next heartbeat)."""
    run = await get_warmup(warmup_id=warmup_id, warmups=warmups)
    if run.status in FINISHED:
        return await get_report(warmup_id=warmup_id, warmups=warmups)
    await warmups.request_warmup_cancel(warmup_id)
    now = clock.now()
    nobody_runs_it = run.status is WarmupStatus.QUEUED or (
        run.lease_expires_at is not None and run.lease_expires_at < now  # its runner is gone
    )
    if nobody_runs_it and await warmups.finish_warmup(warmup_id, owner=None, status=WarmupStatus.CANCELLED, at=now):
        await completed(warmup_id, warmups=warmups, notifier=notifier, clock=clock)
    else:
        running.cancel(task_name(warmup_id))  # at once in this process; elsewhere at the heartbeat
    return await get_report(warmup_id=warmup_id, warmups=warmups)


def task_name(warmup_id: str) -> str:
    return f"warmup:{warmup_id}"


def progress_of(counts: WarmupCounts) -> dict[str, Any]:
    return {
        "total": counts.total,
        "done": counts.done,
        "generated": counts.generated,
        "cached": counts.cached,
        "failed": dict(sorted(counts.failed.items())),
    }


async def emit(
    warmup_id: str, type_: str, data: dict[str, Any], *, warmups: WarmupRepository, notifier: JobNotifier, clock: Clock
) -> None:
    await warmups.add_warmup_event(warmup_id, type_, data, at=clock.now())
    await notifier.notify(warmup_id)


async def completed(warmup_id: str, *, warmups: WarmupRepository, notifier: JobNotifier, clock: Clock) -> WarmupReport:
    report = await get_report(warmup_id=warmup_id, warmups=warmups)
    data = report.model_dump(mode="json")
    await emit(warmup_id, TERMINAL_EVENT, data, warmups=warmups, notifier=notifier, clock=clock)
    return report


async def stream_events(
    *, warmup_id: str, after: int, warmups: WarmupRepository, notifier: JobNotifier
) -> AsyncIterator[WarmupEvent | None]:
    """A run's events from `after` on, ending with `completed`. Yields None when nothing happened for a
    while (the caller may send a keep-alive)."""
    last = after
    await notifier.watch(warmup_id)  # before the first look: a notify from here on is not lost to another stream
    while True:
        events = await warmups.warmup_events_after(warmup_id, last)
        for event in events:
            yield event
            last = event.id
            if event.type == TERMINAL_EVENT:
                return
        if not events:
            yield None
            await notifier.wait(warmup_id, timeout_s=1.0)
