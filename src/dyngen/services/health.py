"""Service health (spec section 8): each dependency's status, and the overall verdict."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from dyngen.services.container import Services

log = logging.getLogger("dyngen.health")


class DependencyHealth(BaseModel):
    status: str
    latency_ms: float | None = None
    detail: str | None = None


class Health(BaseModel):
    status: str
    reasons: list[str]
    spooled_artifacts: int
    dependencies: dict[str, DependencyHealth]
    providers: list[str]
    cache_tiers: list[str]
    dev_tools: bool


async def _probe(services: Services, check: Callable[[], Awaitable[None]]) -> DependencyHealth:
    started = services.clock.monotonic()
    try:
        await check()
    except Exception as exc:  # any failure of a dependency is reported, never raised
        log.warning("health.dependency_down error=%s", type(exc).__name__)
        return DependencyHealth(status="down", detail=f"{type(exc).__name__}: {exc}"[:300])
    return DependencyHealth(status="ok", latency_ms=round((services.clock.monotonic() - started) * 1000, 3))


async def check_health(*, services: Services) -> Health:
    """`ok` when every dependency answers; `degraded` (with the reasons) when content is still served but
    something is down or behind (Redis, the object store, the database, a non-empty artifact spool);
    `down` when no provider is installed."""
    dependencies = {"database": await _probe(services, services.repository.ping)}
    for name, probe in services.probes.items():
        dependencies[name] = await _probe(services, probe)
    reasons = [f"{name} is down: {d.detail}" for name, d in dependencies.items() if d.status != "ok"]
    pending = await services.artifacts.pending()
    if pending:
        reasons.append(f"{pending} artifact(s) waiting in the local spool for the object store")
    names = services.providers.names()
    if not names:
        status = "down"
        reasons.append("no provider is installed")
    else:
        status = "degraded" if reasons else "ok"
    return Health(
        status=status,
        reasons=reasons,
        spooled_artifacts=pending,
        dependencies=dependencies,
        providers=names,
        cache_tiers=[t.name for t in services.cache.tiers],
        dev_tools=services.options.dev_tools,
    )
