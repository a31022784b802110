"""`SqlWriter`: the process's one batching writer on a database (group commit, adapters/db/group_commit.py).

A write is either a `Batched` one (a generation record: the records of a batch are one multi-row insert;
budget settlements: one update per scope) or a step run on the batch's connection. A batch is one
transaction: the batched writes first, grouped by type, then the steps in the order they came. A lost
connection runs the batch again (`retrying`); a timeout or any other error fails the batch's writes, and
only those.

The batch itself is synchronous SQLAlchemy code. On PostgreSQL it runs through the async engine
(`run_sync`). On SQLite it runs in one thread of the writer's own, on a synchronous connection to the same
file: the whole transaction is one hand-over to a thread and back, where aiosqlite would hand over every
statement, cursor, fetch and commit (each a wake-up of its thread that waits for the GIL while the event
loop is busy: tens of milliseconds per batch on a loaded machine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.group_commit import MAX_ITEMS, WINDOW_S, GroupCommit
from dyngen.adapters.db.repository import retrying, sqlite_thread_engine

Step = Callable[[Connection], None]


class Batched(Protocol):
    """A write that is written together with the other writes of its type in a batch (one multi-row insert
    instead of one per write): `write_all` is called once per batch, on one of them, with all of them."""

    def write_all(self, conn: Connection, group: list[Any]) -> None: ...


Write = Batched | Step


class SqlWriter:
    """Group commit on `engine`: `write` returns once its batch committed (see the module docstring).

    Args:
        engine: The async engine the repositories use.
        max_items: Writes per batch at most.
        window_s: How long the first write of an idle writer waits for others to join.
        window: Awaited instead of `window_s` of real time (tests pass an event's wait).
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        max_items: int = MAX_ITEMS,
        window_s: float = WINDOW_S,
        window: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._engine = engine
        self.commits: GroupCommit[Write] = GroupCommit(self._run, max_items=max_items, window_s=window_s, window=window)
        self._sqlite: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = sqlite_thread_engine(engine)  # opened and used in the writer's thread only
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="dyngen-db-writer")

    async def write(self, write: Write) -> None:
        """Commit `write` with the next batch; raises that batch's error when it failed."""
        await self.commits.submit(write)

    async def _run(self, writes: list[Write]) -> None:
        if self._sqlite is not None:
            await retrying(lambda: asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, writes))
            return
        await retrying(lambda: self._transaction(writes))

    def _in_thread(self, writes: list[Write]) -> None:
        assert self._sqlite is not None
        with self._sqlite.begin() as conn:
            _write_batch(conn, writes)

    async def _transaction(self, writes: list[Write]) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(_write_batch, writes)

    async def aclose(self) -> None:
        await self.commits.aclose()
        if self._thread is not None and self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite.dispose)  # its thread
            self._thread.shutdown(wait=True)


def _write_batch(conn: Connection, writes: list[Write]) -> None:
    grouped: dict[type, list[Batched]] = {}
    steps: list[Step] = []
    for write in writes:
        if hasattr(write, "write_all"):
            grouped.setdefault(type(write), []).append(write)
        else:
            steps.append(write)
    for group in grouped.values():
        group[0].write_all(conn, group)
    for step in steps:
        step(conn)
