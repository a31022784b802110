"""`build(settings) -> Services`: the ONLY place that picks concrete adapters.

Embedded default: SQLite, memory + local-folder cache tiers, in-process single flight, artifacts in a
local folder. Ephemeral (`DYNGEN_DATABASE_URL=memory://`): the same with records and objects in memory.
Scaled: the same code with PostgreSQL (`DYNGEN_DATABASE_URL`), Redis (`DYNGEN_REDIS_URL`: shared cache
tier, cross-process single flight, invalidation to every process) and S3 (`DYNGEN_OBJECT_STORE_URL`).
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from dyngen.adapters.cache.memory import MemoryCacheTier
from dyngen.adapters.cache.object_store import CACHE_FOLDER, WITHIN_S, ObjectStoreCacheTier
from dyngen.adapters.clock import SystemClock
from dyngen.adapters.db.budget_limits import SqlAlchemyBudgetLimitRepository
from dyngen.adapters.db.budgets import SqlAlchemyBudgetLedger
from dyngen.adapters.db.cache import SqlCacheTier
from dyngen.adapters.db.graphs import SqlAlchemyGraphRepository
from dyngen.adapters.db.jobs import SqlAlchemyJobRepository
from dyngen.adapters.db.keys import SqlAlchemyApiKeyRepository
from dyngen.adapters.db.nodes import SqlAlchemyNodeConfigRepository
from dyngen.adapters.db.outbox import FileRecordOutbox
from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.repository import create_engine
from dyngen.adapters.db.retention import SqlAlchemyRetentionRepository
from dyngen.adapters.db.reviews import SqlAlchemyReviewRepository
from dyngen.adapters.db.schema import current_revision, ensure_current, upgrade
from dyngen.adapters.db.warmups import SqlAlchemyWarmupRepository
from dyngen.adapters.db.writer import SqlWriter
from dyngen.adapters.jobs.inprocess import InProcessJobQueue
from dyngen.adapters.jobs.notifier import MemoryJobNotifier, RedisJobNotifier
from dyngen.adapters.locks.memory import MemorySingleFlight
from dyngen.adapters.memory.authoring import (
    MemoryApiKeyRepository,
    MemoryGraphRepository,
    MemoryNodeConfigRepository,
    MemoryReviewRepository,
)
from dyngen.adapters.memory.budget_limits import MemoryBudgetLimitRepository
from dyngen.adapters.memory.budgets import MemoryBudgetLedger
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryJobRepository
from dyngen.adapters.memory.retention import MemoryRetentionRepository
from dyngen.adapters.memory.warmups import MemoryWarmupRepository
from dyngen.adapters.metrics.prometheus import PrometheusMetrics
from dyngen.adapters.providers.http_transport import AiohttpTransport, ProviderClient
from dyngen.adapters.rate_limits.memory import MemoryRateLimiter
from dyngen.adapters.secret_file import read_or_create_secret
from dyngen.adapters.storage.artifacts import SpoolingArtifactStore
from dyngen.adapters.storage.local import LocalObjectStore
from dyngen.adapters.storage.memory import MemoryObjectStore
from dyngen.adapters.templates.folder import FolderTemplateSource
from dyngen.bootstrap_ports import (
    job_ports,
    job_runner,
    play_ports,
    warmup_ports,
)
from dyngen.bootstrap_providers import provider_registry
from dyngen.config import Settings, outbound_proxies
from dyngen.domain.cache_keys import ReviewPolicy
from dyngen.domain.retention import RetentionPolicy
from dyngen.ports import (
    ApiKeyRepository,
    BudgetLedger,
    BudgetLimitRepository,
    CacheTier,
    Clock,
    GenerationRepository,
    GraphRepository,
    JobQueue,
    JobRepository,
    Metrics,
    NodeConfigRepository,
    ObjectStore,
    Provider,
    RetentionRepository,
    ReviewRepository,
    SingleFlight,
    WarmupRepository,
)
from dyngen.services import retention
from dyngen.services.jobs import lifecycle as jobs
from dyngen.services.machinery.container import Options, Services
from dyngen.services.machinery.graph_cache import GraphCache
from dyngen.services.machinery.key_cache import KeyCache
from dyngen.services.machinery.layered_cache import LayeredCache
from dyngen.services.machinery.live_media import LiveArtifacts
from dyngen.services.machinery.media import MediaLinks
from dyngen.services.machinery.scores import ScoreBoard
from dyngen.services.machinery.template_library import TemplateLibrary
from dyngen.services.reporting.records import outbox_loop
from dyngen.services.warmup import runner as warmup_runner

if TYPE_CHECKING:
    from arq.worker import Worker

    from dyngen.adapters.messaging.redis import RedisConnection

Closer = Callable[[], Awaitable[None]]


def _on_object_store(
    store: ObjectStore, settings: Settings, database: CacheTier | None
) -> tuple[SpoolingArtifactStore, list[CacheTier]]:
    """The artifact store on `store`, and the durable cache tiers: `store` (an S3 bucket every process and
    machine shares), else the database's (`database`: SQLite, a row per entry instead of a file), and the
    folder only where an earlier version left entries there (read, never written: a miss would look there
    for nothing otherwise). Only a remote store (S3) can accept and never answer: their calls are bounded
    there; a folder or memory is waited for (no task per call). Blocking: a look at the folder."""
    remote = settings.s3_location() is not None
    artifacts = SpoolingArtifactStore(store=store, spool_dir=settings.spool_dir, bounded=remote)
    if database is not None and not remote:
        if not (settings.object_dir / CACHE_FOLDER).is_dir():
            return artifacts, [database]
        return artifacts, [database, ObjectStoreCacheTier(store=store, within_s=None, writes=False)]
    return artifacts, [ObjectStoreCacheTier(store=store, within_s=WITHIN_S if remote else None)]


async def _object_store(settings: Settings, closers: list[Closer]) -> ObjectStore:
    location = settings.s3_location()
    if location is None and settings.is_memory:
        return MemoryObjectStore()
    if location is None:
        local = LocalObjectStore(root=settings.object_dir)
        closers.append(local.aclose)
        return local
    from dyngen.adapters.storage.s3 import S3ObjectStore

    bucket, prefix = location
    store = S3ObjectStore(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None,
        connect_timeout_s=settings.s3_connect_timeout_s,
        timeout_s=settings.s3_timeout_s,
        cooldown_s=settings.s3_cooldown_s,
    )
    await store.start()
    closers.append(store.aclose)
    if settings.s3_create_bucket:
        await store.create_bucket()
    return store


def media_links(settings: Settings) -> MediaLinks:
    """How artifact URLs are signed: `DYNGEN_URL_SECRET`, else the secret kept in the data dir (made on
    the first start; blocking file I/O: call it off the event loop), else in the memory mode, which
    writes nothing to the data dir, a random one of this process (its artifacts die with it anyway)."""
    options: dict[str, Any] = {
        "lifetime_s": settings.url_lifetime_s,
        "base_url": (settings.public_url or "").rstrip("/"),
    }
    if settings.url_secret is not None:
        return MediaLinks(secret=settings.url_secret.get_secret_value().encode(), **options)
    if settings.is_memory:
        return MediaLinks(**options)
    return MediaLinks(secret=read_or_create_secret(settings.data_dir / "url_secret"), **options)


def load_templates(settings: Settings) -> TemplateLibrary:
    """The template library of `settings.templates_dir` (blocking file reads: call it off the event loop).

    Each file that cannot be used is logged as a warning with its file and field, and listed in the
    library's problems; the other files still load.
    """
    templates, problems = FolderTemplateSource(settings.templates_dir).load()
    return TemplateLibrary.loaded(templates, problems, source=str(settings.templates_dir))


class _PendingQueue:
    """Stands in for the job queue until `_wire_jobs` sets the real one (which needs `Services`)."""

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0, attempt: int = 0) -> None:
        raise RuntimeError("the job queue is not wired yet")

    async def cancel(self, job_id: str) -> None:
        raise RuntimeError("the job queue is not wired yet")


@dataclass(frozen=True)
class Records:
    """The repositories and the budget ledger on one database (`build(records=...)` takes a set of them)."""

    generations: GenerationRepository
    jobs: JobRepository
    graphs: GraphRepository
    nodes: NodeConfigRepository
    keys: ApiKeyRepository
    reviews: ReviewRepository
    warmups: WarmupRepository
    ledger: BudgetLedger
    retention: RetentionRepository
    limits: BudgetLimitRepository | None = None  # budget limits set in the editor
    cache: CacheTier | None = None  # the durable cache tier in the database (SQLite), in place of the folder


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS settings of outbound calls, made once per process: loading the CA certificates costs
    ~30 ms, and tests build hundreds of service sets in one process."""
    return httpx.create_ssl_context()


