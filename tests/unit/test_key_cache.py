"""The key cache under a hung database (issue 12): known keys keep being served while a refresh is stuck,
for at most `stale_s` past the cache time; past it, a request waits for the database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

from dyngen.ports import ApiKey
from dyngen.services.machinery.key_cache import KeyCache
from tests.fakes import FakeKeyRepository
from tests.support.waiting import hang_guard

GAME = ApiKey(id="k1", name="game", scope="runtime", created_at=datetime(2026, 1, 1, tzinfo=UTC))
T = TypeVar("T")


async def answered(call: Awaitable[T]) -> T:
    """`call`'s answer; a request held by the stuck refresh never answers and fails the test at the hang
    guard (a guard, not a measurement)."""
    async with hang_guard("the key cache to answer"):
        return await call


async def test_known_keys_are_served_while_a_refresh_is_stuck() -> None:
    keys = FakeKeyRepository()
    keys.keys["h-game"] = GAME
    cache = KeyCache(ttl_s=5, stale_s=60)
    assert await cache.active_key(keys, "h-game", now=0) == GAME

    keys.hang()
    assert await answered(cache.active_key(keys, "h-game", now=6)) == GAME
    assert await answered(cache.any_active(keys, now=30)) is True
    assert await answered(cache.active_key(keys, "h-game", now=64)) == GAME

    # Past ttl + stale_s what is known is too old to vouch for: the request waits for the refresh.
    waiting = asyncio.create_task(cache.active_key(keys, "h-game", now=66))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done()
    keys.answer()
    assert await answered(waiting) == GAME


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
    assert await answered(waiting) == GAME
