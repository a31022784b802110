"""`MemorySingleFlight`: concurrent identical misses in one process share one producer task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dyngen.ports import FlightCodec

T = TypeVar("T")


class MemorySingleFlight:
    """One producer per key per process; callers that arrive while it runs await its result.

    The producer runs as its own task, so a caller that is cancelled or gives up at its deadline (a
    client that hung up, a node timeout) does not cancel the work the other callers wait for.
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[Any]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._flights)

    def is_running(self, key: str) -> bool:
        return key in self._flights

    async def run(
        self,
        key: str,
        produce: Callable[[], Awaitable[T]],
        *,
        codec: FlightCodec[T] | None = None,
        timeout_s: float | None = None,
    ) -> tuple[T, bool]:
        """Every caller gets the producer's own object; `codec` is never used (no result leaves the process)."""
        flight = self._flights.get(key)
        joined = flight is not None
        if flight is None:
            flight = asyncio.ensure_future(produce())
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._finished(key, done))
        # The caller that started the flight waits for it whole (the work has its own deadline); a caller
        # that joined waits at most `timeout_s`.
        async with asyncio.timeout(timeout_s if joined else None):
            result: T = await asyncio.shield(flight)
        return result, joined

    def _finished(self, key: str, flight: asyncio.Future[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # mark retrieved: every caller may have left at its deadline