async def _records(
    settings: Settings, *, clock: Clock, migrate: bool | None, database: MemoryDatabase | None, closers: list[Closer]
) -> Records:
    """The SQL repositories on the configured database (migrated or checked), or the memory ones."""
    if settings.is_memory:
        database = database or MemoryDatabase()
        memory_jobs = MemoryJobRepository(database=database)
        return Records(
            generations=memory_jobs,
            jobs=memory_jobs,
            graphs=MemoryGraphRepository(database=database),
            nodes=MemoryNodeConfigRepository(database=database),
            keys=MemoryApiKeyRepository(database=database),
            reviews=MemoryReviewRepository(database=database),
            warmups=MemoryWarmupRepository(database=database),
            ledger=MemoryBudgetLedger(database=database, clock=clock),
            retention=MemoryRetentionRepository(database=database),
            limits=MemoryBudgetLimitRepository(database=database),
        )
    engine = create_engine(
        settings.resolved_database_url,
        connect_timeout_s=settings.db_connect_timeout_s,
        command_timeout_s=settings.db_command_timeout_s,
        pool_timeout_s=settings.db_pool_timeout_s,
        cooldown_s=settings.db_cooldown_s,
    )
    closers.append(engine.dispose)
    await ensure_current(engine, migrate=settings.is_sqlite if migrate is None else migrate)
    # One group-commit writer per process: records and budget settlements share transactions.
    writer = SqlWriter(engine=engine, max_items=settings.db_write_batch, window_s=settings.db_write_window_ms / 1000)
    closers.append(writer.aclose)  # closed (what waits written) before the engine
    # One reader per process: a miss's reads (drift lookup, stored budget limits), one thread hop each.
    reader = SqlReader(engine=engine)
    closers.append(reader.aclose)
    sql_jobs = SqlAlchemyJobRepository(engine=engine, writer=writer, reader=reader)
    closers.append(sql_jobs.aclose)  # its drift lookups read before the reader and the engine close
    return Records(
        generations=sql_jobs,
        jobs=sql_jobs,
        graphs=SqlAlchemyGraphRepository(engine=engine),
        nodes=SqlAlchemyNodeConfigRepository(engine=engine),
        keys=SqlAlchemyApiKeyRepository(engine=engine),
        reviews=SqlAlchemyReviewRepository(engine=engine),
        warmups=SqlAlchemyWarmupRepository(engine=engine, writer=writer),
        ledger=SqlAlchemyBudgetLedger(engine=engine, clock=clock, writer=writer),
        retention=SqlAlchemyRetentionRepository(engine=engine),
        limits=SqlAlchemyBudgetLimitRepository(engine=engine, reader=reader),
        cache=(
            SqlCacheTier(writer=writer, reader=reader, dialect="sqlite", within_s=settings.record_timeout_s)
            if settings.is_sqlite
            else None
        ),
    )


