"""`GroupCommit`: writes of one process batched into one transaction each, every caller told when its own
batch committed (issue 18). The window is an event the test sets, never a sleep; nothing times anything."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dyngen.adapters.db.group_commit import GroupCommit, WriterClosedError


class FakeDatabase:
    """Commits batches in memory; a batch whose items include a poisoned one fails whole, and `hold` keeps
    a batch from committing until the test lets it."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.started: list[list[str]] = []
        self.poisoned: set[str] = set()
        self.hold: asyncio.Event | None = None
        self.batch_started = asyncio.Event()

    async def run_batch(self, items: list[str]) -> None:
        self.started.append(list(items))
        self.batch_started.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.poisoned & set(items):
            raise RuntimeError(f"refused: {sorted(self.poisoned & set(items))}")
        self.committed.append(list(items))


class Window:
    """The batch window as an event: a batch is taken when the test opens it (or when it is full)."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.waiting = asyncio.Event()

    async def wait(self) -> None:
        self.waiting.set()
        await self.opened.wait()

    async def open_once(self) -> None:
        """Once the writer waits on the window, end that one window (the next one starts closed)."""
        await self.waiting.wait()
        self.opened.set()
        self.opened = asyncio.Event()
        self.waiting = asyncio.Event()


def writer(db: FakeDatabase, window: Window, *, max_items: int = 64) -> GroupCommit[str]:
    return GroupCommit(db.run_batch, max_items=max_items, window=window.wait)


async def _spawn(commit: GroupCommit[str], items: list[str]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(commit.submit(item)) for item in items]
    await asyncio.sleep(0)  # each task runs up to its await: every item is queued
    return tasks


async def _through(commit: GroupCommit[str], window: Window, items: list[str]) -> list[object]:
    """Each item's outcome (None, or its batch's error) once the window that gathers them is opened."""
    tasks = await _spawn(commit, items)
    await window.open_once()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_writes_wait_for_the_window_then_go_in_one_batch() -> None:
    db, window = FakeDatabase(), Window()
    commit = writer(db, window)

    tasks = await _spawn(commit, ["r1", "r2", "r3"])
    await window.waiting.wait()

    assert db.started == []
    assert not any(t.done() for t in tasks)
    await window.open_once()
    await asyncio.gather(*tasks)
    assert db.committed == [["r1", "r2", "r3"]]
    await commit.aclose()


async def test_a_full_batch_goes_without_waiting_for_the_window_and_the_rest_right_after() -> None:
    db, window = FakeDatabase(), Window()  # the window is never opened
    commit = writer(db, window, max_items=4)

    tasks = await _spawn(commit, ["r1", "r2", "r3", "r4", "r5"])
    await asyncio.gather(*tasks)

    assert db.committed == [["r1", "r2", "r3", "r4"], ["r5"]]
    assert not window.waiting.is_set()
    await commit.aclose()


async def test_a_caller_returns_only_after_its_batch_committed() -> None:
    db, window = FakeDatabase(), Window()
    db.hold = asyncio.Event()
    commit = writer(db, window)
    done_when_returned: list[list[list[str]]] = []

    async def caller() -> None:
        await commit.submit("r1")
        done_when_returned.append(list(db.committed))

    task = asyncio.create_task(caller())
    await window.open_once()
    await db.batch_started.wait()

    assert not task.done()  # the batch is being written, not committed: the caller still waits
    db.hold.set()
    await task
    assert done_when_returned == [[["r1"]]]
    await commit.aclose()


async def test_a_failed_batch_fails_exactly_its_own_writes() -> None:
    db, window = FakeDatabase(), Window()
    db.poisoned = {"bad"}
    commit = writer(db, window)

    await _through(commit, window, ["a1", "a2"])
    outcomes = await _through(commit, window, ["b1", "bad", "b2"])
    await _through(commit, window, ["c1"])

    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert db.committed == [["a1", "a2"], ["c1"]]
    assert db.started[1] == ["b1", "bad", "b2"]
    await commit.aclose()


async def test_writes_that_gather_during_a_commit_go_next_without_a_window() -> None:
    db, window = FakeDatabase(), Window()
    db.hold = asyncio.Event()
    commit = writer(db, window)

    first = await _spawn(commit, ["r1"])
    await window.open_once()
    await db.batch_started.wait()
    later = await _spawn(commit, ["r2", "r3"])  # arrive while r1's batch is being written
    db.hold.set()
    await asyncio.gather(*first, *later)  # the window is never opened again

    assert db.committed == [["r1"], ["r2", "r3"]]
    await commit.aclose()


async def test_a_caller_that_stops_waiting_leaves_its_write_in_the_batch() -> None:
    db, window = FakeDatabase(), Window()
    commit = writer(db, window)

    [impatient] = await _spawn(commit, ["r1"])
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    [other] = await _spawn(commit, ["r2"])
    await window.open_once()
    await other

    assert db.committed == [["r1", "r2"]]
    await commit.aclose()


async def test_close_writes_what_waits_then_refuses_new_writes() -> None:
    db, window = FakeDatabase(), Window()  # never opened: only close flushes
    commit = writer(db, window)

    tasks = await _spawn(commit, ["r1", "r2"])
    await window.waiting.wait()
    await commit.aclose()

    await asyncio.gather(*tasks)
    assert db.committed == [["r1", "r2"]]
    with pytest.raises(WriterClosedError):
        await commit.submit("r3")


async def test_close_lets_the_batch_being_written_commit() -> None:
    db, window = FakeDatabase(), Window()
    db.hold = asyncio.Event()
    commit = writer(db, window)
    tasks = await _spawn(commit, ["r1"])
    await window.open_once()
    await db.batch_started.wait()  # r1's batch is being written; nothing else waits

    closing = asyncio.ensure_future(commit.aclose())
    await asyncio.sleep(0)
    db.hold.set()
    await closing

    await asyncio.gather(*tasks)  # told it committed, not that the writer was closed under it
    assert db.committed == [["r1"]]


async def test_an_error_in_one_batch_does_not_stop_the_writer() -> None:
    db, window = FakeDatabase(), Window()
    db.poisoned = {"bad"}
    commit = writer(db, window, max_items=1)
    calls: list[Callable[[], Awaitable[None]]] = [lambda: commit.submit("bad"), lambda: commit.submit("ok")]

    outcomes = await asyncio.gather(*(c() for c in calls), return_exceptions=True)

    assert isinstance(outcomes[0], RuntimeError)
    assert outcomes[1] is None
    assert db.committed == [["ok"]]
    await commit.aclose()


async def test_after_a_batch_of_one_write_the_next_goes_without_a_window() -> None:
    """One request at a time: a write no other met is not made to wait a window for company again."""
    db, window = FakeDatabase(), Window()
    commit = writer(db, window)

    first = await _spawn(commit, ["r1"])
    await window.open_once()
    await asyncio.gather(*first)
    window.waiting.clear()
    await asyncio.gather(*await _spawn(commit, ["r2"]))  # the window is never opened again

    assert db.committed == [["r1"], ["r2"]]
    assert not window.waiting.is_set()
    await commit.aclose()


async def test_after_a_batch_of_several_writes_an_idle_writer_waits_for_the_window_again() -> None:
    db, window = FakeDatabase(), Window()
    commit = writer(db, window)

    first = await _spawn(commit, ["r1", "r2"])
    await window.open_once()
    await asyncio.gather(*first)
    later = await _spawn(commit, ["r3", "r4"])
    await window.waiting.wait()

    assert db.started == [["r1", "r2"]]
    await window.open_once()
    await asyncio.gather(*later)
    assert db.committed == [["r1", "r2"], ["r3", "r4"]]
    await commit.aclose()


async def test_a_write_queued_behind_returns_at_once_and_commits_after_the_writes_before_it() -> None:
    db, window = FakeDatabase(), Window()
    db.hold = asyncio.Event()
    commit = writer(db, window, max_items=2)
    first = await _spawn(commit, ["record-1", "record-2"])  # a full batch: taken at once, held in its commit
    await db.batch_started.wait()

    behind = commit.enqueue("entry-1")  # no await: the caller goes on while the batch before commits

    assert not behind.done()
    db.hold.set()
    await asyncio.gather(*first)
    await behind  # gathered during the commit: written next, without a window
    assert db.committed == [["record-1", "record-2"], ["entry-1"]]
    await commit.aclose()


async def test_a_write_queued_behind_is_written_on_close() -> None:
    db, window = FakeDatabase(), Window()  # never opened: only close flushes
    commit = writer(db, window)
    written = commit.enqueue("entry-1")

    await commit.aclose()

    assert written.result() is None
    assert db.committed == [["entry-1"]]


async def test_a_write_queued_behind_holds_its_batch_error() -> None:
    db, window = FakeDatabase(), Window()
    db.poisoned = {"bad"}
    commit = writer(db, window)
    failed = commit.enqueue("bad")

    await commit.aclose()

    assert isinstance(failed.exception(), RuntimeError)
    assert db.committed == []


class BlockingDatabase:
    """`FakeDatabase` for a writer whose batches run in a thread: blocking, held on a thread event."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.threads: set[str] = set()
        self.poisoned: set[str] = set()
        self.hold = threading.Event()
        self.hold.set()
        self.started = threading.Event()

    def run_batch(self, items: list[str]) -> None:
        self.threads.add(threading.current_thread().name)
        self.started.set()
        self.hold.wait()
        if self.poisoned & set(items):
            raise RuntimeError(f"refused: {sorted(self.poisoned & set(items))}")
        self.committed.append(list(items))


