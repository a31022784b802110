"""`LocalObjectStore`: objects in a folder on the local disk (the embedded default): small ones as rows of
one SQLite file there (`pack.py`), larger ones as files."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from dyngen.adapters.storage.pack import BUSY, ObjectPack, unreadable
from dyngen.adapters.storage.pack import FILE_NAME as PACK_FILE

log = logging.getLogger("dyngen.objects")

SCHEME = "local://"
MAX_FOLDERS_KNOWN = 4096
# Objects up to this size are rows of the folder's pack (`pack.py`), read and written on the event loop: a
# row costs less than handing the work to a thread and back (two wake-ups and the GIL, per cache miss a
# cache entry, an artifact and a durable-tier read), and a file each would cost an inode; larger ones
# (video) are files, written and read in a thread.
INLINE_BYTES = 64 * 1024
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
# A key of plain segments (no `.`/`..`, no leading slash): it cannot leave the root, so it is joined
# without resolving the path, which costs a system call per component (the keys dyngen makes are all such).
# Paths are plain strings on the way to the system calls: a `Path` per join and parent cost more than the
# calls themselves on a miss (an artifact, a cache entry, a durable-tier read).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


def _tell(waiting: list[asyncio.Future[None]], failure: Exception | None) -> None:
    for done in waiting:
        if done.done():  # its caller was cancelled
            continue
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)


class LocalObjectStore:
    """Objects up to `INLINE_BYTES` as rows of `<root>/packed.sqlite3`, larger ones as files
    `<root>/<key>`, written atomically (write then rename). A read looks in the pack first, then for a
    file (where earlier versions kept every object).

    The small objects put in one turn of the event loop (several misses' artifacts and cache entries) are
    written in one transaction, at the end of that turn: a commit each cost ~26 µs of the loop's thread
    here, against ~11 µs a row in fours. Each `put` still returns once its row is committed.

    Not fsynced: an object survives the process that wrote it crashing (it is in the kernel's page cache
    once `put` returns), not a power loss before the kernel writes it back, like the embedded SQLite
    database (WAL, `synchronous=NORMAL`) beside it. Per-miss fsyncs would cost every generation a disk
    flush; a deployment that needs power-loss durability uses S3 (`DYNGEN_OBJECT_STORE_URL`).

    Args:
        root: The folder that holds the objects; created when needed.
    """

    name = "local"

    def __init__(self, *, root: Path) -> None:
        self._root = root.resolve()
        self._prefix = f"{self._root}{os.sep}"
        self._folders: set[str] = set()  # folders known to exist (made or seen by a write)
        self._token = f"{os.getpid()}-{os.urandom(4).hex()}"
        self._writes = itertools.count()
        self._pack = ObjectPack(self._prefix + PACK_FILE)
        # Small objects put in this turn of the loop (name, data, told once written), and the writes of
        # earlier turns finishing in a thread.
        self._pending: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._batching: asyncio.AbstractEventLoop | None = None  # the loop whose puts are batched
        self._claiming = threading.Lock()
        self._finishing: set[asyncio.Task[None]] = set()

    def uri(self, key: str) -> str:
        return f"{SCHEME}{key}"

    def key_of(self, uri: str) -> str:
        if not uri.startswith(SCHEME):
            raise ValueError(f"not a local object uri: {uri!r}")
        return uri.removeprefix(SCHEME)

    def _name(self, key: str) -> str:
        """The object's name under the root: the key itself when plain, else the key resolved (refused
        when it leaves the root or names the pack's own files)."""
        if _PLAIN_KEY.fullmatch(key):
            name = key
        else:
            path = (self._root / key).resolve()
            if not path.is_relative_to(self._root) or path == self._root:
                raise ValueError(f"object key escapes the store: {key!r}")
            name = path.relative_to(self._root).as_posix()
        if name.startswith(PACK_FILE):
            raise ValueError(f"object key names the store's own file: {key!r}")
        return name

    def _write(self, path: str, data: bytes) -> None:
        folder = os.path.dirname(path)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            if len(self._folders) < MAX_FOLDERS_KNOWN:
                self._folders.add(folder)
        # A name of this store and write (no other writer uses it; O_EXCL all the same): cheaper than
        # tempfile's random names and file object.
        tmp = f"{folder}/.tmp-{self._token}-{next(self._writes)}"
        try:
            fd = os.open(tmp, _CREATE, 0o644)
        except FileNotFoundError:  # the folder was removed since (a sweep, an operator): make it again
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, _CREATE, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _read(path: str) -> bytes | None:
        try:
            with open(path, "rb") as file:
                return file.read()
        except FileNotFoundError:
            return None

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        name = self._name(key)
        if len(data) > INLINE_BYTES:
            await asyncio.to_thread(self._write_large, name, data)
            return
        loop = asyncio.get_running_loop()
        if not self._batches_on(loop):  # a store another loop uses too (another thread's): alone
            if self._pack.put_now([(name, data)]) is BUSY:
                await asyncio.to_thread(self._pack.put, [(name, data)])
            return
        # Written with the other small objects put in this turn of the loop, in one transaction (`_write_pending`).
        if not self._pending:
            loop.call_soon(self._write_pending)
        done = loop.create_future()
        self._pending.append((name, data, done))
        await done

    def _batches_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether `loop` batches its puts: the first loop that puts does, until it is closed (then the next
        one); only that loop's thread touches the batch. What a closed loop left queued is forgotten: no
        caller waits for it."""
        if self._batching is loop:
            return True
        with self._claiming:
            if self._batching is None or self._batching.is_closed():
                self._batching, self._pending = loop, []
            return self._batching is loop

    def _write_pending(self) -> None:
        """Write the small objects put since the last call, on the loop (in a thread while the pack is busy),
        then tell their callers; every `CHECKPOINT_EVERY` rows, the log is copied into the pack first."""
        pending, self._pending = self._pending, []
        rows = [(name, data) for name, data, _ in pending]
        waiting = [done for *_, done in pending]
        try:
            busy = self._pack.put_now(rows) is BUSY
        except Exception as exc:
            _tell(waiting, exc)
            return
        if busy or self._pack.checkpoint_due:
            task = asyncio.get_running_loop().create_task(self._finish_in_thread(rows if busy else None, waiting))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
        else:
            _tell(waiting, None)

    async def _finish_in_thread(
        self, rows: list[tuple[str, bytes]] | None, waiting: list[asyncio.Future[None]]
    ) -> None:
        try:
            if rows is not None:
                await asyncio.to_thread(self._pack.put, rows)
            if self._pack.checkpoint_due:
                await self._checkpoint()
        except asyncio.CancelledError:  # the loop is closing
            for done in waiting:
                done.cancel()
            raise
        except Exception as exc:
            _tell(waiting, exc)
            return
        _tell(waiting, None)

    async def _checkpoint(self) -> None:
        """Copy the pack's log into it (in a thread). The rows are committed already: a failure is logged, not
        their callers' (it is tried again after the next `CHECKPOINT_EVERY` rows)."""
        try:
            await asyncio.to_thread(self._pack.checkpoint)
        except Exception as exc:
            log.warning("objects.checkpoint_failed path=%s error=%s", self._pack.path, exc)

    def _write_large(self, name: str, data: bytes) -> None:
        # An earlier, smaller version would be read first: it goes first, or the file is not written.
        self._pack.discard([name])
        self._write(self._prefix + name, data)

    async def get(self, key: str) -> bytes | None:
        name = self._name(key)
        try:
            data = self._pack.get_now(name)
            if data is BUSY:
                data = await asyncio.to_thread(self._pack.get, name)
        except sqlite3.DatabaseError as exc:
            self._past_unreadable(exc)
            data = None  # its files are still read (`ping` reports the pack)
        if data is not None:
            assert isinstance(data, bytes)
            return data
        path = self._prefix + name
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return None
        if size <= INLINE_BYTES:
            return self._read(path)
        return await asyncio.to_thread(self._read, path)

    async def delete(self, keys: Iterable[str]) -> int:
        names = [self._name(k) for k in keys]
        return await asyncio.to_thread(self._delete, names)

    def _past_unreadable(self, exc: sqlite3.DatabaseError) -> None:
        """Log a pack that is not a database (or a damaged one), to go on with the files; raise anything else."""
        if not unreadable(exc):
            raise exc
        log.warning("objects.pack_unreadable path=%s error=%s", self._pack.path, exc)

    def _delete(self, names: list[str]) -> int:
        try:
            removed = self._pack.discard(names)
        except sqlite3.DatabaseError as exc:
            self._past_unreadable(exc)
            removed = set()  # its files are still deleted
        for name in names:
            try:
                os.unlink(self._prefix + name)
                removed.add(name)
            except FileNotFoundError:
                pass
        return len(removed)

    async def ping(self) -> None:
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        if not os.access(self._root, os.W_OK):
            raise PermissionError(f"object folder {self._root} is not writable")
        self._pack.check()

    async def aclose(self) -> None:
        """Close the pack's connections (opened again by a later call), in a thread: a thread's call may hold
        one while it waits for another process's write."""
        await asyncio.to_thread(self._pack.close)