def _wire_limits(services: Services, *, ledger: BudgetLedger, redis: RedisConnection | None) -> None:
    """Budgets and rate limits: through Redis in scaled mode (every process shares them), else the
    database ledger (exact across processes on one SQLite file too) and per-process rate limits."""
    if redis is not None:
        from dyngen.adapters.budgets.redis import RedisBudgetLedger
        from dyngen.adapters.rate_limits.redis import RedisRateLimiter

        services.budget_ledger = RedisBudgetLedger(connection=redis)
        services.rate_limiter = RedisRateLimiter(connection=redis, clock=services.clock)
        return
    services.budget_ledger = ledger
    services.rate_limiter = MemoryRateLimiter(clock=services.clock)


def _wire_jobs(services: Services, settings: Settings, *, queue: JobQueue | None) -> None:
    """The job queue and the background work: the given queue, arq workers through Redis, or the in-process
    runner."""

    async def run(job_id: str) -> float | None:
        result = await jobs.run_job(job_id=job_id, owner=services.runner_id, runner=job_runner(services))
        return result.retry_in_s

    async def reaper() -> None:
        await jobs.reaper_loop(
            ports=job_ports(services),
            outbox=services.outbox,
            lease_s=services.options.job_lease_s,
            max_attempts=services.options.job_max_attempts,
        )

    services.run_job = run
    services.background.append(reaper)

    async def warmups() -> None:  # runs the API's warm-ups and resumes unfinished ones after a restart
        await warmup_runner.warmup_loop(ports=warmup_ports(services))

    services.background.append(warmups)
    if queue is not None:
        services.queue = queue
        return
    if settings.redis_url and isinstance(services.notifier, RedisJobNotifier):
        from dyngen.adapters.jobs.arq import ArqJobQueue

        arq = ArqJobQueue(
            connection=services.notifier.connection,
            cancel_running=services.running.cancel,
            queue_name=f"{settings.redis_prefix}:jobs",
        )
        services.queue = arq
        services.closers.append(arq.aclose)
        return
    local = InProcessJobQueue(run=run, cancel_running=services.running.cancel, concurrency=settings.job_concurrency)
    services.queue = local

    async def runner() -> None:
        await jobs.resume(ports=job_ports(services))
        await local.serve()

    services.background.append(runner)


