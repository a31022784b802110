"""`InProcessJobQueue`: the embedded default's job runner, inside the API process, bounded concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("dyngen.jobs")

Runner = Callable[[str], Awaitable[float | None]]


class InProcessJobQueue:
    """An asyncio queue drained by `concurrency` runner tasks.

    Args:
        run: Runs one job; returns a delay after which the job must run again, or None.
        cancel_running: Cancels a job's task if it runs in this process.
        concurrency: Jobs running at once.
    """

    def __init__(self, *, run: Runner, cancel_running: Callable[[str], bool], concurrency: int = 4) -> None:
        self._run = run
        self._cancel_running = cancel_running
        self._concurrency = concurrency
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0, attempt: int = 0) -> None:
        if defer_s <= 0:
            self._queue.put_nowait(job_id)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def put() -> None:
            if handle is not None:
                self._timers.discard(handle)
            self._queue.put_nowait(job_id)

        handle = loop.call_later(defer_s, put)
        self._timers.add(handle)

    async def cancel(self, job_id: str) -> None:
        self._cancel_running(job_id)

    def depth(self) -> int:
        return self._queue.qsize()

    async def serve(self) -> None:
        """Run jobs until cancelled (a background task of the API process)."""
        runners = [asyncio.create_task(self._runner()) for _ in range(self._concurrency)]
        try:
            await asyncio.gather(*runners)
        finally:
            for task in runners:
                task.cancel()
            for task in runners:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for handle in self._timers:
                handle.cancel()

    async def _runner(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                retry_in = await self._run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # one broken job must not stop the runner
                log.exception("job.run_failed id=%s", job_id)
                continue
            if retry_in is not None:
                await self.enqueue(job_id, defer_s=retry_in)
