"""`BackgroundTasks`: work a request starts and does not wait for (hybrid refreshes), tracked so that the
service can cancel it when it closes and tests can wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from dyngen.services.machinery.memo import LruMemo

log = logging.getLogger("dyngen.background")

T = TypeVar("T")
PACED_NAMES = 10_000  # names whose pacing is remembered (least recently used forgotten first)


class BackgroundTasks:
    """Tasks by name; at most one per name runs at a time in this process (a second start is skipped)."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        # Per name: the monotonic time before which it is not started again, and its failures in a row.
        self.not_before: LruMemo[str, float] = LruMemo(PACED_NAMES)
        self.failures: LruMemo[str, int] = LruMemo(PACED_NAMES)

    def start(self, name: str, work: Coroutine[Any, Any, Any]) -> bool:
        """Run `work` in the background unless a task of the same name still runs (then `work` is closed
        unstarted). Returns True when it started."""
        if name in self._tasks:
            work.close()
            return False
        task = asyncio.get_running_loop().create_task(work, name=f"dyngen-bg:{name}")
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._finished(name, done))
        return True

    def _finished(self, name: str, task: asyncio.Future[Any]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background.failed task=%s error=%s", name, type(error).__name__, exc_info=error)

    async def run_within(self, name: str, work: Coroutine[Any, Any, T] | asyncio.Future[T], *, timeout_s: float) -> T:
        """`work`'s result if it comes within `timeout_s`, else TimeoutError, with `work` left running here
        (tracked, cancelled on close) rather than cancelled: a database call cut off mid-way holds its
        caller until its connection is cleaned up, which on a server that never answers takes the
        database's own timeout. `work` may be a future already under way (no task is made for it; one done
        already is read at once, without a turn of the loop)."""
        task = (
            work
            if isinstance(work, asyncio.Future)
            else asyncio.get_running_loop().create_task(work, name=f"dyngen-bg:{name}")
        )
        if task.done():
            return task.result()
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout_s)
        except asyncio.CancelledError:
            self._adopt(name, task)
            raise
        if done:
            return task.result()
        self._adopt(name, task)
        raise TimeoutError(f"{name} did not finish within {timeout_s} s")

    def adopt(self, name: str, task: asyncio.Task[Any]) -> None:
        """Track a task already running (cancelled on close, its failure logged)."""
        self._adopt(name, task)

    def _adopt(self, name: str, task: asyncio.Future[Any]) -> None:
        if name in self._tasks:
            name = f"{name}:{id(task)}"
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._finished(name, done))

    def running(self, name: str) -> bool:
        return name in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self, *, grace_s: float = 1.0) -> None:
        """Let the tasks finish for up to `grace_s` (a refresh about done is worth keeping, and one cut off
        inside a database call leaves its connection to the garbage collector), then cancel the rest and
        wait until they have stopped."""
        tasks = list(self._tasks.values())
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
