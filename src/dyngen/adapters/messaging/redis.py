"""`RedisConnection`: one Redis client per process, its health, and one pub/sub listener.

Every Redis adapter goes through `call`, so that when Redis is down the service notices once, stops
waiting on it for a short cooldown (requests are served from the memory tier with in-process
single-flight meanwhile), and uses it again as soon as it answers, without a restart.

Every call has a deadline: the connect timeout and the per-operation (socket read) timeout, both given
by `bootstrap` from the settings. A Redis that accepts connections and never answers costs the calls in
flight one timeout; then the cooldown fails every call at once, and one probe per cooldown (`Cooldown`)
finds out whether it answers again.

`RedisInvalidationBus` tells every process's memory tier to drop invalidated keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dyngen.adapters.cooldown import Cooldown
from dyngen.adapters.messaging.redis_pool import LeanPool, lean_connection

T = TypeVar("T")
log = logging.getLogger("dyngen.redis")

Handler = Callable[[str, bytes], Awaitable[None]]


class RedisUnavailableError(Exception):
    """Redis did not answer (or is in its cooldown after failing to)."""


def _pool_exhausted(exc: RedisConnectionError) -> bool:
    """True when the error is the blocking pool's wait running out, not a failed connection."""
    return isinstance(exc.__cause__, asyncio.TimeoutError) and "No connection available" in str(exc)


