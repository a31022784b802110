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
before, with its deadlines, in autocommit: one round trip, where a transaction around it took three (BEGIN,
the SELECT, the ROLLBACK that returns the connection; issue 18 found them ~1/5 of a job worker's statements,
a read of the stored budget limits per job). Each read is one SELECT, which sees what was committed before
it started either way.

The reader has one thread: reads queue behind each other, which is what the callers above want anyway (each
shares one read among the misses that asked meanwhile).

A read of a few rows on SQLite (the stored budget limits, read before every provider call a ledger counts;
a miss's drift lookup; a durable cache entry) runs on the caller's own thread instead (`rows_now`): one
statement on a plain `sqlite3` connection of its own, in autocommit (each read sees every commit before
it), a few microseconds. The hand-over to the
reader's thread and back cost more than the read and made the miss wait its turn on the event loop once
more; SQLAlchemy's connection checkout and statement execution around it cost ~10x the read itself
(issue 18). WAL readers never wait for the writer; when the file is busy all the same (a checkpoint, a
recovery), `rows_now` gives up at once and the caller reads through the thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
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
        self._thread: ThreadPoolExecutor | None = None
        self._file: str | None = None  # the SQLite file `rows_now` reads in place
        self._here: sqlite3.Connection | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = sqlite_thread_engine(engine)  # opened and used in the reader's thread only
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="dyngen-db-reader")
            self._file = engine.url.database

    def rows_now(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]] | None:
        """The rows of `sql` with `params` (one SELECT of a few rows), read on this thread when the
        database is a SQLite file that is not busy; None otherwise (the caller then reads through `read`).
        The event loop waits for it: for small reads only."""
        if self._file is None:
            return None
        try:
            if self._here is None:
                self._here = sqlite3.connect(self._file, timeout=0, isolation_level=None, check_same_thread=False)
            return self._here.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # busy or locked (or not there): the reader's thread reads it
            return None

    async def read(self, read: Callable[[Connection], T]) -> T:
        """`read(connection)`'s result, run on a connection that sees what was committed before the call."""
        if self._sqlite is not None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, read)
        async with self._engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")  # reset when it goes back to the pool
            return await conn.run_sync(read)

    def _in_thread(self, read: Callable[[Connection], T]) -> T:
        assert self._sqlite is not None
        with self._sqlite.connect() as conn:
            return read(conn)  # the connection's return to the pool ends its read transaction

    async def aclose(self) -> None:
        if self._here is not None:
            self._here.close()
            self._here = None
        if self._thread is not None and self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite.dispose)  # its thread
            self._thread.shutdown(wait=True)
