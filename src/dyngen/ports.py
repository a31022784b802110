"""The seams between the core (domain, services) and the outside world (adapters).

Each port is a `typing.Protocol`; adapters are named technology + role (`MemoryCacheTier`,
`SqlAlchemyGenerationRepository`). Only `bootstrap.build()` picks which adapter fills which port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from dyngen.domain.cache_keys import ReviewScore
from dyngen.domain.contracts import GenerateContentRequest, GeneratedContentPayload, GenerationType
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.warmup import ItemOutcome, WarmupCounts, WarmupEvent, WarmupItem, WarmupRun, WarmupStatus


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What a provider is and can do.

    Attributes:
        name: Registry name (`builtin`, `openai`, ...).
        generation_types: The generation types it can produce.
        media: Media types of the artifacts it writes (`application/json`, `video/mp4`, ...).
        deterministic: True when the same request and seed always give the same bytes.
        uses_scene_images: True when it draws on the scenes' `image`s; the service then fetches those that
            name stored artifacts into `ProviderCall.images`.
    """

    name: str
    generation_types: frozenset[GenerationType]
    media: frozenset[str]
    deterministic: bool
    uses_scene_images: bool = False


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One attempt at generating content.

    Attributes:
        request: The validated request (scenes, style, constraints, contexts).
        seed: The resolved seed; a deterministic provider must give the same output for the same seed.
        attempt: 1 for the first try, 2 for the first retry, ...
        deadline_s: Seconds left before the node's timeout; the service also enforces it.
        images: Scene images that name stored artifacts, by that name: the bytes the service read from the
            artifact store (only for a provider whose info says `uses_scene_images`).
        remote_job: A job this provider already started upstream for this generation (a worker that died
            left it running): a `RemoteJobProvider` polls it instead of submitting again.
        on_remote_job: Told of each job a `RemoteJobProvider` starts upstream, so the service can keep it
            with the generation's job and hand it to whichever worker carries on.
    """

    request: GenerateContentRequest
    seed: int
    attempt: int
    deadline_s: float
    images: Mapping[str, bytes] = field(default_factory=dict)
    remote_job: RemoteJob | None = None
    on_remote_job: Callable[[RemoteJob], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class RemoteJob:
    """A job a provider started on the service it calls: the provider's name and the job's id there."""

    provider: str
    id: str


@dataclass(frozen=True, slots=True)
class ArtifactBlob:
    """Bytes a provider produced. `primary` marks the one the payload's `url` points at."""

    role: str
    media_type: str
    data: bytes
    primary: bool = False


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """What a provider returns: the payload, its artifacts and what it cost.

    `answered_by` names the provider that made the content when it is not the one called (a chain's
    member); the response shows it.
    """

    payload: GeneratedContentPayload
    artifacts: list[ArtifactBlob] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    fingerprint: str = ""
    answered_by: str | None = None


@runtime_checkable
class Provider(Protocol):
    """A content generator. Raises `DyngenError` with a GEN_* code when it cannot produce content."""

    info: ProviderInfo

    def estimate_cost(self, request: GenerateContentRequest) -> float: ...

    async def generate(self, call: ProviderCall) -> ProviderResult: ...


@runtime_checkable
class RemoteJobProvider(Provider, Protocol):
    """A provider whose upstream service works in jobs. `generate` submits (or resumes `call.remote_job`),
    polls until the job ends and collects the result; these are its steps, for callers that drive them.
    """

    async def submit(self, call: ProviderCall) -> RemoteJob:
        """Start the job upstream; returns its handle."""
        ...

    async def poll(self, job: RemoteJob, call: ProviderCall) -> ProviderResult | None:
        """The result once the job has finished, None while it runs.

        Raises:
            DyngenError: The job failed upstream, or its result cannot be fetched.
        """
        ...

    async def cancel(self, job: RemoteJob) -> None:
        """Ask upstream to stop the job (best effort; never raises)."""
        ...


