"""Invalidating cached content: by key, node, version or key prefix, in every tier of every process."""

from __future__ import annotations

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import InvalidateRequest, InvalidateResult
from dyngen.ports import GenerationRepository
from dyngen.services.machinery.layered_cache import LayeredCache


async def invalidate(
    *, query: InvalidateRequest, cache: LayeredCache, repository: GenerationRepository
) -> InvalidateResult:
    """Drop cached content by key, node, version, or a combination (each narrows the selection).

    The repository knows which keys were ever filled for a node or version, so the selection reaches
    every tier, whatever the tier can enumerate.

    Raises:
        DyngenError: GEN_INVALID_CONFIG when no selector is given (refusing to flush everything by accident).
    """
    if query.cache_key is None and query.node_id is None and query.version is None and query.prefix is None:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            "say what to invalidate: cache_key, node_id, version and/or prefix",
            details=[
                {
                    "field": "(body)",
                    "message": "at least one of cache_key, node_id, version, prefix is required",
                    "type": "missing",
                }
            ],
        )
    keys = await repository.cache_keys(
        node_id=query.node_id, version=query.version, cache_key=query.cache_key, prefix=query.prefix
    )
    only_key = query.node_id is None and query.version is None and query.prefix is None
    if query.cache_key is not None and only_key and query.cache_key not in keys:
        keys.append(query.cache_key)
    await cache.delete(keys)
    return InvalidateResult(invalidated=len(keys), keys=keys)
