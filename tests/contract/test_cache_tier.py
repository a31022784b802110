"""The CacheTier contract: every tier of the content cache behaves the same, whatever holds the bytes.

To run the contract on another tier, subclass `CacheTierContract` as `Test<Tier>` and give it one fixture,
`subject`, that yields a `TierUnderTest` (an empty tier and a way to let its TTL clock run).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.cache.memory import MemoryCacheTier
from dyngen.adapters.cache.object_store import ObjectStoreCacheTier
from dyngen.adapters.cache.redis import RedisCacheTier
from dyngen.adapters.db.cache import SqlCacheTier
from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.repository import create_engine
from dyngen.adapters.db.tables import cache_entries
from dyngen.adapters.db.writer import SqlWriter
from dyngen.adapters.messaging.redis import RedisConnection
from dyngen.adapters.storage.local import LocalObjectStore
from dyngen.adapters.storage.memory import MemoryObjectStore
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import CacheTier
from tests.contract.test_object_store import open_s3_store
from tests.fakes import FakeClock, SilentStore
from tests.support.databases import BACKENDS, PATIENT_REDIS, Backend, migrated_postgres, migrated_sqlite
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoS3Server, RedisServer
from tests.support.waiting import hang_guard, until

# Keys shaped like real cache keys: separators, escapes, unicode, and near-duplicates.
KEY = "dialogue|gap_fill|cafe|street|once||1"
ODD_KEYS = [KEY, "dialogue|gap_fill|caf\u00e9|street|once||1", "a%7Cb|c", "a|b%7Cc", "x" * 1000]
VALUES = [
    pytest.param(b"", id="empty"),
    pytest.param(bytes(range(256)), id="every-byte"),
    pytest.param(b"\x00" * 10_000, id="nul-10k"),
    pytest.param('{"outcome":{"content":"caf\u00e9 \U0001f3b2"}}'.encode(), id="utf8-json"),
]


@dataclass
class TierUnderTest:
    """An empty tier, and `elapse(seconds)`: let that much time pass on the clock its TTLs use.

    Tiers with an injectable clock advance it; tiers on a server's clock wait (polling, with a deadline).
    `time_scale` shrinks the contract's TTLs and waits for tiers on a real clock (Redis), so that a TTL of
    "2" lasts 0.2 s there instead of 2 s.
    """

    tier: CacheTier
    elapse: Callable[[float], Awaitable[None]]
    time_scale: float = 1.0
    rows: Callable[[], Awaitable[list[str]]] | None = None  # the keys a table holds (database tiers)

    def ttl(self, seconds: float) -> float:
        return seconds * self.time_scale

    async def wait(self, seconds: float) -> None:
        await self.elapse(seconds * self.time_scale)


class CacheTierContract:
    """Behaviour every `CacheTier` adapter must have."""

    @pytest.fixture
    def subject(self) -> TierUnderTest:
        raise NotImplementedError("a Test<Tier> subclass provides the tier under test")

    async def test_has_a_name_for_cache_tier_in_responses(self, subject: TierUnderTest) -> None:
        assert isinstance(subject.tier.name, str)
        assert subject.tier.name

    async def test_get_of_a_missing_key_is_none(self, subject: TierUnderTest) -> None:
        assert await subject.tier.get(KEY) is None

    @pytest.mark.parametrize("value", VALUES)
    async def test_set_then_get_returns_the_same_bytes(self, subject: TierUnderTest, value: bytes) -> None:
        await subject.tier.set(KEY, value)
        assert await subject.tier.get(KEY) == value

    async def test_keys_never_collide(self, subject: TierUnderTest) -> None:
        for index, key in enumerate(ODD_KEYS):
            await subject.tier.set(key, f"value-{index}".encode())
        assert [await subject.tier.get(k) for k in ODD_KEYS] == [f"value-{i}".encode() for i in range(len(ODD_KEYS))]

    async def test_set_overwrites(self, subject: TierUnderTest) -> None:
        await subject.tier.set(KEY, b"old content")
        await subject.tier.set(KEY, b"new")
        assert await subject.tier.get(KEY) == b"new"

    async def test_delete_removes_the_keys_and_counts_them(self, subject: TierUnderTest) -> None:
        for key in ("a", "b", "c"):
            await subject.tier.set(key, key.encode())

        assert await subject.tier.delete(["a", "b"]) == 2

        assert (await subject.tier.get("a"), await subject.tier.get("b")) == (None, None)
        assert await subject.tier.get("c") == b"c"

    async def test_delete_counts_only_keys_that_were_there(self, subject: TierUnderTest) -> None:
        await subject.tier.set("a", b"a")

        assert await subject.tier.delete([]) == 0
        assert await subject.tier.delete(["missing"]) == 0
        assert await subject.tier.delete(["a", "missing"]) == 1
        assert await subject.tier.delete(["a"]) == 0

    async def test_a_deleted_key_can_be_set_again(self, subject: TierUnderTest) -> None:
        await subject.tier.set(KEY, b"v1")
        await subject.tier.delete([KEY])
        await subject.tier.set(KEY, b"v2")
        assert await subject.tier.get(KEY) == b"v2"

    async def test_entry_expires_after_its_ttl_and_others_stay(self, subject: TierUnderTest) -> None:
        await subject.tier.set("short", b"s", ttl_s=subject.ttl(2))
        await subject.tier.set("forever", b"f")

        await subject.wait(1)
        assert await subject.tier.get("short") == b"s", "still fresh before its TTL"
        await subject.wait(1.5)

        assert await subject.tier.get("short") is None
        assert await subject.tier.get("forever") == b"f"

    async def test_overwriting_without_ttl_makes_the_entry_permanent(self, subject: TierUnderTest) -> None:
        await subject.tier.set(KEY, b"temporary", ttl_s=subject.ttl(2))
        await subject.tier.set(KEY, b"permanent")

        await subject.wait(3)

        assert await subject.tier.get(KEY) == b"permanent"

    async def test_a_zero_ttl_never_makes_an_entry_permanent(self, subject: TierUnderTest) -> None:
        # `cache_ttl_s` of 0 for a strategy means "keep for no time", as the memory tier reads it.
        await subject.tier.set(KEY, b"stale at once", ttl_s=0)

        await subject.wait(1)

        assert await subject.tier.get(KEY) is None

    async def test_a_sub_millisecond_ttl_does_not_disturb_other_entries(self, subject: TierUnderTest) -> None:
        await subject.tier.set("brief", b"b", ttl_s=0.0004)
        await subject.tier.set(KEY, b"kept")

        assert await subject.tier.get(KEY) == b"kept"


class TestObjectStoreCacheTier(CacheTierContract):
    """The durable tier, on the embedded default's local folder."""

    @pytest.fixture
    def subject(self, tmp_path: Path) -> TierUnderTest:
        clock = FakeClock(datetime.fromtimestamp(1_800_000_000, UTC))
        tier = ObjectStoreCacheTier(store=LocalObjectStore(root=tmp_path / "objects"), wall_clock=clock.timestamp)
        return TierUnderTest(tier=tier, elapse=clock.sleep)