class CacheTier(Protocol):
    """One layer of the content cache. Values are opaque bytes; `name` appears in `cache.tier`."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None: ...

    async def delete(self, keys: Iterable[str]) -> int: ...


class SingleFlight(Protocol):
    """Runs one producer per key at a time; concurrent callers for the same key share its result.

    Results are bytes so that they can cross processes.
    """

    async def run(
        self, key: str, produce: Callable[[], Awaitable[bytes]], *, timeout_s: float | None = None
    ) -> tuple[bytes, bool]:
        """Returns the result and True when this caller joined a flight another caller started.

        Raises:
            TimeoutError: The result did not arrive within `timeout_s` (the flight itself goes on).
        """
        ...

    def is_running(self, key: str) -> bool:
        """True while this process runs (or waits on) a flight for `key`."""
        ...


class ObjectStore(Protocol):
    """Named blobs: a local folder or an S3-compatible bucket."""

    name: str

    def uri(self, key: str) -> str: ...

    def key_of(self, uri: str) -> str: ...

    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, keys: Iterable[str]) -> int: ...

    async def ping(self) -> None: ...


class InvalidationBus(Protocol):
    """Carries invalidated cache keys to every process, so their local tiers drop them too."""

    async def publish(self, keys: Iterable[str]) -> None: ...

    def subscribe(self, handler: Callable[[list[str]], Awaitable[Any]]) -> None: ...


class ArtifactStore(Protocol):
    """Durable bytes, addressed by the URI `put` returns."""

    async def put(self, data: bytes, *, media_type: str, content_hash: str) -> str: ...

    async def get(self, uri: str) -> bytes: ...

    async def ping(self) -> None: ...

    async def pending(self) -> int:
        """Artifacts accepted but not yet in durable storage (a spool waiting for its store)."""
        ...


@dataclass(frozen=True, slots=True)
class GenerationFilter:
    cache_key: str | None = None
    node_id: str | None = None
    status: str | None = None
    version: int | None = None
    limit: int = 100


class GenerationRepository(Protocol):
    """Stores every generation and its artifacts."""

    async def add(self, record: GenerationRecord) -> None: ...

    async def get(self, generation_id: str) -> GenerationRecord | None: ...

    async def find(self, query: GenerationFilter) -> list[GenerationRecord]: ...

    async def cache_keys(
        self,
        *,
        node_id: str | None = None,
        version: int | None = None,
        cache_key: str | None = None,
        prefix: str | None = None,
    ) -> list[str]:
        """The distinct keys that completed generations filled, narrowed by every selector given."""
        ...

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None: ...

    async def ping(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Review:
    """A reviewer's 1-5 score of one generation, with what it is grouped by (its key, node and arm)."""

    id: str
    generation_id: str
    node_id: str | None
    cache_key: str
    arm: str | None
    score: int
    note: str | None
    reviewer: str | None
    created_at: datetime


class ReviewRepository(Protocol):
    """Quality reviews of generations, and their means by generation, cache key and arm."""

    async def add_review(self, review: Review) -> None: ...

    async def generation_score(self, generation_id: str) -> ReviewScore | None:
        """The mean and count of a generation's reviews (None when it has none)."""
        ...

    async def key_scores(self, cache_keys: Sequence[str]) -> dict[str, ReviewScore]:
        """The mean and count of the reviews of each key's generations (keys without reviews left out)."""
        ...

    async def arm_scores(self, node_id: str) -> dict[str | None, ReviewScore]:
        """A node's reviews by arm (None: generations outside any arm)."""
        ...


