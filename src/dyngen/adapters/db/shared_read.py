"""`SharedRead`: concurrent callers of one read share a database round trip, each served by a read that
started after it asked (so a change committed before a call is always seen by it).

A read on the request path of every cache miss (the stored budget limits) costs a connection checkout and
a hop to the database driver's thread and back; at a few dozen misses in flight, one read in flight at a
time serves them all: a caller that arrives while a read runs waits for the next one, which starts as
soon as the running one ends and serves every caller that arrived meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    """Calls `read` for its callers, at most one at a time, each call serving every caller that arrived
    before it started.

    A caller that is cancelled (its own deadline) leaves the read running for the others; a read that
    fails fails every caller it serves, and the next caller starts a new one.
    """

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._next: asyncio.Future[T] | None = None  # the read the next callers wait for, not started yet
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self) -> T:
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
            if self._runner is None:
                self._runner = asyncio.create_task(self._run(), name="dyngen-shared-read")
        return await asyncio.shield(waiting)

    async def _run(self) -> None:
        try:
            while (serving := self._next) is not None:
                self._next = None  # who asks from now on waits for the next read
                try:
                    value = await self._read()
                except Exception as exc:
                    if not serving.done():
                        serving.set_exception(exc)
                        serving.exception()  # retrieved: callers that gave up leave no "never retrieved" log
                except BaseException:
                    serving.cancel()  # the loop is closing: its callers are cancelled, not left waiting
                    raise
                else:
                    if not serving.done():
                        serving.set_result(value)
        finally:
            self._runner = None
            if self._next is not None:
                self._next.cancel()
                self._next = None
