"""`RedisCacheTier`: the shared tier every process of a deployment reads and fills."""

from __future__ import annotations

import math
from collections.abc import Iterable

from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError
from dyngen.domain.errors import DyngenError, ErrorCode


class RedisCacheTier:
    """Values under `<prefix>:cache:<key>`, with a TTL per write.

    While Redis is down, reads miss and writes are skipped (the memory tier keeps serving); an
    invalidation that cannot reach Redis fails loudly, because a silent one would serve stale content
    once Redis is back.
    """

    name = "redis"

    def __init__(self, *, connection: RedisConnection) -> None:
        self._connection = connection

    def _key(self, key: str) -> str:
        return self._connection.key("cache", key)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._connection.command("GET", self._key(key))
        except RedisUnavailableError:
            return None
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        try:
            if ttl_s is not None and ttl_s <= 0:  # already expired: nothing to keep
                await self._connection.command("DEL", self._key(key))
                return
            if ttl_s is None:
                await self._connection.command("SET", self._key(key), value)
            else:
                await self._connection.command("SET", self._key(key), value, "PX", max(1, math.ceil(ttl_s * 1000)))
        except RedisUnavailableError:
            return

    async def delete(self, keys: Iterable[str]) -> int:
        names = [self._key(k) for k in keys]
        if not names:
            return 0
        try:
            removed: int = await self._connection.command("DEL", *names)
        except RedisUnavailableError as exc:
            raise DyngenError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"cannot invalidate the Redis cache tier: {exc}"
            ) from exc
        return removed
