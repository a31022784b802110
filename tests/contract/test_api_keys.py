"""The ApiKeyRepository contract, on every database dyngen supports (the backends of test_repository)
and on the memory repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.keys import SqlAlchemyApiKeyRepository
from dyngen.adapters.memory.authoring import MemoryApiKeyRepository
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.ports import ApiKey, ApiKeyRepository

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
H1, H2, H3 = ("1" * 64, "2" * 64, "3" * 64)


def key(key_id: str, *, scope: str = "runtime", at: datetime = T0) -> ApiKey:
    return ApiKey(id=key_id, name=f"key {key_id} \u2014 caf\u00e9", scope=scope, created_at=at)


class ApiKeyRepositoryContract:
    """Behaviour every `ApiKeyRepository` adapter must have."""

    @pytest.fixture
    async def keys(self) -> ApiKeyRepository:
        raise NotImplementedError("a Test<Repository> subclass provides the repository under test")

    async def test_a_key_is_found_by_its_hash_only(self, keys: ApiKeyRepository) -> None:
        assert await keys.count_active_keys() == 0
        await keys.add_key(key("k1", scope="admin"), key_hash=H1)
        assert await keys.key_by_hash(H1) == key("k1", scope="admin")
        assert await keys.key_by_hash(H2) is None
        assert await keys.count_active_keys() == 1

    async def test_times_come_back_as_the_same_instant_in_utc(self, keys: ApiKeyRepository) -> None:
        local = T0.astimezone(timezone(timedelta(hours=-7)))
        await keys.add_key(key("k1", at=local), key_hash=H1)
        found = await keys.key_by_hash(H1)
        assert found is not None
        assert found.created_at == T0
        assert found.created_at.utcoffset() == timedelta(0)

    async def test_keys_are_listed_oldest_first(self, keys: ApiKeyRepository) -> None:
        await keys.add_key(key("late", at=T0 + timedelta(seconds=2)), key_hash=H1)
        await keys.add_key(key("early", at=T0), key_hash=H2)
        await keys.add_key(key("middle", at=T0 + timedelta(seconds=1)), key_hash=H3)
        assert [k.id for k in await keys.list_keys()] == ["early", "middle", "late"]

    async def test_revoking_marks_the_key_once(self, keys: ApiKeyRepository) -> None:
        await keys.add_key(key("k1"), key_hash=H1)
        await keys.add_key(key("k2"), key_hash=H2)
        at = T0 + timedelta(days=1)
        assert await keys.revoke_key("k1", at=at) is True
        assert await keys.revoke_key("k1", at=at + timedelta(days=1)) is False, "already revoked"
        assert await keys.revoke_key("nosuchkey", at=at) is False
        revoked = await keys.key_by_hash(H1)
        assert revoked is not None
        assert revoked.revoked_at == at, "the first revocation's time stays"
        assert await keys.count_active_keys() == 1
        assert {k.id: k.revoked_at for k in await keys.list_keys()} == {"k1": at, "k2": None}

    async def test_a_hash_belongs_to_one_key(self, keys: ApiKeyRepository) -> None:
        await keys.add_key(key("k1"), key_hash=H1)
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            await keys.add_key(key("k2"), key_hash=H1)
        assert [k.id for k in await keys.list_keys()] == ["k1"]


class TestSqlAlchemyApiKeyRepository(ApiKeyRepositoryContract):
    @pytest.fixture
    async def keys(self, engine: AsyncEngine) -> ApiKeyRepository:
        await schema.upgrade(engine)
        return SqlAlchemyApiKeyRepository(engine=engine)


class TestMemoryApiKeyRepository(ApiKeyRepositoryContract):
    @pytest.fixture
    def keys(self) -> ApiKeyRepository:
        return MemoryApiKeyRepository(database=MemoryDatabase())
