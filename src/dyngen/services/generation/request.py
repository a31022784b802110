"""Preparing a generate request: everything about it that does not depend on the moment (its resolved node,
validation, provider, cache key, seed, variant and config fingerprint), and its variant picked again by
review scores at serve time."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from dyngen.domain.cache_keys import cache_key, choose_variant, pool_of, resolve_seed
from dyngen.domain.contracts import (
    GenerateContentRequest,
    NodeStatus,
    SeedSource,
    Severity,
    Strategy,
    VariantInfo,
)
from dyngen.domain.dsl import compile_rules
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.validation import validate_config
from dyngen.services.generation.outcomes import Prepared
from dyngen.services.generation.resolution import resolve
from dyngen.services.machinery.container import Services

log = logging.getLogger("dyngen.generation")

_SHAPING_FIELDS = {
    "style",
    "duration",
    "constraints",
    "from_scene",
    "to_scene",
    "social_context",
    "provider",
    "fallback",
}


def config_fingerprint(request: GenerateContentRequest, *, provider: str) -> str:
    """A hash of everything that shapes content but is not in the cache key: the request's shaping
    fields and the provider that makes it.

    A cached entry made under another fingerprint is stale (the node changed without a version bump, or
    another provider now makes its content, as text where video is expected) and is regenerated rather
    than served.
    """
    shaping = request.model_dump(mode="json", include=_SHAPING_FIELDS) | {"provider": provider}
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _reject_invalid(request: GenerateContentRequest) -> None:
    report = validate_config(request.node_config())
    if report.status is NodeStatus.ERRORS:
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"the node config has {len(errors)} error{'s' if len(errors) != 1 else ''}",
            details=[f.model_dump(mode="json") for f in errors],
        )


def prepare(*, request: GenerateContentRequest, services: Services) -> Prepared:
    """Validate a request and work out everything about it that does not depend on the moment.

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) for a config with errors, a missing scope id or an unknown
            provider; FORBIDDEN (403) for `simulate` while dev tools are off.
    """
    if request.simulate is not None and not services.options.dev_tools:
        raise DyngenError(ErrorCode.FORBIDDEN, "simulate is a dev tool and dev tools are off in this deployment")
    try:
        resolved = resolve(request=request, services=services)
        _reject_invalid(resolved.request)
    except DyngenError as exc:
        if not _rules_broke_it(request, exc, services):
            raise
        return _refused(request, exc, services)
    request = resolved.request
    provider = services.providers.select(request)
    key = cache_key(request, qualifiers=resolved.qualifiers)
    seed = resolve_seed(request, entropy=services.entropy)
    variant = None
    if (pool := pool_of(request, seed, qualifiers=resolved.qualifiers)) is not None:
        # Without reviews; `scored` picks again by review scores at serve time.
        index = choose_variant(pool.choice_seed, pool.size, {}, services.options.review_policy)
        key, seed = pool.keys[index], pool.seeds[index]
        variant = VariantInfo(index=index, pool_size=pool.size)
    forced = request.simulate.forced_failure() if request.simulate else None
    return Prepared(
        request=request,
        provider=provider,
        key=key,
        fingerprint=config_fingerprint(request, provider=provider.info.name),
        seed=seed if seed.source is not SeedSource.TIMESTAMP else None,
        cacheable=request.strategy is not Strategy.ALWAYS and forced is None,
        ttl_s=services.options.cache_ttl_s.get(request.strategy.value),
        variant=variant,
        rating=resolved.rating,
        pool=pool,
        arm=resolved.arm,
    )


def _rules_broke_it(request: GenerateContentRequest, error: DyngenError, services: Services) -> bool:
    """Whether `error` comes from what the node's (compiling) rules made of it for this player: the same
    node without its rules resolves to a valid config."""
    if (
        error.code is not ErrorCode.GEN_INVALID_CONFIG
        or not request.rules
        or compile_rules(request.rules).program is None
    ):
        return False
    try:
        _reject_invalid(resolve(request=request.model_copy(update={"rules": None}), services=services).request)
    except DyngenError:
        return False
    return True


def _refused(request: GenerateContentRequest, error: DyngenError, services: Services) -> Prepared:
    """A request its rules made invalid for this player: served as the node's fallback with the error and
    its findings on the record (spec: the player never waits on a broken scene), never cached."""
    log.warning("generation.rules_invalid node=%s findings=%d", request.node_id, len(error.details or []))
    provider = services.providers.select(request)
    return Prepared(
        request=request,
        provider=provider,
        key=cache_key(request),
        fingerprint=config_fingerprint(request, provider=provider.info.name),
        seed=resolve_seed(request, entropy=services.entropy),
        cacheable=False,
        ttl_s=None,
        refused=error,
    )


async def scored(services: Services, prepared: Prepared) -> Prepared:
    """`prepared` with its pool's variant chosen by review scores (`domain.cache_keys.choose_variant`):
    better-scored variants serve more players, variants scored below the drop threshold none. Unchanged
    for a node without a pool, or while no variant of the pool has a review."""
    pool = prepared.pool
    if pool is None:
        return prepared
    by_key = await services.scores.key_scores(services.reviews, pool.keys, now=services.clock.monotonic())
    if not by_key:
        return prepared
    scores = {index: by_key[key] for index, key in enumerate(pool.keys) if key in by_key}
    index = choose_variant(pool.choice_seed, pool.size, scores, services.options.review_policy)
    if prepared.variant is not None and prepared.variant.index == index:
        return prepared
    return replace(
        prepared, key=pool.keys[index], seed=pool.seeds[index], variant=VariantInfo(index=index, pool_size=pool.size)
    )
