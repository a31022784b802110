"""A PostgreSQL engine with a "database is down" switch shared by every repository on it.

Every repository reaches the database through `engine.connect()` or `engine.begin()`. With the guarded
engine each such connection first asks the engine's `Cooldown` (adapters/cooldown.py): after one timeout
(connecting or a statement: a database that accepts and never answers), every connection fails at once
with `RepositoryUnavailable` (503 with Retry-After at the API) for the cooldown, then exactly one is let
through as a probe. A request that touches the database three times thus waits out one timeout, not three.

A refused or lost connection does not trip the switch: it fails at once anyway, and `retrying` must
still be able to reconnect at once to a restarted server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dyngen.adapters.cooldown import Cooldown
from dyngen.ports import RepositoryUnavailable

log = logging.getLogger("dyngen.db")
CHAIN_DEPTH = 5  # how far down __cause__/__context__ a timeout is looked for (a rollback that timed out too)


def timed_out(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) is a connect or statement timeout: the database did not answer.

    SQLAlchemy's pool timeout (no free connection) is not one: it says the pool is busy, not the database.
    """
    for _ in range(CHAIN_DEPTH):
        if exc is None:
            return False
        if isinstance(exc, TimeoutError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class GuardedAsyncConnection(AsyncConnection):
    """An `AsyncConnection` that asks its engine's switch before connecting and reports how it ended."""

    __slots__ = ("_probe",)

    engine: GuardedAsyncEngine

    def __init__(self, async_engine: AsyncEngine, sync_connection: Any = None) -> None:
        super().__init__(async_engine, sync_connection)
        self._probe: bool | None = None  # None: not admitted (yet)

    async def start(self, is_ctxmanager: bool = False) -> AsyncConnection:
        switch = self.engine.switch
        probe = switch.failing
        if not switch.admit():
            down = RepositoryUnavailable("the database is unreachable (it did not answer in time; trying again soon)")
            down.retry_after_s = self.engine.cooldown_s
            raise down
        self._probe = probe
        try:
            return await super().start(is_ctxmanager)
        except BaseException as exc:
            self._settle(exc)
            raise

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        try:
            await super().__aexit__(type_, value, traceback)
        except BaseException as exc:
            self._settle(exc)
            raise
        self._settle(value)

    def _settle(self, exc: BaseException | None) -> None:
        if self._probe is None:
            return
        probe, self._probe = self._probe, None
        switch = self.engine.switch
        if exc is None or (isinstance(exc, DBAPIError) and not timed_out(exc) and not exc.connection_invalidated):
            if switch.succeeded():  # the database answered (an error it raised is an answer too)
                log.warning("db.back")
        elif timed_out(exc):
            if switch.failed(exc):
                log.warning("db.down error=%s cooldown_s=%s", type(exc).__name__, self.engine.cooldown_s)
        elif probe:
            switch.released()  # ended without news (cancelled, a lost connection): the next caller probes


class GuardedAsyncEngine(AsyncEngine):
    """An `AsyncEngine` whose connections share one "database is down" switch.

    Args:
        sync_engine: The engine `create_async_engine` made.
        cooldown_s: Seconds after a timeout during which connections fail at once.
        clock: Monotonic seconds (injectable for tests).
    """

    __slots__ = ("cooldown_s", "switch")

    _connection_cls = GuardedAsyncConnection

    def __init__(self, sync_engine: Engine, *, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(sync_engine)
        self.cooldown_s = cooldown_s
        self.switch = Cooldown(cooldown_s=cooldown_s, clock=clock)
