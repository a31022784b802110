"""`ObjectPack`: the local object store's small objects, as rows of one SQLite file in its folder.

Why not a file each: a new file costs the file system an inode, and on the ext4 disks dyngen's benchmarks
run on that is 0.35-0.78 ms of kernel CPU per file (`open(O_CREAT)`, measured; a rename, a write or a
stat costs 2-25 µs), the largest single cost of a miss, which writes an artifact and, on PostgreSQL without
S3, a durable cache entry. A row of an open SQLite file costs ~40 µs to write and ~6 µs to read, and a
folder of many small generations does not use up the disk's inodes.

What it promises is what a file renamed into place promised: a row is committed when `put` returns (WAL,
`synchronous=NORMAL`: it survives the process crashing, not a power loss before the kernel writes it back,
like the embedded database). Several processes may share the file (WAL: reads never wait; a write waits at
most `BUSY_TIMEOUT_S` for another's, each a single row).

The methods are synchronous and short: the store calls them on the event loop for a single object and from
a thread for a batch of deletions; a lock keeps one connection's statements apart.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence

FILE_NAME = "packed.sqlite3"
BUSY_TIMEOUT_S = 5.0
# Keys deleted per transaction: a sweep of thousands holds the lock (and the file's write lock) in short
# turns, so that a miss's write on the event loop waits for one turn at most.
DELETE_CHUNK = 200
_SCHEMA = "CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, data BLOB NOT NULL)"


class ObjectPack:
    """Rows `objects(key, data)` of the SQLite file `path`, made on the first write.

    The file is opened once and kept open; when it was removed or replaced behind the store's back (an
    operator cleaning the folder) the next call opens the one now at `path`, so that nothing is written
    into a file no one can read any more.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file the connection has open
        self._lock = threading.Lock()

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        """The connection to the file at `path` (None when there is none and `create` is false)."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            found = None
        if self._connection is not None:
            if found is not None and (found.st_dev, found.st_ino) == self._identity:
                return self._connection
            self._connection.close()
            self._connection = None
        if found is None and not create:
            return None
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            opened = os.stat(self.path)
        except BaseException:
            connection.close()
            raise
        self._connection, self._identity = connection, (opened.st_dev, opened.st_ino)
        return connection

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            connection = self._open(create=True)
            assert connection is not None
            connection.execute("INSERT OR REPLACE INTO objects (key, data) VALUES (?, ?)", (key, data))

    def get(self, key: str) -> bytes | None:
        with self._lock:
            connection = self._open(create=False)
            if connection is None:
                return None
            row = connection.execute("SELECT data FROM objects WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def discard(self, keys: Sequence[str]) -> set[str]:
        """Delete the rows of `keys`; returns the keys that had one."""
        removed: set[str] = set()
        for start in range(0, len(keys), DELETE_CHUNK):
            chunk = keys[start : start + DELETE_CHUNK]
            with self._lock:
                connection = self._open(create=False)
                if connection is None:
                    return removed
                with connection:  # one transaction per chunk
                    connection.execute("BEGIN IMMEDIATE")
                    for key in chunk:
                        if connection.execute("DELETE FROM objects WHERE key = ?", (key,)).rowcount:
                            removed.add(key)
        return removed

    def check(self) -> None:
        """Raise unless the file opens (made when missing) and can be written."""
        with self._lock:
            connection = self._open(create=True)
            assert connection is not None
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
