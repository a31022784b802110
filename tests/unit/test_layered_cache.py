"""`LayeredCache.delete` against a read that runs while a durable tier's delete waits for its commit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from dyngen.adapters.cache.memory import MemoryCacheTier
from dyngen.services.machinery.layered_cache import LayeredCache
from tests.support.waiting import signalled


class SlowDeletes(MemoryCacheTier):
    """A durable tier whose deletes commit only when the test lets them."""

    name = "database"

    def __init__(self) -> None:
        super().__init__(max_bytes=1 << 20, max_entries=100)
        self.deleting = asyncio.Event()
        self.commit = asyncio.Event()

    async def delete(self, keys: Iterable[str]) -> int:
        self.deleting.set()
        await self.commit.wait()
        return await super().delete(keys)


async def test_a_read_during_an_invalidation_does_not_bring_the_entry_back() -> None:
    memory, durable = MemoryCacheTier(max_bytes=1 << 20, max_entries=100), SlowDeletes()
    cache = LayeredCache([memory], durable=[durable])
    await cache.set("k", b"old")
    invalidation = asyncio.ensure_future(cache.delete(["k"]))
    await signalled(durable.deleting, what="the durable delete started")

    await cache.get("k", lambda raw: raw, durable=True)  # a miss's read, while the delete waits for its commit
    durable.commit.set()
    await invalidation

    assert await memory.get("k") is None
    assert await cache.get("k", lambda raw: raw, durable=True) is None
