"""Job notifiers: wake the streams of a job's events when one is written.

`MemoryJobNotifier` works within a process; `RedisJobNotifier` publishes on Redis so that a stream served
by one API process wakes when a worker elsewhere writes an event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError


class MemoryJobNotifier:
    """A set flag per job: a notify that comes before the wait is not lost (the wait returns at once)."""

    MAX_JOBS = 10_000  # flags nobody waited for are dropped oldest first

    def __init__(self) -> None:
        self._flags: OrderedDict[str, asyncio.Event] = OrderedDict()

    def _flag(self, job_id: str) -> asyncio.Event:
        flag = self._flags.get(job_id)
        if flag is None:
            flag = self._flags[job_id] = asyncio.Event()
            while len(self._flags) > self.MAX_JOBS:
                self._flags.popitem(last=False)
        return flag

    async def notify(self, job_id: str) -> None:
        self._flag(job_id).set()

    async def wait(self, job_id: str, *, timeout_s: float) -> None:
        flag = self._flag(job_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(flag.wait(), timeout_s)
        flag.clear()


class RedisJobNotifier:
    """Publishes `<prefix>:job:<id>`; every process's listener wakes its local waiters."""

    def __init__(self, *, connection: RedisConnection) -> None:
        self.connection = connection
        self._connection = connection
        self._local = MemoryJobNotifier()
        self._prefix = connection.key("job", "")
        connection.on(self._prefix + "*", self._on_message)

    async def _on_message(self, channel: str, _data: bytes) -> None:
        await self._local.notify(channel.removeprefix(self._prefix))

    async def notify(self, job_id: str) -> None:
        await self._local.notify(job_id)
        with contextlib.suppress(RedisUnavailableError):
            await self._connection.call(lambda r: r.publish(self._prefix + job_id, b"1"))

    async def wait(self, job_id: str, *, timeout_s: float) -> None:
        await self._local.wait(job_id, timeout_s=timeout_s)
