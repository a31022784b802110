"""`Services`: the ports and options every use case runs with, assembled by `bootstrap.build`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from dyngen.domain.access import AuthMode
from dyngen.domain.budgets import BudgetPolicy
from dyngen.domain.cache_keys import ReviewPolicy
from dyngen.domain.rate_limits import RateLimits
from dyngen.domain.retention import RetentionPolicy
from dyngen.domain.social import DEFAULT_RELATIONSHIP_TABLE, RelationshipTable
from dyngen.ports import (
    ApiKeyRepository,
    ArtifactStore,
    BudgetLedger,
    BudgetLimitRepository,
    Clock,
    GenerationRepository,
    GraphRepository,
    JobNotifier,
    JobQueue,
    JobRepository,
    Metrics,
    NodeConfigRepository,
    RateLimiter,
    RecordOutbox,
    RetentionRepository,
    ReviewRepository,
    SingleFlight,
    WarmupRepository,
)
from dyngen.services.machinery.background import BackgroundTasks
from dyngen.services.machinery.graph_cache import GraphCache
from dyngen.services.machinery.key_cache import KeyCache
from dyngen.services.machinery.layered_cache import LayeredCache
from dyngen.services.machinery.live_media import LiveArtifacts
from dyngen.services.machinery.media import MediaLinks
from dyngen.services.machinery.memo import GenerationMemo
from dyngen.services.machinery.providers import ProviderRegistry
from dyngen.services.machinery.scores import ScoreBoard
from dyngen.services.machinery.template_library import TemplateLibrary


class RunningJobs:
    """The job tasks running in this process, so that a cancel can reach them."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Future[Any]] = {}

    def add(self, job_id: str, task: asyncio.Future[Any]) -> None:
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    def cancel(self, job_id: str) -> bool:
        task = self._tasks.get(job_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def __len__(self) -> int:
        return len(self._tasks)

    async def stop(self) -> None:
        """Cancel every job still running here and wait for it to end, before the connections it uses are
        closed (a runner that shuts down leaves its job's work running: its lease then expires and the
        reaper hands the job on, as for a process that died)."""
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# How long stopping waits for a background task it cancelled before cancelling it again.
RECANCEL_S = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Service behaviour chosen by settings. `bootstrap.build` gives every value: the defaults are
    `Settings`' own, kept in one place, so an option named like a setting has no default here
    (`tests/unit/test_config_file.py` checks it); the policies below default to "nothing configured".

    Attributes:
        dev_tools: Honour `simulate` (forced failures, added latency) in requests.
        default_timeout_ms: Deadline of a generation whose node sets no `timeoutMs`.
        retry_backoff_ms: First delay between retries of fallback mode `retry`; doubles each retry.
        job_lease_s: How long a job runner's claim lasts without a heartbeat (it beats every third).
        job_max_attempts: Runs of a job (retryable failures, lost runners) before it fails for good.
        job_retry_base_s: First delay before a job runs again; doubles per attempt, with jitter.
        cache_ttl_s: Cache entry lifetime per strategy (`once`, `per_playthrough`, `per_player`); a
            missing or None value never expires.
        auth: When API keys are enforced (`auto`: once an active key exists; `required`; `off`).
        budgets: Cost budgets per node and the global cap, per period.
        rate_limits: Rate limits per API key, player and always-fresh node.
        review_policy: How review scores steer variant choice (drop threshold, reviews needed first).
        retention: How long records, artifacts and events are kept (`dyngen gc`, the server's sweep).
        upload_max_bytes: Images uploaded in the editor over this many bytes are refused.
        upload_max_pixels: Images uploaded in the editor over this many pixels (by their header) are refused.
    """

    dev_tools: bool
    default_timeout_ms: int
    retry_backoff_ms: int
    job_lease_s: float
    job_max_attempts: int
    job_retry_base_s: float
    auth: AuthMode
    record_timeout_s: float
    outbox_replay_s: float
    cache_ttl_s: dict[str, float | None]
    retention: RetentionPolicy
    upload_max_bytes: int
    upload_max_pixels: int
    relationship_table: RelationshipTable = DEFAULT_RELATIONSHIP_TABLE
    budgets: BudgetPolicy = field(default_factory=BudgetPolicy)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    review_policy: ReviewPolicy = field(default_factory=ReviewPolicy)


@dataclass(slots=True)
class Services:
    """Everything a use case needs. Build it with `dyngen.bootstrap.build`; close it with `aclose`.

    `entropy` is where fresh (`timestamp`) seeds come from: seeded from the OS in production, pinned in tests.
    `probes` are the health checks of the dependencies beyond the repository (object store, Redis), by name.
    `keys` are the API keys; `key_cache` keeps the request path from asking the repository every time.
    `templates` is the template library, read once at start.
    """

    repository: GenerationRepository
    jobs: JobRepository
    queue: JobQueue
    notifier: JobNotifier
    graphs: GraphRepository
    nodes: NodeConfigRepository
    metrics: Metrics
    cache: LayeredCache
    single_flight: SingleFlight
    artifacts: ArtifactStore
    providers: ProviderRegistry
    clock: Clock
    keys: ApiKeyRepository
    reviews: ReviewRepository
    warmups: WarmupRepository
    options: Options
    entropy: random.Random = field(default_factory=random.Random)
    probes: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    memo: GenerationMemo = field(default_factory=GenerationMemo)
    runtime_graphs: GraphCache = field(default_factory=GraphCache)
    running: RunningJobs = field(default_factory=RunningJobs)
    runner_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    run_job: Callable[[str], Awaitable[float | None]] | None = None
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    key_cache: KeyCache = field(default_factory=KeyCache)
    templates: TemplateLibrary = field(default_factory=TemplateLibrary)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Cost budgets and rate limits (bootstrap sets both; None: spend is not counted, nothing is limited).
    budget_ledger: BudgetLedger | None = None
    # Budget limits set in the editor, over `options.budgets` (None: only the configured ones apply).
    budget_limits: BudgetLimitRepository | None = None
    rate_limiter: RateLimiter | None = None
    # Review scores for variant selection; hybrid refreshes running in the background (cancelled on close).
    scores: ScoreBoard = field(default_factory=ScoreBoard)
    refreshes: BackgroundTasks = field(default_factory=BackgroundTasks)
    # Signed artifact URLs in responses (the deployment's secret, lifetime and public base URL).
    media: MediaLinks = field(default_factory=MediaLinks)
    # Retention's queries (bootstrap sets it; None: nothing is ever removed).
    retention: RetentionRepository | None = None
    # Generation records the database could not take in time, replayed by `records.outbox_loop` (None:
    # such a record is logged and lost).
    outbox: RecordOutbox | None = None
    # Videos served while they render (the embedded mode with DYNGEN_VIDEO_STREAMING; None: every
    # generation answers once its artifacts are whole).
    live: LiveArtifacts | None = None
    # The use cases' port bundles `bootstrap` built from these fields, by name: built once, at the first
    # call of their builder; setting a field anew (as a test may, after `build`) drops them, so the next
    # call builds them from the new value.
    bundles: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name != "bundles" and (built := getattr(self, "bundles", None)):
            built.clear()

    async def start(self) -> None:
        """Start the background work (job runner, reaper, spool uploads): the API's lifespan and the
        worker call this; one-shot CLI commands don't."""
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(run(), name=f"dyngen-{getattr(run, '__name__', 'background')}")
            for run in self.background
        ]

        async def stop() -> None:
            for task in tasks:
                task.cancel()
            for task in tasks:
                # A cancel that lands inside a Redis client call can be swallowed there: the warm-up loop,
                # waiting on the job notifier, of a worker stopped just after it started kept that worker
                # from ever exiting. Cancel again until the task has stopped.
                while not task.done():
                    await asyncio.wait({task}, timeout=RECANCEL_S)
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.running.stop()

        self.closers.append(stop)

    async def aclose(self) -> None:
        """Release connections and background work, newest first."""
        await self.refreshes.aclose()  # before the connections they use
        while self.closers:
            await self.closers.pop()()