def retention_policy(settings: Settings) -> RetentionPolicy:
    """The retention windows `settings.retention` sets."""
    kept = settings.retention
    return RetentionPolicy(
        records_s=kept.records_s(),
        failed_s=kept.failed_s,
        events_s=kept.events_s,
        warmups_s=kept.warmups_s,
        batch=kept.batch,
        object_grace_s=kept.object_grace_s,
    )


def _wire_retention(services: Services, settings: Settings, *, repository: RetentionRepository | None) -> None:
    """Retention's repository, and the periodic sweep unless `DYNGEN_RETENTION__SWEEP=false` (in the
    memory mode too: a long-running ephemeral server would otherwise grow without bound)."""
    services.retention = repository
    if repository is None or not settings.retention.sweep:
        return

    async def retention_sweep() -> None:
        await retention.sweep_loop(
            interval_s=settings.retention.interval_s,
            policy=services.options.retention,
            repository=repository,
            cache=services.cache,
            artifacts=services.artifacts,
            clock=services.clock,
            cache_ttl_s=services.options.cache_ttl_s,
            flights=services.single_flight,
            probes=services.probes,
        )

    services.background.append(retention_sweep)


async def build(
    settings: Settings,
    *,
    migrate: bool | None = None,
    providers: Mapping[str, Provider] | None = None,
    memory_database: MemoryDatabase | None = None,
    clock: Clock | None = None,
    entropy: random.Random | None = None,
    records: Records | None = None,
    tiers: Sequence[CacheTier] | None = None,
    single_flight: SingleFlight | None = None,
    queue: JobQueue | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """Assemble the service for `settings`.

    Args:
        settings: The configuration.
        migrate: Apply database migrations first. Default: yes for SQLite (the embedded default migrates
            on every start); for other databases, check the schema is current and say to run
            `dyngen migrate` when it is not.
        providers: Use these providers instead of the installed plugins (tests inject fakes here).
        memory_database: With `DYNGEN_DATABASE_URL=memory://`, the tables to use (default a fresh one):
            builds given the same one share their records, as processes share a database.
        clock: The clock of everything built here, adapters included (default the system clock).
        entropy: Where fresh (`timestamp`) seeds come from (default seeded from the OS).
        records: The repositories and budget ledger (default: those of `settings.database_url`).
        tiers: The fast cache tiers, fastest first (default memory, then Redis when it is configured).
        single_flight: One generation per key at a time (default in-process, or Redis leases).
        queue: The job queue (default the in-process runner, or arq through Redis); a given queue is
            not served here: its owner runs the jobs (`Services.run_job`).
        metrics: Where telemetry goes (default Prometheus).
    """
    if not settings.is_memory:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    links = await asyncio.to_thread(media_links, settings)  # before anything opens: a bad secret file stops here
    clock = clock or SystemClock()
    redis: RedisConnection | None = None
    if settings.redis_url:
        from dyngen.adapters.messaging.redis import RedisConnection

        redis = RedisConnection(
            url=settings.redis_url,
            prefix=settings.redis_prefix,
            connect_timeout_s=settings.redis_connect_timeout_s,
            timeout_s=settings.redis_timeout_s,
            cooldown_s=settings.redis_cooldown_s,
        )
    # Before anything opens: a provider setting that cannot work stops the start with nothing to close.
    # Every outbound HTTP call of the providers goes through this one client.
    # Proxies from the environment, as httpx's own transport takes them (httpx's `trust_env` default).
    http = ProviderClient(timeout=30, transport=AiohttpTransport(verify=_tls(), proxies=outbound_proxies()))
    try:
        registry = provider_registry(settings, providers, clock=clock, redis=redis, http=http, links=links)
    except BaseException:
        await http.aclose()
        raise
    closers: list[Closer] = [http.aclose]
    if records is None:
        records = await _records(settings, clock=clock, migrate=migrate, database=memory_database, closers=closers)
    store = await _object_store(settings, closers)
    artifacts, durable = _on_object_store(store, settings, records.cache)
    memory = MemoryCacheTier(
        max_bytes=settings.cache_max_bytes, max_entries=settings.cache_max_entries, monotonic=clock.monotonic
    )
    fast: list[CacheTier] = [memory] if tiers is None else list(tiers)
    flights: SingleFlight = single_flight or MemorySingleFlight()
    bus = None
    if redis is not None:
        from dyngen.adapters.cache.redis import RedisCacheTier
        from dyngen.adapters.locks.redis import RedisSingleFlight
        from dyngen.adapters.messaging.redis import RedisInvalidationBus

        if tiers is None:
            fast.append(RedisCacheTier(connection=redis))
        if single_flight is None:
            flights = RedisSingleFlight(connection=redis, lease_ms=settings.flight_lease_ms)
        bus = RedisInvalidationBus(connection=redis)
        bus.subscribe(memory.delete)
        redis.on_reconnect(memory.clear)  # invalidations sent while we were deaf may have been missed
    services = Services(
        repository=records.generations,
        jobs=records.jobs,
        queue=_PendingQueue(),
        notifier=RedisJobNotifier(connection=redis) if redis is not None else MemoryJobNotifier(),
        graphs=records.graphs,
        nodes=records.nodes,
        metrics=metrics or PrometheusMetrics(multiprocess_dir=settings.prometheus_multiproc_dir),
        keys=records.keys,
        reviews=records.reviews,
        warmups=records.warmups,
        scores=ScoreBoard(ttl_s=settings.review_scores_ttl_s),
        key_cache=KeyCache(ttl_s=settings.auth_cache_s, stale_s=settings.auth_cache_stale_s),
        runtime_graphs=GraphCache(stale_s=settings.runtime_stale_s),
        templates=await asyncio.to_thread(load_templates, settings),
        cache=LayeredCache(fast, durable=durable, bus=bus),
        single_flight=flights,
        artifacts=artifacts,
        providers=registry,
        clock=clock,
        entropy=entropy or random.Random(),  # noqa: S311 - content seeds, not secrets
        options=Options(
            dev_tools=settings.dev_tools_enabled,
            default_timeout_ms=settings.default_timeout_ms,
            retry_backoff_ms=settings.retry_backoff_ms,
            cache_ttl_s=dict(settings.cache_ttl_s),
            relationship_table=settings.relationship_table,
            auth=settings.auth,
            job_lease_s=settings.job_lease_s,
            job_max_attempts=settings.job_max_attempts,
            job_retry_base_s=settings.job_retry_base_s,
            budgets=settings.budget_policy,
            rate_limits=settings.rate_limits,
            review_policy=ReviewPolicy(drop_below=settings.review_drop_below, min_reviews=settings.review_min_reviews),
            retention=retention_policy(settings),
            record_timeout_s=settings.record_timeout_s,
            outbox_replay_s=settings.outbox_replay_s,
            upload_max_bytes=settings.upload_max_bytes,
            upload_max_pixels=settings.upload_max_pixels,
        ),
        # The memory mode's tables never go down (and it writes nothing to the data dir).
        outbox=None if settings.is_memory else FileRecordOutbox(directory=settings.outbox_dir),
        probes={"object_store": store.ping},
        media=links,
        live=LiveArtifacts() if settings.streams_video else None,
    )
    _wire_limits(services, ledger=records.ledger, redis=redis)
    services.budget_limits = records.limits
    if redis is not None:
        services.probes["redis"] = redis.ping
        await redis.start()
        closers.append(redis.aclose)
    _wire_jobs(services, settings, queue=queue)
    _wire_retention(services, settings, repository=records.retention)

    async def outbox() -> None:  # records kept while the database was down, written once it is back
        await outbox_loop(
            outbox=services.outbox, repository=services.repository, jobs=services.jobs, options=services.options
        )

    services.background.append(outbox)
    await artifacts.start()
    services.closers.extend([*closers, artifacts.aclose])
    play_ports(services)  # generation's and play's ports built at start-up: no request builds them
    return services


async def migrate(settings: Settings) -> str | None:
    """Apply the database migrations for `settings` (`dyngen migrate`); returns the revision now current."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def job_worker(settings: Settings, services: Services) -> Worker:
    """The arq worker (`dyngen worker`) that runs `services`' jobs from the queue of `settings`.

    Raises:
        ValueError: the settings name no Redis, or `services` run no jobs.
    """
    from dyngen.adapters.jobs.arq import arq_worker  # arq only when a worker runs

    if not settings.redis_url or services.run_job is None:
        raise ValueError("a job worker needs DYNGEN_REDIS_URL and services that run jobs")
    return arq_worker(
        redis_url=settings.redis_url,
        run=services.run_job,
        queue_name=f"{settings.redis_prefix}:jobs",
        max_jobs=settings.worker_max_jobs,
        job_timeout_s=settings.job_timeout_s,
        max_tries=settings.job_max_attempts + 2,
        connect_timeout_s=settings.redis_connect_timeout_s,
        timeout_s=settings.redis_timeout_s,
    )


async def run_job_worker(settings: Settings, services: Services) -> None:
    """Run the arq worker of `job_worker` until a signal stops it, then close it: a failing Redis makes it
    unhealthy for a while (it tries again every `DYNGEN_REDIS_COOLDOWN_S`), never ends or hangs it."""
    from dyngen.adapters.jobs.arq import close_worker, serve_worker

    worker = job_worker(settings, services)
    try:
        await serve_worker(worker, retry_s=settings.redis_cooldown_s)
    finally:
        await close_worker(worker)
