"""`SqlWriter`: the process's one batching writer on a database (group commit, adapters/db/group_commit.py).

A write is either a `Batched` one (a generation record: the records of a batch are one multi-row insert;
budget settlements: one update per scope) or a step run on the batch's connection. A batch is one
transaction: the batched writes first, grouped by type, then the steps in the order they came. A lost
connection runs the batch again (`retrying`); a timeout or any other error fails the batch's writes, and
only those.

On PostgreSQL a connection can be lost after the server committed and before its reply came: the batch then
runs again though it is written. Settlements add to what was spent, job events and claims are not
idempotent, so each batch there first inserts a token of its own (`write_batches`) in its transaction, "on
conflict do nothing": a batch run again whose token is there already (the first run committed) writes
nothing. A first run whose COMMIT is still finishing on the server holds the token's index entry, so the
insert waits for it and then sees it, where a look before the insert would have missed it and the insert
then failed on the duplicate. (A SQLite batch is a local call on this process's own connection: a failed
commit there committed nothing.)

The batch itself is synchronous SQLAlchemy code. On PostgreSQL it runs through the async engine
(`run_sync`). On SQLite it runs in one thread of the writer's own, on a synchronous connection to the same
file: the whole transaction is one hand-over to a thread and back (`GroupCommit`'s `thread`), where
aiosqlite would hand over every statement, cursor, fetch and commit (each a wake-up of its thread that
waits for the GIL while the event loop is busy: tens of milliseconds per batch on a loaded machine).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, bindparam, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.group_commit import MAX_ITEMS, WINDOW_S, GroupCommit
from dyngen.adapters.db.repository import retrying, retrying_blocking, sqlite_thread_engine
from dyngen.adapters.db.tables import write_batches

# Batch tokens are kept this long (a batch is run again within seconds) and deleted every PRUNE_EVERY batches.
TOKENS_KEPT = timedelta(minutes=10)
PRUNE_EVERY = 256
_ADD_TOKEN = (
    postgresql.insert(write_batches)
    .values(token=bindparam("token"), written_at=func.now())
    .on_conflict_do_nothing(index_elements=["token"])
    .returning(write_batches.c.token)
)
_PRUNE_TOKENS = write_batches.delete().where(write_batches.c.written_at < func.now() - TOKENS_KEPT)

Step = Callable[[Connection], None]
T = TypeVar("T")


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
        self._sqlite: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = sqlite_thread_engine(engine)  # opened and used in the writer's thread only
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="dyngen-db-writer")
        run_batch = self._run if self._thread is None else self._in_thread
        self.commits: GroupCommit[Write] = GroupCommit(
            run_batch, thread=self._thread, max_items=max_items, window_s=window_s, window=window
        )

    async def write(self, write: Write) -> None:
        """Commit `write` with the next batch; raises that batch's error when it failed."""
        await self.commits.submit(write)

    def write_behind(self, write: Write) -> asyncio.Future[None]:
        """Queue `write` for the next batch without waiting for it: it is committed with or after every write
        queued before it, and `aclose` writes it before the writer stops. The future is done once it committed,
        or holds the batch's error (logged already; it may be left unawaited)."""
        return self.commits.enqueue(write)

    @property
    def in_thread(self) -> bool:
        """True on a SQLite file: the writer's batches (and `transaction`s) run in a thread of its own."""
        return self._sqlite is not None

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)`'s result, run in a transaction of its own in the writer's thread (SQLite
        only, `in_thread`), between two batches: the whole transaction is one hand-over, where aiosqlite
        hands over each statement (a budget reservation's eight took 3.9 ms at p50, one caller). Raises what
        `work` raises, its transaction rolled back."""
        if self._sqlite is None:
            raise RuntimeError("SqlWriter.transaction runs on SQLite only")
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._own_transaction, work)

    def _own_transaction(self, work: Callable[[Connection], T]) -> T:
        assert self._sqlite is not None
        with self._sqlite.begin() as conn:
            return work(conn)

    async def _run(self, writes: list[Write]) -> None:
        token = uuid.uuid4().hex
        await retrying(lambda: self._transaction(writes, token=token))

    def _in_thread(self, writes: list[Write]) -> None:
        retrying_blocking(lambda: self._write_in_thread(writes))

    def _write_in_thread(self, writes: list[Write]) -> None:
        assert self._sqlite is not None
        with self._sqlite.begin() as conn:
            _write_batch(conn, writes)

    async def _transaction(self, writes: list[Write], *, token: str) -> None:
        prune = self.commits.batches % PRUNE_EVERY == 0  # the batch's number (a run again prunes again: harmless)
        async with self._engine.begin() as conn:
            await conn.run_sync(_write_batch_once, writes, token, prune)

    async def aclose(self) -> None:
        """Write what waits, then close; a second call does nothing."""
        await self.commits.aclose()
        thread, self._thread = self._thread, None
        if thread is not None and self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._sqlite.dispose)  # its thread
            thread.shutdown(wait=True)


def _write_batch_once(conn: Connection, writes: list[Write], token: str, prune: bool) -> None:
    """`_write_batch` after the batch's token, first; nothing when the token is there already."""
    if conn.execute(_ADD_TOKEN, {"token": token}).first() is None:
        return  # an earlier run committed and its reply was lost: its writes (and their results) stand
    _write_batch(conn, writes)
    if prune:
        conn.execute(_PRUNE_TOKENS)


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
