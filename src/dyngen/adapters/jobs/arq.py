"""Jobs through arq when Redis is configured: `ArqJobQueue` enqueues, `arq_worker` builds the worker that
`dyngen worker` runs. Jobs are JSON; a job asks for its retry (backoff with jitter, decided by the
service) with arq's `Retry`; a cancel is broadcast on Redis so the process running the job cancels it.

Enqueueing goes through the process's `RedisConnection` (its pool, its timeouts, its cooldown): a Redis
that is down or never answers fails the enqueue within the operation timeout, never holds the request
that submitted the job. The job is already stored as queued, and the reaper enqueues it again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry
from arq.connections import ArqRedis
from arq.worker import Worker, func
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError

QUEUE_NAME = "dyngen:jobs"
log = logging.getLogger("dyngen.jobs")
Runner = Callable[[str], Awaitable[float | None]]


def _serialize(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _deserialize(data: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data)
    return loaded


class ArqJobQueue:
    """Enqueues job ids for `dyngen worker` processes.

    Args:
        connection: The process's Redis connection: jobs are enqueued through its pool and deadlines,
            and cancels are broadcast on it.
        cancel_running: Cancels a job's task if it runs in this process.
        queue_name: arq queue name (prefixed, so deployments sharing a Redis don't share jobs).
    """

    def __init__(
        self,
        *,
        connection: RedisConnection,
        cancel_running: Callable[[str], bool],
        queue_name: str = QUEUE_NAME,
    ) -> None:
        self._connection = connection
        self._cancel_running = cancel_running
        self.queue_name = queue_name
        self._arq = ArqRedis(
            connection.client.connection_pool,
            job_serializer=_serialize,
            job_deserializer=_deserialize,
            default_queue_name=queue_name,
        )
        self._channel = connection.key("job-cancel")
        connection.on(self._channel, self._on_cancel)

    async def _on_cancel(self, _channel: str, data: bytes) -> None:
        self._cancel_running(data.decode())

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0, attempt: int = 0) -> None:
        """Put the job on arq's queue; when Redis does not answer, log it and leave the job to the reaper
        (it is stored as queued, and `jobs.reap` enqueues queued jobs again)."""
        # arq's id is the job's id and attempt: enqueueing an attempt that is already waiting is a no-op,
        # while the next attempt (after a lost worker, whose arq entry lingers until arq's own timeout)
        # runs at once.
        try:
            await self._connection.call(
                lambda _: self._arq.enqueue_job(
                    "run_job", job_id, _job_id=f"{job_id}:{attempt}", _defer_by=defer_s or None
                )
            )
        except RedisUnavailableError as exc:
            log.warning("jobs.enqueue_deferred job=%s error=%s", job_id, str(exc)[:200])

    async def cancel(self, job_id: str) -> None:
        self._cancel_running(job_id)
        with contextlib.suppress(RedisUnavailableError):
            await self._connection.call(lambda r: r.publish(self._channel, job_id.encode()))

    async def aclose(self) -> None:
        """Nothing of its own to close: the pool is the connection's."""


def arq_worker(
    *,
    redis_url: str,
    run: Runner,
    queue_name: str = QUEUE_NAME,
    max_jobs: int = 10,
    job_timeout_s: float = 600,
    max_tries: int = 10,
    poll_delay_s: float = 0.05,
    connect_timeout_s: float = 1.0,
    timeout_s: float = 1.0,
) -> Worker:
    """An arq worker that runs dyngen jobs with `run` (which returns a retry delay, or None).

    Its Redis connections get the same deadlines as the rest of the process (`connect_timeout_s` to
    connect, `timeout_s` per read): arq's own settings have no read timeout, so a Redis that accepts and
    never answers would hold its poll, and its shutdown, for ever. Run it with `serve_worker`.
    """

    async def run_job(_ctx: dict[Any, Any], *args: Any, **_kwargs: Any) -> None:
        retry_in = await run(str(args[0]))
        if retry_in is not None:
            raise Retry(defer=retry_in)

    pool = ArqRedis(
        ConnectionPool.from_url(redis_url, socket_connect_timeout=connect_timeout_s, socket_timeout=timeout_s),
        job_serializer=_serialize,
        job_deserializer=_deserialize,
        default_queue_name=queue_name,
    )
    worker = Worker(
        functions=[func(run_job, name="run_job", max_tries=max_tries)],  # type: ignore[arg-type]  # arq's Protocol
        queue_name=queue_name,
        redis_pool=pool,
        max_jobs=max_jobs,
        # arq starts at most max_jobs per poll and then sleeps poll_delay: its default 0.5 s caps a worker
        # at max_jobs / 0.5 s whatever the jobs cost.
        poll_delay=poll_delay_s,
        job_timeout=job_timeout_s,
        keep_result=0,
        job_serializer=_serialize,
        job_deserializer=_deserialize,
        handle_signals=True,
    )
    return worker


REDIS_FAILURES = (RedisError, OSError, TimeoutError)
STOP_RETRY_S = 0.5  # how often a signalled worker's run is cancelled again until it ends


async def serve_worker(worker: Worker, *, retry_s: float) -> None:
    """Run `worker` until a signal stops it.

    A Redis that fails (refused, or silent past the read timeout) ends arq's loop: the worker then says it
    is unhealthy (`worker.unhealthy`, a warning), keeps the jobs it runs going, and polls again every
    `retry_s`; once Redis answers it says so (`worker.healthy`). A signal stops it in either state.
    """
    stopping = asyncio.Event()
    worker.on_stop = lambda _signal: stopping.set()
    healthy = True

    async def started(_ctx: dict[Any, Any]) -> None:  # arq calls it once Redis answered its first command
        nonlocal healthy
        if not healthy:
            healthy = True
            log.warning("worker.healthy redis=answering")

    worker.on_startup = started  # type: ignore[assignment]  # arq types it as a Protocol of its own
    while not stopping.is_set():
        try:
            await _run_until_stopped(worker, stopping)
            return
        except asyncio.CancelledError:
            return  # arq's signal handler cancels its main task: a clean stop
        except REDIS_FAILURES as exc:
            if healthy:
                log.warning("worker.unhealthy redis=failing error=%s retry_s=%s", type(exc).__name__, retry_s)
            healthy = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(retry_s):
                await stopping.wait()


async def _run_until_stopped(worker: Worker, stopping: asyncio.Event) -> None:
    """arq's run, cancelled again until it ends once a signal came: arq cancels its main task once, and a
    cancel that lands in a Redis command at start-up (its `INFO`) can be swallowed there, leaving the
    worker polling after "shutdown on SIGTERM" until it is killed (seen in CI)."""
    run = asyncio.ensure_future(worker.async_run())
    signalled = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({run, signalled}, return_when=asyncio.FIRST_COMPLETED)
        while not run.done():
            run.cancel()
            await asyncio.wait({run}, timeout=STOP_RETRY_S)
    except asyncio.CancelledError:
        run.cancel()
        raise
    finally:
        signalled.cancel()
    await run


async def close_worker(worker: Worker) -> None:
    """Close the worker (its running jobs end first, as arq does); a Redis that does not answer costs
    its read timeout, never a hang: what arq cannot tidy up in Redis then expires there by itself."""
    try:
        await worker.close()
    except REDIS_FAILURES as exc:
        log.warning("worker.close_incomplete error=%s", type(exc).__name__)
        with contextlib.suppress(*REDIS_FAILURES):
            await worker.pool.close(close_connection_pool=True)
