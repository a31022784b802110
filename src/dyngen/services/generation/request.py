"""Serving a Generation Node: prepare the request, answer from the cache, or run the provider once per key.

`generate_content` takes a parsed request (the CLI, `play`, tests); `generate_content_json` takes the raw
body the HTTP API received and returns the response bytes, remembering the parse-and-prepare work per
body, so that a cache hit costs a hash, a dictionary lookup and a memory-tier read.

Freshness (spec phase 5, `services/freshness.py`): an `always` node generates on every call within its
rate limit and keeps its newest content, which it serves when over the limit; a `hybrid` node serves its
cached content at once and refreshes it in the background (stale-while-revalidate).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace

from dyngen.domain.cache_keys import cache_key, choose_variant, pool_of, resolve_seed
from dyngen.domain.contracts import (
    CacheInfo,
    Cost,
    GenerateContentRequest,
    GenerateContentResponse,
    NodeStatus,
    SeedSource,
    Severity,
    Strategy,
    VariantInfo,
)
from dyngen.domain.dsl import compile_rules
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.validation import validate_config
from dyngen.domain.wire import load_json
from dyngen.services import freshness
from dyngen.services.container import Services
from dyngen.services.freshness import Hit, cached, flight_key_of
from dyngen.services.outcomes import FlightResult, Outcome, Prepared
from dyngen.services.provider_runs import generate_and_record, waited_too_long
from dyngen.services.resolution import resolve
from dyngen.services.runtime_graphs import referenced

log = logging.getLogger("dyngen.generation")

# A caller that joins another's generation waits for the node's timeout plus this, so that the owner's
# own timeout fallback (which is recorded) reaches it first.
JOIN_GRACE_S = 0.25

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


async def generate_content(*, request: GenerateContentRequest, services: Services) -> GenerateContentResponse:
    """Serve content for a Generation Node request.

    Returns:
        `complete` with content, or `failed` with the node's fallback applied and the error that caused it.

    Raises:
        DyngenError: as `prepare`.
    """
    started = services.clock.monotonic()
    request = await referenced(request=request, services=services)
    prepared = await scored(services, prepare(request=request, services=services))
    outcome, cache = await _serve(prepared, services)
    return _response(outcome, key=prepared.key, started=started, services=services, cache=cache, prepared=prepared)


async def generate_content_json(*, body: bytes, services: Services) -> bytes:
    """`generate_content` for a raw JSON request body, answering with the response's JSON bytes.

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a body that is not a valid request (every problem listed), and
            as `prepare`.
    """
    started = services.clock.monotonic()
    digest = hashlib.blake2b(body, digest_size=16).digest()
    prepared = services.memo.prepared.get(digest)
    if prepared is None:
        parsed = load_json(GenerateContentRequest, body, prefix=("body",))
        request = await referenced(request=parsed, services=services)
        prepared = prepare(request=request, services=services)
        if request is parsed:  # a body resolved by its node id is resolved again (the graph may change)
            services.memo.prepared.put(digest, prepared)
    if prepared.pool is not None:
        prepared = await scored(services, prepared)
    # A hybrid node's hit may be stale (it then starts a refresh): `_serve` looks at its age.
    if prepared.cacheable and not prepared.request.hybrid and (hit := await cached(services, prepared)) is not None:
        services.metrics.cache_request(node=prepared.node, tier=hit.tier, hit=True)
        head, tail = _hit_template(services, prepared, hit, exp=services.media.expiry(services.clock.now()))
        return head + repr(round((services.clock.monotonic() - started) * 1000, 3)).encode() + tail
    outcome, cache = await _serve(prepared, services, fast_tiers_read=True)
    response = _response(outcome, key=prepared.key, started=started, services=services, cache=cache, prepared=prepared)
    return response.model_dump_json(by_alias=True, exclude_none=True).encode()


_TIME_SENTINEL = 123456789.125  # exactly representable; JSON strings cannot hold `"time_ms":` unescaped


def _hit_template(services: Services, prepared: Prepared, hit: Hit, *, exp: int) -> tuple[bytes, bytes]:
    """A cache hit's response bytes around its `cost.time_ms` value, rendered once per entry, tier and
    expiry of its signed URLs (`exp` changes once per tenth of their lifetime, see `domain/media.py`)."""
    memo_key = (hit.raw, hit.tier, prepared.key, exp)
    template = services.memo.hit_templates.get(memo_key)
    if template is None:
        outcome = hit.outcome.model_copy(update={"fallback": None})
        response = _response(
            outcome,
            key=prepared.key,
            started=0.0,
            services=services,
            cache=CacheInfo(hit=True, tier=hit.tier),
            prepared=prepared,
            exp=exp,
        )
        response = response.model_copy(update={"cost": Cost(tokens=0, time_ms=_TIME_SENTINEL)})
        rendered = response.model_dump_json(by_alias=True, exclude_none=True).encode()
        head, _, tail = rendered.partition(repr(_TIME_SENTINEL).encode())
        template = (head, tail)
        services.memo.hit_templates.put(memo_key, template)
    return template


async def _serve(prepared: Prepared, services: Services, *, fast_tiers_read: bool = False) -> tuple[Outcome, CacheInfo]:
    """The outcome for a prepared request, and where it came from (`fast_tiers_read`: the caller already
    missed in the memory and Redis tiers)."""
    request = prepared.request
    seed = prepared.seed or resolve_seed(request, entropy=services.entropy)
    if request.strategy is Strategy.ALWAYS:
        return await freshness.serve_always(services, prepared, seed, timeout_s=_wait_s(prepared, services))
    if request.hybrid and prepared.cacheable:
        served = await freshness.serve_hybrid(services, prepared, timeout_s=_wait_s(prepared, services))
        if served is not None:
            return served
        fast_tiers_read = True  # serve_hybrid read every tier and found nothing usable
    flight_key = flight_key_of(prepared)
    # While this process already generates the key, join at once: reading the tiers would only queue
    # a crowd of reads in front of the flight's own lease request.
    joinable = services.single_flight.is_running(flight_key)
    read = fast_tiers_read or joinable
    if prepared.cacheable and not read and (hit := await cached(services, prepared)) is not None:
        services.metrics.cache_request(node=prepared.node, tier=hit.tier, hit=True)
        # A hit serves content as stored; a retry that happened when it was made is not this call's.
        return hit.outcome.model_copy(update={"fallback": None}), CacheInfo(hit=True, tier=hit.tier)
    if not prepared.cacheable:
        return await generate_and_record(services, prepared, seed), CacheInfo(hit=False)
    services.metrics.cache_request(node=prepared.node, tier="none", hit=False)

    async def produce() -> bytes:
        hit = await cached(services, prepared, durable=True)
        result = (
            FlightResult(outcome=hit.outcome, tier=hit.tier)
            if hit
            else FlightResult(outcome=await generate_and_record(services, prepared, seed))
        )
        return result.model_dump_json().encode()

    wait_s = _wait_s(prepared, services)
    if joinable:
        services.metrics.waiters(+1)
    try:
        data, joined = await services.single_flight.run(flight_key, produce, timeout_s=wait_s)
    except TimeoutError:
        return waited_too_long(request, seed), CacheInfo(hit=False)
    finally:
        if joinable:
            services.metrics.waiters(-1)
    flight = FlightResult.model_validate_json(data)
    if flight.tier is not None:
        return flight.outcome.model_copy(update={"fallback": None}), CacheInfo(hit=True, tier=flight.tier)
    return flight.outcome, CacheInfo(hit=joined, tier="single_flight" if joined else None)


def _wait_s(prepared: Prepared, services: Services) -> float:
    return (prepared.request.fallback.timeout_ms or services.options.default_timeout_ms) / 1000 + JOIN_GRACE_S


def _response(
    outcome: Outcome,
    *,
    key: str,
    started: float,
    services: Services,
    cache: CacheInfo,
    prepared: Prepared | None = None,
    exp: int | None = None,
) -> GenerateContentResponse:
    elapsed_ms = (services.clock.monotonic() - started) * 1000
    # Signed now, not when cached: the URLs of a cached outcome are made afresh for every answer.
    content, artifacts = services.media.present(
        outcome.content, outcome.artifacts, exp=exp if exp is not None else services.media.expiry(services.clock.now())
    )
    return GenerateContentResponse(
        status=outcome.status,
        content=content,
        artifacts=artifacts,
        cache_key=key,
        cache=cache,
        cost=Cost(tokens=0 if cache.hit else outcome.tokens, time_ms=round(elapsed_ms, 3)),
        deterministic=outcome.deterministic,
        seed=outcome.seed,
        generation_id=outcome.generation_id,
        provider=outcome.provider,
        variant=prepared.variant if prepared else None,
        arm=prepared.arm if prepared else None,
        rating=prepared.rating if prepared else None,
        fallback=outcome.fallback,
        error=outcome.error,
    )
