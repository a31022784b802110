"""`RedisSingleFlight`: one generation per key across every process of a deployment.

Within a process, concurrent callers share one task (`MemorySingleFlight`). Across processes, that task
takes a Redis lease: `SET lock token NX PX lease` where the token carries a fencing number (`INCR`), kept
alive while the generation runs and released only by its owner (compare-and-delete in one Lua script).
The owner publishes the result on the key's pub/sub channel (and keeps it briefly under a result key for
late waiters); waiters sleep on that message, not in a polling loop. Only the processes waiting for a key
listen to its channel: a result does not cost every other process a message. When the owner dies, its
lease expires and the first waiter to notice takes over: the provider runs again at most once per expired lease. A
waiter whose deadline passes raises `TimeoutError` (the service then serves the node's fallback).

When Redis is unavailable, the flight degrades to in-process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dyngen.adapters.locks.memory import MemorySingleFlight
from dyngen.adapters.messaging.redis import LuaScript, RedisConnection, RedisUnavailableError
from dyngen.ports import FlightCodec

T = TypeVar("T")

log = logging.getLogger("dyngen.single_flight")

# How long a key's fence counter outlives its last lease: tokens grow from lease to lease while it lives, and
# a counter that starts again after a day cannot meet a token of its earlier count (each lease's token is
# compared only while its lock lives, and a lock lives a lease, extended while its flight runs).
FENCE_MS = 24 * 3600 * 1000

# KEYS: lock, fence, result. ARGV: owner id, lease ms, fence ms. Returns the fencing token, or false when the
# lock is held. A new lease drops the previous flight's result, so its waiters never read stale content. The
# fence counter is kept `FENCE_MS` after the key's last lease (without an expiry, every key ever generated
# left one in Redis for good: ~260 bytes per player and node).
_ACQUIRE = """
if redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[2]) then
  local token = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[1]
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
  redis.call('DEL', KEYS[3])
  return token
