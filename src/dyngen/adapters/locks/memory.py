"""`MemorySingleFlight`: concurrent identical misses in one process share one producer task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class MemorySingleFlight:
    """One producer per key per process; callers that arrive while it runs await its result.

    The producer runs as its own task, so a caller that is cancelled (a client that hung up) does not
    cancel the work the other callers wait for.
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[Any]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._flights)

    async def run(self, key: str, produce: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight), True
        task: asyncio.Task[T] = asyncio.ensure_future(produce())
        self._flights[key] = task
        task.add_done_callback(lambda _: self._flights.pop(key, None))
        return await asyncio.shield(task), False
