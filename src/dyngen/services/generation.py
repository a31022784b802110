"""Serving a Generation Node: prepare the request, answer from the cache, or run the provider once per key.

`generate_content` takes a parsed request (the CLI, `play`, tests); `generate_content_json` takes the raw
body the HTTP API received and returns the response bytes, remembering the parse-and-prepare work per
body, so that a cache hit costs a hash, a dictionary lookup and a memory-tier read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from pydantic import ValidationError

from dyngen.domain.cache_keys import cache_key, resolve_seed, variant_pool
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
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.validation import validate_config
from dyngen.domain.wire import load_json
from dyngen.services.container import Services
from dyngen.services.outcomes import CACHE_FORMAT, CacheEntry, FlightResult, Outcome, Prepared
from dyngen.services.provider_runs import generate_and_record, waited_too_long
from dyngen.services.resolution import resolve

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


def config_fingerprint(request: GenerateContentRequest) -> str:
    """A hash of everything in a request that shapes content but is not in the cache key.

    A cached entry made under another fingerprint is stale (the node changed without a version bump)
    and is regenerated rather than served.
    """
    shaping = request.model_dump(mode="json", include=_SHAPING_FIELDS)
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
    resolved = resolve(request=request, services=services)
    request = resolved.request
    _reject_invalid(request)
    provider = services.providers.select(request)
    key = cache_key(request, qualifiers=resolved.qualifiers)
    seed = resolve_seed(request, entropy=services.entropy)
    variant = None
    if (pool := variant_pool(request, seed, qualifiers=resolved.qualifiers)) is not None:
        index, key, seed = pool
        variant = VariantInfo(index=index, pool_size=request.variants or 0)
    forced = request.simulate.forced_failure() if request.simulate else None
    return Prepared(
        request=request,
        provider=provider,
        key=key,
        fingerprint=config_fingerprint(request),
        seed=seed if seed.source is not SeedSource.TIMESTAMP else None,
        cacheable=request.strategy is not Strategy.ALWAYS and forced is None,
        ttl_s=services.options.cache_ttl_s.get(request.strategy.value),
        variant=variant,
        rating=resolved.rating,
    )


async def generate_content(*, request: GenerateContentRequest, services: Services) -> GenerateContentResponse:
    """Serve content for a Generation Node request.

    Returns:
        `complete` with content, or `failed` with the node's fallback applied and the error that caused it.

    Raises:
        DyngenError: as `prepare`.
    """
    started = services.clock.monotonic()
    prepared = prepare(request=request, services=services)
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
        prepared = prepare(request=load_json(GenerateContentRequest, body, prefix=("body",)), services=services)
        services.memo.prepared.put(digest, prepared)
    if prepared.cacheable and (hit := await cached(services, prepared)) is not None:
        services.metrics.cache_request(node=prepared.node, tier=hit.tier, hit=True)
        head, tail = _hit_template(services, prepared, hit)
        return head + repr(round((services.clock.monotonic() - started) * 1000, 3)).encode() + tail
    outcome, cache = await _serve(prepared, services, fast_tiers_read=True)
    response = _response(outcome, key=prepared.key, started=started, services=services, cache=cache, prepared=prepared)
    return response.model_dump_json(by_alias=True, exclude_none=True).encode()


_TIME_SENTINEL = 123456789.125  # exactly representable; JSON strings cannot hold `"time_ms":` unescaped


def _hit_template(services: Services, prepared: Prepared, hit: Hit) -> tuple[bytes, bytes]:
    """A cache hit's response bytes around its `cost.time_ms` value, rendered once per entry and tier."""
    memo_key = (hit.raw, hit.tier, prepared.key)
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
    flight_key = f"{prepared.key}#{prepared.fingerprint}"
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

    wait_s = (request.fallback.timeout_ms or services.options.default_timeout_ms) / 1000 + JOIN_GRACE_S
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


def _decoded(services: Services, raw: bytes) -> CacheEntry | None:
    """A cache entry's bytes decoded, remembered per value (a memory-tier hit returns the same object)."""
    entry = services.memo.entries.get(raw)
    if entry is None:
        try:
            entry = CacheEntry.model_validate_json(raw)
        except ValidationError:
            log.warning("cache.entry_unreadable")
            return None
        services.memo.entries.put(raw, entry)
    return entry


@dataclass(frozen=True, slots=True)
class Hit:
    outcome: Outcome
    tier: str
    raw: bytes


async def cached(services: Services, prepared: Prepared, *, durable: bool = False) -> Hit | None:
    def decode(raw: bytes) -> tuple[Outcome, bytes] | None:
        entry = _decoded(services, raw)
        # Another format, or made from another config of the node: regenerate rather than serve stale.
        if entry is None or entry.format != CACHE_FORMAT or entry.fingerprint != prepared.fingerprint:
            return None
        return entry.outcome, raw

    found = await services.cache.get(prepared.key, decode, durable=durable, promote_ttl_s=prepared.ttl_s)
    if found is None:
        return None
    (outcome, raw), tier = found
    return Hit(outcome, tier, raw)


def _response(
    outcome: Outcome,
    *,
    key: str,
    started: float,
    services: Services,
    cache: CacheInfo,
    prepared: Prepared | None = None,
) -> GenerateContentResponse:
    elapsed_ms = (services.clock.monotonic() - started) * 1000
    return GenerateContentResponse(
        status=outcome.status,
        content=outcome.content,
        cache_key=key,
        cache=cache,
        cost=Cost(tokens=0 if cache.hit else outcome.tokens, time_ms=round(elapsed_ms, 3)),
        deterministic=outcome.deterministic,
        seed=outcome.seed,
        generation_id=outcome.generation_id,
        provider=outcome.provider,
        variant=prepared.variant if prepared else None,
        rating=prepared.rating if prepared else None,
        fallback=outcome.fallback,
        error=outcome.error,
    )