@pytest.fixture
def thread() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1, thread_name_prefix="test-writer") as executor:
        yield executor


async def test_a_blocking_batch_runs_in_its_thread_and_fails_exactly_its_own_writes(thread: ThreadPoolExecutor) -> None:
    db, window = BlockingDatabase(), Window()
    db.poisoned = {"bad"}
    commit: GroupCommit[str] = GroupCommit(db.run_batch, thread=thread, window=window.wait)

    good = await _spawn(commit, ["a1", "a2"])
    await window.open_once()
    await asyncio.gather(*good)
    bad = await _spawn(commit, ["b1", "bad"])
    await window.open_once()
    outcomes = await asyncio.gather(*bad, return_exceptions=True)

    assert db.committed == [["a1", "a2"]]
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert db.threads == {"test-writer_0"}
    assert commit.batches == 2
    await commit.aclose()


async def test_a_blocking_batch_tells_its_callers_once_committed_and_takes_what_gathered_meanwhile(
    thread: ThreadPoolExecutor,
) -> None:
    db, window = BlockingDatabase(), Window()
    db.hold.clear()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, thread=thread, window=window.wait)
    first = await _spawn(commit, ["r1"])
    await window.open_once()
    await asyncio.to_thread(db.started.wait)  # r1's batch is in the thread, held before its commit

    later = await _spawn(commit, ["r2", "r3"])
    behind = commit.enqueue("entry-1")
    assert not any(t.done() for t in first + later)
    db.hold.set()
    await asyncio.gather(*first, *later)  # the window is never opened again
    await behind

    assert db.committed == [["r1"], ["r2", "r3", "entry-1"]]
    await commit.aclose()