class TestSqlCacheTier(CacheTierContract):
    """The embedded default's durable tier: rows in the SQLite file beside the records, written through the
    group-commit writer and read in place; and the same table on PostgreSQL."""

    @pytest.fixture(params=BACKENDS)
    async def subject(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TierUnderTest]:
        backend: Backend = request.param
        url = backend.url(tmp_path, request)
        await (migrated_sqlite(url) if backend.name == "sqlite" else migrated_postgres(url))
        engine = create_engine(url)
        writer, reader = SqlWriter(engine=engine), SqlReader(engine=engine)
        clock = FakeClock(datetime.fromtimestamp(1_800_000_000, UTC))
        try:
            tier = SqlCacheTier(
                writer=writer, reader=reader, dialect=backend.name, wall_clock=clock.timestamp, within_s=None
            )
            yield TierUnderTest(tier=tier, elapse=clock.sleep, rows=lambda: _stored_keys(engine))
        finally:
            await writer.aclose()
            await reader.aclose()
            await engine.dispose()

    async def test_expired_entries_leave_the_table_with_the_next_entries_written(self, subject: TierUnderTest) -> None:
        assert subject.rows is not None
        rows = subject.rows
        await subject.tier.set("short", b"s", ttl_s=2)
        await subject.tier.set("forever", b"f")
        await until(lambda: _are(rows, ["forever", "short"]), what="both entries in the table")  # written behind
        await subject.wait(3)
        assert await rows() == ["forever", "short"], "an expired entry stays until the next write"

        await subject.tier.set("next", b"n", ttl_s=10)

        await until(lambda: _are(rows, ["forever", "next"]), what="the next entry in, the expired one out")
        assert await rows() == ["forever", "next"]


