"""`MemorySingleFlight`: concurrent identical misses in one process share one producer task."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dyngen.ports import FlightCodec

T = TypeVar("T")


class LeaderLeftError(Exception):
    """Told to the callers that joined a flight whose leader, producing in the leader's own task, was cancelled."""


class _Flight:
    """A producer under way (in a task of its own, or in its leader's: `task` None), and a future of each
    caller's own that it sets when it ends."""

    __slots__ = ("task", "waiters")

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[Any]] = []
        self.task: asyncio.Task[None] | None = None


class MemorySingleFlight:
    """One producer per key per process; callers that arrive while it runs await its result.

    The producer runs as its own task, so that a caller that is cancelled or gives up at its deadline (a
    client that hung up, a node timeout) does not cancel the work the other callers wait for. Each caller
    waits on a future of its own, which the producer sets as it ends: the caller runs in the next turn of
    the event loop (a shield around the producer's task took two, issue 18), and one that stops waiting
    cancels only its own future.

    A caller that nothing cancels but the process's shutdown (an HTTP answer: uvicorn does not cancel a
    request whose client left) may have the producer run in the caller's task instead (`in_place`): the task per
    flight cost each miss two turns of the loop, one for the task to start and one for its result to reach
    the caller (issue 18: ~1 ms of a miss at c=32 with a 50 ms upstream). Should such a leader be cancelled
    anyway, the callers that joined it start the flight again (`LeaderLeftError`), one of them leading.
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
        in_place: bool = False,
    ) -> tuple[T, bool]:
        """Every caller gets the producer's own object; `codec` is never used (no result leaves the process)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s  # a joiner's, over its restarts
        while True:
            flight = self._flights.get(key)
            joined = flight is not None
            if flight is None:
                flight = self._flights[key] = _Flight()
                if in_place:
                    return await self._lead(key, flight, produce), False
                flight.task = asyncio.ensure_future(self._fly(key, flight, produce))
            waiter: asyncio.Future[T] = loop.create_future()
            flight.waiters.append(waiter)
            # The caller that started the flight waits for it whole (the work has its own deadline); a caller
            # that joined waits until its deadline.
            try:
                async with asyncio.timeout_at(deadline if joined else None):
                    result = await waiter
            except LeaderLeftError:
                continue  # this caller starts the flight again, or joins the one another of them started
            return result, joined

    async def _lead(self, key: str, flight: _Flight, produce: Callable[[], Awaitable[T]]) -> T:
        """Run the producer in the leader's own task and tell the callers that joined (a cancelled leader: that
        it left, so that they start the flight again)."""
        try:
            result = await produce()
        except BaseException as exc:
            self._land(key, flight)
            self._tell_failed(flight, LeaderLeftError() if isinstance(exc, asyncio.CancelledError) else exc)
            raise
        self._land(key, flight)
        self._tell_done(flight, result)
        return result

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
            self._tell_failed(flight, exc)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise  # the process is stopping: the event loop passes these on
            return  # the task itself ends quietly
        self._land(key, flight)
        self._tell_done(flight, result)

    @staticmethod
    def _tell_done(flight: _Flight, result: object) -> None:
        for waiter in flight.waiters:
            if not waiter.done():
                waiter.set_result(result)

    @staticmethod
    def _tell_failed(flight: _Flight, exc: BaseException) -> None:
        for waiter in flight.waiters:
            if not waiter.done():
                waiter.set_exception(exc)
                waiter.exception()  # retrieved: a caller that left at its deadline leaves no warning

    def _land(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
