"""`SqlAlchemyGenerationRepository`: generations and artifacts in SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Table, and_, event, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dyngen.adapters.db.guard import GuardedAsyncEngine
from dyngen.adapters.db.tables import generation_artifacts, generations
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import GenerationFilter, RepositoryUnavailable

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
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip per checkout; a connection that died is caught by `retrying`.
    engine = create_async_engine(
        url,
        pool_timeout=pool_timeout_s,
        connect_args={"timeout": connect_timeout_s, "command_timeout": command_timeout_s},
    )
    return GuardedAsyncEngine(engine.sync_engine, cooldown_s=cooldown_s, clock=clock)


RETRIES = 3
PING_TIMEOUT_S = 2.0


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
        except TimeoutError as exc:
            log.warning("db.timeout error=%s", type(exc).__name__)
            raise unreachable(exc) from exc
        except (DBAPIError, OSError, SQLAlchemyTimeoutError) as exc:
            if isinstance(exc, SQLAlchemyTimeoutError) or isinstance(exc.__cause__, TimeoutError):
                log.warning("db.timeout error=%s", type(exc).__name__)
                raise unreachable(exc) from exc
            lost = isinstance(exc, OSError | OperationalError | InterfaceError) or (
                isinstance(exc, DBAPIError) and exc.connection_invalidated
            )
            if not lost:
                raise
            log.warning("db.connection_lost attempt=%d error=%s", attempt + 1, type(exc).__name__)
            if attempt == RETRIES - 1:
                raise unreachable(exc) from exc
            await asyncio.sleep(0.1 * 3**attempt)
    raise AssertionError("unreachable")


def to_utc(value: datetime | None) -> datetime | None:
    # SQLite keeps the wall time and drops the offset: store every time in UTC.
    return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


def db_time(value: datetime | None) -> datetime | None:
    # SQLite drops the time zone; every stored time is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class SqlAlchemyGenerationRepository:
    """Stores `GenerationRecord`s with their `ArtifactRecord`s.

    Args:
        engine: The async engine (SQLite through aiosqlite, PostgreSQL through asyncpg).
    """

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, record: GenerationRecord) -> None:
        try:
            await retrying(lambda: self._add(record))
        except IntegrityError:
            # A retry after a lost acknowledgement: the first attempt did commit.
            if await self.get(record.id) is None:
                raise

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


def record_row(record: GenerationRecord) -> dict[str, Any]:
    """A generation record as a `generations` row (times in UTC)."""
    row = record.model_dump(mode="json", exclude={"artifacts", *DATETIMES})
    row.update({name: to_utc(getattr(record, name)) for name in DATETIMES})
    return row


def record_from_row(row: Any, artifacts: list[ArtifactRecord]) -> GenerationRecord:
    return GenerationRecord.model_validate(
        {**row, **{name: db_time(row[name]) for name in DATETIMES}, "artifacts": artifacts}
    )


async def insert_artifacts(conn: AsyncConnection, record: GenerationRecord) -> None:
    if record.artifacts:
        await conn.execute(
            generation_artifacts.insert(),
            [{**a.model_dump(), "created_at": to_utc(a.created_at)} for a in record.artifacts],
        )


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
