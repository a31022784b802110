"""`SqlAlchemyNodeConfigRepository`: node configs and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import db_time, retrying, to_utc
from dyngen.adapters.db.tables import node_configs
from dyngen.ports import NodeVersion


def _version(row: Any) -> NodeVersion:
    return NodeVersion(
        node_id=row["node_id"],
        version=row["version"],
        config=row["config"],
        author=row["author"],
        note=row["note"],
        created_at=db_time(row["created_at"]) or row["created_at"],
    )


class SqlAlchemyNodeConfigRepository:
    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save_node(
        self, node_id: str, *, config: dict[str, Any], author: str | None, note: str | None, at: datetime
    ) -> int:
        async def run() -> int:
            async with self._engine.begin() as conn:
                latest = (
                    await conn.execute(
                        select(func.max(node_configs.c.version)).where(node_configs.c.node_id == node_id)
                    )
                ).scalar()
                version = int(latest or 0) + 1
                await conn.execute(
                    node_configs.insert().values(
                        node_id=node_id,
                        version=version,
                        config={**config, "id": node_id, "version": version},
                        author=author,
                        note=note,
                        created_at=to_utc(at),
                    )
                )
            return version

        for _ in range(3):  # two saves racing for one version number: the loser takes the next
            try:
                return await retrying(run)
            except IntegrityError:
                continue
        return await retrying(run)

    async def node_version(self, node_id: str, version: int | None = None) -> NodeVersion | None:
        async def run() -> NodeVersion | None:
            stmt = select(node_configs).where(node_configs.c.node_id == node_id)
            stmt = (
                stmt.where(node_configs.c.version == version)
                if version is not None
                else stmt.order_by(node_configs.c.version.desc()).limit(1)
            )
            async with self._engine.connect() as conn:
                row = (await conn.execute(stmt)).mappings().first()
            return _version(row) if row is not None else None

        return await retrying(run)

    async def node_versions(self, node_id: str) -> list[NodeVersion]:
        async def run() -> list[NodeVersion]:
            stmt = select(node_configs).where(node_configs.c.node_id == node_id).order_by(node_configs.c.version.desc())
            async with self._engine.connect() as conn:
                return [_version(row) for row in (await conn.execute(stmt)).mappings().all()]

        return await retrying(run)
