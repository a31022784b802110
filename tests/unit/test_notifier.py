"""The in-process job notifier: a wait woken by a notify, bounded by its timeout, and ended by a cancel."""

from __future__ import annotations

import asyncio

import pytest

from dyngen.adapters.jobs.notifier import MemoryJobNotifier


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