class RedisConnection:
    """The process's Redis client, with a failure cooldown and a pub/sub dispatcher.

    Args:
        url: `redis://host:port/db`.
        prefix: Prepended to every key and channel, so several deployments can share one Redis.
        cooldown_s: After a failure, calls fail fast for this long; then one call probes Redis again.
        connect_timeout_s: Socket connect timeout (short: a down Redis must be noticed fast).
        timeout_s: Per-operation deadline: the socket read timeout, and the longest a caller waits for a
            pooled connection. A Redis that accepts and never answers holds a call this long at most.
        max_connections: Pool size; callers beyond it wait for a connection.
    """

    def __init__(
        self,
        *,
        url: str,
        prefix: str = "dyngen",
        cooldown_s: float = 1.0,
        connect_timeout_s: float = 1.0,
        timeout_s: float = 1.0,
        max_connections: int = 32,
    ) -> None:
        self.prefix = prefix
        self.timeout_s = timeout_s
        # A bounded pool that queues callers: a burst of requests must not open a connection each. Lean:
        # no extra turn of the event loop per command (`redis_pool`).
        pool = LeanPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=timeout_s,
        )
        pool.connection_class = lean_connection(pool.connection_class)  # the URL's kind: TCP, TLS or socket
        self._pool = pool
        self.client: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._health = Cooldown(cooldown_s=cooldown_s)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._reconnect_handlers: list[Callable[[], Awaitable[None]]] = []
        # Exact channels this process listens to besides the prefix's pattern, only while it asks to
        # (`listen_to`): Redis sends their messages to the processes that asked, not to every process.
        self._channels: set[str] = set()
        self._pubsub: Any = None
        self._confirmations: dict[str, asyncio.Event] = {}

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def available(self) -> bool:
        """False while in the cooldown after a failure."""
        return self._health.available

    @property
    def last_error(self) -> str | None:
        """The last failure, until Redis answers again."""
        return self._health.last_error

    def _failed(self, exc: BaseException) -> None:
        if self._health.failed(exc):
            log.warning("redis.unavailable error=%s", type(exc).__name__)

    def _answered(self) -> None:
        if self._health.succeeded():
            log.info("redis.recovered")

    async def call(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run one Redis operation; raise `RedisUnavailableError` when it fails, at once while Redis is in
        its cooldown (or another call is probing it), within the operation timeout otherwise."""
        if not self._health.admit():
            raise RedisUnavailableError(self._health.last_error or "redis is cooling down")
        try:
            result = await operation(self.client)
        except BaseException as exc:
            if (unavailable := self._unavailable(exc)) is None:
                raise
            raise unavailable from exc
        self._answered()
        return result

    async def command(self, *args: str | bytes | int | float) -> Any:
        """One command (`"GET", key`), run by `call` (the cooldown, the deadline, the same errors) straight on a
        pooled connection: none of redis-py's client layers (its retry wrapper, its packing in Python, its
        reply callbacks; ~70 % of a command's CPU here). The reply is as Redis sent it: bytes, an integer, a
        list, None."""
        return await self.call(lambda _client: self._on_pooled_connection(args))

    async def _on_pooled_connection(self, args: tuple[str | bytes | int | float, ...]) -> Any:
        pool = self._pool
        connection = await pool.get_connection()
        try:
            packed = hiredis.pack_command(args)  # type: ignore[arg-type]  # its stub types a 1-tuple
            await connection.send_packed_command(packed)
            return await connection.read_response()
        finally:
            await pool.release(connection)

    def _unavailable(self, exc: BaseException) -> RedisUnavailableError | None:
        """What a failed call raises: `RedisUnavailableError`, after noting what the failure says about Redis;
        None for a cancellation (nothing learnt about Redis), raised as it is."""
        if isinstance(exc, RedisConnectionError) and _pool_exhausted(exc):
            # Every pooled connection is busy: this process is congested, Redis itself answers. Fail this call
            # only; a cooldown would turn a burst into an outage for every other caller.
            self._health.released()
            return RedisUnavailableError(f"redis pool busy: {exc}")
        if isinstance(exc, (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)):
            self._failed(exc)
            return RedisUnavailableError(str(exc))
        if isinstance(exc, RedisError):
            # Redis answered (with an error): it is up; the caller's command was wrong.
            self._answered()
            return RedisUnavailableError(str(exc))
        self._health.released()
        return None

    async def ping(self) -> None:
        """Raise unless Redis answers now, within the operation timeout (ignores the cooldown: health
        checks always ask)."""
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            raise
        self._answered()

    def on(self, channel: str, handler: Handler) -> None:
        """Call `handler(channel, data)` for every message on `channel` (an exact name or a `prefix*`)."""
        self._handlers[channel].append(handler)

    def private_channel(self, *parts: str) -> str:
        """A channel name outside the prefix's pattern: only processes that `listen_to` it get its messages."""
        return "~".join((self.prefix, *parts))

    async def listen_to(self, channel: str) -> None:
        """Receive `channel`'s messages (a `private_channel`) from now on, dispatched to the handlers `on`
        registered for it; returns once Redis confirmed (or at once while the listener is down: it
        subscribes again when it is back)."""
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None:
            return
        confirmed = self._confirmations.setdefault(channel, asyncio.Event())
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await pubsub.subscribe(channel)
            # Redis confirms on the listener's connection: from then on no message to the channel is missed.
            async with asyncio.timeout(self.timeout_s):
                await confirmed.wait()

    async def stop_listening(self, channel: str) -> None:
        """Stop receiving `channel`'s messages."""
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(channel)

    def on_reconnect(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Call `handler` when the listener is back after losing Redis (messages may have been missed)."""
        self._reconnect_handlers.append(handler)

    async def start(self) -> None:
        """Start the pub/sub listener (reconnecting forever) and wait briefly for its subscription."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="dyngen-redis-listener")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._subscribed.wait()

    async def _listen(self) -> None:
        backoff = 0.1
        lost = False
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.psubscribe(self.key("*"))
                # Set before the channels are subscribed: one that `listen_to` adds (or `stop_listening` drops)
                # meanwhile is subscribed (or unsubscribed) by that call, not left out of this snapshot.
                self._pubsub = pubsub
                if self._channels:
                    await pubsub.subscribe(*self._channels)
                self._subscribed.set()
                self._answered()  # Redis answers again: callers need not wait for a probe of their own
                backoff = 0.1
                if lost:
                    lost = False
                    for handler in self._reconnect_handlers:
                        await handler()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] in ("pmessage", "message"):
                        await self._dispatch(message["channel"].decode(), message["data"])
                    elif message["type"] == "subscribe" and (
                        confirmed := self._confirmations.pop(message["channel"].decode(), None)
                    ):
                        confirmed.set()
            except asyncio.CancelledError:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except (RedisError, OSError) as exc:
                lost = True
                self._pubsub = None
                self._subscribed.clear()
                self._failed(exc)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _dispatch(self, channel: str, data: bytes) -> None:
        for pattern, handlers in list(self._handlers.items()):
            matches = channel.startswith(pattern[:-1]) if pattern.endswith("*") else channel == pattern
            if not matches:
                continue
            for handler in handlers:
                try:
                    await handler(channel, data)
                except Exception:  # one bad handler must not stop the listener
                    log.exception("redis.handler_failed channel=%s", channel)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.client.aclose(close_connection_pool=True)


class LuaScript:
    """A Lua script run through `RedisConnection.command` by its SHA1 (EVALSHA), sent whole (EVAL) when Redis
    does not know it (NOSCRIPT: a new or restarted Redis), which keeps it for the next calls. What redis-py's
    `register_script` does, without its client layers."""

    def __init__(self, connection: RedisConnection, source: str) -> None:
        self._redis = connection
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, keys: Sequence[str], args: Sequence[str | bytes | int | float]) -> Any:
        try:
            return await self._redis.command("EVALSHA", self._sha, len(keys), *keys, *args)
        except RedisUnavailableError as exc:
            if not isinstance(exc.__cause__, NoScriptError):
                raise
        return await self._redis.command("EVAL", self._source, len(keys), *keys, *args)


class RedisInvalidationBus:
    """Publishes invalidated keys; every process (this one included) drops them from its local tiers."""

    def __init__(self, *, connection: RedisConnection) -> None:
        self._connection = connection
        self._channel = connection.key("invalidate")

    async def publish(self, keys: Iterable[str]) -> None:
        payload = json.dumps(list(keys)).encode()
        with contextlib.suppress(RedisUnavailableError):
            await self._connection.call(lambda r: r.publish(self._channel, payload))

    def subscribe(self, handler: Callable[[list[str]], Awaitable[Any]]) -> None:
        """`handler(keys)` runs for every invalidation published by any process."""

        async def on_message(_channel: str, data: bytes) -> None:
            keys = json.loads(data)
            if isinstance(keys, list):
                await handler([str(k) for k in keys])

        self._connection.on(self._channel, on_message)
