"""`SqlCacheTier`: the durable cache tier in the database, the embedded default's (a row per cache key in
`cache_entries`, beside the generation records in the same SQLite file).

The folder tier it replaces made one file per miss. Creating a file costs the kernel an inode: ~15-40 µs
on a quiet ext4, and over 1 ms of system CPU per file on some of this project's machines, on the event
loop's thread (issue 18: ~45 % of that thread's time on a miss through a 50 ms upstream). Here an entry is
a row of the group-commit writer's next batch (`SqlWriter`: one transaction with the records and budget
settlements beside it), and a read is one SELECT by primary key on the caller's thread (`SqlReader.rows_now`),
or through the reader's thread while the file is busy.

What the tier promises: `set` queues the entry for the writer's next batch and returns without waiting for
its commit (write-behind: a miss's answer waited ~3 ms for it at concurrency 32, issue 18), and `get` reads
it back meanwhile. The entry is committed with or after every write queued before it (its generation's
record among them: a generation's answer caches it only once the record is written), after a delete of its
key queued before it, and before the writer stops (a restart finds it). A process killed outright loses the
entries of the batch it was gathering: the records stand, and the entries can be made again. Entries expire
by the wall clock (they outlive the process that wrote them), and a read that fails is a miss, a write that
fails is dropped (the entry can be made again). Unlike the folder, expired entries do not stay: each batch
of entries deletes the ones expired by then (through an index on the expiry; at most once a second), so the
table holds what can still be served.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dyngen.adapters.db.driver_sql import DriverStatement
from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.tables import cache_entries
from dyngen.adapters.db.writer import SqlWriter
from dyngen.domain.errors import DyngenError, ErrorCode

DELETE_CHUNK = 500  # keys per DELETE statement
PURGE_EVERY_S = 1.0  # a batch of entries deletes the expired ones when the last one to did so this long ago
_SELECT = select(cache_entries.c.expires_at, cache_entries.c.value).where(cache_entries.c.key == bindparam("k"))


def _entry(conn: Connection, *, key: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(_SELECT, {"k": key})]


@dataclass(frozen=True, slots=True)
class _Put:
    """One entry for the writer's batch: the entries of a batch are one `executemany` upsert."""

    tier: SqlCacheTier
    key: str
    expires_at: float
    value: bytes

    def write_all(self, conn: Connection, group: list[_Put]) -> None:
        self.tier.upsert.executemany(conn, [{"k": p.key, "e": p.expires_at, "v": p.value} for p in group])
        now = self.tier.now()
        if not self.tier.purged_at <= now < self.tier.purged_at + PURGE_EVERY_S:  # an index range, mostly empty
            conn.execute(self.tier.purge, {"now": now})
            self.tier.purged_at = now

    def step(self, conn: Connection) -> None:
        """This entry alone, as a step of its batch (written in order with the batch's other steps)."""
        self.write_all(conn, [self])


class SqlCacheTier:
    """Entries in the `cache_entries` table (see the module docstring).

    Args:
        writer: The process's group-commit writer: an entry is written in its next batch.
        reader: The process's reader: an entry is read in place on SQLite, else through its connection.
        dialect: The database's (`sqlite` or `postgresql`): its upsert.
        within_s: How long `set` with an expired TTL (a delete) waits for its batch to commit
            (`DYNGEN_RECORD_TIMEOUT_S`; None: until it commits).
        wall_clock: Expiry times (epoch seconds).
    """

    name = "database"

    def __init__(
        self,
        *,
        writer: SqlWriter,
        reader: SqlReader,
        dialect: str,
        within_s: float | None = 1.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._writer = writer
        self._unwritten: dict[str, _Put] = {}  # entries queued for the writer, not committed yet
        self._deleting: list[set[str]] = []  # the keys of each delete queued, not committed yet
        self._within_s = within_s
        self._reader = reader
        self.now = wall_clock
        self.purged_at = float("-inf")  # when a batch last deleted the expired entries (`now`'s time)
        # Expired entries go with the next batch of entries: the table holds what can still be served.
        self.purge = delete(cache_entries).where(
            cache_entries.c.expires_at > 0, cache_entries.c.expires_at <= bindparam("now")
        )
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(cache_entries).values(key=bindparam("k"), expires_at=bindparam("e"), value=bindparam("v"))
        self.upsert = DriverStatement(  # written in place on SQLite: on the driver's connection (`driver_sql`)
            statement.on_conflict_do_update(
                index_elements=[cache_entries.c.key],
                set_={"expires_at": statement.excluded.expires_at, "value": statement.excluded.value},
            )
        )
        self._select_sql = str(_SELECT.compile(dialect=sqlite.dialect()))

    async def get(self, key: str) -> bytes | None:
        if (put := self._unwritten.get(key)) is not None:  # read your own writes before their commit
            return None if put.expires_at and self.now() >= put.expires_at else put.value
        try:
            rows = self._reader.rows_now(self._select_sql, (key,))
            if rows is None:
                rows = await self._reader.read(functools.partial(_entry, key=key))
        except Exception:  # a database that does not answer: a miss, the faster tiers keep serving
            return None
        if not rows:
            return None
        expires_at, value = rows[0]
        if expires_at and self.now() >= expires_at:
            return None
        return bytes(value)

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        # Best effort: the answer is not held by a database that does not take it (its record went to the
        # outbox already), nor failed (the entry can be made again).
        with contextlib.suppress(Exception):
            if ttl_s is not None and ttl_s <= 0:  # already expired: drop any older entry instead, in time
                async with asyncio.timeout(self._within_s):  # stops the wait only: the write stays in its batch
                    await self.delete([key])
            else:
                put = _Put(self, key, self.now() + ttl_s if ttl_s is not None else 0.0, value)
                # Behind a delete of the key still waiting for its batch, as a step: a batch writes its grouped
                # writes (the puts' one upsert) before its steps (the delete), which would drop this entry.
                write = put.step if self._deleting and any(key in keys for keys in self._deleting) else put
                self._writer.write_behind(write).add_done_callback(lambda _: self._written(put))
                self._unwritten[key] = put  # after it was queued: a closed writer takes nothing

    def _written(self, put: _Put) -> None:
        """`put`'s batch ended (committed, or failed: then the entry is dropped, as a failed write is)."""
        if self._unwritten.get(put.key) is put:
            del self._unwritten[put.key]

    async def delete(self, keys: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return 0
        for key in wanted:  # queued puts commit before this delete, which removes them then
            self._unwritten.pop(key, None)
        deleting = set(wanted)  # a put of these keys queued before this delete commits goes after it
        self._deleting.append(deleting)
        removed: list[int] = []

        def step(conn: Connection) -> None:
            # In chunks: a node's invalidation may name more keys than a statement may bind (SQLite: 250,000).
            chunks = (wanted[i : i + DELETE_CHUNK] for i in range(0, len(wanted), DELETE_CHUNK))
            removed[:] = [
                sum(conn.execute(delete(cache_entries).where(cache_entries.c.key.in_(c))).rowcount for c in chunks)
            ]

        try:
            await self._writer.write(step)
        except Exception as exc:  # a silent failure would serve stale content once the database is back
            raise DyngenError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"cannot invalidate the database cache tier: {exc}"
            ) from exc
        finally:
            self._deleting.remove(deleting)
        return removed[0]
