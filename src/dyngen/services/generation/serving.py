"""Serving a prepared request: what it is served (a cache hit, or content made in the key's single flight)
and the answer's bytes.

`serve` decides where the content comes from; `respond` is the one place that turns what was served into
a response (and counts it in the metrics). A hit's response bytes are rendered once per cache entry and
remembered around its `cost.time_ms`, so a hit costs a memory-tier read and a concatenation.

Freshness (spec phase 5, `freshness.py`): an `always` node generates on every call within its rate limit
and keeps its newest content, which it serves when over the limit; a `hybrid` node serves its cached
content at once and refreshes it in the background (stale-while-revalidate).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from dyngen.domain.cache_keys import ResolvedSeed, resolve_seed
from dyngen.domain.contracts import Strategy
from dyngen.domain.responses import CacheInfo, Cost, GenerateContentResponse
from dyngen.ports import Clock
from dyngen.services.generation import freshness
from dyngen.services.generation.outcomes import (
    CACHE_FORMAT,
    FLIGHT_CODEC,
    CacheEntry,
    Flown,
    Hit,
    Made,
    Outcome,
    Prepared,
    Served,
)
from dyngen.services.generation.ports import ServePorts
from dyngen.services.generation.request import scored
from dyngen.services.generation.runs import generate_and_record, waited_too_long
from dyngen.services.generation.slots import CALL_SLOT
from dyngen.services.machinery.layered_cache import LayeredCache
from dyngen.services.machinery.media import MediaLinks
from dyngen.services.machinery.memo import GenerationMemo, LruMemo


def decoded(raw: bytes, *, memo: LruMemo[bytes, Any]) -> CacheEntry | None:
    """A cache entry's bytes decoded, remembered per value (a memory-tier hit returns the same object)."""
    entry: CacheEntry | None = memo.get(raw)
    if entry is None:
        try:
            entry = CacheEntry.model_validate_json(raw)
        except ValidationError:
            log.warning("cache.entry_unreadable")
            return None
        memo.put(raw, entry)
    return entry


async def cached(
    prepared: Prepared,
    *,
    cache: LayeredCache,
    memo: LruMemo[bytes, Any],
    durable: bool = False,
    nearest: bool = False,
) -> Hit | None:
    """The cache entry of the prepared request's key made from its current config, from the fast tiers
    (and the durable one when `durable`; only the nearest one when `nearest`), or None. `memo` remembers
    decoded entries by their bytes."""

    def decode(raw: bytes) -> tuple[CacheEntry, bytes] | None:
        entry = decoded(raw, memo=memo)
        # Another format, or made from another config of the node: regenerate rather than serve stale.
        if entry is None or entry.format != CACHE_FORMAT or entry.fingerprint != prepared.fingerprint:
            return None
        return entry, raw

    found = (
        await cache.nearest(prepared.key, decode)
        if nearest
        else await cache.get(prepared.key, decode, durable=durable, promote_ttl_s=prepared.ttl_s)
    )
    if found is None:
        return None
    (entry, raw), tier = found
    return Hit(entry.outcome, tier, raw, entry.made_at)


log = logging.getLogger("dyngen.generation")

# A caller that joins another's generation waits for the node's timeout plus this, so that the owner's
# own timeout fallback (which is recorded) reaches it first.
JOIN_GRACE_S = 0.25


async def respond(ports: ServePorts, prepared: Prepared, *, started: float, in_place: bool = False) -> bytes:
    """Serve a prepared request (its pool's variant picked by review scores first) and answer with the
    response's JSON bytes, timed from `started` (monotonic). The one place that turns what was served into
    an answer and counts it: a hit from its remembered template, content made from its outcome. `in_place`:
    see `serve`."""
    prepared, made = await served(ports, prepared, in_place=in_place)
    return answer(ports, prepared, made, started=started)


async def served(ports: ServePorts, prepared: Prepared, *, in_place: bool = False) -> tuple[Prepared, Served]:
    """What `respond` serves, not yet answered nor counted (a warm-up counts it with `count` and answers
    nothing): the request as served (its pool's variant picked by review scores first) and its content."""
    if prepared.pool is not None:
        prepared = await scored(
            prepared,
            scores=ports.scores,
            reviews=ports.reviews,
            clock=ports.clock,
            policy=ports.options.review_policy,
        )
    return prepared, await serve(ports, prepared, in_place=in_place)


