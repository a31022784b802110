"""`GroupCommit`: many small writes of one process in one transaction, each caller told when its own
write is committed.

Writing one generation record per transaction makes every miss queue for the database's write lock
(SQLite's, taken by up to a pool's worth of connection threads that sleep in its busy handler and wake
late: issue 18 measured a p99 of 1.8-2 s at concurrency 32), and costs a transaction's overhead each.
Here one writer task per process takes the writes that wait, up to `max_items`, after a short window
(`window`, by default `window_s` of real time, so that the writes of concurrent requests meet) and runs
them in one batch (`run_batch`: one transaction). While a batch is being written the next one gathers
and is written as soon as it commits, with no window: under load batches grow by themselves, and an
idle writer adds at most one window to a write. After a batch of one write (no write met it: one
request at a time) the next is written at once, without a window: waiting would only cost it the window
and the event loop a wake-up (issue 18 measured ~1 ms of latency per miss at concurrency 1). A burst
that starts then has its first write alone; the others gather while it commits.

What a caller is promised: `submit` returns only after the batch holding its write has committed (a
record is durable before its answer is sent), and raises the batch's error when that batch failed:
exactly the writes of that batch fail, the ones before and after it are not touched. A caller that stops
waiting (its own deadline) does not withdraw its write: it is written with its batch, so a caller that
falls back (the outbox) may find it written twice, and writes must be idempotent (records insert with
"on conflict do nothing" on their id). `enqueue` queues a write without waiting for it (write-behind: the
durable cache tier's entries); batches are written in the order their writes came, so such a write is
committed with or after every write queued before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger("dyngen.db")
T = TypeVar("T")

MAX_ITEMS = 16  # the default of `DYNGEN_DB_WRITE_BATCH` (config.py says why)
WINDOW_S = 0.001


class WriterClosedError(RuntimeError):
    """The writer was closed before the write was committed."""


class GroupCommit(Generic[T]):
    """Batches `submit`ted items into `run_batch` calls, one at a time, from one writer task.

    Args:
        run_batch: Writes a batch (one transaction); raises when nothing of it was committed.
        max_items: A batch holds at most this many items; this many waiting end the window at once.
        window: Awaited after a batch's first item arrives, before the batch is taken (more items join
            meanwhile). Default: `asyncio.sleep(window_s)`. Tests pass an event's wait.
        window_s: The default window's length in seconds (0: no window, only what waits already).
    """

    def __init__(
        self,
        run_batch: Callable[[list[T]], Awaitable[None]],
        *,
        max_items: int = MAX_ITEMS,
        window: Callable[[], Awaitable[object]] | None = None,
        window_s: float = WINDOW_S,
    ) -> None:
        self._run_batch = run_batch
        self._max_items = max_items
        self._window = window or (lambda: asyncio.sleep(window_s))
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._arrived: asyncio.Event | None = None
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Future[None] | None = None  # the last write of the batch being written
        self._closed = False
        self.batches = 0  # how many batches were written (committed or failed), for tests and metrics

    async def submit(self, item: T) -> None:
        """Write `item` with the next batch; returns once that batch committed, or raises its error."""
        await asyncio.shield(self.enqueue(item))  # a caller that stops waiting leaves its write in the batch

    def enqueue(self, item: T) -> asyncio.Future[None]:
        """Queue `item` for the next batch and return at once: the future is done once that batch
        committed, or holds its error (retrieved already: a caller may leave it unawaited, and a failed
        batch is logged)."""
        if self._closed:
            raise WriterClosedError("the database writer is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._ensure_started()
        assert self._arrived is not None
        assert self._full is not None
        self._arrived.set()
        if len(self._pending) >= self._max_items:
            self._full.set()
        return future

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._arrived, self._full = asyncio.Event(), asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._serve(), name="dyngen-group-commit")

    async def _serve(self) -> None:
        assert self._arrived is not None
        assert self._full is not None
        carried = False  # writes that gathered during the last batch's commit have waited already
        alone = False  # the last batch held one write: nothing met it in its window
        while True:
            await self._arrived.wait()
            if not carried and not alone and len(self._pending) < self._max_items:
                await self._wait_window(self._full)
            batch, self._pending = self._pending[: self._max_items], self._pending[self._max_items :]
            if not self._pending:
                self._arrived.clear()
            if len(self._pending) < self._max_items:
                self._full.clear()
            await self._write(batch)
            carried, alone = bool(self._pending), len(batch) == 1

    async def _wait_window(self, full: asyncio.Event) -> None:
        window = asyncio.ensure_future(self._window())
        filled = asyncio.ensure_future(full.wait())
        try:
            await asyncio.wait({window, filled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (window, filled):
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter

    async def _write(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        self.batches += 1
        self._writing = batch[-1][1] if batch else None
        try:
            await self._run_batch([item for item, _ in batch])
        except asyncio.CancelledError:
            self._fail(batch, WriterClosedError("the database writer was closed during the write"))
            raise
        except Exception as exc:
            log.warning("db.batch_failed items=%d error=%s", len(batch), type(exc).__name__)
            self._fail(batch, exc)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    @staticmethod
    def _fail(batch: list[tuple[T, asyncio.Future[None]]], exc: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: a caller that stopped waiting leaves no warning behind

    async def aclose(self) -> None:
        """Write what waits, then stop the writer; later `submit`s raise `WriterClosedError`."""
        self._closed = True
        while self._task is not None and not self._task.done():
            # The last write that waits, else the batch being written: the writer is stopped only once it
            # ended (cancelling it mid-batch rolled back writes that callers were still waiting for).
            last = self._pending[-1][1] if self._pending else self._writing
            if last is None or last.done():
                break
            assert self._full is not None
            self._full.set()  # no window: write what waits now
            with contextlib.suppress(Exception):
                await asyncio.shield(last)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._fail(self._pending, WriterClosedError("the database writer is closed"))
        self._pending = []
