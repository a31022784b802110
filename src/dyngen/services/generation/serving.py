"""Serving a prepared request: what it is served (a cache hit, or content made in the key's single flight)
and the answer's bytes.

`serve` decides where the content comes from; `answer` is the one place that turns what was served into
a response (and counts it in the metrics). A hit's response bytes are rendered once per cache entry and
remembered around its `cost.time_ms`, so a hit costs a memory-tier read and a concatenation.

Freshness (spec phase 5, `freshness.py`): an `always` node generates on every call within its rate limit
and keeps its newest content, which it serves when over the limit; a `hybrid` node serves its cached
content at once and refreshes it in the background (stale-while-revalidate).
"""

from __future__ import annotations

from dyngen.domain.cache_keys import resolve_seed
from dyngen.domain.contracts import CacheInfo, Cost, GenerateContentResponse, Strategy
from dyngen.services.generation import freshness
from dyngen.services.generation.freshness import cached, flight_key_of
from dyngen.services.generation.outcomes import FlightResult, Hit, Made, Outcome, Prepared, Served
from dyngen.services.generation.runs import generate_and_record, waited_too_long
from dyngen.services.machinery.container import Services

# A caller that joins another's generation waits for the node's timeout plus this, so that the owner's
# own timeout fallback (which is recorded) reaches it first.
JOIN_GRACE_S = 0.25


async def serve(services: Services, prepared: Prepared) -> Served:
    """Where a prepared request's content comes from: the cache (fast tiers; a hybrid node's the durable
    one too), an always-fresh node's rules, or the key's single flight, which reads the durable tier and
    otherwise runs the provider once for every caller."""
    request = prepared.request
    wait_s = (request.fallback.timeout_ms or services.options.default_timeout_ms) / 1000 + JOIN_GRACE_S
    if request.strategy is Strategy.ALWAYS:
        seed = prepared.seed or resolve_seed(request, entropy=services.entropy)
        return await freshness.serve_always(services, prepared, seed, timeout_s=wait_s)
    flight_key = flight_key_of(prepared)
    # While this process already generates the key, join at once: reading the tiers would only queue
    # a crowd of reads in front of the flight's own lease request.
    joinable = services.single_flight.is_running(flight_key)
    if prepared.cacheable and request.hybrid:
        if (hit := await freshness.serve_hybrid(services, prepared, timeout_s=wait_s)) is not None:
            return hit
    elif prepared.cacheable and not joinable and (hit := await cached(services, prepared)) is not None:
        return hit
    seed = prepared.seed or resolve_seed(request, entropy=services.entropy)
    if not prepared.cacheable:
        return Made(await generate_and_record(services, prepared, seed), CacheInfo(hit=False))

    async def produce() -> bytes:
        hit = await cached(services, prepared, durable=True)
        result = (
            FlightResult(outcome=hit.outcome, tier=hit.tier)
            if hit
            else FlightResult(outcome=await generate_and_record(services, prepared, seed))
        )
        return result.model_dump_json().encode()

    if joinable:
        services.metrics.waiters(+1)
    try:
        data, joined = await services.single_flight.run(flight_key, produce, timeout_s=wait_s)
    except TimeoutError:
        return Made(waited_too_long(request, seed), CacheInfo(hit=False))
    finally:
        if joinable:
            services.metrics.waiters(-1)
    flight = FlightResult.model_validate_json(data)
    if flight.tier is not None:
        return Hit(flight.outcome, flight.tier, data)
    return Made(flight.outcome, CacheInfo(hit=joined, tier="single_flight" if joined else None))


def answer(services: Services, prepared: Prepared, served: Served, *, started: float) -> bytes:
    """The response's JSON bytes for what was served, timed from `started` (monotonic)."""
    if isinstance(served, Hit):
        services.metrics.cache_request(node=prepared.node, tier=served.tier, hit=True)
        head, tail = _hit_template(services, prepared, served)
        return head + repr(round((services.clock.monotonic() - started) * 1000, 3)).encode() + tail
    if prepared.cacheable:
        services.metrics.cache_request(node=prepared.node, tier="none", hit=False)
    response = _response(services, prepared, served.outcome, cache=served.cache, started=started)
    return response.model_dump_json(by_alias=True, exclude_none=True).encode()


_TIME_SENTINEL = 123456789.125  # exactly representable; JSON strings cannot hold `"time_ms":` unescaped


def _hit_template(services: Services, prepared: Prepared, hit: Hit) -> tuple[bytes, bytes]:
    """A hit's response bytes around its `cost.time_ms` value, rendered once per entry, tier, staleness
    and expiry of its signed URLs (`exp` changes once per tenth of their lifetime, see `domain/media.py`)."""
    exp = services.media.expiry(services.clock.now())
    memo_key = (hit.raw, hit.tier, prepared.key, exp, hit.stale)
    template: tuple[bytes, bytes] | None = services.memo.hit_templates.get(memo_key)
    if template is None:
        # A hit serves content as stored; a retry that happened when it was made is not this call's.
        outcome = hit.outcome.model_copy(update={"fallback": None})
        cache = CacheInfo(hit=True, tier=hit.tier, stale=True if hit.stale else None)
        response = _response(services, prepared, outcome, cache=cache, started=None, exp=exp)
        rendered = response.model_dump_json(by_alias=True, exclude_none=True).encode()
        head, _, tail = rendered.partition(repr(_TIME_SENTINEL).encode())
        template = (head, tail)
        services.memo.hit_templates.put(memo_key, template)
    return template


def _response(
    services: Services,
    prepared: Prepared,
    outcome: Outcome,
    *,
    cache: CacheInfo,
    started: float | None,
    exp: int | None = None,
) -> GenerateContentResponse:
    elapsed_ms = _TIME_SENTINEL if started is None else round((services.clock.monotonic() - started) * 1000, 3)
    # Signed now, not when cached: the URLs of a cached outcome are made afresh for every answer.
    content, artifacts = services.media.present(
        outcome.content, outcome.artifacts, exp=exp if exp is not None else services.media.expiry(services.clock.now())
    )
    return GenerateContentResponse(
        status=outcome.status,
        content=content,
        artifacts=artifacts,
        cache_key=prepared.key,
        cache=cache,
        cost=Cost(tokens=0 if cache.hit else outcome.tokens, time_ms=elapsed_ms),
        deterministic=outcome.deterministic,
        seed=outcome.seed,
        generation_id=outcome.generation_id,
        provider=outcome.provider,
        variant=prepared.variant,
        arm=prepared.arm,
        rating=prepared.rating,
        fallback=outcome.fallback,
        error=outcome.error,
    )