end
return false
"""

# KEYS: lock. ARGV: token, lease ms. Extends the lease only for its owner.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: lock, result, channel. ARGV: token, data, result ttl ms.
# Publishes the result and releases the lock, only for the owner. Returns 1 when it still owned it.
_FINISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('PUBLISH', KEYS[3], ARGV[2])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisSingleFlight:
    """Cross-process single flight over Redis.

    Args:
        connection: The process's Redis connection (its listener delivers the result messages).
        lease_ms: Lease length; the owner extends it every third of that while it works.
        result_ttl_ms: How long a finished flight's result stays readable for late waiters.
    """

    def __init__(self, *, connection: RedisConnection, lease_ms: int = 2000, result_ttl_ms: int = 10_000) -> None:
        self._redis = connection
        self._acquire = LuaScript(connection, _ACQUIRE)
        self._extend = LuaScript(connection, _EXTEND)
        self._finish = LuaScript(connection, _FINISH)
        self._lease_ms = lease_ms
        self._result_ttl_ms = result_ttl_ms
        self._local = MemorySingleFlight()
        self._owner = uuid.uuid4().hex[:12]
        self._waiters: dict[str, list[asyncio.Future[bytes]]] = defaultdict(list)
        self._extenders: set[asyncio.Task[None]] = set()  # lease extenders of the flights led here
        # A flight's result goes to the processes waiting for it (`listen_to`), not to every process.
        self._channel_prefix = connection.private_channel("flight", "done", "")
        connection.on(self._channel_prefix + "*", self._on_done)
        self.takeovers = 0

    def is_running(self, key: str) -> bool:
        return self._local.is_running(key)

    async def _on_done(self, channel: str, data: bytes) -> None:
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_result(data)

    async def run(
        self,
        key: str,
        produce: Callable[[], Awaitable[T]],
        *,
        codec: FlightCodec[T],
        timeout_s: float | None = None,
        in_place: bool = False,
    ) -> tuple[T, bool]:
        """The callers in this process share one task (the leader's own with `in_place`) and its result object;
        only the result that crosses to or from another process goes through `codec`."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 3600.0)

        async def across_processes() -> tuple[T, bool]:
            return await self._across(key, produce, codec, deadline)

        (result, joined_elsewhere), joined_here = await self._local.run(
            key, across_processes, timeout_s=timeout_s, in_place=in_place
        )
        return result, joined_here or joined_elsewhere

    async def _across(
        self, key: str, produce: Callable[[], Awaitable[T]], codec: FlightCodec[T], deadline: float
    ) -> tuple[T, bool]:
        lock = self._redis.key("flight", "lock", key)
        fence = self._redis.key("flight", "fence", key)
        result = self._redis.key("flight", "result", key)
        channel = self._channel_prefix + key
        expired_leases = 0
        listening = False
        try:
            while True:
                waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
                self._waiters[channel].append(waiter)
                try:
                    # After a lease ran out, the result's message may have been missed (the listener was down).
                    landed, token = await self._landed_or_lease(lock, fence, result, look_first=bool(expired_leases))
                    if landed is None and not token:
                        if not listening:  # before the result is read: a flight that ends after it is heard
                            listening = True  # first: a waiter cancelled while it subscribes still unsubscribes
                            await self._redis.listen_to(channel)
                        landed = await self._redis.command("GET", result)
                        if landed is None:
                            remaining = deadline - time.monotonic()
                            if remaining <= 0:
                                raise TimeoutError(f"single flight for {key!r} did not finish before the deadline")
                            lease_left_ms = await self._redis.command("PTTL", lock)
                except RedisUnavailableError:
                    self._forget(channel, waiter)
                    return await produce(), False
                except BaseException:
                    self._forget(channel, waiter)
                    raise
                if landed is not None:
                    self._forget(channel, waiter)
                    return codec.decode(landed.encode() if isinstance(landed, str) else landed), True
                if token:
                    self._forget(channel, waiter)
                    if expired_leases:
                        self.takeovers += 1
                        log.warning("single_flight.takeover key=%s", key)
                    return await self._lead(produce, lock, result, channel, token, codec=codec), False
                # Sleep until the result message, the lease's expiry (its owner may be dead), or the deadline.
                wait_s = min(remaining, max(lease_left_ms, 20) / 1000 + 0.01)
                try:
                    async with asyncio.timeout(wait_s):
                        return codec.decode(await asyncio.shield(waiter)), True
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        raise
                    expired_leases += 1
                finally:
                    self._forget(channel, waiter)
        finally:
            if listening:
                await self._redis.stop_listening(channel)

    async def _landed_or_lease(self, lock: str, fence: str, result: str, *, look_first: bool) -> tuple[Any, Any]:
        """(the flight's result, None) when `look_first` finds it; else (None, the new lease's token, or None
        while another process holds the lease)."""
        if look_first:
            landed = await self._redis.command("GET", result)
            if landed is not None:
                return landed, None
        token = await self._acquire((lock, fence, result), (self._owner, self._lease_ms, FENCE_MS))
        return None, token

    def _forget(self, channel: str, waiter: asyncio.Future[bytes]) -> None:
        waiters = self._waiters.get(channel)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[channel]

    async def _lead(
        self,
        produce: Callable[[], Awaitable[T]],
        lock: str,
        result: str,
        channel: str,
        token: bytes,
        *,
        codec: FlightCodec[T],
    ) -> T:
        done = False

        async def keep_alive() -> None:
            # Ends when `done` is set, not only when cancelled: a cancellation that arrives during a Redis call
            # can be lost in the client (redis-py 5.3's blocking pool under load: the call returns normally),
            # and an extender that only its cancellation ends would extend the lease for ever.
            while not done:
                with contextlib.suppress(RedisUnavailableError):
                    await self._extend((lock,), (token, self._lease_ms))
                await asyncio.sleep(self._lease_ms / 3000)

        extender: asyncio.Task[None] | None = None

        def extend() -> None:
            nonlocal extender
            extender = asyncio.create_task(keep_alive(), name="dyngen-flight-lease")
            self._extenders.add(extender)
            extender.add_done_callback(self._extenders.discard)

        # A timer, and a task only once a third of the lease has gone by: most flights end before, and a task
        # started and cancelled unused was one of a scaled miss's three.
        first = asyncio.get_running_loop().call_later(self._lease_ms / 3000, extend)
        try:
            produced = await produce()
        finally:
            done = True
            first.cancel()
            # Not awaited: one whose cancellation was lost would hold this answer until its call ends. An
            # extension after the finish below changes nothing (it extends only the token's own lease).
            if extender is not None:
                extender.cancel()
        data = codec.encode(produced)
        try:
            owned = await self._finish((lock, result, channel), (token, data, self._result_ttl_ms))
            if not owned:
                log.warning("single_flight.lease_lost channel=%s", channel)
        except RedisUnavailableError:
            pass
        return produced
