"""`GroupCommit`: many small writes of one process in one transaction, each caller told when its own
write is committed.

Writing one generation record per transaction makes every miss queue for the database's write lock
(SQLite's, taken by up to a pool's worth of connection threads that sleep in its busy handler and wake
late: issue 18 measured a p99 of 1.8-2 s at concurrency 32), and costs a transaction's overhead each.
Here the writes that wait, up to `max_items`, are run in one batch (`run_batch`: one transaction), one batch
at a time. An idle writer takes a batch after a short window (`window`, by default `window_s` of real time,
so that the writes of concurrent requests meet; 0: the writes queued in the same turn of the event loop).
While a batch is being written the next one gathers and is written as soon as it commits, with no window:
under load batches grow by themselves, and an idle writer adds at most one window to a write. After a
batch of one write (no write met it: one request at a time) the next is taken in the next turn of the
loop, without a window: waiting would only cost it the window (issue 18 measured ~1 ms of latency per miss
at concurrency 1). A burst that starts then has its first write alone; the others gather while it commits.

A batch may first be tried on the event loop's own thread (`here`), at once, in the turn its window ends: when
it is written there, its callers are told in that same turn. When it cannot be written there (`here` says so:
the database was busy), it goes to `run_batch` as any other batch.

The writer is driven by callbacks, not a task that loops: under load every turn of the event loop takes
~0.5 ms, and a write waited through ~11 of them (issue 18: the writer task woke for the write, for the
window, for the batch's end, then the caller through a shield and a wait). Now a batch is started in the
turn its window ends, a blocking `run_batch` runs in `thread` and reports its end to the loop itself
(`call_soon_threadsafe`), which sets the callers' futures in that turn: a caller waits through the window,
the batch and one turn.

What a caller is promised: `submit` returns only after the batch holding its write has committed (a
record is durable before its answer is sent), and raises the batch's error when that batch failed:
exactly the writes of that batch fail, the ones before and after it are not touched. A caller that stops
waiting (its own deadline, a cancel) does not withdraw its write: it is written with its batch, so a
caller that falls back (the outbox) may find it written twice, and writes must be idempotent (records
insert with "on conflict do nothing" on their id). `enqueue` queues a write without waiting for it
(write-behind: the durable cache tier's entries); its future is the caller's own, which it may cancel.
Batches are written in the order their writes came, so such a write is committed with or after every
write queued before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

log = logging.getLogger("dyngen.db")
T = TypeVar("T")

MAX_ITEMS = 16  # the default of `DYNGEN_DB_WRITE_BATCH` (config.py says why)
WINDOW_S = 0.001

Pending = list[tuple[T, asyncio.Future[None]]]


class WriterClosedError(RuntimeError):
    """The writer was closed before the write was committed."""


class GroupCommit(Generic[T]):
    """Batches `submit`ted items into `run_batch` calls, one at a time.

    Args:
        run_batch: Writes a batch (one transaction); raises when nothing of it was committed. A coroutine
            function, run as a task per batch; with `thread`, a blocking function run in that thread.
        thread: Where a blocking `run_batch` runs (one thread: batches never overlap).
        max_items: A batch holds at most this many items; this many waiting end the window at once.
        window: Awaited after a batch's first item arrives, before the batch is taken (more items join
            meanwhile). Default: `window_s` of real time. Tests pass an event's wait.
        window_s: The default window's length in seconds (0: the writes queued in the same turn of the loop).
        here: Tries a batch on the event loop's thread first, blocking it: True when written, False when it
            could not start (nothing of it was written: it goes to `run_batch`); what it raises is the batch's
            error. For writes that take microseconds only.
    """

    def __init__(
        self,
        run_batch: Callable[[list[T]], Awaitable[None]] | Callable[[list[T]], None],
        *,
        thread: Executor | None = None,
        max_items: int = MAX_ITEMS,
        window: Callable[[], Awaitable[object]] | None = None,
        window_s: float = WINDOW_S,
        here: Callable[[list[T]], bool] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._here = here
        self._thread = thread
        self._max_items = max_items
        self._window = window
        self._window_s = window_s
        self._pending: Pending[T] = []
        self._waiting: asyncio.Handle | asyncio.Future[object] | None = None  # the window being waited out
        self._writing = False
        self._alone = False  # the last batch held one write: nothing met it in its window
        self._drained: asyncio.Future[None] | None = None  # set when nothing waits and nothing is written
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches = 0  # how many batches were written (committed or failed), for tests and metrics

    @property
    def writing(self) -> bool:
        """A batch is being written by `run_batch` (one written in place never shows: it blocks the loop)."""
        return self._writing

    def hold(self, work: Callable[[], object]) -> bool:
        """Run blocking `work` in `thread` between two batches: none starts until it ends (the writes that
        gather meanwhile go next, at once). False, and nothing run, while a batch is being written."""
        if self._writing or self._thread is None:
            return False
        if self._waiting is not None:
            self._waiting.cancel()  # the window's batch is taken when `work` ends
            self._waiting = None
        self._writing = True
        self._thread.submit(self._run_in_thread, asyncio.get_running_loop(), [], [], lambda _: work())
        return True

    async def submit(self, item: T) -> None:
        """Write `item` with the next batch; returns once that batch committed, or raises its error."""
        await self.enqueue(item)  # the caller's own future: one that stops waiting leaves its write in the batch

    def enqueue(self, item: T) -> asyncio.Future[None]:
        """Queue `item` for the next batch and return at once: the future is done once that batch
        committed, or holds its error (retrieved already: a caller may leave it unawaited, and a failed
        batch is logged). It is the caller's own: cancelling it leaves the write in its batch."""
        if self._closed:
            raise WriterClosedError("the database writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, future))
        if self._writing:
            return future  # taken when the batch being written commits
        if self._waiting is None:
            self._waiting = self._open_window(loop)
        elif len(self._pending) >= self._max_items:
            self._close_window(loop)
        return future

    def _open_window(self, loop: asyncio.AbstractEventLoop) -> asyncio.Handle | asyncio.Future[object]:
        if len(self._pending) >= self._max_items or self._alone or (self._window is None and self._window_s <= 0):
            return loop.call_soon(self._start)
        if self._window is None:
            return loop.call_later(self._window_s, self._start)
        window = asyncio.ensure_future(self._window())
        window.add_done_callback(self._window_ended)
        return window

    def _window_ended(self, window: asyncio.Future[object]) -> None:
        if not window.cancelled():
            self._start()

    def _close_window(self, loop: asyncio.AbstractEventLoop) -> None:
        """End the window being waited out: the batch is taken in the next turn of the loop."""
        # A window being waited out: a future, or a timer (uvloop's are not asyncio.TimerHandle; both have `when`).
        if isinstance(self._waiting, asyncio.Future) or hasattr(self._waiting, "when"):
            assert self._waiting is not None
            self._waiting.cancel()
            self._waiting = loop.call_soon(self._start)

    def _start(self) -> None:
        self._waiting = None
        if self._writing or not self._pending:
            return
        batch, self._pending = self._pending[: self._max_items], self._pending[self._max_items :]
        self._writing = True
        self.batches += 1
        items = [item for item, _ in batch]
        if self._here is not None:
            try:
                written = self._here(items)
            except Exception as exc:
                self._finish(batch, exc)
                return
            if written:
                self._finish(batch, None)
                return
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            self._thread.submit(self._run_in_thread, loop, batch, items)
        else:
            task = asyncio.get_running_loop().create_task(self._run_task(batch, items), name="dyngen-group-commit")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _run_in_thread(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: Pending[T],
        items: list[T],
        run: Callable[[list[T]], object] | None = None,
    ) -> None:
        error: BaseException | None = None
        try:
            (run or self._run_batch)(items)
        except BaseException as exc:  # reported to the loop, with the batch
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._finish, batch, error)

    async def _run_task(self, batch: Pending[T], items: list[T]) -> None:
        try:
            await self._run_batch(items)  # type: ignore[misc]  # a coroutine function without `thread`
        except asyncio.CancelledError:
            # The loop is being torn down: no batch is started from a task being cancelled, and what waits
            # behind this one fails with it (`aclose` cancels nothing: it lets the batch commit).
            waiting, self._pending = self._pending, []
            self._finish(batch + waiting, WriterClosedError("the database writer was closed during the write"))
            raise
        except Exception as exc:
            self._finish(batch, exc)
        else:
            self._finish(batch, None)

    def _finish(self, batch: Pending[T], error: BaseException | None) -> None:
        """A batch ended: tell its callers, and take the writes that gathered meanwhile at once."""
        self._writing = False
        self._alone = len(batch) == 1
        if error is None:
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
        else:
            log.warning("db.batch_failed items=%d error=%s", len(batch), type(error).__name__)
            self._fail(batch, error)
        if self._pending:
            if self._here is None:
                self._start()
            else:  # a batch written in place ends here, in `_start`: the next one in a turn of its own, not deeper
                self._waiting = asyncio.get_running_loop().call_soon(self._start)
        elif self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    @staticmethod
    def _fail(batch: Pending[T], exc: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: a caller that stopped waiting leaves no warning behind

    async def aclose(self) -> None:
        """Write what waits, then stop the writer; later `submit`s raise `WriterClosedError`."""
        self._closed = True
        loop = asyncio.get_running_loop()
        while self._writing or self._pending:
            # The batch being written is let commit (cancelling it rolled back writes that callers were
            # still waiting for), and what waits is written after it without a window.
            if not self._writing:
                self._close_window(loop)
            if self._drained is None or self._drained.done():
                self._drained = loop.create_future()
            await asyncio.shield(self._drained)
        if self._waiting is not None:
            self._waiting.cancel()
        self._waiting = None
