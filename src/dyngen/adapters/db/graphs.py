"""`SqlAlchemyGraphRepository`: scene graphs with their version history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import db_time, retrying, to_utc
from dyngen.adapters.db.tables import scene_graphs
from dyngen.ports import StoredGraph


def _stored(row: Any) -> StoredGraph:
    return StoredGraph(
        id=row["id"],
        version=row["version"],
        title=row["title"],
        body=row["body"],
        author=row["author"],
        created_at=db_time(row["created_at"]) or row["created_at"],
    )


class SqlAlchemyGraphRepository:
    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save_graph(
        self, graph_id: str, *, title: str, body: dict[str, Any], author: str | None, at: datetime
    ) -> int:
        async def run() -> int:
            async with self._engine.begin() as conn:
                latest = (
                    await conn.execute(select(func.max(scene_graphs.c.version)).where(scene_graphs.c.id == graph_id))
                ).scalar()
                version = int(latest or 0) + 1
                await conn.execute(
                    scene_graphs.insert().values(
                        id=graph_id, version=version, title=title, body=body, author=author, created_at=to_utc(at)
                    )
                )
                # Saving a deleted graph's id starts it afresh: earlier versions stay history.
                await conn.execute(update(scene_graphs).where(scene_graphs.c.id == graph_id).values(deleted=False))
            return version

        for _ in range(3):  # two saves of one graph racing for the same version number: try again
            try:
                return await retrying(run)
            except IntegrityError:
                continue
        return await retrying(run)

    async def get_graph(self, graph_id: str, version: int | None = None) -> StoredGraph | None:
        async def run() -> StoredGraph | None:
            stmt = select(scene_graphs).where(scene_graphs.c.id == graph_id, scene_graphs.c.deleted.is_(False))
            stmt = (
                stmt.where(scene_graphs.c.version == version)
                if version is not None
                else stmt.order_by(scene_graphs.c.version.desc()).limit(1)
            )
            async with self._engine.connect() as conn:
                row = (await conn.execute(stmt)).mappings().first()
            return _stored(row) if row is not None else None

        return await retrying(run)

    async def list_graphs(self) -> list[StoredGraph]:
        async def run() -> list[StoredGraph]:
            newest = (
                select(scene_graphs.c.id, func.max(scene_graphs.c.version).label("version"))
                .where(scene_graphs.c.deleted.is_(False))
                .group_by(scene_graphs.c.id)
                .subquery()
            )
            stmt = (
                select(scene_graphs)
                .join(newest, (scene_graphs.c.id == newest.c.id) & (scene_graphs.c.version == newest.c.version))
                .order_by(scene_graphs.c.id)
            )
            async with self._engine.connect() as conn:
                return [_stored(row) for row in (await conn.execute(stmt)).mappings().all()]

        return await retrying(run)

    async def delete_graph(self, graph_id: str) -> bool:
        async def run() -> bool:
            async with self._engine.begin() as conn:
                done = await conn.execute(
                    update(scene_graphs)
                    .where(scene_graphs.c.id == graph_id, scene_graphs.c.deleted.is_(False))
                    .values(deleted=True)
                )
            return bool(done.rowcount)

        return await retrying(run)