def count(ports: ServePorts, prepared: Prepared, served: Served) -> None:
    """Count what was served in the metrics, as every answer does: a hit by its tier, a cacheable miss."""
    if isinstance(served, Hit):
        ports.metrics.cache_request(node=prepared.node, tier=served.tier, hit=True)
    elif prepared.cacheable:
        ports.metrics.cache_request(node=prepared.node, tier="none", hit=False)


def answer(ports: ServePorts, prepared: Prepared, served: Served, *, started: float) -> bytes:
    """What was served as the response's JSON bytes, timed from `started` (monotonic), and counted in the
    metrics: a hit from its remembered template, content made from its outcome."""
    clock = ports.clock
    count(ports, prepared, served)
    if isinstance(served, Hit):
        head, tail = _hit_template(prepared, served, clock=clock, media=ports.media, memo=ports.memo)
        return head + repr(round((clock.monotonic() - started) * 1000, 3)).encode() + tail
    response = _response(prepared, served.outcome, cache=served.cache, started=started, clock=clock, media=ports.media)
    return response.model_dump_json(by_alias=True, exclude_none=True).encode()


async def nearest_hit(ports: ServePorts, prepared: Prepared) -> Hit | None:
    """A hit for a plainly cached request from the nearest cache tier alone (memory), or None: for anything
    else (a miss, a hit in a slower tier, a pool, `always`, `hybrid`, a key being generated right now) the
    caller takes the whole way through `respond`, which counts and promotes what it finds."""
    request = prepared.request
    if (
        not prepared.cacheable
        or request.hybrid
        or request.strategy is Strategy.ALWAYS
        or prepared.pool is not None
        or ports.flights.is_running(prepared.flight_key)
    ):
        return None
    return await cached(prepared, cache=ports.cache, memo=ports.memo.entries, nearest=True)


async def serve(ports: ServePorts, prepared: Prepared, *, in_place: bool = False) -> Served:
    """Where a prepared request's content comes from: the cache (fast tiers; a hybrid node's the durable
    one too), an always-fresh node's rules, or the key's single flight, which reads the durable tier and
    otherwise runs the provider once for every caller. `in_place`: the caller is never cancelled but at
    shutdown (an HTTP answer), so a flight it starts runs in the caller's task (`SingleFlight.run`)."""
    request = prepared.request
    flight_key = prepared.flight_key
    # While this process already generates the key, join at once: reading the tiers would only queue
    # a crowd of reads in front of the flight's own lease request.
    joinable = ports.flights.is_running(flight_key)
    cache, entries = ports.cache, ports.memo.entries
    if (
        prepared.cacheable
        and not request.hybrid
        and not joinable
        and (hit := await cached(prepared, cache=cache, memo=entries)) is not None
    ):
        return hit
    wait_s = (request.fallback.timeout_ms or ports.options.default_timeout_ms) / 1000 + JOIN_GRACE_S
    if request.strategy is Strategy.ALWAYS:
        return await _serve_always(ports, prepared, timeout_s=wait_s)
    if (
        prepared.cacheable
        and request.hybrid
        and (hit := await cached(prepared, cache=cache, memo=entries, durable=True)) is not None
    ):
        return _aged(ports, prepared, hit, timeout_s=wait_s)
    seed = prepared.seed or resolve_seed(request, entropy=ports.entropy)
    if not joinable and (slot := CALL_SLOT.get()) is not None:
        await slot.take()  # a warm-up item's provider slot, before its flight starts (generation/slots.py)
    if not prepared.cacheable:
        return Made(await generate_and_record(ports.runs, prepared, seed), CacheInfo(hit=False))

    async def produce() -> Flown:
        hit = await cached(prepared, cache=ports.cache, memo=ports.memo.entries, durable=True)
        return hit or await generate_and_record(ports.runs, prepared, seed)

    if joinable:
        ports.metrics.waiters(+1)
    try:
        flown, joined = await ports.flights.run(
            flight_key, produce, codec=FLIGHT_CODEC, timeout_s=wait_s, in_place=in_place
        )
    except TimeoutError:
        return Made(waited_too_long(request, seed), CacheInfo(hit=False))
    finally:
        if joinable:
            ports.metrics.waiters(-1)
    if isinstance(flown, Hit):
        return flown
    return Made(flown, CacheInfo(hit=joined, tier="single_flight" if joined else None))


