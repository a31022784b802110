"""A signalled arq worker stops even when its run swallows the first cancel (a cancel that lands in a Redis
command at start-up, as CI saw: "shutdown on SIGTERM", then the worker kept polling until killed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dyngen.adapters.jobs import arq as arq_adapter


class StubbornRun:
    """An `async_run` that survives the first cancel, as arq's start-up did inside redis-py."""

    def __init__(self) -> None:
        self.cancels = 0
        self.started = asyncio.Event()

    async def async_run(self) -> None:
        self.started.set()
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancels += 1
                if self.cancels > 1:
                    raise


async def test_a_signal_ends_the_run_though_the_first_cancel_is_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arq_adapter, "STOP_RETRY_S", 0.001)
    worker: Any = StubbornRun()
    stopping = asyncio.Event()
    running = asyncio.ensure_future(arq_adapter._run_until_stopped(worker, stopping))
    await worker.started.wait()

    stopping.set()  # what arq's signal handler does through `on_stop`

    with pytest.raises(asyncio.CancelledError):
        await running
    assert worker.cancels == 2


async def test_a_run_that_ends_by_itself_is_awaited_without_a_signal() -> None:
    class Ends:
        async def async_run(self) -> None:
            raise ConnectionError("redis went away")

    with pytest.raises(ConnectionError):
        await arq_adapter._run_until_stopped(Ends(), asyncio.Event())  # type: ignore[arg-type]