class Clock(Protocol):
    """Every clock read and sleep goes through here, so tests can drive time."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


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
class QueueStats:
    depth: int
    oldest_queued_at: datetime | None


class JobRepository(Protocol):
    """Async jobs. A job is its `Generation` record: status queued -> processing -> complete | failed."""

    async def add(self, record: GenerationRecord) -> None: ...

    async def get(self, generation_id: str) -> GenerationRecord | None: ...

    async def by_idempotency_key(self, key: str) -> GenerationRecord | None: ...

    async def active_for(self, *, cache_key: str, fingerprint: str) -> GenerationRecord | None:
        """A queued or processing job for the same key and config, to join instead of starting another."""
        ...

    async def claim(self, job_id: str, *, owner: str, now: datetime, lease_until: datetime) -> GenerationRecord | None:
        """Take a queued job (or one whose lease expired) for `owner`; None when it is not claimable."""
        ...

    async def heartbeat(self, job_id: str, *, owner: str, lease_until: datetime) -> tuple[bool, bool]:
        """Extend the lease; returns (still owned, cancel requested)."""
        ...

    async def finish(self, record: GenerationRecord) -> None:
        """Write a job's final state (and its artifacts), clearing its lease."""
        ...

    async def requeue(self, job_id: str, *, attempts: int) -> None: ...

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

    async def wait(self, job_id: str, *, timeout_s: float) -> None:
        """Return when `notify` is called for the job, or after `timeout_s`."""
        ...


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyRepository(Protocol):
    """API keys, stored hashed (the key itself is shown once, at creation)."""

    async def add_key(self, key: ApiKey, *, key_hash: str) -> None: ...

    async def key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def list_keys(self) -> list[ApiKey]: ...

    async def revoke_key(self, key_id: str, *, at: datetime) -> bool: ...

    async def count_active_keys(self) -> int: ...


class Metrics(Protocol):
    """Telemetry (spec section 12), exported in Prometheus's text format."""

    def generation(self, *, node: str, type_: str, provider: str, outcome: str, seconds: float, tokens: int) -> None:
        """One provider run ended: `outcome` is complete or the error code."""
        ...

    def cache_request(self, *, node: str, tier: str, hit: bool) -> None: ...

    def provider_call(self, *, provider: str, outcome: str) -> None: ...

    def job_event(self, *, type_: str) -> None: ...

    def waiters(self, delta: int) -> None:
        """Callers waiting on another caller's single flight (+1 on join, -1 when served)."""
        ...

    def seed_drift(self, *, node: str) -> None: ...

    def cache_counts(self, *, node: str) -> tuple[int, int]:
        """(hits, misses) counted for a node (across this machine's processes)."""
        ...

    def render(self) -> tuple[bytes, str]:
        """The exposition and its content type."""
        ...


@dataclass(frozen=True, slots=True)
class StoredGraph:
    id: str
    version: int
    title: str
    body: dict[str, Any]
    author: str | None
    created_at: datetime


