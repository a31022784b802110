"""`SqlAlchemyRetentionRepository`: expired generations, what refers to them, and their removal."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dyngen.adapters.db.repository import db_time, retrying, to_utc
from dyngen.adapters.db.tables import (
    generation_artifacts,
    generation_events,
    generations,
    node_configs,
    reviews,
    scene_graphs,
    warmup_events,
    warmup_items,
    warmups,
)
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.warmup import WarmupStatus
from dyngen.ports import ExpiredGeneration, RemovedRecords

FINISHED = (GenerationStatus.COMPLETE.value, GenerationStatus.FAILED.value)
WARMUPS_ENDED = (WarmupStatus.COMPLETE.value, WarmupStatus.FAILED.value, WarmupStatus.CANCELLED.value)
CHUNK = 500  # ids per IN (...) list: well under SQLite's and asyncpg's parameter limits


class _DryRun(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a transaction to roll it back after counting."""

    def __init__(self, result: Any) -> None:
        self.result = result


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _expired(row: Any) -> ExpiredGeneration:
    created = db_time(row.created_at)
    assert created is not None
    return ExpiredGeneration(
        id=row.id, cache_key=row.cache_key, strategy=row.strategy, status=row.status, created_at=created
    )


class SqlAlchemyRetentionRepository:
    """Retention's queries on SQLite or PostgreSQL.

    Args:
        engine: The async engine the other repositories use.
    """

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def expired_generations(
        self,
        *,
        cutoffs: Mapping[str, datetime],
        failed_before: datetime | None,
        after: tuple[datetime, str] | None = None,
        limit: int = 500,
    ) -> list[ExpiredGeneration]:
        return await retrying(lambda: self._expired_generations(cutoffs, failed_before, after, limit))

    async def _expired_generations(
        self,
        cutoffs: Mapping[str, datetime],
        failed_before: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ExpiredGeneration]:
        g = generations.c
        windows = [and_(g.strategy == strategy, g.created_at < to_utc(at)) for strategy, at in cutoffs.items()]
        if failed_before is not None:
            windows.append(and_(g.status == GenerationStatus.FAILED.value, g.created_at < to_utc(failed_before)))
        if not windows:
            return []
        stmt = (
            select(g.id, g.cache_key, g.strategy, g.status, g.created_at)
            .where(
                g.status.in_(FINISHED),
                or_(*windows),
                ~exists().where(reviews.c.generation_id == g.id),
            )
            .order_by(g.created_at, g.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(tuple_(g.created_at, g.id) > tuple_(to_utc(after[0]), after[1]))
        async with self._engine.connect() as conn:
            return [_expired(row) for row in (await conn.execute(stmt)).all()]

    async def newest_complete(self, cache_keys: Collection[str]) -> dict[str, list[ExpiredGeneration]]:
        return await retrying(lambda: self._newest_complete(sorted(cache_keys)))

    async def _newest_complete(self, keys: list[str]) -> dict[str, list[ExpiredGeneration]]:
        g = generations.c
        newest: dict[str, list[ExpiredGeneration]] = {}
        async with self._engine.connect() as conn:
            for chunk in _chunks(keys):
                latest = (
                    select(g.cache_key, func.max(g.created_at).label("at"))
                    .where(g.cache_key.in_(chunk), g.status == GenerationStatus.COMPLETE.value)
                    .group_by(g.cache_key)
                    .subquery()
                )
                stmt = (
                    select(g.id, g.cache_key, g.strategy, g.status, g.created_at)
                    .join(latest, and_(g.cache_key == latest.c.cache_key, g.created_at == latest.c.at))
                    .where(g.status == GenerationStatus.COMPLETE.value)
                    .order_by(g.id)
                )
                for row in (await conn.execute(stmt)).all():
                    newest.setdefault(row.cache_key, []).append(_expired(row))
        return newest

    async def artifact_owners(self, artifact_ids: Collection[str]) -> dict[str, str]:
        return await retrying(lambda: self._artifact_owners(sorted(artifact_ids)))

    async def _artifact_owners(self, ids: list[str]) -> dict[str, str]:
        a = generation_artifacts.c
        owners: dict[str, str] = {}
        async with self._engine.connect() as conn:
            for chunk in _chunks(ids):
                rows = (await conn.execute(select(a.id, a.generation_id).where(a.id.in_(chunk)))).all()
                owners.update({row.id: row.generation_id for row in rows})
        return owners

    async def authored_references(self) -> bytes:
        return await retrying(self._authored_references)

    async def _authored_references(self) -> bytes:
        async with self._engine.connect() as conn:
            bodies = (await conn.execute(select(scene_graphs.c.body))).scalars().all()
            configs = (await conn.execute(select(node_configs.c.config))).scalars().all()
        return json.dumps([*bodies, *configs], separators=(",", ":")).encode()

    async def remove_generations(self, ids: Sequence[str], *, dry_run: bool = False) -> RemovedRecords:
        return await retrying(lambda: self._transaction(lambda conn: self._remove_generations(conn, ids), dry_run))

    async def _transaction(self, work: Any, dry_run: bool) -> Any:
        try:
            async with self._engine.begin() as conn:
                result = await work(conn)
                if dry_run:
                    raise _DryRun(result)
                return result
        except _DryRun as rolled_back:
            return rolled_back.result

    async def _remove_generations(self, conn: AsyncConnection, ids: Sequence[str]) -> RemovedRecords:
        g, a, e = generations.c, generation_artifacts.c, generation_events.c
        removed = RemovedRecords()
        for chunk in _chunks(sorted(set(ids))):
            # Checked again inside the transaction: a job may have been re-queued, a review added.
            doomed = (
                (
                    await conn.execute(
                        select(g.id).where(
                            g.id.in_(chunk),
                            g.status.in_(FINISHED),
                            ~exists().where(reviews.c.generation_id == g.id),
                        )
                    )
                )
                .scalars()
                .all()
            )
            if not doomed:
                continue
            artifact_rows = (await conn.execute(select(a.storage_uri, a.size).where(a.generation_id.in_(doomed)))).all()
            events = (await conn.execute(delete(generation_events).where(e.generation_id.in_(doomed)))).rowcount
            artifacts = (await conn.execute(delete(generation_artifacts).where(a.generation_id.in_(doomed)))).rowcount
            records = (await conn.execute(delete(generations).where(g.id.in_(doomed)))).rowcount
            sizes = {row.storage_uri: int(row.size) for row in artifact_rows}
            still_named: set[str] = set()
            for uris in _chunks(sorted(sizes)):
                still_named.update(
                    (await conn.execute(select(a.storage_uri).distinct().where(a.storage_uri.in_(uris)))).scalars()
                )
            removed = RemovedRecords(
                generations=removed.generations + records,
                artifacts=removed.artifacts + artifacts,
                events=removed.events + events,
                orphans={**removed.orphans, **{u: s for u, s in sizes.items() if u not in still_named}},
            )
        return removed

    async def named_uris(self, uris: Collection[str]) -> set[str]:
        return await retrying(lambda: self._named_uris(sorted(uris)))

    async def _named_uris(self, uris: list[str]) -> set[str]:
        a = generation_artifacts.c
        named: set[str] = set()
        async with self._engine.connect() as conn:
            for chunk in _chunks(uris):
                named.update(
                    (await conn.execute(select(a.storage_uri).distinct().where(a.storage_uri.in_(chunk)))).scalars()
                )
        return named

    async def remove_events(self, *, before: datetime, dry_run: bool = False) -> int:
        return int(await retrying(lambda: self._transaction(lambda conn: self._remove_events(conn, before), dry_run)))

    async def _remove_events(self, conn: AsyncConnection, before: datetime) -> int:
        g, e, w, we = generations.c, generation_events.c, warmups.c, warmup_events.c
        job_done = exists().where(g.id == e.generation_id, g.status.in_(FINISHED))
        run_done = exists().where(w.id == we.warmup_id, w.status.in_(WARMUPS_ENDED))
        jobs = await conn.execute(delete(generation_events).where(e.created_at < to_utc(before), job_done))
        runs = await conn.execute(delete(warmup_events).where(we.created_at < to_utc(before), run_done))
        return int(jobs.rowcount) + int(runs.rowcount)

    async def remove_warmups(self, *, before: datetime, dry_run: bool = False) -> int:
        return int(await retrying(lambda: self._transaction(lambda conn: self._remove_warmups(conn, before), dry_run)))

    async def _remove_warmups(self, conn: AsyncConnection, before: datetime) -> int:
        w = warmups.c
        ids = (
            (await conn.execute(select(w.id).where(w.status.in_(WARMUPS_ENDED), w.finished_at < to_utc(before))))
            .scalars()
            .all()
        )
        removed = 0
        for chunk in _chunks(list(ids)):
            await conn.execute(delete(warmup_events).where(warmup_events.c.warmup_id.in_(chunk)))
            await conn.execute(delete(warmup_items).where(warmup_items.c.warmup_id.in_(chunk)))
            removed += int((await conn.execute(delete(warmups).where(w.id.in_(chunk)))).rowcount)
        return removed
