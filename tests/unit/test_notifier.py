"""The in-process job notifier: a wait woken by a notify, bounded by its timeout, and ended by a cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from dyngen.adapters.jobs.notifier import MemoryJobNotifier
from dyngen.ports.work import JobEvent
from dyngen.services.jobs.lifecycle import stream_events


async def test_a_cancel_that_lands_with_a_notify_ends_the_wait() -> None:
    """The warm-up loop waits on the notifier; at shutdown it is cancelled. A cancel landing in the same
    loop step as a notify was swallowed by Python 3.11's `asyncio.wait_for` (it returned the finished
    inner result instead), so the loop went on and `dyngen worker` hung after SIGTERM until killed."""
    notifier = MemoryJobNotifier()
    waiting = asyncio.create_task(notifier.wait("j", timeout_s=3600))
    await asyncio.sleep(0)  # it waits on the job's flag
    await notifier.notify("j")
    waiting.cancel()  # in the same step as the notify's wake-up
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_notify_wakes_the_wait_and_a_timeout_ends_it_quietly() -> None:
    notifier = MemoryJobNotifier()
    waiting = asyncio.create_task(notifier.wait("j", timeout_s=3600))
    await asyncio.sleep(0)
    await notifier.notify("j")
    await waiting  # woken, no error
    await notifier.wait("other", timeout_s=0)  # nothing came: it returns, no TimeoutError


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_two_streams_of_a_job_each_see_every_notify() -> None:
    """Two streams of one job (a task each): while `b` looks at the events, `a` is woken by a notify and
    its wait clears the job's flag. `b`'s next wait returns at once all the same, since it may have
    missed that event (it waited out its timeout before)."""
    notifier = MemoryJobNotifier()
    looked = asyncio.Event()  # `b` is done looking at the events

    async def stream_a() -> None:
        for _ in range(2):
            await notifier.wait("j", timeout_s=3600)

    async def stream_b() -> None:
        await notifier.wait("j", timeout_s=3600)
        await looked.wait()
        await notifier.wait("j", timeout_s=3600)

    a, b = asyncio.create_task(stream_a()), asyncio.create_task(stream_b())
    try:
        await _turns()
        await notifier.notify("j")  # both wake; `a` waits again, `b` looks
        await _turns()
        await notifier.notify("j")  # `a` wakes and clears the flag
        await _turns()
        assert a.done()
        looked.set()
        await _turns()
        assert b.done(), "b's wait returned at once: a notify came while it looked"
    finally:
        b.cancel()
        await asyncio.gather(a, b, return_exceptions=True)


async def test_a_flag_waited_on_is_kept_however_many_other_jobs_are_notified() -> None:
    """The warm-up runner waits on one wake-up id for the whole process: other jobs' notifies must not
    drop its flag from under the wait (it then slept to its timeout through the notify meant for it)."""
    notifier = MemoryJobNotifier()
    notifier.MAX_JOBS = 3
    waiting = asyncio.create_task(notifier.wait("wake", timeout_s=3600))
    await _turns()
    for n in range(10):
        await notifier.notify(f"job{n}")
    await notifier.notify("wake")
    await _turns()
    assert waiting.done()
    assert len(notifier._flags) <= 3 + 1


async def test_a_notify_on_a_flag_made_again_is_new_to_every_task() -> None:
    """A job's flag dropped (nobody waited) and made again by its next notify: a task that waited on the
    job before sees that notify as new (the numbers go on process-wide, they do not start again)."""
    notifier = MemoryJobNotifier()
    notifier.MAX_JOBS = 3
    looked = asyncio.Event()

    async def stream() -> None:
        await notifier.wait("j", timeout_s=3600)
        await looked.wait()
        await notifier.wait("j", timeout_s=3600)

    task = asyncio.create_task(stream())
    try:
        await _turns()
        for _ in range(3):
            await notifier.notify("j")  # numbers 1..3; the task's first wait returns at the first
        await _turns()
        for n in range(5):
            await notifier.notify(f"other{n}")  # j's flag, waited on by nobody now, is dropped
        assert "j" not in notifier._flags
        await notifier.notify("j")
        other = asyncio.create_task(notifier.wait("j", timeout_s=3600))  # another stream's wait clears it
        await _turns()
        assert other.done()
        looked.set()
        await _turns()
        assert task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class _Events:
    """A job's events; with `hold_next`, the next read takes its snapshot, then is held until `release`
    (a query in flight)."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.hold_next = False
        self.release = asyncio.Event()

    async def events_after(self, job_id: str, last: int) -> list[JobEvent]:
        snapshot = [e for e in self.events if e.id > last]
        if self.hold_next:
            self.hold_next = False
            await self.release.wait()
        return snapshot


async def test_a_stream_whose_first_look_missed_an_event_is_woken_for_it() -> None:
    """Stream `a` waits; stream `b` connects and its first read is in flight when the job writes its
    event and notifies. `a`'s wait takes the wake-up; `b` said it watches the job before its first look,
    so its first wait returns at once and it reads the event (it waited out its 1 s timeout before)."""
    notifier, jobs = MemoryJobNotifier(), _Events()
    got: dict[str, int] = {}

    async def consume(name: str) -> None:
        async for event in stream_events(job_id="j", after=0, jobs=jobs, notifier=notifier):  # type: ignore[arg-type]
            if event is not None:
                got[name] = event.id
                return

    a = asyncio.create_task(consume("a"))
    await _turns()  # `a` looked, found nothing, waits
    jobs.hold_next = True
    b = asyncio.create_task(consume("b"))
    await _turns()  # `b`'s first read took its snapshot and is held
    jobs.events.append(JobEvent(1, "j", "completed", {}, datetime.now(UTC)))
    await notifier.notify("j")
    await _turns()
    assert got == {"a": 1}, "a woke and read it; its wait cleared the flag"
    jobs.release.set()  # `b`'s read returns: empty
    await _turns(20)
    try:
        assert got == {"a": 1, "b": 1}
    finally:
        b.cancel()
        await asyncio.gather(a, b, return_exceptions=True)
