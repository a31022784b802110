"""`RedisRateLimiter`: GCRA shared by every process, one Lua script (one round trip) per request.

The same arithmetic as `dyngen.domain.rate_limits.gcra`, in integer microseconds on Redis's clock, so
processes on machines with different clocks share one limit. The key (`{prefix}:rate:<key>`) expires
when its theoretical arrival time has passed: an idle key costs nothing.
"""

from __future__ import annotations

import logging

from dyngen.adapters.messaging.redis import LuaScript, RedisConnection, RedisUnavailableError
from dyngen.adapters.rate_limits.memory import MemoryRateLimiter
from dyngen.ports import Clock, RateDecision

log = logging.getLogger("dyngen.rate_limits")

# ARGV: interval (us), tolerance (us). Returns {1, 0} when admitted, {0, retry_after_us} when not.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then return {0, tat - now - tolerance} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
"""


class RedisRateLimiter:
    """The scaled limiter (see the module docstring). While Redis does not answer, each process limits
    on its own with a `MemoryRateLimiter` (the limit then holds per process, not in total).

    Args:
        connection: The process's Redis connection.
        clock: For the memory fallback.
    """

    def __init__(self, *, connection: RedisConnection, clock: Clock) -> None:
        self._redis = connection
        self._script = LuaScript(connection, _GCRA)
        self.fallback = MemoryRateLimiter(clock=clock)

    async def acquire(self, key: str, *, per_second: float, burst: int) -> RateDecision:
        interval = max(1, round(1_000_000 / per_second))
        tolerance = interval * (max(1, burst) - 1)
        redis_key = self._redis.key("rate", key)
        try:
            reply = await self._script([redis_key], [interval, tolerance])
        except RedisUnavailableError:
            return self.fallback.acquire_now(key, per_second=per_second, burst=burst)
        if int(reply[0]) == 1:
            return RateDecision(allowed=True)
        return RateDecision(allowed=False, retry_after_s=int(reply[1]) / 1_000_000)
