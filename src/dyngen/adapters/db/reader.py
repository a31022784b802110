"""`SqlReader`: the reads on a miss's path (the drift lookup, the stored budget limits), each one hand-over
to a thread and back.

Through the async engine a SQLite read goes to aiosqlite's thread and back for every step (checkout, cursor,
execute, fetch, close, the rollback that returns the connection): each a wake-up of that thread that waits
for the GIL while the event loop is busy, and a good share of a miss's CPU (issue 18 measured the two reads
above at ~0.6 ms of server CPU per miss, of ~2.5). Here a read is a synchronous function of a connection,
run whole in one thread of the reader's own on a synchronous connection to the same file, as the
group-commit writer runs its batches (adapters/db/writer.py). Each read runs on a connection without an open
transaction, so it sees everything committed before it started, in this process or another (WAL: a read
never waits for the writer). On PostgreSQL a read runs on a connection of the async engine (`run_sync`), as
before, with its deadlines.

The reader has one thread: reads queue behind each other, which is what the callers above want anyway (each
shares one read among the misses that asked meanwhile).

A read of a few rows on SQLite (the stored budget limits, read before every provider call a ledger counts)
can run on the caller's own thread instead (`read_now`): on its own connection, tens of microseconds, where
the hand-over to the reader's thread and back cost more than the read and made the miss wait its turn on
the event loop once more (issue 18). WAL readers never wait for the writer; when the file is busy all the
same (a checkpoint, a recovery), `read_now` gives up at once and the read goes to the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import sqlite_thread_engine

T = TypeVar("T")


class SqlReader:
    """Runs synchronous reads on `engine`'s database (see the module docstring).

    Args:
        engine: The async engine the repositories use (its URL names the SQLite file read here).
    """

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite: Engine | None = None
        self._here: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = sqlite_thread_engine(engine)  # opened and used in the reader's thread only
            self._here = sqlite_thread_engine(engine, busy_timeout_s=0)  # the event loop's thread only
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="dyngen-db-reader")

    @property
    def reads_now(self) -> bool:
        """True when `read_now` runs reads on the caller's thread (SQLite)."""
        return self._here is not None

    async def read_now(self, read: Callable[[Connection], T]) -> T:
        """`read(connection)`'s result, run on this thread without a hand-over when the database is SQLite
        and not busy (else as `read`): for reads of a few rows only, since the event loop waits for it."""
        if self._here is not None:
            try:
                with self._here.connect() as conn:
                    return read(conn)
            except OperationalError:  # busy or locked: the reader's thread waits for it instead
                pass
        return await self.read(read)

    async def read(self, read: Callable[[Connection], T]) -> T:
        """`read(connection)`'s result, run on a connection that sees what was committed before the call."""
        if self._sqlite is not None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, read)
        async with self._engine.connect() as conn:
            return await conn.run_sync(read)

    def _in_thread(self, read: Callable[[Connection], T]) -> T:
        assert self._sqlite is not None
        with self._sqlite.connect() as conn:
            return read(conn)  # the connection's return to the pool ends its read transaction

    async def aclose(self) -> None:
        if self._here is not None:
            self._here.dispose()
        if self._thread is not None and self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite.dispose)  # its thread
            self._thread.shutdown(wait=True)
