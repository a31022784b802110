"""`Services`: the ports and options every use case runs with, assembled by `bootstrap.build`."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dyngen.ports import ArtifactStore, Clock, GenerationRepository, SingleFlight
from dyngen.services.cache import LayeredCache
from dyngen.services.memo import LruMemo
from dyngen.services.providers import ProviderRegistry

if TYPE_CHECKING:
    from dyngen.services.outcomes import CacheEntry, Prepared


@dataclass(slots=True)
class GenerationMemo:
    """Remembered pure work of the hot path: prepared requests by body digest, decoded cache entries, and
    the response bytes of a hit (around its timing) per entry."""

    prepared: LruMemo[bytes, Prepared] = field(default_factory=lambda: LruMemo(4096))
    entries: LruMemo[bytes, CacheEntry] = field(default_factory=lambda: LruMemo(4096))
    hit_templates: LruMemo[tuple[bytes, str, str], tuple[bytes, bytes]] = field(default_factory=lambda: LruMemo(4096))


@dataclass(frozen=True, slots=True)
class Options:
    """Service behaviour chosen by settings.

    Attributes:
        dev_tools: Honour `simulate` (forced failures, added latency) in requests.
        default_timeout_ms: Deadline of a generation whose node sets no `timeoutMs`.
        retry_backoff_ms: First delay between retries of fallback mode `retry`; doubles each retry.
        cache_ttl_s: Cache entry lifetime per strategy (`once`, `per_playthrough`, `per_player`); a
            missing or None value never expires.
    """

    dev_tools: bool = True
    default_timeout_ms: int = 5000
    retry_backoff_ms: int = 100
    cache_ttl_s: dict[str, float | None] = field(default_factory=dict)


@dataclass(slots=True)
class Services:
    """Everything a use case needs. Build it with `dyngen.bootstrap.build`; close it with `aclose`.

    `entropy` is where fresh (`timestamp`) seeds come from: seeded from the OS in production, pinned in tests.
    `probes` are the health checks of the dependencies beyond the repository (object store, Redis), by name.
    """

    repository: GenerationRepository
    cache: LayeredCache
    single_flight: SingleFlight
    artifacts: ArtifactStore
    providers: ProviderRegistry
    clock: Clock
    entropy: random.Random = field(default_factory=random.Random)
    options: Options = field(default_factory=Options)
    probes: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    memo: GenerationMemo = field(default_factory=GenerationMemo)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Release connections and background work, newest first."""
        while self.closers:
            await self.closers.pop()()
