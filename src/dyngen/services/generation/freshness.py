"""Keeping content fresh (spec phase 5: always-fresh and hybrid fetch -> generate); `serving.py` applies it.

- `always` nodes generate fresh content on every call, within their per-node rate limit. Each success is
  also kept as the node's newest content (under the node's key, whose seed slot an `always` node leaves
  empty; the run keeps it once recorded, `runs.cache_outcome`). Over the limit, that newest content is
  served (`cache.stale: true`); without any, the node's fallback with GEN_RATE_LIMITED.
- `hybrid: true` (any strategy): serve the cached content at once and refresh it in the background
  (stale-while-revalidate) when it is older than the node's `refreshAfterS` (unset: on every serve);
  generate in the foreground only when nothing usable is cached. A refresh runs in the key's single
  flight, the one a foreground miss would use, so there is one refresh per key at a time across every
  process; an `always` node's refresh also spends its rate limit, and is skipped over it.

Only content made from the node's current config (the same fingerprint) is usable: a changed config is
regenerated in the foreground, never served stale (its rating or constraints may have changed).
"""

from __future__ import annotations

import logging

from dyngen.domain.cache_keys import ResolvedSeed, resolve_seed
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus, Strategy
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.rate_limits import RateLimits
from dyngen.ports import Clock, RateDecision, RateLimiter
from dyngen.services.access import rate_limits
from dyngen.services.generation.outcomes import FLIGHT_CODEC, Flown, Hit, Outcome, Prepared
from dyngen.services.generation.ports import ServePorts
from dyngen.services.generation.runs import fallback_without_run, generate_and_record
from dyngen.services.machinery.background import BackgroundTasks

log = logging.getLogger("dyngen.freshness")


def is_stale(prepared: Prepared, hit: Hit, *, clock: Clock) -> bool:
    """Whether a hit is older than its node's `refreshAfterS` (unset: always)."""
    after = prepared.request.refresh_after_s
    if after is None or hit.made_at is None:
        return True
    return (clock.now() - hit.made_at).total_seconds() >= after


# --- always-fresh -----------------------------------------------------------------------------------


async def admit_fresh(prepared: Prepared, *, limiter: RateLimiter | None, limits: RateLimits) -> RateDecision:
    """Whether an always-fresh node may generate now, under its per-node rate limit
    (`DYNGEN_RATE_LIMIT_ALWAYS_NODE`, `DYNGEN_RATE_LIMIT_NODES`). A limiter that cannot answer admits:
    the node then generates as it would without a limit."""
    try:
        return await rate_limits.try_node(node_id=prepared.request.node_id, limiter=limiter, limits=limits)
    except Exception:
        log.warning("freshness.rate_limit_unavailable node=%s", prepared.node, exc_info=True)
        return RateDecision(allowed=True)


def rate_limited(request: GenerateContentRequest, seed: ResolvedSeed, retry_after_s: float) -> Outcome:
    """The fallback of an always-fresh node over its rate limit with nothing cached to serve."""
    error = DyngenError(
        ErrorCode.GEN_RATE_LIMITED,
        f"node {request.node_id or '-'} is over its rate limit (next generation in {max(retry_after_s, 0):.1f} s) "
        "and has no content yet to serve instead",
    )
    return fallback_without_run(request, seed, error)


# --- hybrid refreshes ---------------------------------------------------------------------------


REFRESH_SPACING_S = 5.0
REFRESH_BACKOFF_MAX_S = 300.0


def _pace(flight: str, *, failed: bool, tasks: BackgroundTasks, clock: Clock) -> None:
    """After a refresh: the next may start REFRESH_SPACING_S later, doubling per failure in a row."""
    pacing = tasks
    failures = (pacing.failures.get(flight) or 0) + 1 if failed else 0
    pacing.failures.put(flight, failures)
    wait = min(REFRESH_SPACING_S * 2**failures, REFRESH_BACKOFF_MAX_S) if failures else REFRESH_SPACING_S
    pacing.not_before.put(flight, clock.monotonic() + wait)
    if failed:
        log.info("freshness.refresh_failed key=%s failures=%d next_in_s=%.0f", flight, failures, wait)


def refresh(ports: ServePorts, prepared: Prepared, *, timeout_s: float) -> bool:
    """Start a background refresh of the prepared request's content, unless one runs already or the key
    was refreshed too recently.

    The refresh runs in the key's single flight (one per key at a time across processes; a foreground
    miss joins it). An always-fresh node's refresh spends its rate limit and is skipped over it. A key is
    refreshed at most every REFRESH_SPACING_S in this process; after a failed refresh (provider down,
    budget spent) the wait doubles, up to REFRESH_BACKOFF_MAX_S, so a failing refresh cannot run on every
    serve. Returns True when a refresh started in this process.
    """
    flight = prepared.flight_key
    always = prepared.request.strategy is Strategy.ALWAYS
    pacing = ports.tasks
    now = ports.clock.monotonic()
    if now < (pacing.not_before.get(flight) or 0.0):
        return False
    pacing.not_before.put(flight, now + REFRESH_SPACING_S)

    async def produce() -> Flown:
        seed = prepared.seed or resolve_seed(prepared.request, entropy=ports.entropy)
        if always:
            decision = await admit_fresh(prepared, limiter=ports.rate_limiter, limits=ports.options.rate_limits)
            if not decision.allowed:
                log.info("freshness.refresh_skipped node=%s reason=rate_limited", prepared.node)
                return rate_limited(prepared.request, seed, decision.retry_after_s)
        outcome = await generate_and_record(ports.runs, prepared, seed)
        log.info("freshness.refreshed node=%s key=%s status=%s", prepared.node, prepared.key, outcome.status.value)
        _pace(flight, failed=outcome.status is GenerationStatus.FAILED, tasks=ports.tasks, clock=ports.clock)
        return outcome

    async def run() -> None:
        try:
            await ports.flights.run(flight, produce, codec=FLIGHT_CODEC, timeout_s=timeout_s)
        except TimeoutError:
            log.warning("freshness.refresh_wait_timeout node=%s", prepared.node)

    return ports.tasks.start(f"refresh:{flight}", run())
