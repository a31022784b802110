"""The GenerationRepository contract, run on every database dyngen supports, plus its migrations.

To add a database, add one line to `BACKENDS` (mark it `services` when it needs a running server); another
kind of repository subclasses `GenerationRepositoryContract` (as `TestMemoryGenerationRepository` does).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.repository import (
    _HASHES_SQLITE,
    SqlAlchemyGenerationRepository,
    create_engine,
    record_row,
)
from dyngen.adapters.db.writer import SqlWriter
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryGenerationRepository
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.responses import Beat, Choice, ContentMetadata, ElementCheck, GeneratedContentPayload, StageInfo
from dyngen.ports import GenerationFilter, GenerationRepository
from tests.support.databases import Backend

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
K1, K2, K3, K4 = (f"dialogue|gap_fill|cafe|street|once||{v}" for v in ("1", "2", "3", "4"))


def artifact(artifact_id: str, generation_id: str, *, at: datetime = T0, role: str = "script") -> ArtifactRecord:
    return ArtifactRecord(
        id=artifact_id,
        generation_id=generation_id,
        role=role,
        media_type="application/json",
        size=1234,
        content_hash="ab" * 32,
        storage_uri=f"local://artifacts/ab/{artifact_id}",
        created_at=at,
    )


def record(
    generation_id: str,
    *,
    at: datetime = T0,
    cache_key: str = K1,
    node_id: str | None = "n-cafe",
    status: GenerationStatus = GenerationStatus.COMPLETE,
    version: int = 1,
    artifacts: list[ArtifactRecord] | None = None,
) -> GenerationRecord:
    return GenerationRecord(
        id=generation_id,
        created_at=at,
        completed_at=at + timedelta(milliseconds=1500),
        node_id=node_id,
        cache_key=cache_key,
        version=version,
        type="dialogue",
        purpose="gap_fill",
        strategy="once",
        seed=2**63 - 1,
        seed_source="fixed",
        deterministic=True,
        provider="builtin",
        provider_fingerprint="builtin/2",
        status=status,
        error_code="GEN_PROVIDER_UNAVAILABLE",
        error_message="first attempt failed",
        fallback_mode="retry",
        fallback_reason="succeeded on attempt 2",
        latency_ms=1499.125,
        cost_tokens=321,
        cost=0.0125,
        attempts=2,
        content=GeneratedContentPayload(
            type="dialogue",
            url="/api/artifacts/a1",
            duration=9.5,
            dialogue=["Caf\u00e9 lights dim.", "\u201cLet's go.\u201d"],
            choices=[Choice(id="c1", text="Follow")],
            metadata=ContentMetadata(mood="tense", tags=["rain"], quality_score=0.75),
            beats=[Beat(start=0.0, duration=4.5, kind="dialogue", text="Let's go.", speaker="mara", mood="tense")],
            content_id="bridge-1",
            placeholder=False,
        ),
        content_hash="cd" * 32,
        config_fingerprint="ef" * 32,
        request={"type": "dialogue", "style": {"moodTo": "tense"}, "constraints": {"avoidElements": ["violence"]}},
        artifacts=artifacts or [],
    )


class GenerationRepositoryContract:
    """Behaviour every `GenerationRepository` adapter must have."""

    @pytest.fixture
    async def repository(self) -> GenerationRepository:
        raise NotImplementedError("a Test<Repository> subclass provides the repository under test")

    async def test_a_full_record_with_artifacts_round_trips(self, repository: GenerationRepository) -> None:
        saved = record("g1", artifacts=[artifact("a1", "g1"), artifact("a2", "g1", at=T0 + timedelta(seconds=1))])
        await repository.add(saved)

        loaded = await repository.get("g1")

        assert loaded == saved
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert all(a.created_at.tzinfo is not None for a in loaded.artifacts)

    async def test_a_record_without_optional_fields_round_trips(self, repository: GenerationRepository) -> None:
        bare = GenerationRecord(
            id="g0",
            created_at=T0,
            cache_key=K1,
            version=0,
            type="dialogue",
            purpose="gap_fill",
            strategy="always",
            seed_source="timestamp",
            deterministic=False,
            status=GenerationStatus.FAILED,
            config_fingerprint="0" * 64,
            request={},
        )
        await repository.add(bare)
        assert await repository.get("g0") == bare

    async def test_get_of_an_unknown_id_is_none(self, repository: GenerationRepository) -> None:
        await repository.add(record("g1"))
        assert await repository.get("nope") is None

    async def test_a_failed_add_leaves_nothing_behind(self, repository: GenerationRepository) -> None:
        clash = record("g1", artifacts=[artifact("same", "g1"), artifact("same", "g1")])

        with pytest.raises(Exception):  # noqa: B017, PT011 - each database raises its own integrity error
            await repository.add(clash)

        assert await repository.get("g1") is None

    async def test_get_artifact(self, repository: GenerationRepository) -> None:
        stored = artifact("a1", "g1")
        await repository.add(record("g1", artifacts=[stored]))

        assert await repository.get_artifact("a1") == stored
        assert await repository.get_artifact("unknown") is None

    @pytest.fixture
    async def history(self, repository: GenerationRepository) -> GenerationRepository:
        """Six generations, one a second, each differing in what the filters select on."""
        failed = GenerationStatus.FAILED
        for index, (cache_key, node, status, version) in enumerate(
            [
                (K1, "n-cafe", GenerationStatus.COMPLETE, 1),  # g0
                (K1, "n-cafe", failed, 1),  # g1
                (K2, "n-cafe", GenerationStatus.COMPLETE, 2),  # g2
                (K3, "n-park", GenerationStatus.COMPLETE, 1),  # g3
                (K3, "n-park", GenerationStatus.COMPLETE, 1),  # g4
                (K4, "n-cafe", failed, 1),  # g5: the only generation of K4 failed
            ]
        ):
            at = T0 + timedelta(seconds=index)
            await repository.add(
                record(f"g{index}", at=at, cache_key=cache_key, node_id=node, status=status, version=version)
            )
        return repository

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            pytest.param(GenerationFilter(), ["g5", "g4", "g3", "g2", "g1", "g0"], id="all-newest-first"),
            pytest.param(GenerationFilter(cache_key=K1), ["g1", "g0"], id="cache-key"),
            pytest.param(GenerationFilter(node_id="n-park"), ["g4", "g3"], id="node"),
            pytest.param(GenerationFilter(status="failed"), ["g5", "g1"], id="status"),
            pytest.param(GenerationFilter(version=2), ["g2"], id="version"),
            pytest.param(GenerationFilter(node_id="n-cafe", status="complete"), ["g2", "g0"], id="combined"),
            pytest.param(GenerationFilter(limit=2), ["g5", "g4"], id="limit"),
            pytest.param(GenerationFilter(node_id="n-nowhere"), [], id="nothing"),
        ],
    )
    async def test_find_filters_newest_first(
        self, history: GenerationRepository, query: GenerationFilter, expected: list[str]
    ) -> None:
        assert [r.id for r in await history.find(query)] == expected

    @pytest.mark.parametrize(
        ("selector", "expected"),
        [
            pytest.param({"node_id": "n-cafe"}, [K1, K2], id="node"),
            pytest.param({"version": 1}, [K1, K3], id="version"),
            pytest.param({"cache_key": K3}, [K3], id="cache-key"),
            pytest.param({"cache_key": K4}, [], id="cache-key-never-completed"),
            pytest.param({"node_id": "n-cafe", "version": 2}, [K2], id="node-and-version"),
            pytest.param({}, [K1, K2, K3], id="everything"),
            pytest.param({"prefix": "dialogue|gap_fill|cafe|"}, [K1, K2, K3], id="prefix"),
            pytest.param({"prefix": K1}, [K1], id="prefix-is-a-whole-key"),
            pytest.param({"prefix": "dialogue|gap_fill|ca%"}, [], id="prefix-is-not-a-like-pattern"),
            pytest.param({"prefix": "dialogue|", "version": 2}, [K2], id="prefix-and-version"),
        ],
    )
    async def test_cache_keys_are_the_distinct_keys_of_complete_generations(
        self, history: GenerationRepository, selector: dict[str, object], expected: list[str]
    ) -> None:
        query = {"node_id": None, "version": None, "cache_key": None, **selector}
        assert sorted(await history.cache_keys(**query)) == expected  # type: ignore[arg-type]

    async def test_ping_answers_when_the_database_is_reachable(self, repository: GenerationRepository) -> None:
        await repository.ping()

    async def test_content_hashes_are_each_keys_newest_completed_generations(
        self, history: GenerationRepository
    ) -> None:
        found = await history.content_hashes([K1, K3, K4, "never-seen"])

        assert {key: [h.id for h in hashes] for key, hashes in found.items()} == {K1: ["g0"], K3: ["g4", "g3"]}
        [g0] = found[K1]
        assert (g0.seed, g0.config_fingerprint, g0.content_hash) == (2**63 - 1, "ef" * 32, "cd" * 32)
        assert [h.id for h in (await history.content_hashes([K3], per_key=1))[K3]] == ["g4"]

    async def test_concurrent_lookups_of_one_key_each_get_their_own_key(self, history: GenerationRepository) -> None:
        # The drift check asks for one key per miss; concurrent asks may share a read, never mix answers.
        keys = [K1, K3, K4, K1, K2]

        found = await asyncio.gather(*(history.content_hashes([key]) for key in keys))

        assert [{k: [h.id for h in v] for k, v in f.items()} for f in found] == [
            {K1: ["g0"]},
            {K3: ["g4", "g3"]},
            {},
            {K1: ["g0"]},
            {K2: ["g2"]},
        ]

    async def test_a_lookup_started_soon_gives_its_keys_history(self, history: GenerationRepository) -> None:
        # A miss starts its key's lookup without a task (drift.look_up) and reads the future after its provider.
        keys = [K1, K3, K4, "never-seen", K1]

        futures = [history.content_hashes_soon(key) for key in keys]
        found = [await future for future in futures]

        assert [[h.id for h in hashes] for hashes in found] == [["g0"], ["g4", "g3"], [], [], ["g0"]]
        assert [h.id for h in (await history.content_hashes([K3], per_key=1))[K3]] == ["g4"], "the newest of it"

    async def test_a_lookup_given_up_on_leaves_the_others_answered(self, history: GenerationRepository) -> None:
        given_up = history.content_hashes_soon(K3)
        kept = history.content_hashes_soon(K1)
        given_up.cancel()  # the miss had nothing to compare (runs.py)

        assert [h.id for h in await kept] == ["g0"]


class TestSqlAlchemyGenerationRepository(GenerationRepositoryContract):
    @pytest.fixture
    async def repository(self, engine: AsyncEngine) -> GenerationRepository:
        await schema.upgrade(engine)
        return SqlAlchemyGenerationRepository(engine=engine)

    async def test_closing_lets_the_lookups_being_read_finish(self, repository: GenerationRepository) -> None:
        # Its read needs the engine, which the service disposes of right after: one left running opened a
        # connection on the disposed engine that no one closed.
        assert isinstance(repository, SqlAlchemyGenerationRepository)
        await repository.add(record("g1"))
        pending = repository.content_hashes_soon(K1)
        assert not pending.done(), "without a reader in place, it waits for the read it shares"

        await repository.aclose()

        assert [h.id for h in pending.result()] == ["g1"]

    async def test_a_time_with_another_offset_round_trips_to_the_same_instant(
        self, request: pytest.FixtureRequest, backend: Backend, repository: GenerationRepository
    ) -> None:
        paris = timezone(timedelta(hours=2))
        at = datetime(2026, 6, 1, 12, 0, tzinfo=paris)
        await repository.add(record("g1", at=at, artifacts=[artifact("a1", "g1", at=at)]))

        loaded = await repository.get("g1")

        assert loaded is not None
        assert loaded.created_at == at
        assert loaded.artifacts[0].created_at == at

    async def test_ping_fails_when_the_file_is_not_a_database(self, tmp_path: Path) -> None:
        garbage = tmp_path / "not-a-database.db"
        garbage.write_bytes(b"this is not an SQLite file" * 100)
        broken = create_engine(f"sqlite+aiosqlite:///{garbage}")
        try:
            with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's own error
                await SqlAlchemyGenerationRepository(engine=broken).ping()
        finally:
            await broken.dispose()


class TestGroupCommitGenerationRepository(GenerationRepositoryContract):
    """The same contract with records added through the process's group-commit writer (as `bootstrap.build`
    wires it), plus what batching must keep: durable on return, idempotent, failures kept to their batch."""

    @pytest.fixture
    def window(self) -> list[asyncio.Event]:
        return []  # empty: no window (a real writer's); a test appends an event to hold batches open

    @pytest.fixture
    async def writer(self, engine: AsyncEngine, window: list[asyncio.Event]) -> AsyncIterator[SqlWriter]:
        async def wait() -> None:
            if window:
                await window[0].wait()

        writer = SqlWriter(engine=engine, window=wait)
        yield writer
        await writer.aclose()

    @pytest.fixture
    async def repository(self, engine: AsyncEngine, writer: SqlWriter) -> GenerationRepository:
        await schema.upgrade(engine)
        return SqlAlchemyGenerationRepository(engine=engine, writer=writer)

    async def test_concurrent_adds_share_transactions_and_each_is_stored_once_its_add_returns(
        self, repository: GenerationRepository, writer: SqlWriter
    ) -> None:
        async def add_then_read(i: int) -> GenerationRecord | None:
            await repository.add(record(f"g{i}", artifacts=[artifact(f"a{i}", f"g{i}")]))
            return await repository.get(f"g{i}")  # durable: readable by anyone the moment add returned

        loaded = await asyncio.gather(*(add_then_read(i) for i in range(40)))

        assert [r.id if r else None for r in loaded] == [f"g{i}" for i in range(40)]
        assert all(r is not None and [a.id for a in r.artifacts] == [f"a{r.id[1:]}"] for r in loaded)
        assert writer.commits.batches < 40

    async def test_a_record_added_soon_is_stored_once_its_future_is_done(
        self, repository: GenerationRepository, window: list[asyncio.Event]
    ) -> None:
        window.append(held := asyncio.Event())  # the batch stays open until the test lets it go
        futures = [repository.add_soon(record(f"g{i}", artifacts=[artifact(f"a{i}", f"g{i}")])) for i in range(3)]
        assert all(f is not None and not f.done() for f in futures)

        held.set()
        await asyncio.gather(*(f for f in futures if f is not None))

        assert [r.id for r in await repository.find(GenerationFilter())] == ["g0", "g1", "g2"]
        keyed = record("g9").model_copy(update={"idempotency_key": "k"})
        assert repository.add_soon(keyed) is None, "one with an idempotency key is added alone"

    async def test_a_record_given_up_on_stays_in_its_batch(
        self, repository: GenerationRepository, window: list[asyncio.Event]
    ) -> None:
        window.append(held := asyncio.Event())
        soon = repository.add_soon(record("g1"))
        assert soon is not None
        done, _ = await asyncio.wait({soon}, timeout=0.01)  # as `record_generation` waits, then gives up
        assert not done

        held.set()
        await soon
        assert await repository.get("g1") is not None

    async def test_a_record_added_again_is_left_as_it_was(self, repository: GenerationRepository) -> None:
        first = record("g1", artifacts=[artifact("a1", "g1")])
        await repository.add(first)

        # An outbox replay of a record whose first write did commit after its caller gave up on it.
        await repository.add(first)
        await repository.add(first.model_copy(update={"node_id": "n-other"}))

        assert await repository.get("g1") == first

    async def test_a_bad_record_fails_its_batch_and_no_other(
        self, repository: GenerationRepository, window: list[asyncio.Event]
    ) -> None:
        await repository.add(record("before"))
        window.append(asyncio.Event())
        clash = record("bad", artifacts=[artifact("same", "bad"), artifact("same", "bad")])
        batch = [asyncio.create_task(repository.add(r)) for r in (record("good"), clash)]
        await asyncio.sleep(0)  # both wait in the same window
        window[0].set()
        outcomes = await asyncio.gather(*batch, return_exceptions=True)
        window.clear()
        await repository.add(record("after"))

        assert all(isinstance(o, Exception) for o in outcomes)
        assert [await repository.get(i) is not None for i in ("before", "good", "bad", "after")] == [
            True,
            False,
            False,
            True,
        ]

    async def test_the_json_columns_hold_what_a_write_without_the_writer_stores(
        self, engine: AsyncEngine, backend: Backend, repository: GenerationRepository
    ) -> None:
        # The writer brings the JSON columns' text made by pydantic (`record_text_row`); the values
        # must be those the JSON type writes for the same record (`record_row`), `None` as JSON `null`.
        checks = [ElementCheck(element="caf\u00e9", role="required", verified_by="lexicon", beat=0, quote="Caf\u00e9")]
        stages = [StageInfo(stage="script", provider="builtin", tokens=3, cost=0.1 + 0.2)]
        full = record("g1").model_copy(update={"elements": checks, "stages": stages})
        empty = record("g2").model_copy(update={"content": None, "request": {"n": 1e-7, "big": 2**70}})
        alone = SqlAlchemyGenerationRepository(engine=engine)  # one transaction each, no writer
        for made in (full, empty):
            await repository.add(made)
            await alone.add(made.model_copy(update={"id": f"{made.id}-alone"}))

        async with engine.connect() as conn:
            rows = {
                row[0]: row[1:]
                for row in await conn.exec_driver_sql("SELECT id, content, request, elements, stages FROM generations")
            }

        def values(stored: tuple[Any, ...]) -> list[Any]:  # SQLite gives the text, asyncpg the values
            return [json.loads(v) if isinstance(v, str) else v for v in stored]

        for made in (full, empty):
            written = values(rows[made.id])
            assert written == values(rows[f"{made.id}-alone"])
            assert written == [record_row(made)[name] for name in ("content", "request", "elements", "stages")]
            assert await repository.get(made.id) == made
        if backend.name == "sqlite":
            assert rows["g2"][0] == rows["g2-alone"][0] == "null"


class TestReaderGenerationRepository(TestGroupCommitGenerationRepository):
    """The same contract as `bootstrap.build` wires the repository: records through the group-commit
    writer, the drift lookups through the process's reader (adapters/db/reader.py), one thread hop each."""

    @pytest.fixture
    async def reader(self, engine: AsyncEngine) -> AsyncIterator[SqlReader]:
        reader = SqlReader(engine=engine)
        yield reader
        await reader.aclose()

    @pytest.fixture
    async def repository(self, engine: AsyncEngine, writer: SqlWriter, reader: SqlReader) -> GenerationRepository:
        await schema.upgrade(engine)
        return SqlAlchemyGenerationRepository(engine=engine, writer=writer, reader=reader)

    async def test_a_lookup_sees_what_another_process_committed_before_it(
        self, request: pytest.FixtureRequest, backend: Backend, repository: GenerationRepository, tmp_path: Path
    ) -> None:
        await repository.add(record("g1", cache_key=K2))
        assert [h.id for h in (await repository.content_hashes([K2]))[K2]] == ["g1"]
        other = create_engine(backend.url(tmp_path, request))  # another process's engine on the same database
        try:
            await SqlAlchemyGenerationRepository(engine=other).add(record("g2", cache_key=K2, at=T0 + timedelta(1)))
        finally:
            await other.dispose()

        assert [h.id for h in (await repository.content_hashes([K2]))[K2]] == ["g2", "g1"]
        assert [h.id for h in (await repository.content_hashes([K2, K3]))[K2]] == ["g2", "g1"]


