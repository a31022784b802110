"""`RedisBudgetLedger`: budget reservations shared by every process, one Lua script per step.

Per period three hashes and a sorted set under `{prefix}:budget:{period}`: the scopes' spent and
reserved micro-units (`s:<scope>`, `r:<scope>`), each open reservation's amount and scopes, its expiry
(scored by Redis's own clock, so every process agrees), and the spend history by hour, node and provider.
A reservation checks every scope and holds the amount in all of them inside one script, so no two
callers can take the last of a budget, whatever the number of processes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from dyngen.adapters.messaging.redis import LuaScript, RedisConnection
from dyngen.ports import BudgetRefusal, Reservation, ScopeSpend, SpendBucket

# Drop the period's expired reservations (KEYS[1] state, KEYS[2] expiries, KEYS[3] reservation data),
# giving their amounts back to their scopes. Defines `now` (ms, Redis's clock).
_PURGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function drop(rid)
  local data = redis.call('HGET', KEYS[3], rid)
  if data then
    local held = cjson.decode(data)
    for _, scope in ipairs(held['s']) do
      redis.call('HINCRBY', KEYS[1], 'r:' .. scope, -held['a'])
    end
    redis.call('HDEL', KEYS[3], rid)
  end
  redis.call('ZREM', KEYS[2], rid)
  return data
end
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do drop(rid) end
"""

# ARGV[1]: the reservation as JSON, {"i": id, "a": amount, "t": ttl_ms, "k": retention_s, "s": scopes,
# "l": their limits (-1: none)}; the same object is kept as the reservation's data (`drop` reads "a" and
# "s"). One argument, not one per field and scope: redis-py packs each argument in Python, and with 13 of
# them that packing cost as much as the script itself (issue 18). Returns {1} when held, {0, scope, limit,
# remaining} when refused (nothing held).
_RESERVE = (
    _PURGE
    + """
local held = cjson.decode(ARGV[1])
local amount, scopes, limits = held['a'], held['s'], held['l']
for i, scope in ipairs(scopes) do
  local limit = limits[i]
  if limit >= 0 then
    local both = redis.call('HMGET', KEYS[1], 's:' .. scope, 'r:' .. scope)
    local used = tonumber(both[1] or '0') + tonumber(both[2] or '0')
    if used + amount > limit then return {0, scope, limit, limit - used} end
  end
end
for _, scope in ipairs(scopes) do redis.call('HINCRBY', KEYS[1], 'r:' .. scope, amount) end
redis.call('ZADD', KEYS[2], now + held['t'], held['i'])
redis.call('HSET', KEYS[3], held['i'], ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], held['k']) end
return {1}
"""
)

# KEYS[4] history. ARGV: id, actual, retention_s, history field, n, then n scopes. Gives the held amount
# back (when still held) and adds `actual` to every scope's spend and to the history (release: actual 0).
_SETTLE = (
    _PURGE
    + """
drop(ARGV[1])
local actual = tonumber(ARGV[2])
if actual > 0 then
  for i = 1, tonumber(ARGV[5]) do redis.call('HINCRBY', KEYS[1], 's:' .. ARGV[5 + i], actual) end
  redis.call('HINCRBY', KEYS[4], ARGV[4], actual)
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return 1
"""
)

_SNAPSHOT = _PURGE + "return redis.call('HGETALL', KEYS[1])"


class RedisBudgetLedger:
    """The scaled ledger (see the module docstring).

    Raises `RedisUnavailableError` when Redis does not answer; the budget service then refuses calls
    that a budget limits rather than spend blind.

    Args:
        connection: The process's Redis connection (keys under `{prefix}:budget:`).
        retention_s: How long a period's keys outlive their last write (long enough for a month's page).
    """

    def __init__(self, *, connection: RedisConnection, retention_s: int = 40 * 86400) -> None:
        self._redis = connection
        self._retention_s = retention_s
        # EVALSHA with a reload on NOSCRIPT: the scripts are not resent on every call.
        self._reserve = LuaScript(connection, _RESERVE)
        self._settle = LuaScript(connection, _SETTLE)
        self._snapshot = LuaScript(connection, _SNAPSHOT)

    def _keys(self, period: str) -> list[str]:
        base = self._redis.key("budget", period)
        return [base, f"{base}:expiry", f"{base}:held", f"{base}:history"]

    async def reserve(
        self, reservation: Reservation, *, limits: dict[str, int | None], ttl_s: float
    ) -> BudgetRefusal | None:
        keys = self._keys(reservation.period)[:3]
        held = {
            "i": reservation.id,
            "a": reservation.amount,
            "t": max(1, round(ttl_s * 1000)),
            "k": self._retention_s,
            "s": list(reservation.scopes),
            "l": [-1 if (limit := limits.get(scope)) is None else limit for scope in reservation.scopes],
        }
        args = [json.dumps(held, separators=(",", ":"))]
        reply = await self._reserve(keys, args)
        if int(reply[0]) == 1:
            return None
        scope = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        return BudgetRefusal(scope=scope, limit=int(reply[2]), remaining=int(reply[3]))

    async def _settle_call(self, reservation: Reservation, actual: int, field: str) -> None:
        keys = self._keys(reservation.period)
        args: list[Any] = [reservation.id, actual, self._retention_s, field, len(reservation.scopes)]
        args += list(reservation.scopes)
        await self._settle(keys, args)

    async def commit(self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True) -> None:
        hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        field = json.dumps([hour.isoformat(), reservation.node_id, reservation.provider])
        await self._settle_call(reservation, actual, field)

    def commit_soon(
        self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True
    ) -> asyncio.Future[None] | None:
        return None  # nothing batched: `commit` it

    async def release(self, reservation: Reservation) -> None:
        await self._settle_call(reservation, 0, "")

    async def snapshot(self, period: str) -> list[ScopeSpend]:
        keys = self._keys(period)[:3]
        flat = await self._snapshot(keys, [])
        values: dict[str, dict[str, int]] = {}
        for name, value in zip(flat[::2], flat[1::2], strict=True):
            text = name.decode() if isinstance(name, bytes) else str(name)
            kind, _, scope = text.partition(":")
            values.setdefault(scope, {})[kind] = int(value)
        return [
            ScopeSpend(scope=scope, spent=v.get("s", 0), reserved=max(0, v.get("r", 0)))
            for scope, v in sorted(values.items())
            if v.get("s", 0) or v.get("r", 0)
        ]

    async def history(self, period: str) -> list[SpendBucket]:
        key = self._keys(period)[3]
        raw = await self._redis.call(lambda r: r.hgetall(key))
        buckets = []
        for field, value in raw.items():
            hour, node_id, provider = json.loads(field)
            buckets.append(
                SpendBucket(
                    bucket_start=datetime.fromisoformat(hour), node_id=node_id, provider=provider, cost=int(value)
                )
            )
        return sorted(buckets, key=lambda b: (b.bucket_start, b.node_id, b.provider))