class TestSqlCacheTierWritesBehind:
    """`set` returns before its batch commits: the writer's window is held open here (an event), so the
    entry stays queued until the test lets it go."""

    @pytest.fixture
    async def held(self, tmp_path: Path) -> AsyncIterator[tuple[SqlCacheTier, asyncio.Event, AsyncEngine, FakeClock]]:
        url = f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}"
        await migrated_sqlite(url)
        engine = create_engine(url)
        window = asyncio.Event()
        writer, reader = SqlWriter(engine=engine, window=window.wait), SqlReader(engine=engine)
        clock = FakeClock(datetime.fromtimestamp(1_800_000_000, UTC))
        try:
            yield (
                SqlCacheTier(writer=writer, reader=reader, dialect="sqlite", wall_clock=clock.timestamp),
                window,
                engine,
                clock,
            )
        finally:
            window.set()
            await writer.aclose()
            await reader.aclose()
            await engine.dispose()

    async def test_an_entry_is_read_back_before_its_batch_commits(
        self, held: tuple[SqlCacheTier, asyncio.Event, AsyncEngine, FakeClock]
    ) -> None:
        tier, window, engine, clock = held
        async with hang_guard("a set while the writer's window is held"):
            await tier.set(KEY, b"queued", ttl_s=5)

        assert await _stored_keys(engine) == [], "a set returns before its write commits"
        assert await tier.get(KEY) == b"queued"
        window.set()
        assert await until(lambda: _are(lambda: _stored_keys(engine), [KEY]), what="the entry committed")
        assert await tier.get(KEY) == b"queued"
        await clock.sleep(6)
        assert await tier.get(KEY) is None

    async def test_a_queued_entry_expires_and_a_delete_drops_it(
        self, held: tuple[SqlCacheTier, asyncio.Event, AsyncEngine, FakeClock]
    ) -> None:
        tier, window, engine, clock = held
        await tier.set("brief", b"b", ttl_s=1)
        await tier.set(KEY, b"queued", ttl_s=60)
        await clock.sleep(2)
        assert await tier.get("brief") is None, "a queued entry expires like a written one"

        deleting = asyncio.ensure_future(tier.delete([KEY]))
        await asyncio.sleep(0)  # the delete's first step: it queues behind the entry
        assert await tier.get(KEY) is None, "a delete drops the queued entry at once"
        window.set()
        assert await deleting == 1, "the queued entry committed first, then the delete removed it"
        assert await _stored_keys(engine) == [], "the expired entry went with its own batch's purge"

    async def test_a_batch_deletes_the_expired_entries_at_most_once_a_second(
        self, held: tuple[SqlCacheTier, asyncio.Event, AsyncEngine, FakeClock]
    ) -> None:
        tier, window, engine, clock = held
        window.set()
        await tier.set("brief", b"b", ttl_s=0.5)  # its batch deletes what had expired: nothing
        assert await until(lambda: _are(lambda: _stored_keys(engine), ["brief"]), what="the first entry")
        await clock.sleep(0.6)
        await tier.set("next", b"n", ttl_s=60)
        assert await until(lambda: _are(lambda: _stored_keys(engine), ["brief", "next"]), what="the second entry")
        await clock.sleep(0.5)
        await tier.set("last", b"l", ttl_s=60)

        assert await until(lambda: _are(lambda: _stored_keys(engine), ["last", "next"]), what="the expired one gone")
        assert await tier.get("brief") is None

    async def test_a_set_queued_after_a_pending_delete_of_its_key_survives_it(
        self, held: tuple[SqlCacheTier, asyncio.Event, AsyncEngine, FakeClock]
    ) -> None:
        tier, window, engine, _ = held
        deleting = asyncio.ensure_future(tier.delete([KEY]))  # an invalidation, waiting for its batch
        await asyncio.sleep(0)  # its first step: the delete is queued
        await tier.set(KEY, b"new", ttl_s=60)  # a miss finishing meanwhile: queued after the delete

        window.set()
        assert await deleting == 0
        assert await until(lambda: _are(lambda: _stored_keys(engine), [KEY]), what="the entry after the delete")
        assert await tier.get(KEY) == b"new"

    async def test_a_set_on_a_closed_writer_keeps_nothing(
        self, held: tuple[SqlCacheTier, asyncio.Event, AsyncEngine, FakeClock]
    ) -> None:
        tier, window, engine, _ = held
        window.set()
        await tier._writer.aclose()  # the service closing: its cache still answers reads

        await tier.set(KEY, b"never written", ttl_s=60)

        assert await tier.get(KEY) is None
        assert await _stored_keys(engine) == []


