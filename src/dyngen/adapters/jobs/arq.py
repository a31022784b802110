"""Jobs through arq when Redis is configured: `ArqJobQueue` enqueues, `arq_worker` builds the worker that
`dyngen worker` runs. Jobs are JSON; a job asks for its retry (backoff with jitter, decided by the
service) with arq's `Retry`; a cancel is broadcast on Redis so the process running the job cancels it.

Enqueueing goes through the process's `RedisConnection` (its pool, its timeouts, its cooldown): a Redis
that is down or never answers fails the enqueue within the operation timeout, never holds the request
that submitted the job. The job is already stored as queued, and the reaper enqueues it again later.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func

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
) -> Worker:
    """An arq worker that runs dyngen jobs with `run` (which returns a retry delay, or None)."""

    async def run_job(_ctx: dict[Any, Any], *args: Any, **_kwargs: Any) -> None:
        retry_in = await run(str(args[0]))
        if retry_in is not None:
            raise Retry(defer=retry_in)

    return Worker(
        functions=[func(run_job, name="run_job", max_tries=max_tries)],  # type: ignore[arg-type]  # arq's Protocol
        queue_name=queue_name,
        redis_settings=RedisSettings.from_dsn(redis_url),
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
