"""`CallSlot`: a warm-up item's claim on one of its run's provider slots (`services/warmup/runner.py`).

A warm-up's `concurrency` bounds its provider runs, not its items. An item is prepared and looked up in the
cache without a slot; it takes one just before it would generate (`serving.serve`, before its single flight
starts: a player who joins that flight never waits for a warm-up's slot, and a cancelled warm-up starts no
call), and gives it back as its provider run ends (`runs.run_generation`), so that its artifacts, record and
cache entry are written while the warm-up's next call runs. The item's task gives it back when it ends,
whatever happened (a flight it joined, a durable-tier hit). The claim travels in a context variable
(`CALL_SLOT`), which the flight's task copies from the item that started it.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar


class CallSlot:
    """One item's claim on `slots`: taken at most once, given back at most once."""

    __slots__ = ("_held", "_slots")

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._held = False

    async def take(self) -> None:
        if not self._held:
            await self._slots.acquire()
            self._held = True

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


CALL_SLOT: ContextVar[CallSlot | None] = ContextVar("dyngen_call_slot", default=None)