class TestSqlCacheTierWhileTheDatabaseIsLocked:
    """A SQLite file another process holds the write lock of: a write returns at once (written behind), the
    delete an expired TTL makes costs the answer at most `within_s`, never the busy timeout, and neither
    fails it; the entry is written once the lock is let go."""

    @pytest.fixture
    async def tier(self, tmp_path: Path) -> AsyncIterator[tuple[SqlCacheTier, Path]]:
        path = tmp_path / "dyngen.db"
        url = f"sqlite+aiosqlite:///{path}"
        await migrated_sqlite(url)
        engine = create_engine(url)
        writer, reader = SqlWriter(engine=engine), SqlReader(engine=engine)
        try:
            yield SqlCacheTier(writer=writer, reader=reader, dialect="sqlite", within_s=0.05), path
        finally:
            await writer.aclose()
            await reader.aclose()
            await engine.dispose()

    async def test_a_write_returns_while_the_lock_is_held_and_lands_after(
        self, tier: tuple[SqlCacheTier, Path]
    ) -> None:
        subject, path = tier
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, until the rollback below
        try:
            async with hang_guard("a cache write while the database is locked"):
                await subject.set("k", b"v", ttl_s=60)
                await subject.set("gone", b"", ttl_s=0)  # the delete it makes is bounded and quiet alike
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert await until(lambda: _row_in(path, "k"), what="the entry written after the lock") == b"v"

    async def test_an_invalidation_of_more_keys_than_a_statement_binds_deletes_them_all(
        self, tier: tuple[SqlCacheTier, Path]
    ) -> None:
        subject, _ = tier
        await subject.set("player-1", b"v1", ttl_s=60)
        await until(lambda: subject.get("player-1"), what="the entry")
        keys = [f"player-{i}" for i in range(300_000)]  # over SQLite's 250,000 bound variables

        assert await subject.delete(keys) == 1
        assert await subject.get("player-1") is None


