"""Job notifiers: wake the streams of a job's events when one is written.

`MemoryJobNotifier` works within a process; `RedisJobNotifier` publishes on Redis so that a stream served
by one API process wakes when a worker elsewhere writes an event. Each job has a channel of its own that
only the processes waiting on it listen to (`RedisConnection.listen_to`), so an event wakes the processes
that stream it, not every API process and worker.

A notify is published only for a job that a process elsewhere waits on (issue 18: a worker published
every event of every job, mostly to channels nobody listened to, a Redis round trip each time). A process
that starts waiting on a job says so to every process (`watch` channel), after it listens to the job's
channel and before it looks at the job's events; it says so again every `announce_s` while it waits. A
writer publishes the notifies of the jobs it heard of (for `3 * announce_s` after the last word) and keeps
the others' ids (`quiet`): a word that comes for one of them after its event was written (the stream
looked before the write, the word reached the writer after it) gets its notify then. So a stream is woken
as before; a notify lost anyway (Redis failing, a word lost) costs the stream its wait's timeout, after
which it looks again. The notifies of one turn of the event loop go to Redis in one pipeline (a worker's
jobs whose writes were committed in one batch wake together): one round trip for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import weakref
from collections import Counter, OrderedDict
from typing import Any

from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError

log = logging.getLogger("dyngen.jobs")


class _Flag:
    """A job's flag (set by a notify, cleared as a wait returns), the process-wide number of its last
    notify, and how many waits are on it (a flag waited on is never dropped)."""

    __slots__ = ("event", "last", "waits")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.last = 0
        self.waits = 0


class MemoryJobNotifier:
    """A set flag per job: a notify that comes before the wait is not lost (the wait returns at once).

    A task that waits on a job again (a stream that looked at the events in between) also returns at once
    when a notify came since its last wait returned, or since it said it `watch`es the job before its first
    look, though another task's wait cleared the flag meanwhile: two streams of one job each see every
    notify (the second one waited out its timeout before). A task that never said it watches has the flag
    alone on its first wait.
    """

    MAX_JOBS = 10_000  # flags nobody waits on are dropped, least recently used first

    def __init__(self) -> None:
        self._flags: OrderedDict[str, _Flag] = OrderedDict()
        # Numbers notifies process-wide, so that a flag dropped and made again never goes back below a
        # number a task saw.
        self._numbers = itertools.count(1)
        # Per waiting task, per job: the number of the job's last notify when the task's last wait returned.
        self._seen: weakref.WeakKeyDictionary[asyncio.Task[Any], dict[str, int]] = weakref.WeakKeyDictionary()

    def _flag(self, job_id: str) -> _Flag:
        flag = self._flags.get(job_id)
        if flag is not None:
            self._flags.move_to_end(job_id)
            return flag
        flag = self._flags[job_id] = _Flag()
        for _ in range(len(self._flags) - self.MAX_JOBS):
            oldest, dropped = next(iter(self._flags.items()))
            if dropped.waits:  # waited on (the warm-up runner's wake-up, a long stream): kept
                self._flags.move_to_end(oldest)
            else:
                del self._flags[oldest]
        return flag

    async def notify(self, job_id: str) -> None:
        flag = self._flag(job_id)
        flag.last = next(self._numbers)
        flag.event.set()

    async def watch(self, job_id: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._seen.setdefault(task, {})[job_id] = self._flag(job_id).last

    async def wait(self, job_id: str, *, timeout_s: float) -> None:
        flag = self._flag(job_id)
        task = asyncio.current_task()
        seen = self._seen.setdefault(task, {}) if task is not None else {}
        last = seen.get(job_id)
        if last is None or flag.last <= last:  # nothing new for this task since it last waited
            flag.waits += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):  # not wait_for: in 3.11 it can swallow a cancel
                        await flag.event.wait()
            finally:
                flag.waits -= 1
        seen[job_id] = flag.last
        flag.event.clear()


class RedisJobNotifier:
    """Publishes on the job's own channel when a process elsewhere waits on the job; a process listens to
    it while something there waits on the job (and `linger_s` after, as a stream waits again and again).

    Args:
        connection: The process's Redis connection (its pool, and its listener).
        linger_s: How long the process keeps listening to a job's channel after its last wait ended.
        announce_s: How often a process that waits on a job says so again (a process started since, or
            one that lost Redis meanwhile, hears of it within that time).
    """

    MAX_JOBS = 10_000  # watched and quiet job ids kept at most each, oldest dropped first

    def __init__(self, *, connection: RedisConnection, linger_s: float = 5.0, announce_s: float = 5.0) -> None:
        self.connection = connection
        self._connection = connection
        self._local = MemoryJobNotifier()
        self._prefix = connection.private_channel("job", "")
        self._watch_channel = connection.key("job-watch")
        self._token = secrets.token_hex(8)  # tells this process's own words apart
        self._linger_s = linger_s
        self._announce_s = announce_s
        self._waiters: Counter[str] = Counter()
        self._listening: dict[str, asyncio.TimerHandle | None] = {}
        self._announced: dict[str, float] = {}  # job id -> when this process last said it waits on it
        self._watched: OrderedDict[str, float] = OrderedDict()  # job id -> until when a process elsewhere waits
        self._quiet: OrderedDict[str, None] = OrderedDict()  # notified here while no process was known to wait
        self._stopping: set[asyncio.Future[None]] = set()
        self._outgoing: dict[str, None] = {}  # job ids to publish with the next pipeline, in order
        self._sent: asyncio.Future[None] | None = None  # resolved once that pipeline was sent
        connection.on(self._prefix + "*", self._on_message)
        connection.on(self._watch_channel, self._on_watch)
        connection.on_reconnect(self._announce_all)

    async def _on_message(self, channel: str, _data: bytes) -> None:
        await self._local.notify(channel.removeprefix(self._prefix))

    async def _on_watch(self, _channel: str, data: bytes) -> None:
        """A process waits on a job: publish its notifies from now on, and the one it may have missed."""
        token, _, job_id = data.decode().partition(" ")
        if token == self._token or not job_id:
            return  # this process's own waits are woken by the local notify
        self._watched[job_id] = asyncio.get_running_loop().time() + 3 * self._announce_s
        self._watched.move_to_end(job_id)
        while len(self._watched) > self.MAX_JOBS:
            self._watched.popitem(last=False)
        if job_id in self._quiet:  # its event was written before the word came: the stream may have missed it
            del self._quiet[job_id]
            self._queue(job_id)

    def _watched_elsewhere(self, job_id: str) -> bool:
        until = self._watched.get(job_id)
        if until is None:
            return False
        if until < asyncio.get_running_loop().time():
            del self._watched[job_id]
            return False
        return True

    async def notify(self, job_id: str) -> None:
        """Wake the job's waiters here at once, and elsewhere through Redis when a process there waits on
        it; returns once published (or Redis failed: a stream looks again after its wait's timeout)."""
        await self._local.notify(job_id)
        if not self._watched_elsewhere(job_id):
            self._quiet[job_id] = None
            self._quiet.move_to_end(job_id)
            while len(self._quiet) > self.MAX_JOBS:
                self._quiet.popitem(last=False)
            return
        sent = self._queue(job_id)
        await asyncio.shield(sent)

    def _queue(self, job_id: str) -> asyncio.Future[None]:
        """Put a notify into the next pipeline (sent at the end of this turn of the loop)."""
        self._outgoing[job_id] = None
        if self._sent is None:
            self._sent = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._publish)
        return self._sent

    def _publish(self) -> None:
        job_ids, sent = list(self._outgoing), self._sent
        self._outgoing, self._sent = {}, None
        self._spawn(self._send(job_ids, sent))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
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
        except Exception as exc:  # a wake-up lost must not fail the jobs that wrote events
            if not isinstance(exc, RedisUnavailableError):
                log.warning("jobs.notify_failed count=%d", len(job_ids), exc_info=True)
            for job_id in job_ids:  # notified again when their streams say again that they wait (reconnected)
                self._quiet[job_id] = None
        finally:
            if sent is not None and not sent.done():
                sent.set_result(None)

    async def _announce(self, job_ids: list[str]) -> None:
        """Tell every process that this one waits on these jobs."""
        now = asyncio.get_running_loop().time()
        for job_id in job_ids:
            self._announced[job_id] = now
        await self._say(job_ids)

    async def _say(self, job_ids: list[str]) -> None:
        async def publish(redis: Any) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    pipe.publish(self._watch_channel, f"{self._token} {job_id}".encode())
                await pipe.execute()

        try:
            await self._connection.call(publish)
        except RedisUnavailableError:
            pass  # Redis is down: no notify comes either; the stream looks again after its wait's timeout
        except Exception as exc:  # e.g. the connection closing under a word said again while stopping
            log.warning("jobs.watch_failed count=%d error=%s", len(job_ids), type(exc).__name__)

    async def _announce_all(self) -> None:
        """Back after losing Redis: words sent meanwhile were lost, say again what this process waits on,
        and wake its waits to look again (a notify published while the listener was down never comes)."""
        if self._listening:
            for job_id in self._listening:
                await self._local.notify(job_id)
            await self._announce(list(self._listening))

    async def watch(self, job_id: str) -> None:
        """Where the calling task starts (`MemoryJobNotifier.watch`); this process listens to the job's
        channel from its first wait on."""
        await self._local.watch(job_id)

    async def wait(self, job_id: str, *, timeout_s: float) -> None:
        """Wait for a notify of `job_id`, at most `timeout_s`. The first wait of a job returns as soon as
        this process listens to its channel and said it waits on it: the caller looks again, so nothing
        written before is missed."""
        self._waiters[job_id] += 1
        try:
            if job_id not in self._listening:
                self._listening[job_id] = None
                await self._connection.listen_to(self._prefix + job_id)
                await self._announce([job_id])
                return
            timer = self._listening[job_id]
            if timer is not None:
                timer.cancel()
                self._listening[job_id] = None
            now = asyncio.get_running_loop().time()
            if now - self._announced.get(job_id, now) >= self._announce_s:
                self._announced[job_id] = now
                self._spawn(self._say([job_id]))  # still waiting: say so again, for processes new since
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
        self._announced.pop(job_id, None)
        self._spawn(self._unlisten(job_id))

    async def _unlisten(self, job_id: str) -> None:
        if job_id in self._listening:  # waited on again since the linger ended: its channel is needed
            return
        await self._connection.stop_listening(self._prefix + job_id)
