"""`RedisInvalidationBus`: an invalidation in one process reaches the memory tier of every process.

Each "process" has its own `RedisConnection`, `MemoryCacheTier` and bus (subscribed to the memory tier's
`delete`, as `bootstrap.build` wires it) and a `LayeredCache` over memory and the shared Redis tier.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from dyngen.adapters.cache.memory import MemoryCacheTier
from dyngen.adapters.cache.redis import RedisCacheTier
from dyngen.adapters.messaging.redis import RedisConnection, RedisInvalidationBus
from dyngen.domain.errors import DyngenError
from dyngen.services.machinery.layered_cache import LayeredCache
from tests.contract.test_cache_tier import close_connection
from tests.support.servers import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.services


@dataclass
class Process:
    connection: RedisConnection
    memory: MemoryCacheTier
    bus: RedisInvalidationBus
    cache: LayeredCache


Spawn = Callable[..., Awaitable[Process]]


@pytest.fixture
async def spawn(redis_url: str, redis_prefix: str) -> AsyncIterator[Spawn]:
    """Start a "process": `await spawn(prefix=..., url=...)`; every one is closed after the test."""
    started: list[RedisConnection] = []

    async def start(*, prefix: str = redis_prefix, url: str = redis_url) -> Process:
        connection = RedisConnection(url=url, prefix=prefix)
        started.append(connection)
        memory = MemoryCacheTier(max_bytes=1 << 20, max_entries=1000)
        bus = RedisInvalidationBus(connection=connection)
        bus.subscribe(memory.delete)
        await connection.start()
        cache = LayeredCache([memory, RedisCacheTier(connection=connection)], bus=bus)
        return Process(connection=connection, memory=memory, bus=bus, cache=cache)

    yield start
    for connection in started:
        await close_connection(connection)


async def until_dropped(memory: MemoryCacheTier, key: str) -> None:
    async def dropped() -> bool:
        return await memory.get(key) is None

    await until(dropped, what=f"{key!r} to be dropped")


async def test_a_delete_in_one_process_drops_the_key_from_every_memory_tier(spawn: Spawn) -> None:
    a, b, c = await spawn(), await spawn(), await spawn()
    await a.cache.set("k", b"old content")
    for process in (b, c):
        await process.memory.set("k", b"old content")  # as after serving it from Redis
        await process.memory.set("other", b"unrelated")

    await a.cache.delete(["k"])

    for process in (b, c):
        await until_dropped(process.memory, "k")
        assert await process.memory.get("other") == b"unrelated"
        assert await process.cache.get("k", lambda raw: raw) is None, "no tier serves the old content"


async def test_a_delete_of_several_keys_drops_them_all_elsewhere(spawn: Spawn) -> None:
    a, b = await spawn(), await spawn()
    keys = ["dialogue|n1|once||1", "dialogue|n1|per_player|p-\u00e9|1", "x" * 500]
    for key in keys:
        await b.memory.set(key, b"old")

    await a.cache.delete(keys)

    for key in keys:
        await until_dropped(b.memory, key)


@pytest.mark.parametrize("other", ["{prefix}-other", "{prefix}:nested"])
async def test_invalidations_of_another_deployment_are_ignored(spawn: Spawn, redis_prefix: str, other: str) -> None:
    ours, same_deployment = await spawn(), await spawn()
    elsewhere = await spawn(prefix=other.format(prefix=redis_prefix))
    for process in (ours, elsewhere):
        await process.memory.set("k", b"ours")
    await ours.memory.set("sentinel", b"s")

    await elsewhere.bus.publish(["k"])
    await until_dropped(elsewhere.memory, "k")  # the message did go out, on the same Redis
    await same_deployment.bus.publish(["sentinel"])  # published after it: ours has seen both once this lands
    await until_dropped(ours.memory, "sentinel")

    assert await ours.memory.get("k") == b"ours"


async def test_a_malformed_message_does_not_stop_invalidations(spawn: Spawn, redis_prefix: str) -> None:
    a, b = await spawn(), await spawn()
    await b.memory.set("k", b"old")
    for garbage in (b"not json", b'{"keys": ["k"]}', b"\xff\xfe"):
        await a.connection.client.publish(f"{redis_prefix}:invalidate", garbage)

    await a.cache.delete(["k"])

    await until_dropped(b.memory, "k")


async def test_invalidations_reach_other_processes_again_after_redis_restarts(
    spawn: Spawn, private_redis: RedisServer
) -> None:
    a, b = await spawn(url=private_redis.url), await spawn(url=private_redis.url)
    private_redis.stop()
    private_redis.start()
    await b.memory.set("k", b"stale")

    async def invalidated_in_b() -> bool:
        with contextlib.suppress(DyngenError):  # Redis's cooldown: the invalidation says it failed
            await a.cache.delete(["k"])
        return await b.memory.get("k") is None

    # Both listeners reconnect on their own; no restart.
    await until(invalidated_in_b, what="an invalidation to reach the other process")
