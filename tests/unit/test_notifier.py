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