async def test_a_drift_lookup_on_sqlite_searches_its_keys_not_every_completed_generation(tmp_path: Path) -> None:
    # Every miss looks its key up; SQLite (no statistics) took the index on `status` for it, a read of every
    # completed generation that grew with the table (issue 18: ~157 page reads per miss after 1,600 misses).
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}")
    try:
        await schema.upgrade(engine)
        repository = SqlAlchemyGenerationRepository(engine=engine)
        for i in range(30):
            await repository.add(record(f"g{i}", cache_key=K1 if i % 3 else K2, at=T0 + timedelta(seconds=i)))
        async with engine.connect() as conn:
            statement = str(_HASHES_SQLITE.compile(dialect=conn.dialect)).replace("(__[POSTCOMPILE_keys])", "(?, ?)")
            plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", (K2, K3))
            details = [row[-1] for row in plan]

        assert any("USING INDEX ix_generations_cache_key (cache_key=?)" in d for d in details), details
        found = await repository.content_hashes([K2, K3])
        assert [h.id for h in found[K2]] == ["g27", "g24", "g21", "g18", "g15", "g12", "g9", "g6", "g3", "g0"]
    finally:
        await engine.dispose()


async def test_a_drift_lookup_on_sqlite_is_read_in_place_not_in_the_readers_thread(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}")
    reader = SqlReader(engine=engine)
    try:
        await schema.upgrade(engine)
        repository = SqlAlchemyGenerationRepository(engine=engine, reader=reader)
        await repository.add(record("g1", cache_key=K2))
        await repository.add(record("g2", cache_key=K2, at=T0 + timedelta(seconds=1)))

        async def no_thread(read: object) -> object:
            raise AssertionError("the lookup was handed to the reader's thread")

        reader.read = no_thread  # type: ignore[method-assign]
        found = await repository.content_hashes([K2])
        assert [h.id for h in found[K2]] == ["g2", "g1"]
        soon = repository.content_hashes_soon(K2)
        assert soon.done()  # at once: a miss's lookup costs no task and no turn of the loop
        assert [h.id for h in soon.result()] == ["g2", "g1"]
    finally:
        await reader.aclose()
        await engine.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


@pytest.mark.empty_database
async def test_upgrade_brings_an_empty_database_to_the_head_revision(engine: AsyncEngine) -> None:
    assert await schema.current_revision(engine) is None

    await schema.upgrade(engine)

    assert schema.head_revision() is not None
    assert await schema.current_revision(engine) == schema.head_revision()
    assert {"generations", "generation_artifacts"} <= await _tables(engine)


async def test_upgrading_twice_changes_nothing_and_keeps_the_data(engine: AsyncEngine) -> None:
    await schema.upgrade(engine)
    repository = SqlAlchemyGenerationRepository(engine=engine)
    saved = record("g1", artifacts=[artifact("a1", "g1")])
    await repository.add(saved)
    tables = await _tables(engine)

    await schema.upgrade(engine)

    assert await schema.current_revision(engine) == schema.head_revision()
    assert await _tables(engine) == tables
    assert await repository.get("g1") == saved


class TestMemoryGenerationRepository(GenerationRepositoryContract):
    @pytest.fixture
    def repository(self) -> GenerationRepository:
        return MemoryGenerationRepository(database=MemoryDatabase())
