"""`BackgroundTasks`: one task per name at a time, finished tasks forgotten, close cancels what runs."""

from __future__ import annotations

import asyncio

import pytest

from dyngen.services.machinery.background import BackgroundTasks
from tests.support.waiting import hang_guard, until


async def test_a_second_start_of_a_running_name_is_skipped_and_its_work_never_runs() -> None:
    tasks = BackgroundTasks()
    release = asyncio.Event()
    ran: list[str] = []

    async def work(label: str) -> None:
        ran.append(label)
        await release.wait()

    assert tasks.start("refresh:k", work("first")) is True
    assert tasks.start("refresh:k", work("second")) is False  # closed unstarted: no "never awaited" warning
    assert tasks.start("refresh:other", work("other")) is True
    await asyncio.sleep(0)
    assert sorted(ran) == ["first", "other"]
    assert len(tasks) == 2

    release.set()
    await _until_empty(tasks)
    assert tasks.start("refresh:k", work("again")) is True  # the name is free once its task ended
    await tasks.aclose()


async def _until_empty(tasks: BackgroundTasks) -> None:
    await until(lambda: len(tasks) == 0, what="every background task to end")


async def test_a_failing_task_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks()

    async def broken() -> None:
        raise RuntimeError("provider bug")

    tasks.start("refresh:broken", broken())
    await _until_empty(tasks)

    assert "background.failed task=refresh:broken error=RuntimeError" in caplog.text


async def test_close_waits_out_the_grace_then_cancels() -> None:
    tasks = BackgroundTasks()
    finished: list[str] = []

    async def quick() -> None:  # done within a few turns of the loop: no timer to race the grace's
        for _ in range(3):
            await asyncio.sleep(0)
        finished.append("quick")

    async def endless() -> None:
        await asyncio.sleep(3600)
        finished.append("endless")

    tasks.start("quick", quick())
    tasks.start("endless", endless())
    async with hang_guard("close to cancel the endless task after its grace"):
        await tasks.aclose(grace_s=1.0)

    assert finished == ["quick"]
    assert len(tasks) == 0
