"""Stopping the services stops their background work, also a task that swallows a cancel (a cancel that
lands inside a Redis client call can be swallowed there: a worker stopped just after it started never
exited, its warm-up loop still waiting)."""

from __future__ import annotations

import asyncio

from dyngen.bootstrap import build
from dyngen.config import Settings
from tests.support.waiting import hang_guard, signalled


async def test_a_background_task_that_swallows_its_first_cancel_is_stopped(settings: Settings) -> None:
    services = await build(settings)
    waiting, swallowed = asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        try:
            waiting.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # as a client library that catches the cancel and waits on
        await asyncio.Event().wait()

    services.background.append(stubborn)
    await services.start()
    await signalled(waiting, what="the background task to start")

    async with hang_guard("the services to close"):
        await services.aclose()

    assert swallowed.is_set()
