"""`build(settings) -> Services`: the ONLY place that picks concrete adapters."""

from __future__ import annotations

from collections.abc import Mapping

from dyngen.adapters.cache.memory import MemoryCacheTier
from dyngen.adapters.clock import SystemClock
from dyngen.adapters.db.repository import SqlAlchemyGenerationRepository, create_engine
from dyngen.adapters.db.schema import upgrade
from dyngen.adapters.locks.memory import MemorySingleFlight
from dyngen.adapters.providers.plugins import load_providers
from dyngen.adapters.storage.local import LocalArtifactStore
from dyngen.config import Settings
from dyngen.ports import Provider
from dyngen.services.cache import LayeredCache
from dyngen.services.container import Options, Services
from dyngen.services.providers import ProviderRegistry


async def build(
    settings: Settings, *, migrate: bool = True, providers: Mapping[str, Provider] | None = None
) -> Services:
    """Assemble the service for `settings`.

    Args:
        settings: The configuration.
        migrate: Apply database migrations first (the embedded default does it on every start).
        providers: Use these providers instead of the installed plugins (tests inject fakes here).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    if migrate:
        await upgrade(engine)
    clock = SystemClock()
    registry = ProviderRegistry(
        providers if providers is not None else load_providers(),
        default=settings.default_provider,
        by_type=settings.providers_by_type,
    )
    services = Services(
        repository=SqlAlchemyGenerationRepository(engine=engine),
        cache=LayeredCache(
            [
                MemoryCacheTier(
                    max_bytes=settings.cache_max_bytes,
                    max_entries=settings.cache_max_entries,
                    monotonic=clock.monotonic,
                )
            ]
        ),
        single_flight=MemorySingleFlight(),
        artifacts=LocalArtifactStore(root=settings.artifact_dir),
        providers=registry,
        clock=clock,
        options=Options(
            dev_tools=settings.dev_tools_enabled,
            default_timeout_ms=settings.default_timeout_ms,
            retry_backoff_ms=settings.retry_backoff_ms,
        ),
    )
    services.closers.append(engine.dispose)
    return services
