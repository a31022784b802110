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
    """`ok` when every dependency answers; `degraded` when content is still served but something is down
    (records or artifacts cannot be written); `down` when no provider is installed."""
    dependencies = {
        "database": await _probe(services, services.repository.ping),
        "artifact_store": await _probe(services, services.artifacts.ping),
    }
    names = services.providers.names()
    if not names:
        status = "down"
    elif any(d.status != "ok" for d in dependencies.values()):
        status = "degraded"
    else:
        status = "ok"
    return Health(
        status=status,
        dependencies=dependencies,
        providers=names,
        cache_tiers=[t.name for t in services.cache.tiers],
        dev_tools=services.options.dev_tools,
    )
