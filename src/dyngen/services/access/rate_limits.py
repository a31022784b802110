"""Rate limits (spec phase 5): per API key and per player at the API, per always-fresh node on the
generation path. GCRA through the `RateLimiter` port: shared by every process through Redis in scaled
mode, per process when embedded. A limit that is not configured costs nothing (no I/O).
"""

from __future__ import annotations

import math
from typing import Any

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.rate_limits import Rate, RateLimits
from dyngen.domain.wire import parse_json
from dyngen.ports import RateDecision, RateLimiter

ANONYMOUS = "-"  # the API key of callers while keys are not enforced


def limited_error(decision: RateDecision, what: str) -> DyngenError:
    """GEN_RATE_LIMITED for a refused `decision`: at the API a 429 with `Retry-After`."""
    wait = max(1, math.ceil(decision.retry_after_s))
    return DyngenError(
        ErrorCode.GEN_RATE_LIMITED,
        f"{what} is over its rate limit; retry in {wait} s",
        retry_after_s=decision.retry_after_s,
    )


async def _acquire(limiter: RateLimiter | None, key: str, rate: Rate) -> RateDecision:
    if limiter is None:
        return RateDecision(allowed=True)
    return await limiter.acquire(key, per_second=rate.per_second, burst=rate.burst)


def player_of(body: bytes) -> str | None:
    """The player id of a raw generate request (`player_context.playerId`, either spelling); None when
    the body has none or is not JSON (the generation service then answers the 422)."""
    try:
        data: Any = parse_json(body)
    except DyngenError:
        return None
    return player_in(data)


def player_in(data: Any) -> str | None:
    """`player_of` for a body already read as JSON values."""
    if not isinstance(data, dict):
        return None
    context = data.get("player_context", data.get("playerContext"))
    if not isinstance(context, dict):
        return None
    player = context.get("playerId", context.get("player_id"))
    return player if isinstance(player, str) and player else None


async def admit_request(
    *, api_key_id: str | None, player: str | None, limiter: RateLimiter | None, limits: RateLimits
) -> None:
    """Count a generate request against its API key's and its player's rate limits (`limiter` None:
    nothing is limited).

    Raises:
        DyngenError: GEN_RATE_LIMITED (429 with `Retry-After`) when either is over its limit.
    """
    if limits.api_key is not None:
        decision = await _acquire(limiter, f"key:{api_key_id or ANONYMOUS}", limits.api_key)
        if not decision.allowed:
            raise limited_error(decision, "this API key")
    if limits.player is not None and player is not None:
        decision = await _acquire(limiter, f"player:{player}", limits.player)
        if not decision.allowed:
            raise limited_error(decision, f"player '{player}'")


async def try_node(*, node_id: str | None, limiter: RateLimiter | None, limits: RateLimits) -> RateDecision:
    """Count one generation of an always-fresh node against the node's rate limit.

    Call it once per request of a node with strategy `always`, before generating. When refused, the
    hybrid path serves the node's newest cached content instead, or the node's fallback with
    `limited_error(decision, ...)`. A node without a configured limit is always allowed, with no I/O.
    """
    rate = limits.node(node_id)
    if rate is None:
        return RateDecision(allowed=True)
    return await _acquire(limiter, f"node:{node_id or ANONYMOUS}", rate)
