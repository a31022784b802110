"""`MemorySingleFlight`: concurrent identical misses in one process share one producer task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dyngen.ports import FlightCodec

T = TypeVar("T")


class _Flight:
    """A producer under way, and a future of each caller's own that it sets when it ends."""

    __slots__ = ("task", "waiters")

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[Any]] = []
        self.task: asyncio.Task[None] | None = None


class MemorySingleFlight:
    """One producer per key per process; callers that arrive while it runs await its result.

    The producer runs as its own task, so a caller that is cancelled or gives up at its deadline (a
    client that hung up, a node timeout) does not cancel the work the other callers wait for. Each caller
    waits on a future of its own, which the producer sets as it ends: the caller runs in the next turn of
    the event loop (a shield around the producer's task took two, issue 18), and one that stops waiting
    cancels only its own future.
    """

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}

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
            flight = self._flights[key] = _Flight()
            flight.task = asyncio.ensure_future(self._fly(key, flight, produce))
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        flight.waiters.append(waiter)
        # The caller that started the flight waits for it whole (the work has its own deadline); a caller
        # that joined waits at most `timeout_s`.
        async with asyncio.timeout(timeout_s if joined else None):
            result = await waiter
        return result, joined

    async def _fly(self, key: str, flight: _Flight, produce: Callable[[], Awaitable[T]]) -> None:
        try:
            result = await produce()
        except asyncio.CancelledError:
            self._land(key, flight)
            for waiter in flight.waiters:
                waiter.cancel()
            raise
        except BaseException as exc:  # every caller gets it (a BaseExceptionGroup too)
            self._land(key, flight)
            for waiter in flight.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()  # retrieved: a caller that left at its deadline leaves no warning
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise  # the process is stopping: the event loop passes these on
            return  # the task itself ends quietly
        self._land(key, flight)
        for waiter in flight.waiters:
            if not waiter.done():
                waiter.set_result(result)

    def _land(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