def _row_in(path: Path, key: str) -> bytes | None:
    """The value `key` has in the file's table (committed), read by a connection of its own."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute("SELECT value FROM cache_entries WHERE key = ?", (key,)).fetchone()
    return bytes(row[0]) if row is not None else None


async def _are(rows: Callable[[], Awaitable[list[str]]], expected: list[str]) -> bool:
    return await rows() == expected


async def _stored_keys(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(cache_entries.c.key))).scalars())


@pytest.mark.services
class TestS3ObjectStoreCacheTier(CacheTierContract):
    """The durable tier of a scaled deployment: an S3 bucket (moto's server), one bucket per test.

    Without the request bound (`within_s=None`): the contract is about what the tier keeps, and on a busy
    machine moto can take longer than the 0.5 s a request waits, which would read as a miss or a skipped
    write. The bound is `TestObjectStoreCacheTierWhileTheStoreIsSilent`'s subject."""

    @pytest.fixture
    async def subject(self, s3_server: MotoS3Server) -> AsyncIterator[TierUnderTest]:
        clock = FakeClock(datetime.fromtimestamp(1_800_000_000, UTC))
        async with open_s3_store(s3_server.endpoint, prefix="dyngen") as store:
            tier = ObjectStoreCacheTier(store=store, wall_clock=clock.timestamp, within_s=None)
            yield TierUnderTest(tier=tier, elapse=clock.sleep)


class TestObjectStoreCacheTierWhileTheStoreIsSilent:
    """A store that accepts and never answers costs a request `within_s`, not the store's own deadline: the
    read is a miss, the write finishes behind the answer."""

    @pytest.fixture
    def silent(self) -> SilentStore:
        return SilentStore()

    async def test_a_read_the_store_does_not_answer_is_a_miss(self, silent: SilentStore) -> None:
        tier = ObjectStoreCacheTier(store=silent, within_s=0.01)
        silent.answer.set()
        await tier.set(KEY, b"durable")
        silent.answer.clear()

        async def held_get(key: str) -> bytes | None:
            await silent.answer.wait()
            return await MemoryObjectStore.get(silent, key)

        silent.get = held_get  # type: ignore[method-assign]

        assert await tier.get(KEY) is None
        silent.answer.set()
        assert await tier.get(KEY) == b"durable"

    async def test_a_write_the_store_does_not_answer_lands_behind_the_answer(self, silent: SilentStore) -> None:
        tier = ObjectStoreCacheTier(store=silent, within_s=0.01)

        await tier.set(KEY, b"late")

        assert silent.started == 1
        silent.answer.set()
        assert await until(lambda: tier.get(KEY), what="the write left behind to land") == b"late"


@pytest.mark.services
class TestS3ObjectStoreCacheTierWhileS3IsUnreachable:
    """S3 behind a TCP proxy the test cuts: the durable tier misses and skips writes, and loses nothing."""

    @pytest.fixture
    def proxy(self, s3_proxy: TcpProxy) -> TcpProxy:
        return s3_proxy

    @pytest.fixture
    async def tier(self, proxy: TcpProxy, s3_server: MotoS3Server) -> AsyncIterator[ObjectStoreCacheTier]:
        async with open_s3_store(s3_server.endpoint) as direct:  # creates the bucket
            bucket = direct.uri("x").split("/")[2]
        async with open_s3_store(f"http://127.0.0.1:{proxy.port}", bucket=bucket, create=False, timeout_s=2) as s3:
            yield ObjectStoreCacheTier(store=s3)

    async def test_reads_miss_and_writes_are_skipped(self, tier: ObjectStoreCacheTier, proxy: TcpProxy) -> None:
        await tier.set(KEY, b"durable")
        proxy.cut()

        async with hang_guard("the tier to answer without S3"):  # an unreachable store costs a miss
            assert await tier.get(KEY) is None
            await tier.set("written during the outage", b"x")

        proxy.restore()

        async def read_again() -> bool:  # the store is tried again after its cooldown
            return await tier.get(KEY) == b"durable"

        await until(read_again, what="the durable tier to read S3 again")

    async def test_an_invalidation_fails_loudly(self, tier: ObjectStoreCacheTier, proxy: TcpProxy) -> None:
        proxy.cut()

        with pytest.raises(DyngenError) as raised:
            await tier.delete([KEY])

        assert raised.value.code is ErrorCode.DEPENDENCY_UNAVAILABLE


async def redis_server_time(connection: RedisConnection) -> float:
    seconds, microseconds = await connection.client.time()
    return seconds + microseconds / 1_000_000


async def close_connection(connection: RedisConnection) -> None:
    await connection.aclose()
    # RedisConnection.aclose leaves its pool's sockets open (see test_single_flight_redis); close them here.
    await connection.client.connection_pool.aclose()


@pytest.mark.services
class TestRedisCacheTier(CacheTierContract):
    """The shared tier, on the machine's Redis under a prefix of this test's own. TTLs run on Redis's clock."""

    @pytest.fixture
    async def subject(self, redis_url: str, redis_prefix: str) -> AsyncIterator[TierUnderTest]:
        connection = RedisConnection(url=redis_url, prefix=redis_prefix, **PATIENT_REDIS)

        async def elapse(seconds: float) -> None:
            start = await redis_server_time(connection)

            async def passed() -> bool:
                return await redis_server_time(connection) >= start + seconds

            await until(passed, what=f"{seconds} s on the Redis server's clock")

        try:
            yield TierUnderTest(tier=RedisCacheTier(connection=connection), elapse=elapse, time_scale=0.1)
        finally:
            await close_connection(connection)

    async def test_values_live_under_the_deployment_prefix(
        self, subject: TierUnderTest, redis_url: str, redis_prefix: str
    ) -> None:
        await subject.tier.set(KEY, b"shared")

        other_process = RedisConnection(url=redis_url, prefix=redis_prefix, **PATIENT_REDIS)
        other_deployment = RedisConnection(url=redis_url, prefix=f"{redis_prefix}-other")
        try:
            assert await RedisCacheTier(connection=other_process).get(KEY) == b"shared"
            assert await other_process.client.get(f"{redis_prefix}:cache:{KEY}") == b"shared"
            assert await RedisCacheTier(connection=other_deployment).get(KEY) is None
        finally:
            await close_connection(other_process)
            await close_connection(other_deployment)


@pytest.mark.services
class TestRedisCacheTierWhileRedisIsDown:
    """Redis stopped under a running tier: reads miss, writes are skipped, invalidations fail loudly."""

    @pytest.fixture
    async def tier(self, private_redis: RedisServer) -> AsyncIterator[RedisCacheTier]:
        connection = RedisConnection(url=private_redis.url, prefix="down-test")
        try:
            yield RedisCacheTier(connection=connection)
        finally:
            await close_connection(connection)

    async def test_reads_miss_and_writes_are_skipped(self, tier: RedisCacheTier, private_redis: RedisServer) -> None:
        await tier.set(KEY, b"cached before the outage")
        assert await tier.get(KEY) == b"cached before the outage"
        private_redis.stop()

        async with hang_guard("the tier to answer without Redis"):  # speed is `make bench`'s (tiers)
            for _ in range(3):  # the first call notices the outage; the next ones are in the cooldown
                assert await tier.get(KEY) is None
            await tier.set("written during the outage", b"x")

    async def test_an_invalidation_fails_loudly(self, tier: RedisCacheTier, private_redis: RedisServer) -> None:
        await tier.set(KEY, b"v")
        private_redis.stop()

        with pytest.raises(DyngenError) as raised:
            await tier.delete([KEY])

        assert raised.value.code is ErrorCode.DEPENDENCY_UNAVAILABLE

    async def test_the_same_tier_works_again_once_redis_is_back(
        self, tier: RedisCacheTier, private_redis: RedisServer
    ) -> None:
        private_redis.stop()
        assert await tier.get(KEY) is None
        private_redis.start()

        async def works() -> bool:
            await tier.set(KEY, b"after the outage")
            return await tier.get(KEY) == b"after the outage"

        await until(works, what="the tier to use Redis again")  # after the 1 s cooldown
        assert await tier.delete([KEY]) == 1


def memory_tier(*, max_bytes: int = 1 << 20, max_entries: int = 1000) -> tuple[MemoryCacheTier, FakeClock]:
    clock = FakeClock()
    return MemoryCacheTier(max_bytes=max_bytes, max_entries=max_entries, monotonic=clock.monotonic), clock


def stored(tier: MemoryCacheTier, values: dict[str, bytes]) -> int:
    """The bytes `values` should account for, after checking the tier holds exactly those entries."""
    assert len(tier) == len(values)
    return sum(len(v) for v in values.values())


class TestMemoryCacheTier(CacheTierContract):
    @pytest.fixture
    def subject(self) -> TierUnderTest:
        tier, clock = memory_tier()
        return TierUnderTest(tier=tier, elapse=clock.sleep)

    async def test_evicts_the_least_recently_used_entry_beyond_max_entries(self) -> None:
        tier, _ = memory_tier(max_entries=3)
        for key in ("a", "b", "c"):
            await tier.set(key, key.encode())
        await tier.get("a")  # a is now more recently used than b

        await tier.set("d", b"d")

        assert await tier.get("b") is None
        assert [await tier.get(k) for k in ("a", "c", "d")] == [b"a", b"c", b"d"]
        assert len(tier) == 3

    async def test_evicts_the_least_recently_used_entries_beyond_max_bytes(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        await tier.set("a", b"aaaa")
        await tier.set("b", b"bbbb")
        await tier.get("a")

        await tier.set("c", b"cccc")

        assert await tier.get("b") is None
        assert (await tier.get("a"), await tier.get("c")) == (b"aaaa", b"cccc")
        assert tier.size_bytes == 8

    async def test_one_large_entry_evicts_as_many_as_it_needs(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        for key in ("a", "b", "c"):
            await tier.set(key, b"xxx")

        await tier.set("big", b"y" * 8)

        assert [await tier.get(k) for k in ("a", "b", "c")] == [None, None, None]
        assert await tier.get("big") == b"y" * 8
        assert tier.size_bytes == 8

    async def test_a_value_larger_than_the_whole_tier_is_not_stored_and_evicts_nothing(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        await tier.set("small", b"12345")

        await tier.set("huge", b"x" * 11)

        assert await tier.get("huge") is None
        assert await tier.get("small") == b"12345"
        assert tier.size_bytes == 5

    async def test_an_oversize_overwrite_does_not_leave_the_old_value_behind(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        await tier.set(KEY, b"old")

        await tier.set(KEY, b"x" * 11)

        assert await tier.get(KEY) is None, "the caller replaced this value; the old one is stale"
        assert tier.size_bytes == 0

    async def test_size_bytes_stays_exact_through_overwrite_delete_expiry_and_eviction(self) -> None:
        tier, clock = memory_tier(max_bytes=20, max_entries=3)
        held: dict[str, bytes] = {}

        async def put(key: str, value: bytes, ttl_s: float | None = None) -> None:
            await tier.set(key, value, ttl_s=ttl_s)
            held[key] = value

        await put("a", b"1234567")
        await put("b", b"12")
        await put("a", b"123")  # overwrite shrinks
        assert tier.size_bytes == stored(tier, held) == 5
        await put("b", b"1234567890")  # overwrite grows
        assert tier.size_bytes == stored(tier, held) == 13
        await tier.delete(["a", "never-set"])
        del held["a"]
        assert tier.size_bytes == stored(tier, held) == 10
        await put("t", b"12345", ttl_s=1)
        await clock.sleep(2)
        assert await tier.get("t") is None
        del held["t"]
        assert tier.size_bytes == stored(tier, held) == 10
        await put("c", b"123456789")  # 19 bytes: fits
        await put("d", b"12345")  # 24 bytes: evicts b (least recently used)
        del held["b"]
        assert tier.size_bytes == stored(tier, held) == 14
        await tier.delete(list(held))
        assert tier.size_bytes == 0
        assert len(tier) == 0
