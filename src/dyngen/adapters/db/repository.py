"""`SqlAlchemyGenerationRepository`: generations and artifacts in SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import JSON, Column, Dialect, Engine, MetaData, Table, and_, bindparam, event, select, text, update
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

from dyngen.adapters.db.driver_sql import DriverStatement
from dyngen.adapters.db.guard import GuardedAsyncEngine
from dyngen.adapters.db.tables import generation_artifacts, generations
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import HISTORY_PER_KEY, ContentHash, GenerationFilter, RepositoryUnavailable

if TYPE_CHECKING:
    from dyngen.adapters.db.reader import SqlReader
    from dyngen.adapters.db.writer import Batched, SqlWriter

T = TypeVar("T")
log = logging.getLogger("dyngen.db")


def create_engine(
    url: str,
    *,
    connect_timeout_s: float = 5.0,
    command_timeout_s: float = 10.0,
    pool_timeout_s: float = 5.0,
    cooldown_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncEngine:
    """An async engine for `url`; SQLite gets WAL and a busy timeout so readers never block writers.

    PostgreSQL gets a deadline on every step, so that a server that accepts connections and never
    answers costs a request a bounded time, not the kernel's TCP timeout: opening a connection
    (`connect_timeout_s`), each statement (`command_timeout_s`, asyncpg's client-side timeout, which also
    covers BEGIN, COMMIT and the rollback when a connection goes back to the pool) and waiting for a free
    connection (`pool_timeout_s`). After a timeout, its connections fail at once for `cooldown_s`, then
    one probes (`GuardedAsyncEngine`): a hung database costs a request one deadline, not one per step.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # No pre-ping: it costs a round trip per checkout; a connection that died is caught by `retrying`.
    engine = create_async_engine(
        url,
        pool_timeout=pool_timeout_s,
        connect_args={"timeout": connect_timeout_s, "command_timeout": command_timeout_s},
    )
    return GuardedAsyncEngine(engine.sync_engine, cooldown_s=cooldown_s, clock=clock)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Every SQLite connection: WAL (readers never block the writer), NORMAL sync, foreign keys."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SQLITE_BUSY_TIMEOUT_S = 30


