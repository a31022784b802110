"""`LeanPool` and the lean connections of `RedisConnection`, on the machine's Redis: what redis-py's check of a
pooled connection catches (a connection Redis closed, a reply nobody read) is still caught without it, and a
command larger than the transport's buffer still goes out whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from dyngen.adapters.messaging.redis import RedisConnection
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
