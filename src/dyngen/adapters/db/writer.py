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
(`run_sync`). On SQLite it runs in place: on the event loop's own thread, at once, on a synchronous
connection to the same file that never waits for a lock (`GroupCommit`'s `here`). SQLite writes a batch in
a few hundred microseconds; it was handed to a thread of the writer's own, which gave up the GIL around
each SQLite call and waited for the busy event loop to give it back (up to the switch interval each time):
issue 18 measured a record's wait for its batch at 4.1-4.6 ms at c=32 with a 50 ms upstream, 1.8-2.5 ms in
place, and 1.9 against 1.6 ms of server CPU per miss. (Through aiosqlite every statement, cursor, fetch and
commit was such a hand-over: tens of milliseconds per batch on a loaded machine.)

The thread stays for what must wait: a batch, or a `transaction`, that finds the file busy (another
process's or connection's write holds the lock; nothing of it was written) is run there instead, waiting
for the lock (the busy timeout) while the loop goes on. Checkpoints of the write-ahead log run there too,
every `CHECKPOINT_EVERY` batches written in place: one beside the commits in place, then a short one while no
batch is written (`GroupCommit.hold`). A checkpoint syncs the file to disk, which a commit in place must never
do on the loop, and one that commits keep overtaking never lets the log start over (`_checkpoint`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, bindparam, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.group_commit import MAX_ITEMS, WINDOW_S, GroupCommit
from dyngen.adapters.db.repository import (
    retrying,
    retrying_blocking,
    sqlite_in_place_engine,
    sqlite_thread_engine,
)
from dyngen.adapters.db.tables import write_batches

# Batch tokens are kept this long (a batch is run again within seconds) and deleted every PRUNE_EVERY batches.
TOKENS_KEPT = timedelta(minutes=10)
PRUNE_EVERY = 256
CHECKPOINT_EVERY = 100  # batches committed in place between two checkpoints of the log (SQLite's own: ~1,000 pages)
log = logging.getLogger("dyngen.db")
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
        self._in_place: Engine | None = None
        self._conn: Connection | None = None  # the in-place engine's one connection, kept open
        self._thread: ThreadPoolExecutor | None = None
        self._since_checkpoint = 0
        self._checkpointing = False  # a checkpoint is copying the log beside the commits in place
        if engine.dialect.name == "sqlite":
            self._sqlite = sqlite_thread_engine(engine)  # opened and used in the writer's thread only
            self._in_place = sqlite_in_place_engine(engine)  # the event loop's
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="dyngen-db-writer")
        run_batch = self._run if self._thread is None else self._in_thread
        self.commits: GroupCommit[Write] = GroupCommit(
            run_batch,
            thread=self._thread,
            max_items=max_items,
            window_s=window_s,
            window=window,
            here=None if self._in_place is None else self._write_in_place,
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
    def local(self) -> bool:
        """True on a SQLite file: the writer's batches (and `transaction`s) run in place or in its thread."""
        return self._sqlite is not None

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)`'s result, run in a transaction of its own (SQLite only, `local`) between two
        batches: in place when the file is free, else in the writer's thread, one hand-over where aiosqlite
        hands over each statement (a budget reservation's eight took 3.9 ms at p50, one caller). Raises what
        `work` raises, its transaction rolled back."""
        if self._sqlite is None:
            raise RuntimeError("SqlWriter.transaction runs on SQLite only")
        if self._in_place is not None and not self.commits.writing:
            try:
                return self._committed_in_place(work)
            except OperationalError:
                pass  # busy (another connection writes), or worse: the thread's connection waits and retries
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._own_transaction, work)

    def _own_transaction(self, work: Callable[[Connection], T]) -> T:
        assert self._sqlite is not None
        with self._sqlite.begin() as conn:
            return work(conn)

    def _write_in_place(self, writes: list[Write]) -> bool:
        """A batch written on the event loop's thread, at once; False when the file was busy (nothing of it was
        written: the writer's thread then writes it, waiting for the lock)."""
        try:
            self._committed_in_place(functools.partial(_write_batch, writes=writes))
        except OperationalError:
            return False
        return True

    def _committed_in_place(self, work: Callable[[Connection], T]) -> T:
        assert self._in_place is not None
        if self._conn is None:  # kept open: a checkout from the pool and back cost a batch ~40 µs
            self._conn = self._in_place.connect()
        try:
            with self._conn.begin():
                done = work(self._conn)
        except BaseException:
            self._conn.close()  # back to the pool, rolled back, whatever state the failure left it in
            self._conn = None
            raise
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY and not self._checkpointing:
            self._since_checkpoint, self._checkpointing = 0, True
            copied = asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)
            copied.add_done_callback(self._copied)
        return done

    def _copied(self, copied: asyncio.Future[bool]) -> None:
        """The log's pages copied beside the commits in place: what they added meanwhile is copied now, in the
        thread, while no batch is written (none is started until it ends; with one being written in the
        thread, the next round does it)."""
        self._checkpointing = False
        if not copied.cancelled() and copied.exception() is None and copied.result():
            self.commits.hold(self._checkpoint)

    def _checkpoint(self) -> bool:
        """Copy the log's pages into the file (passive: it waits for no reader), in the thread; True when done.

        Two of them make the log start over. The first runs beside the commits in place and copies most of the
        log (~100 batches: ~10 ms here). The commits that overtake it keep the log from being covered whole,
        and a log starts over only once one was (issue 18: 37 MB after 1,000 small batches, 195 MB after
        5,000, without the second). The second runs while no batch is written (`GroupCommit.hold`) and copies
        only what came during the first: the writes wait that long (2.5-3 ms at c=32 here), not the first's ~10 ms.
        """
        assert self._sqlite is not None
        try:
            with self._sqlite.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # the next one tries again
            log.warning("db.checkpoint_failed error=%s", type(exc).__name__)
            return False
        return True

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
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._in_place is not None:
            self._in_place.dispose()
            self._in_place = None  # a transaction after closing runs in a thread, on a connection it closes
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
