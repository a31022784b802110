"""Service health (spec section 8): each dependency's status, and the overall verdict."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from dyngen.domain.graph import SceneGraph
from dyngen.domain.graph_health import GraphHealth, graph_health
from dyngen.ports import (
    ArtifactStore,
    Clock,
    GenerationRepository,
    JobRepository,
    Metrics,
    RecordOutbox,
    ReviewRepository,
)
from dyngen.services.machinery.container import Options
from dyngen.services.machinery.layered_cache import LayeredCache
from dyngen.services.machinery.providers import ProviderRegistry
from dyngen.services.reporting.telemetry import node_stats

log = logging.getLogger("dyngen.health")


class DependencyHealth(BaseModel):
    """`ok` (answered its probe, or in-process), `down` (with the reason) or, for a provider only,
    `unchecked`: it calls a service that is not probed (no probe for its kind, or `health_check = false`)."""

    status: str
    latency_ms: float | None = None
    detail: str | None = None


class QueueHealth(BaseModel):
    depth: int
    oldest_job_age_s: float | None = None


class Health(BaseModel):
    status: str
    reasons: list[str]
    spooled_artifacts: int
    dependencies: dict[str, DependencyHealth]
    providers: dict[str, DependencyHealth]
    queue: QueueHealth | None = None
    cache_tiers: list[str]
    dev_tools: bool

    @property
    def providers_down(self) -> list[str]:
        return sorted(name for name, p in self.providers.items() if p.status == "down")


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPorts:
    """What a health check asks; `dyngen.bootstrap_ports.health_ports` builds it.

    Attributes:
        repository: The generation records (the database's probe; nodes' latencies for a graph's health).
        jobs: The job queue's depth and oldest job.
        reviews: Nodes' review scores (a graph's health).
        artifacts: The artifacts still in the local spool.
        outbox: Records still waiting for the database (None: there is no outbox).
        providers: The configured providers, each with its own health check when it has one.
        cache: The cache tiers, by name.
        metrics: Nodes' latencies (a graph's health).
        clock: Probe latencies, the oldest job's age.
        probes: The health checks of the dependencies beyond the database, by name.
        options: The job lease (how long a queued job may wait), dev tools, the default timeout.
    """

    repository: GenerationRepository
    jobs: JobRepository
    reviews: ReviewRepository
    artifacts: ArtifactStore
    outbox: RecordOutbox | None
    providers: ProviderRegistry
    cache: LayeredCache
    metrics: Metrics
    clock: Clock
    probes: Mapping[str, Callable[[], Awaitable[None]]]
    options: Options


async def _probe(check: Callable[[], Awaitable[object]], *, clock: Clock) -> DependencyHealth:
    """Run a check; a check that returns a string (a chain's members in cooldown) gives the detail."""
    started = clock.monotonic()
    try:
        note = await check()
    except Exception as exc:  # any failure of a dependency is reported, never raised
        log.warning("health.dependency_down error=%s", type(exc).__name__)
        return DependencyHealth(status="down", detail=f"{type(exc).__name__}: {exc}"[:300])
    return DependencyHealth(
        status="ok",
        latency_ms=round((clock.monotonic() - started) * 1000, 3),
        detail=note[:1000] if isinstance(note, str) and note else None,
    )


def _unprobed(provider: object) -> DependencyHealth:
    """A provider without a probe: `ok` when it runs in-process, else `unchecked` (nobody asked the service;
    it neither degrades the service nor counts as down)."""
    if getattr(provider, "health_check", True) is False:
        return DependencyHealth(status="unchecked", detail="not probed: health_check = false")
    info = getattr(provider, "info", None)
    if info is not None and getattr(info, "remote", False):
        return DependencyHealth(status="unchecked", detail="not probed: its kind has no health check")
    return DependencyHealth(status="ok")


async def check_health(*, ports: HealthPorts) -> Health:
    """`ok` when every dependency answers (providers that are not probed show `unchecked` and change
    nothing); `degraded` (with the reasons) when content is still served but something is down or behind
    (Redis, the object store, the database, a non-empty artifact spool or record outbox); `down` when no
    provider is installed or every one is down."""
    dependencies = {"database": await _probe(ports.repository.ping, clock=ports.clock)}
    for name, probe in ports.probes.items():
        dependencies[name] = await _probe(probe, clock=ports.clock)
    reasons = [f"{name} is down: {d.detail}" for name, d in dependencies.items() if d.status != "ok"]
    pending = await ports.artifacts.pending()
    if pending:
        reasons.append(f"{pending} artifact(s) waiting in the local spool for the object store")
    if ports.outbox is not None and ports.outbox.holding():
        reasons.append("generation records are waiting in the local outbox for the database")
    providers: dict[str, DependencyHealth] = {}
    for name in ports.providers.names():
        provider = ports.providers.get(name)
        check = getattr(provider, "health", None)  # providers that talk to a service may say how it is
        providers[name] = await _probe(check, clock=ports.clock) if check is not None else _unprobed(provider)
    reasons.extend(f"provider {name} is down: {p.detail}" for name, p in providers.items() if p.status == "down")
    queue = None
    if dependencies["database"].status == "ok":
        stats = await ports.jobs.queue_stats()
        age = (ports.clock.now() - stats.oldest_queued_at).total_seconds() if stats.oldest_queued_at else None
        queue = QueueHealth(depth=stats.depth, oldest_job_age_s=round(age, 3) if age is not None else None)
        if age is not None and age > ports.options.job_lease_s * 4:
            reasons.append(f"the oldest queued job has waited {age:.0f} s: are the job runners up?")
    if not providers or all(p.status == "down" for p in providers.values()):
        status = "down"
        reasons.append("no provider is available")
    else:
        status = "degraded" if reasons else "ok"
    return Health(
        status=status,
        reasons=reasons,
        spooled_artifacts=pending,
        dependencies=dependencies,
        providers=providers,
        queue=queue,
        cache_tiers=[t.name for t in ports.cache.tiers],
        dev_tools=ports.options.dev_tools,
    )


async def check_graph(*, graph: SceneGraph, ports: HealthPorts) -> GraphHealth:
    """Every node's status and findings, with the graph-wide warnings (spec section 8's health panel)."""
    p95: dict[str, float] = {}
    for node in graph.generation_nodes():
        stats = await node_stats(
            node_id=node.id, records=ports.repository, reviews=ports.reviews, metrics=ports.metrics
        )
        if stats.p95_latency_ms is not None:
            p95[node.id] = stats.p95_latency_ms
    health = await check_health(ports=ports)
    return graph_health(
        graph,
        p95_latency_ms=p95,
        default_timeout_ms=ports.options.default_timeout_ms,
        providers_down=health.providers_down,
    )
