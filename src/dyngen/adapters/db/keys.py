"""`SqlAlchemyApiKeyRepository`: API keys (their SHA-256, never the key) in SQLite or PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import db_time, retrying, to_utc
from dyngen.adapters.db.tables import api_keys
from dyngen.ports import ApiKey

_PUBLIC = (api_keys.c.id, api_keys.c.name, api_keys.c.scope, api_keys.c.created_at, api_keys.c.revoked_at)


class SqlAlchemyApiKeyRepository:
    """Stores `ApiKey`s by id, found by the hash of the key.

    Args:
        engine: The async engine (the same one the generation repository uses).
    """

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_key(self, key: ApiKey, *, key_hash: str) -> None:
        try:
            await retrying(lambda: self._add_key(key, key_hash))
        except IntegrityError:
            # A retry after a lost acknowledgement: the first attempt did commit (this very key is there).
            stored = await self.key_by_hash(key_hash)
            if stored is None or stored.id != key.id:
                raise

    async def _add_key(self, key: ApiKey, key_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    name=key.name,
                    scope=key.scope,
                    key_hash=key_hash,
                    created_at=to_utc(key.created_at),
                    revoked_at=to_utc(key.revoked_at),
                )
            )

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not (the caller decides what a revoked key may do)."""
        return await retrying(lambda: self._key_by_hash(key_hash))

    async def _key_by_hash(self, key_hash: str) -> ApiKey | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_PUBLIC).where(api_keys.c.key_hash == key_hash))).mappings().first()
        return _key(row) if row is not None else None

    async def list_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return await retrying(self._list_keys)

    async def _list_keys(self) -> list[ApiKey]:
        stmt = select(*_PUBLIC).order_by(api_keys.c.created_at, api_keys.c.id)
        async with self._engine.connect() as conn:
            return [_key(row) for row in (await conn.execute(stmt)).mappings().all()]

    async def revoke_key(self, key_id: str, *, at: datetime) -> bool:
        """Revoke an active key; False when no active key has this id (unknown or already revoked)."""
        return await retrying(lambda: self._revoke_key(key_id, at))

    async def _revoke_key(self, key_id: str, at: datetime) -> bool:
        stmt = (
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=to_utc(at))
        )
        async with self._engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def count_active_keys(self) -> int:
        return await retrying(self._count_active_keys)

    async def _count_active_keys(self) -> int:
        stmt = select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        async with self._engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())


def _key(row: Any) -> ApiKey:
    created_at = db_time(row["created_at"])
    assert created_at is not None
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scope=row["scope"],
        created_at=created_at,
        revoked_at=db_time(row["revoked_at"]),
    )
