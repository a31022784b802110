"""`RedisCircuitBreaker`: the circuit breaker of provider chains, shared by every process through Redis.

Failures are counted in a sorted set scored by Redis's own clock; a cooldown is a key with a PX expiry,
so every process skips the same members and the cooldown ends by itself. While Redis does not answer,
the breaker counts in a `MemoryCircuitBreaker` of its own (this process only).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis

from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError
from dyngen.adapters.providers.breaker import MemoryCircuitBreaker, cooldown_reason
from dyngen.ports import Clock, Cooldown

log = logging.getLogger("dyngen.providers.breaker")


# Atomic: count the failure in a sorted set scored by Redis's own clock (every process shares it),
# drop the ones older than the window, and open the cooldown key (PX expiry) once enough are counted.
_RECORD = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisCircuitBreaker:
    """The scaled breaker: failures in a Redis sorted set, a cooldown as a key with a PX expiry.

    While Redis does not answer it counts in a `MemoryCircuitBreaker` of its own (this process only).

    Args:
        connection: The process's Redis connection (keys under `{prefix}:breaker:`).
        clock: For the expiry's wall-clock date and the memory fallback.
        failures: Failures within the window that trip the breaker.
        window_s: The window, seconds.
        cooldown_s: How long a tripped provider is skipped, seconds.
    """

    def __init__(
        self,
        *,
        connection: RedisConnection,
        clock: Clock,
        failures: int = 3,
        window_s: float = 60.0,
        cooldown_s: float = 30.0,
    ) -> None:
        self._redis = connection
        self._clock = clock
        self._failures = failures
        self._window_s = window_s
        self._cooldown_s = cooldown_s
        self.fallback = MemoryCircuitBreaker(clock=clock, failures=failures, window_s=window_s, cooldown_s=cooldown_s)

    def _keys(self, name: str) -> tuple[str, str]:
        return self._redis.key("breaker", name, "failures"), self._redis.key("breaker", name, "cooldown")

    async def cooldown(self, name: str) -> Cooldown | None:
        return (await self.cooldowns([name])).get(name)

    async def record_failure(self, name: str, *, code: str) -> Cooldown | None:
        failures_key, cooldown_key = self._keys(name)
        reason = cooldown_reason(self._failures, self._window_s, code)
        args = [
            max(1, round(self._window_s * 1000)),
            self._failures,
            max(1, round(self._cooldown_s * 1000)),
            uuid.uuid4().hex,
            reason,
        ]
        try:
            tripped = await self._redis.call(lambda r: r.eval(_RECORD, 2, failures_key, cooldown_key, *args))
        except RedisUnavailableError:
            return await self.fallback.record_failure(name, code=code)
        if not tripped:
            return None
        cooldown = Cooldown(until=self._clock.now() + timedelta(seconds=self._cooldown_s), reason=reason)
        log.warning("provider.cooldown name=%s until=%s reason=%s", name, cooldown.until.isoformat(), reason)
        return cooldown

    async def cooldowns(self, names: Iterable[str]) -> dict[str, Cooldown]:
        names = list(names)
        local = await self.fallback.cooldowns(names)

        async def read(r: aioredis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for name in names:
                _, cooldown_key = self._keys(name)
                pipe.get(cooldown_key)
                pipe.pttl(cooldown_key)
            return list(await pipe.execute())

        try:
            replies = await self._redis.call(read)
        except RedisUnavailableError:
            return local
        now = self._clock.now()
        found = dict(local)  # cooldowns counted while Redis was away still hold in this process
        for i, name in enumerate(names):
            reason, ttl_ms = replies[2 * i], replies[2 * i + 1]
            if reason is None or not isinstance(ttl_ms, int) or ttl_ms <= 0:
                continue
            text = reason.decode() if isinstance(reason, bytes) else str(reason)
            found[name] = Cooldown(until=now + timedelta(milliseconds=ttl_ms), reason=text)
        return found
