"""Jobs through arq when Redis is configured: `ArqJobQueue` enqueues, `arq_worker` builds the worker that
`dyngen worker` runs. Jobs are JSON; a job asks for its retry (backoff with jitter, decided by the
service) with arq's `Retry`; a cancel is broadcast on Redis so the process running the job cancels it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry, create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func

from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError

QUEUE_NAME = "dyngen:jobs"
Runner = Callable[[str], Awaitable[float | None]]


def _serialize(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _deserialize(data: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data)
    return loaded


class ArqJobQueue:
    """Enqueues job ids for `dyngen worker` processes.

    Args:
        redis_url: The Redis arq uses.
        connection: The process's Redis connection (cancels are broadcast on it).
        cancel_running: Cancels a job's task if it runs in this process.
        queue_name: arq queue name (prefixed, so deployments sharing a Redis don't share jobs).
    """

    def __init__(
        self,
        *,
        redis_url: str,
        connection: RedisConnection,
        cancel_running: Callable[[str], bool],
        queue_name: str = QUEUE_NAME,
    ) -> None:
        self._settings = RedisSettings.from_dsn(redis_url)
        self._connection = connection
        self._cancel_running = cancel_running
        self.queue_name = queue_name
        self._pool: ArqRedis | None = None
        self._channel = connection.key("job-cancel")
        connection.on(self._channel, self._on_cancel)

    async def _on_cancel(self, _channel: str, data: bytes) -> None:
        self._cancel_running(data.decode())

    async def _arq(self) -> ArqRedis:
        if self._pool is None:
            self._pool = await create_pool(
                self._settings,
                job_serializer=_serialize,
                job_deserializer=_deserialize,
                default_queue_name=self.queue_name,
            )
        return self._pool

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0, attempt: int = 0) -> None:
        pool = await self._arq()
        # arq's id is the job's id and attempt: enqueueing an attempt that is already waiting is a no-op,
        # while the next attempt (after a lost worker, whose arq entry lingers until arq's own timeout)
        # runs at once.
        await pool.enqueue_job("run_job", job_id, _job_id=f"{job_id}:{attempt}", _defer_by=defer_s or None)

    async def cancel(self, job_id: str) -> None:
        self._cancel_running(job_id)
        with contextlib.suppress(RedisUnavailableError):
            await self._connection.call(lambda r: r.publish(self._channel, job_id.encode()))

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


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