def _aged(ports: ServePorts, prepared: Prepared, hit: Hit, *, timeout_s: float) -> Hit:
    """A hybrid hit, marked stale (and its refresh started) when older than the node's `refreshAfterS`."""
    if not freshness.is_stale(prepared, hit, clock=ports.clock):
        return hit
    freshness.refresh(ports, prepared, timeout_s=timeout_s)
    return replace(hit, stale=True)


async def _serve_always(ports: ServePorts, prepared: Prepared, *, timeout_s: float) -> Served:
    """An always-fresh node: fresh within its rate limit, else its newest content, else the fallback
    (GEN_RATE_LIMITED). With `hybrid`, the newest content is served at once and refreshed behind."""
    if (
        prepared.request.hybrid
        and (hit := await cached(prepared, cache=ports.cache, memo=ports.memo.entries, durable=True)) is not None
    ):
        return _aged(ports, prepared, hit, timeout_s=timeout_s)
    seed: ResolvedSeed = prepared.seed or resolve_seed(prepared.request, entropy=ports.entropy)
    decision = await freshness.admit_fresh(prepared, limiter=ports.rate_limiter, limits=ports.options.rate_limits)
    if decision.allowed:
        return Made(await generate_and_record(ports.runs, prepared, seed), CacheInfo(hit=False))
    if (hit := await cached(prepared, cache=ports.cache, memo=ports.memo.entries, durable=True)) is not None:
        log.info("freshness.over_limit_served node=%s tier=%s", prepared.node, hit.tier)
        return replace(hit, stale=True)
    return Made(freshness.rate_limited(prepared.request, seed, decision.retry_after_s), CacheInfo(hit=False))


_TIME_SENTINEL = 123456789.125  # exactly representable; JSON strings cannot hold `"time_ms":` unescaped


def _hit_template(
    prepared: Prepared, hit: Hit, *, clock: Clock, media: MediaLinks, memo: GenerationMemo
) -> tuple[bytes, bytes]:
    """A hit's response bytes around its `cost.time_ms` value, rendered once per entry, tier, staleness
    and expiry of its signed URLs (`exp` changes once per tenth of their lifetime, see `domain/media.py`)."""
    exp = media.expiry(clock.now())
    memo_key = (hit.raw, hit.tier, prepared.key, exp, hit.stale)
    template = memo.hit_templates.get(memo_key)
    if template is None:
        # A hit serves content as stored; a retry that happened when it was made is not this call's.
        outcome = hit.outcome.model_copy(update={"fallback": None})
        cache = CacheInfo(hit=True, tier=hit.tier, stale=True if hit.stale else None)
        response = _response(prepared, outcome, cache=cache, started=None, clock=clock, media=media, exp=exp)
        rendered = response.model_dump_json(by_alias=True, exclude_none=True).encode()
        head, _, tail = rendered.partition(repr(_TIME_SENTINEL).encode())
        template = (head, tail)
        memo.hit_templates.put(memo_key, template)
    return template


def _response(
    prepared: Prepared,
    outcome: Outcome,
    *,
    cache: CacheInfo,
    started: float | None,
    clock: Clock,
    media: MediaLinks,
    exp: int | None = None,
) -> GenerateContentResponse:
    elapsed_ms = _TIME_SENTINEL if started is None else round((clock.monotonic() - started) * 1000, 3)
    # Signed now, not when cached: the URLs of a cached outcome are made afresh for every answer.
    content, artifacts = media.present(
        outcome.content, outcome.artifacts, exp=exp if exp is not None else media.expiry(clock.now())
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
        elements=outcome.elements,
        stages=outcome.stages,
    )
