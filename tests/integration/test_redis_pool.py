"""`LeanPool` and the lean connections of `RedisConnection`, on the machine's Redis: what redis-py's check of a
pooled connection catches (a connection Redis closed, a reply nobody read) is still caught without it, a
command larger than the transport's buffer still goes out whole, callers beyond the pool queue in order
without losing a connection, and `RedisConnection.command` answers as Redis replied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from dyngen.adapters.messaging.redis import LuaScript, RedisConnection, RedisUnavailableError
from tests.support.waiting import until

pytestmark = pytest.mark.services


@pytest.fixture
async def connection(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisConnection]:
    made = RedisConnection(url=redis_url, prefix=redis_prefix, max_connections=1)
    try:
        yield made
    finally:
        await made.aclose()


def pooled(connection: RedisConnection) -> aioredis.Connection:
    [idle] = connection.client.connection_pool._available_connections  # type: ignore[attr-defined]
    return idle


async def test_a_connection_redis_closed_while_pooled_is_replaced_not_failed(
    connection: RedisConnection, redis_url: str
) -> None:
    key = connection.key("kept")
    await connection.call(lambda r: r.set(key, b"value"))
    own_id = await connection.call(lambda r: r.client_id())
    admin = aioredis.Redis.from_url(redis_url)
    try:
        assert await admin.client_kill_filter(_id=own_id) == 1  # as a restarted Redis or its idle timeout does
    finally:
        await admin.aclose()
    idle = pooled(connection)
    await until(idle._reader.at_eof, what="the loop to see Redis close the pooled connection")

    assert await connection.call(lambda r: r.get(key)) == b"value"
    assert connection.available  # not taken for Redis failing: no cooldown


async def test_a_reply_nobody_read_is_not_taken_for_the_next_commands(connection: RedisConnection) -> None:
    key = connection.key("answer")
    await connection.call(lambda r: r.set(key, b"the value"))
    pool = connection.client.connection_pool
    stray = await pool.get_connection()
    await stray.send_command("PING")  # its +PONG is never read
    await until(lambda: bool(stray._reader._buffer), what="the PING's reply to reach the connection")
    await pool.release(stray)

    assert await connection.call(lambda r: r.get(key)) == b"the value"


async def test_a_value_larger_than_the_transport_buffer_goes_out_whole(connection: RedisConnection) -> None:
    key = connection.key("large")
    # 32 MiB: more than the socket takes at once, so the transport passes its high-water mark and the send waits
    # for it to drain
    value = bytes(range(256)) * 131072
    await connection.call(lambda r: r.set(key, value))

    assert await connection.call(lambda r: r.get(key)) == value
    assert await connection.call(lambda r: r.strlen(key)) == len(value)


async def test_callers_beyond_the_pool_queue_in_order_for_its_connection(connection: RedisConnection) -> None:
    pool = connection.client.connection_pool
    held = await pool.get_connection()
    served: list[str] = []

    async def queued(name: str) -> None:
        taken = await pool.get_connection()
        served.append(name)
        await pool.release(taken)

    first = asyncio.create_task(queued("first"))
    await until(lambda: len(pool._queued) == 1, what="the first caller to queue")
    second = asyncio.create_task(queued("second"))
    await until(lambda: len(pool._queued) == 2, what="the second caller to queue")
    await pool.release(held)
    await asyncio.gather(first, second)

    assert served == ["first", "second"]
    assert (len(pool._available_connections), len(pool._in_use_connections)) == (1, 0), "one connection, free again"


async def test_a_connection_handed_to_a_caller_cancelled_meanwhile_goes_to_the_next(
    connection: RedisConnection,
) -> None:
    pool = connection.client.connection_pool
    held = await pool.get_connection()
    gone = asyncio.create_task(pool.get_connection())
    await until(lambda: len(pool._queued) == 1, what="the first caller to queue")
    after = asyncio.create_task(pool.get_connection())
    await until(lambda: len(pool._queued) == 2, what="the second caller to queue")

    await pool.release(held)  # handed to `gone`, which is cancelled before it resumes
    gone.cancel()
    taken = await after
    with pytest.raises(asyncio.CancelledError):
        await gone

    assert taken is held
    await pool.release(taken)
    assert (len(pool._available_connections), len(pool._in_use_connections)) == (1, 0), "the connection is not lost"
    assert await connection.command("PING") == b"PONG"


async def test_a_command_answers_as_redis_sent_it_and_an_error_reply_is_not_an_outage(
    connection: RedisConnection,
) -> None:
    key = connection.key("typed")
    assert await connection.command("SET", key, b"text", "PX", 60_000) == b"OK"
    assert await connection.command("GET", key) == b"text"
    assert await connection.command("PTTL", key) > 0
    assert await connection.command("EVAL", "return {1, ARGV[1]}", 0, "two") == [1, b"two"]

    with pytest.raises(RedisUnavailableError, match="WRONGTYPE"):
        await connection.command("LPUSH", key, b"item")  # a string is not a list: Redis answers with an error
    assert connection.available, "Redis answered: no cooldown"
    assert await connection.command("GET", key) == b"text", "the connection still reads its own replies"


async def test_a_connection_released_twice_is_refused_not_kept_free_twice(connection: RedisConnection) -> None:
    pool = connection.client.connection_pool
    held = await pool.get_connection()
    await pool.release(held)

    with pytest.raises(KeyError):
        await pool.release(held)

    assert pool._available_connections == [held], "free once: two callers never get it at the same time"
    assert await connection.command("PING") == b"PONG"


async def test_a_script_redis_forgot_is_sent_again_and_runs(connection: RedisConnection, redis_url: str) -> None:
    key = connection.key("counted")
    script = LuaScript(connection, "return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await script([key], [2]) == 2  # unknown to this Redis yet: sent whole, then known by its SHA1
    assert await script([key], [3]) == 5
    admin = aioredis.Redis.from_url(redis_url)
    try:
        await admin.script_flush()  # as a restarted Redis forgets them
    finally:
        await admin.aclose()

    assert await script([key], [4]) == 9
    with pytest.raises(RedisUnavailableError, match="WRONGTYPE"):
        await LuaScript(connection, "return redis.call('LPUSH', KEYS[1], 'x')")([key], [])  # other errors raise
    assert connection.available