def sqlite_thread_engine(engine: AsyncEngine) -> Engine:
    """A synchronous engine of one connection on `engine`'s SQLite file, for a thread of its own to open
    and use (the group-commit writer's, the reader's): no aiosqlite hop per step."""
    sync = create_sync_engine(
        engine.url.set(drivername="sqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        pool_size=1,
        max_overflow=0,
    )
    event.listen(sync, "connect", sqlite_pragmas)
    return sync


def sqlite_in_place_engine(engine: AsyncEngine) -> Engine:
    """A synchronous engine of one connection on `engine`'s SQLite file for the event loop's own thread (the
    group-commit writer's batches in place): it never waits for a lock (a busy file is an `OperationalError`
    at once) and never checkpoints the log on a commit (a checkpoint syncs the file: milliseconds; the
    writer runs them in its thread)."""
    sync = create_sync_engine(
        engine.url.set(drivername="sqlite"),
        connect_args={"timeout": 0, "check_same_thread": False},
        pool_size=1,
        max_overflow=0,
    )
    event.listen(sync, "connect", sqlite_pragmas)
    event.listen(sync, "connect", _no_auto_checkpoint)
    return sync


def _no_auto_checkpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


RETRIES = 3
PING_TIMEOUT_S = 2.0
LOOKUP_KEYS = 256  # drift lookups answered by one read at most
LOOKUP_CLOSE_S = 1.0  # how long closing waits for the lookups being read


def unreachable(exc: BaseException) -> RepositoryUnavailable:
    """DEPENDENCY_UNAVAILABLE (a 503 with `Retry-After` at the API) for a database that cannot answer."""
    return RepositoryUnavailable(f"the database is unreachable ({type(exc).__name__})")


async def retrying(operation: Callable[[], Awaitable[T]]) -> T:
    """Run a database operation, again after a lost connection (a restarted or failed-over server).

    A connection that died mid-use is tried again at once; a server that did not answer in time (a
    timeout: connecting, a statement, or waiting for the pool) is not, since another try would only
    wait as long again: the caller gets DEPENDENCY_UNAVAILABLE within one deadline.
    """
    for attempt in range(RETRIES):
        try:
            return await operation()
        except (TimeoutError, DBAPIError, OSError, SQLAlchemyTimeoutError) as exc:
            await asyncio.sleep(_retry_after(exc, attempt))
    raise AssertionError("unreachable")


def retrying_blocking(operation: Callable[[], T]) -> T:
    """`retrying` for a blocking operation, in a thread of its own (the SQLite writer's)."""
    for attempt in range(RETRIES):
        try:
            return operation()
        except (TimeoutError, DBAPIError, OSError, SQLAlchemyTimeoutError) as exc:
            time.sleep(_retry_after(exc, attempt))
    raise AssertionError("unreachable")


def _retry_after(exc: BaseException, attempt: int) -> float:
    """How long to wait before the `attempt`+1-th try after `exc`; raises what the caller gets instead."""
    if isinstance(exc, TimeoutError | SQLAlchemyTimeoutError) or isinstance(exc.__cause__, TimeoutError):
        log.warning("db.timeout error=%s", type(exc).__name__)
        raise unreachable(exc) from exc
    lost = isinstance(exc, OSError | OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if not lost:
        raise exc
    log.warning("db.connection_lost attempt=%d error=%s", attempt + 1, type(exc).__name__)
    if attempt == RETRIES - 1:
        raise unreachable(exc) from exc
    return 0.1 * float(3**attempt)


def to_utc(value: datetime | None) -> datetime | None:
    # SQLite keeps the wall time and drops the offset: store every time in UTC.
    return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


def db_time(value: datetime | None) -> datetime | None:
    # SQLite drops the time zone; every stored time is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _RecordWrite:
    """One generation record for the group-commit writer (`SqlWriter`): the records of a batch are one
    multi-row insert that skips ids already stored (a record written again after a lost acknowledgement,
    or replayed from the outbox), then one insert of the artifacts of the records that went in."""

    record: GenerationRecord
    postgres: bool

    def write_all(self, conn: Connection, group: list[_RecordWrite]) -> None:
        add_records(conn, [write.record for write in group], postgres=self.postgres)


def insert_records(conn: Connection, group: Sequence[GenerationRecord], *, postgres: bool) -> list[str]:
    """Insert records and their artifacts in one statement each, skipping ids already stored; returns the
    ids that went in."""
    records = {record.id: record for record in group}  # the same record twice is written once
    # The record's JSON columns are written as pydantic makes their text (`record_text_row`).
    rows = [record_text_row(r) for r in records.values()]
    added = list(conn.execute(_ADDED[postgres], rows).scalars().all())
    artifacts = [artifact_row(a) for gid in added for a in records[gid].artifacts]
    if artifacts:
        conn.execute(_ADD_ARTIFACTS, artifacts)
    return added


class SqlAlchemyGenerationRepository:
    """Stores `GenerationRecord`s with their `ArtifactRecord`s.

    Args:
        engine: The async engine (SQLite through aiosqlite, PostgreSQL through asyncpg).
        writer: The process's group-commit writer on `engine` (adapters/db/writer.py): records without an
            idempotency key are added through it, several in one transaction. None: one transaction each.
        reader: The process's reader on `engine` (adapters/db/reader.py): a miss's drift lookup runs
            through it, one hand-over to its thread. None: on a connection of `engine`.
    """

    def __init__(
        self, *, engine: AsyncEngine, writer: SqlWriter | None = None, reader: SqlReader | None = None
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._reader = reader
        # Drift lookups of one key each, waiting to share the next read (one query for all of them).
        self._lookups: dict[str, list[asyncio.Future[list[ContentHash]]]] = {}
        self._lookup_task: asyncio.Task[None] | None = None

    async def add(self, record: GenerationRecord) -> None:
        if self._writer is not None and record.idempotency_key is None:
            # Returns once its batch committed; a record already stored is left as it is.
            await self._writer.write(self._batched(record))
            return
        try:
            await retrying(lambda: self._add(record))
        except IntegrityError:
            # A retry after a lost acknowledgement: the first attempt did commit.
            if await self.get(record.id) is None:
                raise

    def add_soon(self, record: GenerationRecord) -> asyncio.Future[None] | None:
        if self._writer is None or record.idempotency_key is not None:
            return None
        return self._writer.write_behind(self._batched(record))

    def _batched(self, record: GenerationRecord) -> Batched:
        """The write that adds `record` in a batch of the group-commit writer."""
        return _RecordWrite(record, self._engine.dialect.name == "postgresql")

    async def _add(self, record: GenerationRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(generations.insert().values(**record_row(record)))
            await insert_artifacts(conn, record)

    async def get(self, generation_id: str) -> GenerationRecord | None:
        found = await self.find(GenerationFilter(limit=1), ids=[generation_id])
        return found[0] if found else None

    async def find(self, query: GenerationFilter, *, ids: list[str] | None = None) -> list[GenerationRecord]:
        return await retrying(lambda: self._find(query, ids))

    async def _find(self, query: GenerationFilter, ids: list[str] | None) -> list[GenerationRecord]:
        stmt = select(generations).order_by(generations.c.created_at.desc(), generations.c.id).limit(query.limit)
        if ids is not None:
            stmt = stmt.where(generations.c.id.in_(ids))
        if query.cache_key is not None:
            stmt = stmt.where(generations.c.cache_key == query.cache_key)
        if query.node_id is not None:
            stmt = stmt.where(generations.c.node_id == query.node_id)
        if query.status is not None:
            stmt = stmt.where(generations.c.status == query.status)
        if query.version is not None:
            stmt = stmt.where(generations.c.version == query.version)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
            if not rows:
                return []
            found = [row["id"] for row in rows]
            artifact_rows = (
                (
                    await conn.execute(
                        select(generation_artifacts)
                        .where(generation_artifacts.c.generation_id.in_(found))
                        .order_by(generation_artifacts.c.created_at, generation_artifacts.c.id)
                    )
                )
                .mappings()
                .all()
            )
        artifacts: dict[str, list[ArtifactRecord]] = defaultdict(list)
        for a in artifact_rows:
            artifacts[a["generation_id"]].append(_artifact(a))
        return [record_from_row(row, artifacts[row["id"]]) for row in rows]

    async def cache_keys(
        self,
        *,
        node_id: str | None = None,
        version: int | None = None,
        cache_key: str | None = None,
        prefix: str | None = None,
    ) -> list[str]:
        return await retrying(lambda: self._cache_keys(node_id, version, cache_key, prefix))

    async def _cache_keys(
        self, node_id: str | None, version: int | None, cache_key: str | None, prefix: str | None
    ) -> list[str]:
        stmt = select(generations.c.cache_key).distinct().where(generations.c.status == "complete")
        if node_id is not None:
            stmt = stmt.where(generations.c.node_id == node_id)
        if version is not None:
            stmt = stmt.where(generations.c.version == version)
        if cache_key is not None:
            stmt = stmt.where(generations.c.cache_key == cache_key)
        if prefix is not None:
            stmt = stmt.where(generations.c.cache_key.startswith(prefix, autoescape=True))
        async with self._engine.connect() as conn:
            return sorted(r[0] for r in (await conn.execute(stmt)).all())

    async def content_hashes(
        self, cache_keys: Sequence[str], *, per_key: int = HISTORY_PER_KEY
    ) -> dict[str, list[ContentHash]]:
        keys = list(dict.fromkeys(cache_keys))
        if not keys:
            return {}
        if len(keys) == 1 and per_key <= HISTORY_PER_KEY:
            [key] = keys
            found = (await asyncio.shield(self.content_hashes_soon(key)))[:per_key]
            return {key: found} if found else {}
        # SQLite: one indexed SELECT in place, on a connection of its own, at once (nothing to share).
        rows = None if self._reader is None else self._reader.rows_now(_hashes_sql(len(keys)), tuple(keys))
        if rows is not None:
            return _hashes(rows, per_key)
        return await retrying(lambda: self._content_hashes(keys, per_key))

    def content_hashes_soon(self, cache_key: str) -> asyncio.Future[list[ContentHash]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[ContentHash]] = loop.create_future()
        # SQLite: read in place, at once, with no task and no hand-over (a task per miss's lookup cost the miss
        # ~6 % of its instructions, issue 18).
        try:
            rows = None if self._reader is None else self._reader.rows_now(_hashes_sql(1), (cache_key,))
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a caller that stopped waiting leaves no warning
            return future
        if rows is not None:
            future.set_result(_hashes(rows, HISTORY_PER_KEY).get(cache_key, []))
        else:
            # It joins the lookups of the other misses of the moment: one read for all of them.
            self._lookups.setdefault(cache_key, []).append(future)
            if self._lookup_task is None or self._lookup_task.done():
                self._lookup_task = loop.create_task(self._look_up(), name="dyngen-drift-lookups")
        return future

    async def aclose(self) -> None:
        """Let the drift lookups being read finish (at most `LOOKUP_CLOSE_S`, then they are cancelled): their
        read needs the reader and the engine, which close after this (a read left running opened a connection
        on the disposed engine that no one closed)."""
        task = self._lookup_task
        if task is None or task.done():
            return
        await asyncio.wait({task}, timeout=LOOKUP_CLOSE_S)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def _look_up(self) -> None:
        await asyncio.sleep(0)  # the lookups of this turn of the loop join
        while self._lookups:
            keys = list(self._lookups)[:LOOKUP_KEYS]
            waiting = {key: self._lookups.pop(key) for key in keys}
            try:
                found = await retrying(lambda keys=keys: self._content_hashes(keys, HISTORY_PER_KEY))  # type: ignore[misc]
            except Exception as exc:
                for futures in waiting.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved: a caller that stopped waiting leaves no warning
                continue
            for key, futures in waiting.items():
                for future in futures:
                    if not future.done():
                        future.set_result(found.get(key, []))

    async def _content_hashes(self, cache_keys: list[str], per_key: int) -> dict[str, list[ContentHash]]:
        if not cache_keys:
            return {}

        def read(conn: Connection) -> dict[str, list[ContentHash]]:
            stmt = _HASHES_SQLITE if conn.dialect.name == "sqlite" else _HASHES
            return _hashes(conn.execute(stmt, {"keys": cache_keys}), per_key)

        if self._reader is not None:
            return await self._reader.read(read)
        async with self._engine.connect() as conn:
            return await conn.run_sync(read)

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        return await retrying(lambda: self._get_artifact(artifact_id))

    async def _get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(generation_artifacts).where(generation_artifacts.c.id == artifact_id)))
                .mappings()
                .first()
            )
        return _artifact(row) if row is not None else None

    async def ping(self) -> None:
        async with asyncio.timeout(PING_TIMEOUT_S), self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


DATETIMES = ("created_at", "completed_at", "queued_at", "started_at", "lease_expires_at")
# The completed generations of some cache keys, newest first (`content_hashes`); built once.
_HASH_COLUMNS = ("id", "cache_key", "seed", "config_fingerprint", "provider_fingerprint", "content_hash")
_HASHES = (
    select(*(generations.c[name] for name in _HASH_COLUMNS))
    .where(generations.c.cache_key.in_(bindparam("keys", expanding=True)), generations.c.status == "complete")
    .order_by(generations.c.created_at.desc(), generations.c.id)
)
# The same on SQLite, told to take the index on `cache_key`: with no statistics it takes the one on `status`,
# which holds every completed generation (a read of the whole table on every miss, growing with it).
_HASHES_SQLITE_SQL = (
    "SELECT id, cache_key, seed, config_fingerprint, provider_fingerprint, content_hash"
    " FROM generations INDEXED BY ix_generations_cache_key"
    " WHERE cache_key IN :keys AND status = 'complete' ORDER BY created_at DESC, id"
)
_HASHES_SQLITE = (
    text(_HASHES_SQLITE_SQL)
    .bindparams(bindparam("keys", expanding=True))
    .columns(*(generations.c[name] for name in _HASH_COLUMNS))
)


@functools.cache
def _hashes_sql(keys: int) -> str:
    """`_HASHES_SQLITE` as plain SQL for `SqlReader.rows_now`, with a placeholder per key."""
    marks = ", ".join("?" * keys)
    return _HASHES_SQLITE_SQL.replace(":keys", f"({marks})")


def _hashes(rows: Iterable[Sequence[Any]], per_key: int) -> dict[str, list[ContentHash]]:
    """The newest `per_key` content hashes of each key, from rows of `_HASH_COLUMNS`, newest first."""
    found: dict[str, list[ContentHash]] = {}
    for row_id, cache_key, seed, config_fingerprint, provider_fingerprint, content_hash in rows:
        known = found.setdefault(cache_key, [])
        if len(known) < per_key:
            known.append(
                ContentHash(
                    id=row_id,
                    seed=None if seed is None else int(seed),
                    config_fingerprint=config_fingerprint,
                    provider_fingerprint=provider_fingerprint,
                    content_hash=content_hash,
                )
            )
    return found


def record_row(record: GenerationRecord) -> dict[str, Any]:
    """A generation record as a `generations` row (times in UTC)."""
    row = record.model_dump(mode="json", exclude={"artifacts", *DATETIMES})
    row.update({name: to_utc(getattr(record, name)) for name in DATETIMES})
    return row


class _JsonText(TypeDecorator[Any]):
    """A JSON column whose value comes as its JSON text, written as it is (no `json.dumps` of Python values).
    On PostgreSQL the parameter keeps the column's `::JSON` cast; on SQLite, JSON is text anyway."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


# The JSON columns of `generations`, and the table for a write that brings their text: one pass of pydantic's
# serializer per column instead of `model_dump(mode="json")` and then the JSON type's `json.dumps` (~0.1 ms of
# a miss's CPU less, on SQLite's writer thread or PostgreSQL's event loop, issue 18).
_JSON_FIELDS = tuple(c.name for c in generations.columns if isinstance(c.type, JSON))
_JSON_TEXT: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(GenerationRecord.model_fields[name].annotation or Any) for name in _JSON_FIELDS
}
_TEXT_GENERATIONS = Table(
    "generations",
    MetaData(),
    *(
        Column(c.name, _JsonText() if c.name in _JSON_FIELDS else c.type, primary_key=c.primary_key)
        for c in generations.c
    ),
)


# Built once: a statement built per call is compiled per call too, before its cache key finds it compiled.
_INSERT_SQLITE = sqlite.insert(_TEXT_GENERATIONS).on_conflict_do_nothing(index_elements=["id"])
_ADDED = {
    True: postgresql.insert(_TEXT_GENERATIONS)
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(_TEXT_GENERATIONS.c.id),
    False: _INSERT_SQLITE.returning(_TEXT_GENERATIONS.c.id),
}
_ADD_ARTIFACTS = generation_artifacts.insert()
# The same two on the driver's connection (`driver_sql`): `add_records` writes in place on SQLite.
_INSERT_SQLITE_DRIVER = DriverStatement(_INSERT_SQLITE)
_ADD_ARTIFACTS_DRIVER = DriverStatement(_ADD_ARTIFACTS)
_STORED_ARTIFACTS = select(generation_artifacts.c.id, generation_artifacts.c.generation_id).where(
    generation_artifacts.c.id.in_(bindparam("ids", expanding=True))
)


def add_records(conn: Connection, group: Sequence[GenerationRecord], *, postgres: bool) -> None:
    """`insert_records` for a caller that needs no ids back. On SQLite, the records are one `executemany`
    that skips the ids stored already, and their artifacts another (SQLAlchemy's multi-row insert with
    RETURNING, which says which records went in, cost a batch of four ~0.2 ms more, issue 18). The count of
    rows the records' insert added says whether every record was new: their artifacts are then inserted as
    `insert_records` inserts them. If not, one of them was stored already (a write the outbox kept, run
    once more: ids are made per generation), with its artifacts in the same transaction; those are left
    out (their ids stored for that same record, read under the write lock this insert holds), and every
    other artifact is inserted as `insert_records` would, failing the batch on a clash as it would."""
    if postgres:
        insert_records(conn, group, postgres=postgres)
        return
    records = {record.id: record for record in group}.values()  # the same record twice is written once
    added = _INSERT_SQLITE_DRIVER.executemany(conn, [record_text_row(r) for r in records])
    artifacts = [(record.id, artifact) for record in records for artifact in record.artifacts]
    if artifacts and added != len(records):
        ids = [artifact.id for _, artifact in artifacts]
        stored = {(row.id, row.generation_id) for row in conn.execute(_STORED_ARTIFACTS, {"ids": ids})}
        artifacts = [(gid, artifact) for gid, artifact in artifacts if (artifact.id, gid) not in stored]
    if artifacts:
        _ADD_ARTIFACTS_DRIVER.executemany(conn, [artifact_row(artifact) for _, artifact in artifacts])


def artifact_row(artifact: ArtifactRecord) -> dict[str, Any]:
    return {**artifact.model_dump(), "created_at": to_utc(artifact.created_at)}


def record_text_row(record: GenerationRecord) -> dict[str, Any]:
    """`record_row` with the JSON columns as their JSON text (the same values once read: `None` is `null`,
    as the JSON type writes it), for a `_TEXT_GENERATIONS` insert."""
    row = record.model_dump(mode="json", exclude={"artifacts", *DATETIMES, *_JSON_FIELDS})
    row.update({name: to_utc(getattr(record, name)) for name in DATETIMES})
    row.update({name: adapter.dump_json(getattr(record, name)).decode() for name, adapter in _JSON_TEXT.items()})
    return row


def record_from_row(row: Any, artifacts: list[ArtifactRecord]) -> GenerationRecord:
    return GenerationRecord.model_validate(
        {**row, **{name: db_time(row[name]) for name in DATETIMES}, "artifacts": artifacts}
    )


async def insert_artifacts(conn: AsyncConnection, record: GenerationRecord) -> None:
    if record.artifacts:
        await conn.execute(_ADD_ARTIFACTS, [artifact_row(a) for a in record.artifacts])


def _artifact(row: Any) -> ArtifactRecord:
    return ArtifactRecord.model_validate({**row, "created_at": db_time(row["created_at"])})


async def renew_lease(
    engine: AsyncEngine, table: Table, row_id: str, *, owner: str, running: str, lease_until: datetime
) -> tuple[bool, bool]:
    """Extend the lease `owner` holds on a leased row (a job, a warm-up run) that is still `running`.

    Returns (still mine, cancel requested); a row that is gone counts as not mine and cancelled.
    """
    c = table.c
    mine = and_(c.id == row_id, c.lease_owner == owner, c.status == running)
    async with engine.begin() as conn:
        await conn.execute(update(table).where(mine).values(lease_expires_at=to_utc(lease_until)))
        row = (await conn.execute(select(c.lease_owner, c.status, c.cancel_requested).where(c.id == row_id))).first()
    if row is None:
        return False, True
    return row.lease_owner == owner and row.status == running, bool(row.cancel_requested)