async def test_close_waits_for_the_blocking_batch_in_its_thread(thread: ThreadPoolExecutor) -> None:
    db, window = BlockingDatabase(), Window()
    db.hold.clear()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, thread=thread, window=window.wait)
    [caller] = await _spawn(commit, ["r1"])
    await window.open_once()
    await asyncio.to_thread(db.started.wait)
    queued = commit.enqueue("r2")  # waits for the batch in the thread: closing writes it after

    closing = asyncio.ensure_future(commit.aclose())
    await asyncio.sleep(0)
    assert not closing.done()
    db.hold.set()
    await closing

    await caller
    assert queued.result() is None
    assert db.committed == [["r1"], ["r2"]]


async def test_a_window_of_zero_takes_the_writes_of_the_same_turn_in_one_batch() -> None:
    db = FakeDatabase()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, window_s=0)

    await asyncio.gather(*await _spawn(commit, ["r1", "r2", "r3"]))

    assert db.committed == [["r1", "r2", "r3"]]
    await commit.aclose()


async def test_a_batch_task_cancelled_fails_what_waits_behind_it_and_starts_no_other() -> None:
    """The loop is torn down (its tasks cancelled) with a batch running and writes behind it: they fail with
    WriterClosedError, and no batch is started from the task being cancelled."""
    db, window = FakeDatabase(), Window()
    db.hold = asyncio.Event()  # never set: the batch runs until cancelled
    commit = writer(db, window)
    first = commit.enqueue("r1")
    await window.open_once()
    await db.batch_started.wait()
    behind = [commit.enqueue("r2"), commit.enqueue("r3")]

    [batch_task] = commit._tasks
    batch_task.cancel()
    await asyncio.gather(batch_task, return_exceptions=True)

    assert all(isinstance(f.exception(), WriterClosedError) for f in [first, *behind])
    assert db.started == [["r1"]]
    assert not commit._tasks


