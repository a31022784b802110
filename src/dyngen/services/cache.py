"""`LayeredCache`: read-through over the configured cache tiers, with promotion, and invalidation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dyngen.domain.contracts import InvalidateRequest, InvalidateResult
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import CacheTier, GenerationRepository


@dataclass(frozen=True, slots=True)
class CacheHit:
    value: bytes
    tier: str


class LayeredCache:
    """Reads tiers in order (fastest first); a hit in a slower tier fills the faster ones.

    Writes and deletes reach every tier.
    """

    def __init__(self, tiers: Sequence[CacheTier]) -> None:
        self.tiers = list(tiers)

    async def get(self, key: str) -> CacheHit | None:
        for index, tier in enumerate(self.tiers):
            value = await tier.get(key)
            if value is not None:
                for faster in self.tiers[:index]:
                    await faster.set(key, value)
                return CacheHit(value, tier.name)
        return None

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        for tier in self.tiers:
            await tier.set(key, value, ttl_s=ttl_s)

    async def delete(self, keys: Sequence[str]) -> int:
        removed = 0
        for tier in self.tiers:
            removed = max(removed, await tier.delete(keys))
        return removed


async def invalidate(
    *, query: InvalidateRequest, cache: LayeredCache, repository: GenerationRepository
) -> InvalidateResult:
    """Drop cached content by key, node, version, or a combination (each narrows the selection).

    The repository knows which keys were ever filled for a node or version, so the selection reaches
    every tier, whatever the tier can enumerate.

    Raises:
        DyngenError: GEN_INVALID_CONFIG when no selector is given (refusing to flush everything by accident).
    """
    if query.cache_key is None and query.node_id is None and query.version is None:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            "say what to invalidate: cache_key, node_id and/or version",
            details=[
                {
                    "field": "(body)",
                    "message": "at least one of cache_key, node_id, version is required",
                    "type": "missing",
                }
            ],
        )
    keys = await repository.cache_keys(node_id=query.node_id, version=query.version, cache_key=query.cache_key)
    if query.cache_key is not None and query.node_id is None and query.version is None and query.cache_key not in keys:
        keys.append(query.cache_key)
    await cache.delete(keys)
    return InvalidateResult(invalidated=len(keys), keys=keys)
