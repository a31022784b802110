"""The key cache under a hung database (issue 12): known keys keep being served while a refresh is stuck,
for at most `stale_s` past the cache time; past it, a request waits for the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from dyngen.ports import ApiKey
from dyngen.services.machinery.key_cache import KeyCache
from tests.fakes import FakeKeyRepository

GAME = ApiKey(id="k1", name="game", scope="runtime", created_at=datetime(2026, 1, 1, tzinfo=UTC))
# A guard, not a measurement: a request held by the stuck refresh never answers and fails the test.
GUARD_S = 10.0


async def test_known_keys_are_served_while_a_refresh_is_stuck() -> None:
    keys = FakeKeyRepository()
    keys.keys["h-game"] = GAME
    cache = KeyCache(ttl_s=5, stale_s=60)
    assert await cache.active_key(keys, "h-game", now=0) == GAME

    keys.hang()
    assert await asyncio.wait_for(cache.active_key(keys, "h-game", now=6), GUARD_S) == GAME
    assert await asyncio.wait_for(cache.any_active(keys, now=30), GUARD_S) is True
    assert await asyncio.wait_for(cache.active_key(keys, "h-game", now=64), GUARD_S) == GAME

    # Past ttl + stale_s what is known is too old to vouch for: the request waits for the refresh.
    waiting = asyncio.create_task(cache.active_key(keys, "h-game", now=66))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done()
    keys.answer()
    assert await asyncio.wait_for(waiting, GUARD_S) == GAME


async def test_without_stale_time_a_refresh_is_waited_for() -> None:
    keys = FakeKeyRepository()
    keys.keys["h-game"] = GAME
    cache = KeyCache(ttl_s=5)
    assert await cache.active_key(keys, "h-game", now=0) == GAME

    keys.hang()
    waiting = asyncio.create_task(cache.active_key(keys, "h-game", now=6))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done()
    keys.answer()
    assert await asyncio.wait_for(waiting, GUARD_S) == GAME