class GraphRepository(Protocol):
    """Scene graphs; every save is a new version (the newest is current); delete hides every version."""

    async def save_graph(
        self, graph_id: str, *, title: str, body: dict[str, Any], author: str | None, at: datetime
    ) -> int:
        """Store a new version and return its number."""
        ...

    async def get_graph(self, graph_id: str, version: int | None = None) -> StoredGraph | None: ...

    async def list_graphs(self) -> list[StoredGraph]:
        """The current version of every graph that is not deleted."""
        ...

    async def delete_graph(self, graph_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class NodeVersion:
    node_id: str
    version: int
    config: dict[str, Any]
    author: str | None
    note: str | None
    created_at: datetime


class NodeConfigRepository(Protocol):
    """Node configs with their history (every save is a new version)."""

    async def save_node(
        self, node_id: str, *, config: dict[str, Any], author: str | None, note: str | None, at: datetime
    ) -> int:
        """Store `config` as the node's next version (its `version` field set to that number)."""
        ...

    async def node_version(self, node_id: str, version: int | None = None) -> NodeVersion | None: ...

    async def node_versions(self, node_id: str) -> list[NodeVersion]:
        """Newest first."""
        ...


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A provider that failed too often and is not tried until `until`.

    Attributes:
        until: When the cooldown ends (wall clock, UTC).
        reason: Why, e.g. "3 failures in 60 s (GEN_TIMEOUT)".
    """

    until: datetime
    reason: str


class CircuitBreaker(Protocol):
    """Counts provider failures; a provider that fails N times within a window cools down for a period.

    Successes do not reset the count: a provider failing every other call still trips it.

    Shared through Redis in scaled mode, so every process skips the same providers.
    """

    async def cooldown(self, name: str) -> Cooldown | None:
        """The provider's current cooldown, or None when it may be tried."""
        ...

    async def record_failure(self, name: str, *, code: str) -> Cooldown | None:
        """Count one failure (`code` is its GEN_* code); returns the cooldown when this one trips it."""
        ...

    async def cooldowns(self, names: Iterable[str]) -> dict[str, Cooldown]:
        """The current cooldowns among `names`."""
        ...


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget held for one provider call until it is committed (with the actual cost) or released.

    Attributes:
        id: Unique per reservation.
        period: The budget period's key (`2026-11-25`).
        scopes: The scopes charged, global first (`global`, `node:<id>`).
        amount: Micro-units held (the provider's estimate).
        node_id: The node charged (`-` for none), for the spend history.
        provider: The provider called, for the spend history.
    """

    id: str
    period: str
    scopes: tuple[str, ...]
    amount: int
    node_id: str
    provider: str


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    """Why a reservation was refused: the first scope whose budget it would overrun.

    Attributes:
        scope: `global` or `node:<id>`.
        limit: The scope's budget, micro-units.
        remaining: What is left of it (limit - spent - reserved), micro-units.
    """

    scope: str
    limit: int
    remaining: int


@dataclass(frozen=True, slots=True)
class ScopeSpend:
    """A scope's state in a period, micro-units."""

    scope: str
    spent: int
    reserved: int


@dataclass(frozen=True, slots=True)
class SpendBucket:
    """Committed cost of one node and provider in one hour (the budget page's chart)."""

    bucket_start: datetime
    node_id: str
    provider: str
    cost: int


class BudgetLedger(Protocol):
    """Spend and reservations per budget scope and period, exact under concurrency (spec section 16).

    A reservation is checked against every scope's limit and held in every scope atomically: either all
    scopes hold it or none does, and no two callers can both take the last of a budget. Reservations
    expire (`ttl_s`), so budget held by a process that died comes back by itself. Amounts are integer
    micro-units (see `dyngen.domain.budgets`).
    """

    async def reserve(
        self, reservation: Reservation, *, limits: dict[str, int | None], ttl_s: float
    ) -> BudgetRefusal | None:
        """Hold `reservation.amount` in each of its scopes, unless one would go over its limit.

        Args:
            reservation: What to hold and where (`scopes`).
            limits: Each scope's budget for the period in micro-units (None: unlimited).
            ttl_s: Seconds after which an uncommitted reservation is dropped.

        Returns:
            None when held; the refusal (the first scope over its limit) when nothing was held.
        """
        ...

    async def commit(self, reservation: Reservation, *, actual: int, at: datetime) -> None:
        """Replace the held amount with the actual cost (spent). Counts the spend even when the
        reservation has expired meanwhile (the money was spent), and adds it to the hour of `at` in the
        spend history."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give the held amount back (the call failed or never ran). Unknown or expired: nothing happens."""
        ...

    async def snapshot(self, period: str) -> list[ScopeSpend]:
        """Every scope with spend or reservations in `period` (expired reservations dropped first)."""
        ...

    async def history(self, period: str) -> list[SpendBucket]:
        """The period's committed spend by hour, node and provider, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request is admitted, and if not, in how many seconds it would be."""

    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    """GCRA rate limits by key (API key, player, always-fresh node), shared by every process through Redis
    in scaled mode, per process when embedded. See `dyngen.domain.rate_limits`."""

    async def acquire(self, key: str, *, per_second: float, burst: int) -> RateDecision:
        """Admit one request for `key` at `per_second` sustained with `burst` at once, or say when to retry."""
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
