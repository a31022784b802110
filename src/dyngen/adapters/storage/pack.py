"""`ObjectPack`: the local object store's small objects, as rows of one SQLite file in its folder.

Why not a file each: a new file costs the file system an inode, and on the ext4 disks dyngen's benchmarks
run on that is 0.35-0.78 ms of kernel CPU per file (`open(O_CREAT)`, measured; a rename, a write or a
stat costs 2-25 µs), the largest single cost of a miss, which writes an artifact and, on PostgreSQL without
S3, a durable cache entry. A row of an open SQLite file costs ~40 µs to write and ~6 µs to read, and a
folder of many small generations does not use up the disk's inodes.

What it promises is what a file renamed into place promised: a row is committed when `put` returns (WAL,
`synchronous=NORMAL`: it survives the process crashing, not a power loss before the kernel writes it back,
like the embedded database). Several processes may share the file (an API process and its workers): WAL
reads never wait, and writes take turns.

The event loop never waits for another process's turn: its calls (`*_now`) go through a connection that
gives up at once when the file is busy (they answer `BUSY`), and the store then makes the call again in a
thread (`put`, `get`, `discard`), through a second connection that waits up to `BUSY_TIMEOUT_S`. Three
processes writing as fast as they can held a waiting write up to 230 ms (measured). Nor does the loop open
the file (making it syncs it several times; opening it after a crash replays its log: 31-83 ms measured)
or copy the log into it: the loop's connection is opened in a thread (until then its calls answer `BUSY`),
never checkpoints, and every `CHECKPOINT_EVERY` of its writes the store has the thread's connection do it
(SQLite's own checkpoint after a commit held that commit's caller up to 7 ms).

Only the file itself is watched for removal: its `-wal` and `-shm` files, removed while processes use the
pack, lose what their logs held (as they would for the database beside it).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Final

FILE_NAME = "packed.sqlite3"
BUSY_TIMEOUT_S = 5.0
# Keys deleted per transaction: a sweep of thousands takes the file's write lock in short turns.
DELETE_CHUNK = 200
JOURNAL_LIMIT_BYTES = 8 << 20
CHECKPOINT_EVERY = 500  # writes of the loop's connection; ~1.5 MB of log at a miss's ~3 KB
_SCHEMA = "CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, data BLOB NOT NULL)"
_PUT = "INSERT OR REPLACE INTO objects (key, data) VALUES (?, ?)"
_GET = "SELECT data FROM objects WHERE key = ?"


class Busy:
    """What a `*_now` call answers when another connection holds the file: make the call in a thread."""


BUSY: Final = Busy()


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")


def unreadable(exc: sqlite3.DatabaseError) -> bool:
    """True when the error says the pack is not a database, or a damaged one (not a passing failure)."""
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class _Connection:
    """One connection to the file at `path`, opened on first use and again when the file there was removed
    or replaced behind the store's back (an operator cleaning the folder), so that nothing is written into
    a file no one can read any more. A lock keeps the threads that share it apart."""

    def __init__(self, path: str, *, timeout_s: float) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._timeout_s = timeout_s
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file it has open

    def current(self) -> sqlite3.Connection | Busy | None:
        """The open connection, when it still has the file at `path` open; None when there is no file; else
        `BUSY` (not opened yet, or the file was replaced): `open` it in a thread. Call it holding `lock`."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        if self._connection is not None and (found.st_dev, found.st_ino) == self._identity:
            return self._connection
        return BUSY

    def open(self, *, create: bool) -> sqlite3.Connection | None:
        """The connection (None when there is no file and `create` is false), opened again when the file at
        `path` is not the one it has open. Blocking: call it in a thread, holding `lock`."""
        current = self.current()
        if isinstance(current, sqlite3.Connection):
            return current
        self.close()  # none, or one on a file no longer there
        if current is None and not create:
            return None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False)
        try:
            self._prepare(connection)
            opened = os.stat(self.path)
        except BaseException:
            connection.close()
            raise
        self._connection, self._identity = connection, (opened.st_dev, opened.st_ino)
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """The file in WAL mode with its table, this connection's settings made. While another connection
        makes the file too, SQLite answers "locked" at once rather than wait (its rule against two readers
        each waiting for the other's write): tried again for up to `BUSY_TIMEOUT_S` (in a thread)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.001
        while True:
            try:
                connection.execute("PRAGMA synchronous=NORMAL")  # first: switching to WAL syncs by this setting
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(f"PRAGMA journal_size_limit={JOURNAL_LIMIT_BYTES}")  # the log once emptied
                if not self._timeout_s:  # the loop's (it never waits): `ObjectPack.checkpoint` does it
                    connection.execute("PRAGMA wal_autocheckpoint=0")
                connection.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)  # in a thread
            pause = min(pause * 2, 0.05)

    def write(self, connection: sqlite3.Connection, rows: Sequence[tuple[str, bytes]]) -> None:
        """`_write` on the open `connection`; closed when a failure leaves it inside its transaction (its
        rollback failed too: it would hold the file's write lock, and fail every later write), so that the
        next call opens another. Call it holding `lock`."""
        try:
            _write(connection, rows)
        except BaseException:
            if connection.in_transaction:
                self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _write(connection: sqlite3.Connection, rows: Sequence[tuple[str, bytes]]) -> None:
    """One row in SQLite's own transaction; several in one taken at once (`IMMEDIATE`: a busy file fails at
    the start, not halfway), one commit for them all."""
    if len(rows) == 1:
        connection.execute(_PUT, rows[0])
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(_PUT, rows)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the caller closes a connection left in it (`_Connection`)
                connection.execute("ROLLBACK")
        raise


class ObjectPack:
    """Rows `objects(key, data)` of the SQLite file `path`, made on the first write."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._now = _Connection(path, timeout_s=0.0)  # the event loop's: never waits for a lock
        self._waiting = _Connection(path, timeout_s=BUSY_TIMEOUT_S)  # threads'
        self._unchecked = 0  # writes of the loop's connection since the last checkpoint

    @property
    def checkpoint_due(self) -> bool:
        """True once the loop's connection wrote `CHECKPOINT_EVERY` rows since the last `checkpoint`."""
        return self._unchecked >= CHECKPOINT_EVERY

    def put_now(self, rows: Sequence[tuple[str, bytes]]) -> Busy | None:
        """Write `rows` (key, data) in one transaction, or answer `BUSY` having written none of them."""
        if not self._now.lock.acquire(blocking=False):
            return BUSY  # a thread is opening the loop's connection
        try:
            connection = self._now.current()
            if not isinstance(connection, sqlite3.Connection):
                return BUSY  # no file yet, or not opened: `put` makes and opens it in a thread
            try:
                self._now.write(connection, rows)
            except sqlite3.OperationalError as exc:
                if _busy(exc):
                    return BUSY
                raise
            self._unchecked += len(rows)
        finally:
            self._now.lock.release()
        return None

    def checkpoint(self) -> None:
        """Copy what the log holds into the file, as far as no reader needs it still (in a thread)."""
        self._unchecked = 0
        with self._waiting.lock:
            connection = self._waiting.open(create=False)
            if connection is not None:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def get_now(self, key: str) -> bytes | Busy | None:
        if not self._now.lock.acquire(blocking=False):
            return BUSY  # a thread is opening the loop's connection
        try:
            connection = self._now.current()
            if not isinstance(connection, sqlite3.Connection):
                return connection  # None: no pack, so no row; BUSY: `get` opens it in a thread
            try:
                row = connection.execute(_GET, (key,)).fetchone()
            except sqlite3.OperationalError as exc:
                if _busy(exc):
                    return BUSY
                raise
        finally:
            self._now.lock.release()
        return None if row is None else bytes(row[0])

    def put(self, rows: Sequence[tuple[str, bytes]]) -> None:
        """`put_now`, waiting for the file's other writers; opens the loop's connection (in a thread)."""
        with self._waiting.lock:
            connection = self._waiting.open(create=True)
            assert connection is not None
            self._waiting.write(connection, rows)
        self._open_loops()

    def get(self, key: str) -> bytes | None:
        """`get_now`, waiting while the file is busy; opens the loop's connection (in a thread)."""
        with self._waiting.lock:
            connection = self._waiting.open(create=False)
            row = None if connection is None else connection.execute(_GET, (key,)).fetchone()
        self._open_loops()
        return None if row is None else bytes(row[0])

    def _open_loops(self) -> None:
        """Open the loop's connection on the file there now (made by the caller), so that the next calls on
        the loop find it open; when it cannot be opened now, they answer `BUSY` and come here again."""
        with self._now.lock, contextlib.suppress(sqlite3.Error):
            self._now.open(create=False)

    def discard(self, keys: Sequence[str]) -> set[str]:
        """Delete the rows of `keys` (in a thread); returns the keys that had one."""
        removed: set[str] = set()
        for start in range(0, len(keys), DELETE_CHUNK):
            with self._waiting.lock:
                connection = self._waiting.open(create=False)
                if connection is None:
                    return removed
                with connection:  # one transaction per chunk
                    connection.execute("BEGIN IMMEDIATE")
                    for key in keys[start : start + DELETE_CHUNK]:
                        if connection.execute("DELETE FROM objects WHERE key = ?", (key,)).rowcount:
                            removed.add(key)
        return removed

    def check(self) -> None:
        """Raise unless the file opens (made when missing) and its write lock can be taken (in a thread)."""
        with self._waiting.lock:
            connection = self._waiting.open(create=True)
            assert connection is not None
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")

    def close(self) -> None:
        for connection in (self._now, self._waiting):
            with connection.lock:
                connection.close()
