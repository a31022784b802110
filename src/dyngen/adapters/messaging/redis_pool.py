"""redis-py's asyncio connection pool, without the extra turns of the event loop and the locks it takes per
command.

redis-py 5 (arq keeps it below 6) suspends its caller twice on every command, besides waiting for the reply:

- the pool checks each connection it hands out by reading from it with a zero timeout
  (`can_read_destructive`): the caller sleeps until the loop's next turn, then the read is cancelled;
- with a socket timeout, each send runs in a task of its own (`asyncio.wait_for`, on Python 3.11), which the
  caller waits for.

Each turn resumes the caller's whole chain of coroutines. A scaled cache miss makes five commands; the two
turns of each cost ~15 % of its CPU (issue 18: callgrind counted 7.1 M instructions per miss through
`generate_content` at c=32 before, 6.0 M after).

`LeanPool` makes the same check without suspending: what that read could find is what the event loop already
took from the socket, bytes nobody read or the server's end of the connection (a restarted Redis). Only then
does it fall back to redis-py's own check, which reconnects. It hands out and takes back a connection without
the blocking pool's lock and timeout when one is free and nobody queues for one; callers beyond
`max_connections` queue in order, each for `timeout` at most, as in redis-py's blocking pool.
`lean_connection(cls)` writes a command straight to the transport when the connection is up; only when that
fills the transport past its high-water mark (a large value) does it wait for it to drain, as redis-py does,
within the socket timeout. Anything else (no connection yet, a closing transport, health checks) goes through
redis-py's own code.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def _read_nothing_pending(connection: AbstractConnection) -> bool:
    """True when the connection is open, the server has not closed it, and nothing it received is unread:
    in its stream (what the loop read from the socket) or in its parser (hiredis's). Without hiredis,
    False: redis-py's own check decides."""
    stream: asyncio.StreamReader | None = connection._reader
    # hiredis.Reader's, when redis-py parses with it: True while it holds bytes of a reply nobody took.
    parsing = getattr(getattr(connection._parser, "_reader", None), "has_data", None)
    return (
        stream is not None
        and not stream.at_eof()
        and stream.exception() is None
        and not stream._buffer  # type: ignore[attr-defined]
        and parsing is not None
        and not parsing()
    )


class LeanPool(BlockingConnectionPool):  # type: ignore[misc]  # redis is untyped here (pyproject)
    """A `BlockingConnectionPool` that hands out a free connection without its lock, and whose check of that
    connection does not suspend the caller when there is nothing to find (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: deque[asyncio.Future[AbstractConnection]] = deque()  # callers waiting, in order

    async def get_connection(self, *_args: Any, **_options: Any) -> AbstractConnection:
        if self._queued or not self.can_get_connection():
            connection = await self._queue_for_connection()
        else:
            connection = self.get_available_connection()
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _queue_for_connection(self) -> AbstractConnection:
        waiter: asyncio.Future[AbstractConnection] = asyncio.get_running_loop().create_future()
        self._queued.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():  # handed one as this caller gave up: pass it on
                self._hand_over(waiter.result())
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise RedisConnectionError("No connection available.") from exc
            raise

    def _hand_over(self, connection: AbstractConnection) -> None:
        """Give `connection` (in use) to the first caller still queued, or back to the free ones."""
        if connection not in self._in_use_connections:  # released twice: never hand it to a second caller
            raise KeyError("a connection released that the pool has not handed out")
        while self._queued:
            waiter = self._queued.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._in_use_connections.remove(connection)
        self._available_connections.append(connection)

    async def release(self, connection: AbstractConnection) -> None:
        if getattr(connection, "_re_auth_token", None) is not None:  # a streaming credential's new token
            await connection.re_auth()  # what redis-py's pool does on every release (its event dispatcher)
        self._hand_over(connection)

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if _read_nothing_pending(connection):
            return
        await super().ensure_connection(connection)


class _LeanSend:
    """Mixed into a redis-py connection class: sends without a task per command."""

    # redis-py's, declared for the mixin's type checks
    _writer: asyncio.StreamWriter | None
    socket_timeout: float | None
    health_check_interval: float
    disconnect: Callable[..., Awaitable[None]]

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        writer = self._writer
        if writer is None or self.health_check_interval or writer.transport.is_closing():
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        try:
            writer.writelines(command)
            transport = writer.transport
            # The loop sends what is queued at the end of its turn; past the high-water mark the transport is
            # paused, and the command waits for it as redis-py's does.
            if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
                async with asyncio.timeout(self.socket_timeout):  # not wait_for: on 3.11 it can lose a cancel
                    await writer.drain()
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:
            await self.disconnect(nowait=True)  # a command half sent leaves the connection unusable
            raise


@cache
def lean_connection(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` (redis-py's TCP, TLS or Unix socket connection) sending as `_LeanSend` does."""
    return type(f"Lean{connection_class.__name__}", (_LeanSend, connection_class), {})
