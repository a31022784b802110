"""`SqlAlchemyWarmupRepository`: warm-up runs, their items' outcomes and their event streams.

A claim is one conditional UPDATE (queued, lease expired, or finished), so two runners never both own a
run; item outcomes arrive in batches, each batch one transaction together with its events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.driver_sql import DriverStatement
from dyngen.adapters.db.repository import db_time, renew_lease, retrying, to_utc
from dyngen.adapters.db.tables import generations, warmup_events, warmup_items, warmups
from dyngen.domain.warmup import (
    FINISHED,
    ItemOutcome,
    ItemStatus,
    WarmupCounts,
    WarmupEvent,
    WarmupItem,
    WarmupRun,
    WarmupStatus,
)

if TYPE_CHECKING:
    from dyngen.adapters.db.writer import SqlWriter

QUEUED = WarmupStatus.QUEUED.value
RUNNING = WarmupStatus.RUNNING.value
PENDING = ItemStatus.PENDING.value


def _run(row: Any) -> WarmupRun:
    return WarmupRun(
        id=row["id"],
        graph_id=row["graph_id"],
        graph_version=row["graph_version"],
        origin=row["origin"],
        status=WarmupStatus(row["status"]),
        concurrency=row["concurrency"],
        options=row["options"],
        skipped=row["skipped"],
        created_at=db_time(row["created_at"]) or row["created_at"],
        started_at=db_time(row["started_at"]),
        finished_at=db_time(row["finished_at"]),
        lease_owner=row["lease_owner"],
        lease_expires_at=db_time(row["lease_expires_at"]),
        cancel_requested=bool(row["cancel_requested"]),
    )


# A batch of item outcomes and their events, built once; written in the group-commit writer's batch (on
# SQLite in place, on sqlite3's own connection: `driver_sql`).
_RECORD_ITEMS = DriverStatement(
    update(warmup_items)
    .where(warmup_items.c.warmup_id == bindparam("b_warmup"), warmup_items.c.position == bindparam("b_position"))
    .values(
        status=bindparam("b_status"),
        error_code=bindparam("b_code"),
        cache_key=bindparam("b_key"),
        generation_id=bindparam("b_generation"),
        finished_at=bindparam("b_at"),
    )
)
_ADD_EVENTS = DriverStatement(warmup_events.insert())


class SqlAlchemyWarmupRepository:
    """Warm-up runs, their items and events (see `dyngen.ports.WarmupRepository`).

    Args:
        engine: The async engine the repositories use.
        writer: The process's group-commit writer on `engine`: the items a run finished are written
            through it, in one transaction with the generation records beside them. A transaction of
            their own took SQLite's write lock from the writer, whose next batch then slept in the busy
            handler (issue 18). None: a transaction of their own.
    """

    def __init__(self, *, engine: AsyncEngine, writer: SqlWriter | None = None) -> None:
        self._engine = engine
        self._writer = writer

    async def add_warmup(self, run: WarmupRun, items: Iterable[WarmupItem]) -> None:
        rows = [
            {
                "warmup_id": run.id,
                "position": item.position,
                "node_id": item.node_id,
                "request": item.request,
                "status": item.status.value,
            }
            for item in items
        ]

        async def go() -> None:
            async with self._engine.begin() as conn:
                await conn.execute(
                    warmups.insert().values(
                        id=run.id,
                        graph_id=run.graph_id,
                        graph_version=run.graph_version,
                        origin=run.origin,
                        status=run.status.value,
                        concurrency=run.concurrency,
                        options=run.options,
                        skipped=run.skipped,
                        created_at=to_utc(run.created_at),
                    )
                )
                if rows:
                    await conn.execute(warmup_items.insert(), rows)

        await retrying(go)

    async def get_warmup(self, warmup_id: str) -> WarmupRun | None:
        async def go() -> WarmupRun | None:
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(warmups).where(warmups.c.id == warmup_id))).mappings().first()
            return _run(row) if row is not None else None

        return await retrying(go)

    async def claim_warmup(
        self, warmup_id: str, *, owner: str, now: datetime, lease_until: datetime, finished: bool = True
    ) -> WarmupRun | None:
        async def go() -> WarmupRun | None:
            at = to_utc(now)
            # A finished run is claimed only by an explicit resume, never by a background sweep that
            # listed it while it was still running (it would run again what just failed, or revive a
            # cancelled run).
            ended = [s.value for s in FINISHED] if finished else []
            claimable = or_(
                warmups.c.status == QUEUED,
                warmups.c.status.in_(ended),
                and_(
                    warmups.c.status == RUNNING,
                    or_(warmups.c.lease_expires_at.is_(None), warmups.c.lease_expires_at < at),
                ),
            )
            stmt = (
                update(warmups)
                .where(warmups.c.id == warmup_id, claimable)
                .values(
                    status=RUNNING,
                    lease_owner=owner,
                    lease_expires_at=to_utc(lease_until),
                    cancel_requested=False,
                    started_at=func.coalesce(warmups.c.started_at, at),
                    finished_at=None,
                )
                .returning(*warmups.c)
            )
            async with self._engine.begin() as conn:
                row = (await conn.execute(stmt)).mappings().first()
                if row is None:
                    return None
                # What failed before is tried again: it is not warm.
                await conn.execute(
                    update(warmup_items)
                    .where(warmup_items.c.warmup_id == warmup_id, warmup_items.c.status == ItemStatus.FAILED.value)
                    .values(status=PENDING, error_code=None, finished_at=None)
                )
            return _run(row)

        return await retrying(go)

    async def claimable_warmups(self, *, origin: str, now: datetime) -> list[str]:
        async def go() -> list[str]:
            stmt = (
                select(warmups.c.id)
                .where(
                    warmups.c.origin == origin,
                    or_(
                        warmups.c.status == QUEUED,
                        and_(warmups.c.status == RUNNING, warmups.c.lease_expires_at < to_utc(now)),
                    ),
                )
                .order_by(warmups.c.created_at)
                .limit(100)
            )
            async with self._engine.connect() as conn:
                return [r[0] for r in (await conn.execute(stmt)).all()]

        return await retrying(go)

    async def heartbeat_warmup(self, warmup_id: str, *, owner: str, lease_until: datetime) -> tuple[bool, bool]:
        return await retrying(
            lambda: renew_lease(self._engine, warmups, warmup_id, owner=owner, running=RUNNING, lease_until=lease_until)
        )

    async def pending_items(self, warmup_id: str) -> list[WarmupItem]:
        async def go() -> list[WarmupItem]:
            stmt = (
                select(warmup_items)
                .where(warmup_items.c.warmup_id == warmup_id, warmup_items.c.status == PENDING)
                .order_by(warmup_items.c.position)
            )
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
            return [
                WarmupItem(
                    position=r["position"], node_id=r["node_id"], request=r["request"], status=ItemStatus.PENDING
                )
                for r in rows
            ]

        return await retrying(go)

    async def record_items(
        self,
        warmup_id: str,
        outcomes: Iterable[ItemOutcome],
        *,
        events: Iterable[tuple[str, dict[str, Any]]],
        at: datetime,
    ) -> None:
        when = to_utc(at)
        done = list(outcomes)
        appended = [{"warmup_id": warmup_id, "type": type_, "data": data, "created_at": when} for type_, data in events]

        params = [
            {
                "b_warmup": warmup_id,
                "b_position": o.position,
                "b_status": o.status.value,
                "b_code": o.error_code,
                "b_key": o.cache_key,
                "b_generation": o.generation_id,
                "b_at": when,
            }
            for o in done
        ]

        def write(conn: Connection) -> None:
            _RECORD_ITEMS.executemany(conn, params)
            _ADD_EVENTS.executemany(conn, appended)

        if self._writer is not None:
            await self._writer.write(write)
            return

        async def go() -> None:
            async with self._engine.begin() as conn:
                await conn.run_sync(write)

        await retrying(go)

    async def finish_warmup(self, warmup_id: str, *, owner: str | None, status: WarmupStatus, at: datetime) -> bool:
        async def go() -> bool:
            stmt = update(warmups).where(warmups.c.id == warmup_id)
            if owner is not None:
                stmt = stmt.where(warmups.c.lease_owner == owner, warmups.c.status == RUNNING)
            else:
                stmt = stmt.where(warmups.c.status.in_([QUEUED, RUNNING]))
            async with self._engine.begin() as conn:
                done = await conn.execute(
                    stmt.values(status=status.value, finished_at=to_utc(at), lease_owner=None, lease_expires_at=None)
                )
            return bool(done.rowcount)

        return await retrying(go)

    async def request_warmup_cancel(self, warmup_id: str) -> WarmupRun | None:
        async def go() -> None:
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(warmups)
                    .where(warmups.c.id == warmup_id, warmups.c.status.in_([QUEUED, RUNNING]))
                    .values(cancel_requested=True)
                )

        await retrying(go)
        return await self.get_warmup(warmup_id)

    async def warmup_counts(self, warmup_id: str) -> WarmupCounts:
        async def go() -> WarmupCounts:
            by_status = (
                select(warmup_items.c.status, warmup_items.c.error_code, func.count())
                .where(warmup_items.c.warmup_id == warmup_id)
                .group_by(warmup_items.c.status, warmup_items.c.error_code)
            )
            spent = (
                select(func.coalesce(func.sum(generations.c.cost), 0.0))
                .select_from(warmup_items.join(generations, generations.c.id == warmup_items.c.generation_id))
                .where(warmup_items.c.warmup_id == warmup_id, warmup_items.c.status == ItemStatus.GENERATED.value)
            )
            counts = WarmupCounts()
            async with self._engine.connect() as conn:
                for status, code, n in (await conn.execute(by_status)).all():
                    counts.total += n
                    if status == PENDING:
                        counts.pending += n
                    elif status == ItemStatus.GENERATED.value:
                        counts.generated += n
                    elif status == ItemStatus.CACHED.value:
                        counts.cached += n
                    else:
                        key = code or "UNKNOWN"
                        counts.failed[key] = counts.failed.get(key, 0) + n
                counts.cost = float((await conn.execute(spent)).scalar() or 0.0)
            return counts

        return await retrying(go)

    async def add_warmup_event(self, warmup_id: str, type_: str, data: dict[str, Any], *, at: datetime) -> int:
        async def go() -> int:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    warmup_events.insert().values(warmup_id=warmup_id, type=type_, data=data, created_at=to_utc(at))
                )
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

        return await retrying(go)

    async def warmup_events_after(self, warmup_id: str, after_id: int) -> list[WarmupEvent]:
        async def go() -> list[WarmupEvent]:
            stmt = (
                select(warmup_events)
                .where(warmup_events.c.warmup_id == warmup_id, warmup_events.c.id > after_id)
                .order_by(warmup_events.c.id)
                .limit(1000)
            )
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
            return [
                WarmupEvent(
                    id=row["id"],
                    warmup_id=row["warmup_id"],
                    type=row["type"],
                    data=row["data"],
                    created_at=db_time(row["created_at"]) or row["created_at"],
                )
                for row in rows
            ]

        return await retrying(go)