class InPlace:
    """A `here` that writes a batch at once, refuses one while `busy` (nothing written), or fails it."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.busy = False
        self.poisoned: set[str] = set()

    def write(self, items: list[str]) -> bool:
        if self.busy:
            return False
        if self.poisoned & set(items):
            raise RuntimeError(f"refused: {sorted(self.poisoned & set(items))}")
        self.committed.append(list(items))
        return True


async def test_a_batch_written_in_place_tells_its_callers_and_never_reaches_run_batch() -> None:
    db, here, window = FakeDatabase(), InPlace(), Window()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, window=window.wait, here=here.write)

    tasks = await _spawn(commit, ["a1", "a2"])
    await window.open_once()
    await asyncio.gather(*tasks)

    assert here.committed == [["a1", "a2"]]
    assert db.started == []
    assert commit.batches == 1
    await commit.aclose()


async def test_a_batch_the_database_is_too_busy_for_in_place_goes_to_run_batch() -> None:
    db, here, window = FakeDatabase(), InPlace(), Window()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, window=window.wait, here=here.write)
    here.busy = True

    tasks = await _spawn(commit, ["a1", "a2"])
    await window.open_once()
    await asyncio.gather(*tasks)
    here.busy = False
    later = await _spawn(commit, ["b1"])
    await window.open_once()
    await asyncio.gather(*later)

    assert db.committed == [["a1", "a2"]]
    assert here.committed == [["b1"]]
    await commit.aclose()


async def test_a_batch_that_fails_in_place_fails_exactly_its_own_writes() -> None:
    db, here, window = FakeDatabase(), InPlace(), Window()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, window=window.wait, here=here.write)
    here.poisoned = {"bad"}

    outcomes = await _through(commit, window, ["b1", "bad"])
    await _through(commit, window, ["c1"])

    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert here.committed == [["c1"]]
    assert db.started == []  # a failure in place is the batch's outcome, not a reason to write it again
    await commit.aclose()


async def test_writes_beyond_a_full_batch_written_in_place_go_in_the_next_one_at_once() -> None:
    db, here, window = FakeDatabase(), InPlace(), Window()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, window=window.wait, here=here.write, max_items=2)

    tasks = await _spawn(commit, ["a1", "a2", "a3", "a4", "a5"])
    await asyncio.gather(*tasks)

    assert here.committed == [["a1", "a2"], ["a3", "a4"], ["a5"]]
    await commit.aclose()


async def test_a_backlog_written_in_place_goes_a_batch_a_turn_not_a_call_deeper_each() -> None:
    # Each batch written in place used to start the next from inside its own end: 3,000 writes waiting behind a
    # batch in `run_batch` hit the recursion limit after ~500 batches, and the writer stopped for good.
    db, here = FakeDatabase(), InPlace()
    db.hold = asyncio.Event()
    commit: GroupCommit[str] = GroupCommit(db.run_batch, window_s=0, here=here.write, max_items=1)
    here.busy = True
    first = await _spawn(commit, ["first"])
    await db.batch_started.wait()  # in `run_batch`, held: what comes now waits behind it
    here.busy = False
    backlog = await _spawn(commit, [f"w{i}" for i in range(3000)])
    db.hold.set()
    await asyncio.gather(*first, *backlog)

    assert db.committed == [["first"]]
    assert len(here.committed) == 3000
    await commit.aclose()


async def test_work_held_between_batches_keeps_the_writes_that_come_meanwhile_until_it_ends(
    thread: ThreadPoolExecutor,
) -> None:
    here = InPlace()
    commit: GroupCommit[str] = GroupCommit(lambda items: None, thread=thread, window_s=0, here=here.write)
    started, release = threading.Event(), threading.Event()

    def work() -> None:
        started.set()
        release.wait()

    assert commit.hold(work)
    await asyncio.to_thread(started.wait)
    waiting = await _spawn(commit, ["a1", "a2"])
    assert not commit.hold(work), "one at a time"
    assert here.committed == [], "no batch while the work runs"
    release.set()
    await asyncio.gather(*waiting)

    assert here.committed == [["a1", "a2"]]
    assert commit.batches == 1
    await commit.aclose()
