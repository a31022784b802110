"""Job notifiers: wake the streams of a job's events when one is written.

`MemoryJobNotifier` works within a process; `RedisJobNotifier` publishes on Redis so that a stream served
by one API process wakes when a worker elsewhere writes an event. Each job has a channel of its own that
only the processes waiting on it listen to (`RedisConnection.listen_to`), so an event wakes the processes
that stream it, not every API process and worker. The notifies of one turn of the event loop go to Redis
in one pipeline (a worker's jobs whose writes were committed in one batch wake together): one round trip
for all of them, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from typing import Any

from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError

log = logging.getLogger("dyngen.jobs")


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
            async with asyncio.timeout(timeout_s):  # not wait_for: in 3.11 it can swallow a cancel
                await flag.wait()
        flag.clear()


class RedisJobNotifier:
    """Publishes on the job's own channel; a process listens to it while something there waits on the job
    (and `linger_s` after, as a stream waits again and again)."""

    def __init__(self, *, connection: RedisConnection, linger_s: float = 5.0) -> None:
        self.connection = connection
        self._connection = connection
        self._local = MemoryJobNotifier()
        self._prefix = connection.private_channel("job", "")
        self._linger_s = linger_s
        self._waiters: Counter[str] = Counter()
        self._listening: dict[str, asyncio.TimerHandle | None] = {}
        self._stopping: set[asyncio.Future[None]] = set()
        self._outgoing: dict[str, None] = {}  # job ids to publish with the next pipeline, in order
        self._sent: asyncio.Future[None] | None = None  # resolved once that pipeline was sent
        connection.on(self._prefix + "*", self._on_message)

    async def _on_message(self, channel: str, _data: bytes) -> None:
        await self._local.notify(channel.removeprefix(self._prefix))

    async def notify(self, job_id: str) -> None:
        """Wake the job's waiters here at once, and elsewhere through Redis; returns once published (or
        Redis failed: a stream looks again after its wait's timeout anyway)."""
        await self._local.notify(job_id)
        self._outgoing[job_id] = None
        if self._sent is None:
            self._sent = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._publish)
        await asyncio.shield(self._sent)

    def _publish(self) -> None:
        job_ids, sent = list(self._outgoing), self._sent
        self._outgoing, self._sent = {}, None
        task = asyncio.ensure_future(self._send(job_ids, sent))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _send(self, job_ids: list[str], sent: asyncio.Future[None] | None) -> None:
        async def publish(redis: Any) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    pipe.publish(self._prefix + job_id, b"1")
                await pipe.execute()

        try:
            await self._connection.call(publish)
        except RedisUnavailableError:
            pass  # Redis is down: the streams look again after their wait's timeout
        except Exception:  # a wake-up lost must not fail the jobs that wrote events
            log.warning("jobs.notify_failed count=%d", len(job_ids), exc_info=True)
        finally:
            if sent is not None and not sent.done():
                sent.set_result(None)

    async def wait(self, job_id: str, *, timeout_s: float) -> None:
        """Wait for a notify of `job_id`, at most `timeout_s`. The first wait of a job returns as soon as
        this process listens to its channel: the caller looks again, so nothing written before is missed."""
        self._waiters[job_id] += 1
        try:
            if job_id not in self._listening:
                self._listening[job_id] = None
                await self._connection.listen_to(self._prefix + job_id)
                return
            timer = self._listening[job_id]
            if timer is not None:
                timer.cancel()
                self._listening[job_id] = None
            await self._local.wait(job_id, timeout_s=timeout_s)
        finally:
            self._waiters[job_id] -= 1
            if self._waiters[job_id] <= 0:
                del self._waiters[job_id]
                if job_id in self._listening:
                    loop = asyncio.get_running_loop()
                    self._listening[job_id] = loop.call_later(self._linger_s, self._stop, job_id)

    def _stop(self, job_id: str) -> None:
        if self._waiters.get(job_id) or job_id not in self._listening:
            return
        del self._listening[job_id]
        task = asyncio.ensure_future(self._connection.stop_listening(self._prefix + job_id))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
