"""The RetentionRepository contract on every database dyngen supports (SQLite, PostgreSQL): which records
are past their window, what refers to them, and removals that take their artifacts and events along and
name the objects nothing else names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.graphs import SqlAlchemyGraphRepository
from dyngen.adapters.db.jobs import SqlAlchemyJobRepository
from dyngen.adapters.db.nodes import SqlAlchemyNodeConfigRepository
from dyngen.adapters.db.retention import SqlAlchemyRetentionRepository
from dyngen.adapters.db.reviews import SqlAlchemyReviewRepository
from dyngen.adapters.db.tables import generation_events, warmup_events, warmups
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.ports import RetentionRepository, Review
from tests.contract.test_repository import T0, record

DAY = timedelta(days=1)
ID = "{:032x}".format


def blob(artifact_id: str, generation_id: str, *, uri: str, size: int = 100) -> ArtifactRecord:
    return ArtifactRecord(
        id=artifact_id,
        generation_id=generation_id,
        role="script",
        media_type="application/json",
        size=size,
        content_hash="ab" * 32,
        storage_uri=uri,
        created_at=T0,
    )


def generation(
    gid: str, *, days: float, strategy: str = "always", key: str = "k", **changes: object
) -> GenerationRecord:
    base = record(gid, at=T0 + timedelta(days=days), cache_key=key)
    return base.model_copy(update={"strategy": strategy, **changes})


class RetentionRepositoryContract:
    @pytest.fixture
    async def retention(self) -> RetentionRepository:
        raise NotImplementedError

    @pytest.fixture
    async def jobs(self) -> SqlAlchemyJobRepository:
        raise NotImplementedError

    async def test_expired_generations_follow_each_strategys_window_oldest_first(
        self, retention: RetentionRepository, jobs: SqlAlchemyJobRepository
    ) -> None:
        await jobs.add(generation("a-old", days=0))
        await jobs.add(generation("a-new", days=5))
        await jobs.add(generation("o-old", days=0, strategy="once"))
        await jobs.add(generation("p-old", days=1, strategy="per_player"))
        await jobs.add(generation("f-mid", days=3, strategy="once", status=GenerationStatus.FAILED))
        now = T0 + timedelta(days=6)

        found = await retention.expired_generations(
            cutoffs={"always": now - 2 * DAY, "per_player": now - 90 * DAY}, failed_before=now - 2 * DAY
        )

        assert [g.id for g in found] == ["a-old", "f-mid"]
        assert found[0].created_at == T0
        assert (found[1].strategy, found[1].status, found[1].cache_key) == ("once", "failed", "k")

    async def test_queued_running_and_reviewed_generations_are_never_candidates(
        self, retention: RetentionRepository, jobs: SqlAlchemyJobRepository, engine: AsyncEngine
    ) -> None:
        await jobs.add(generation("queued", days=0, status=GenerationStatus.QUEUED))
        await jobs.add(generation("running", days=0, status=GenerationStatus.PROCESSING))
        await jobs.add(generation("reviewed", days=0))
        await jobs.add(generation("plain", days=0))
        await SqlAlchemyReviewRepository(engine=engine).add_review(
            Review(
                id="r1",
                generation_id="reviewed",
                node_id="n",
                cache_key="k",
                arm="b",
                score=4,
                note=None,
                reviewer=None,
                created_at=T0,
            )
        )
        now = T0 + 10 * DAY
        cutoffs = {"always": now}

        assert [g.id for g in await retention.expired_generations(cutoffs=cutoffs, failed_before=now)] == ["plain"]
        removed = await retention.remove_generations(["queued", "running", "reviewed", "plain"])
        assert removed.generations == 1
        assert await jobs.get("reviewed") is not None
        assert await jobs.get("queued") is not None

    async def test_the_cursor_pages_through_candidates(
        self, retention: RetentionRepository, jobs: SqlAlchemyJobRepository
    ) -> None:
        for index in range(5):
            await jobs.add(generation(f"g{index}", days=index))
        cutoffs = {"always": T0 + 10 * DAY}

        first = await retention.expired_generations(cutoffs=cutoffs, failed_before=None, limit=2)
        second = await retention.expired_generations(
            cutoffs=cutoffs, failed_before=None, limit=2, after=(first[-1].created_at, first[-1].id)
        )

        assert [g.id for g in [*first, *second]] == ["g0", "g1", "g2", "g3"]

    async def test_newest_complete_per_key(self, retention: RetentionRepository, jobs: SqlAlchemyJobRepository) -> None:
        await jobs.add(generation("k1-old", days=0, key="k1"))
        await jobs.add(generation("k1-new", days=1, key="k1"))
        await jobs.add(generation("k1-failed-newer", days=2, key="k1", status=GenerationStatus.FAILED))
        await jobs.add(generation("k2-only", days=0, key="k2"))
        await jobs.add(generation("k3-tie-a", days=0, key="k3"))
        await jobs.add(generation("k3-tie-b", days=0, key="k3"))

        newest = await retention.newest_complete(["k1", "k2", "k3", "k4"])

        assert {key: sorted(g.id for g in tied) for key, tied in newest.items()} == {
            "k1": ["k1-new"],
            "k2": ["k2-only"],
            "k3": ["k3-tie-a", "k3-tie-b"],
        }

    async def test_artifact_owners_and_authored_references(
        self, retention: RetentionRepository, jobs: SqlAlchemyJobRepository, engine: AsyncEngine
    ) -> None:
        await jobs.add(generation("g1", days=0, artifacts=[blob(ID(1), "g1", uri="local://artifacts/aa/1")]))
        image = {"scenes": [{"id": "cafe", "image": ID(7)}]}
        await SqlAlchemyGraphRepository(engine=engine).save_graph("g", title="t", body=image, author=None, at=T0)
        config = {"from_scene": {"image": ID(8)}}
        await SqlAlchemyNodeConfigRepository(engine=engine).save_node("n", config=config, author=None, note=None, at=T0)

        assert await retention.artifact_owners([ID(1), ID(2)]) == {ID(1): "g1"}
        authored = await retention.authored_references()
        assert ID(7).encode() in authored
        assert ID(8).encode() in authored

    async def test_removal_takes_artifacts_and_events_and_names_only_unshared_objects(
        self, retention: RetentionRepository, jobs: SqlAlchemyJobRepository, engine: AsyncEngine
    ) -> None:
        shared, alone = "local://artifacts/aa/shared", "local://artifacts/bb/alone"
        await jobs.add(
            generation("old", days=0, artifacts=[blob("a1", "old", uri=shared), blob("a2", "old", uri=alone, size=7)])
        )
        await jobs.add(generation("new", days=1, artifacts=[blob("a3", "new", uri=shared)]))
        await jobs.add_event("old", "completed", {}, at=T0)

        dry = await retention.remove_generations(["old"], dry_run=True)
        assert (dry.generations, dry.artifacts, dry.events, dry.orphans) == (1, 2, 1, {alone: 7})
        assert await jobs.get("old") is not None, "a dry run removes nothing"

        removed = await retention.remove_generations(["old", "unknown"])

        assert (removed.generations, removed.artifacts, removed.events, removed.orphans) == (1, 2, 1, {alone: 7})
        assert await jobs.get("old") is None
        assert await retention.artifact_owners(["a1", "a2", "a3"]) == {"a3": "new"}
        assert await retention.named_uris([shared, alone, "local://never"]) == {shared}

    async def test_remove_events_of_finished_jobs_and_runs_only(
        self, retention: RetentionRepository, jobs: SqlAlchemyJobRepository, engine: AsyncEngine
    ) -> None:
        await jobs.add(generation("done", days=0))
        await jobs.add(generation("queued", days=0, status=GenerationStatus.QUEUED))
        for job in ("done", "queued"):
            await jobs.add_event(job, "progress", {}, at=T0)
        await jobs.add_event("done", "completed", {}, at=T0 + 5 * DAY)
        async with engine.begin() as conn:
            for run, status in (("w-done", "complete"), ("w-running", "running")):
                await conn.execute(
                    insert(warmups).values(
                        id=run,
                        graph_id="g",
                        origin="api",
                        status=status,
                        concurrency=1,
                        options={},
                        skipped=[],
                        created_at=T0,
                        finished_at=T0 if status == "complete" else None,
                    )
                )
                await conn.execute(insert(warmup_events).values(warmup_id=run, type="x", data={}, created_at=T0))

        assert await retention.remove_events(before=T0 + DAY, dry_run=True) == 2
        assert await retention.remove_events(before=T0 + DAY) == 2

        async with engine.connect() as conn:
            jobs_left = (await conn.execute(select(generation_events.c.generation_id))).scalars().all()
            runs_left = (await conn.execute(select(warmup_events.c.warmup_id))).scalars().all()
        assert sorted(jobs_left) == ["done", "queued"]  # the newer event of `done`, every event of `queued`
        assert runs_left == ["w-running"]

        assert await retention.remove_warmups(before=T0 + DAY) == 1
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(warmups))).scalar() == 1


class TestSqlAlchemyRetentionRepository(RetentionRepositoryContract):
    @pytest.fixture
    async def jobs(self, engine: AsyncEngine) -> SqlAlchemyJobRepository:
        await schema.upgrade(engine)
        return SqlAlchemyJobRepository(engine=engine)

    @pytest.fixture
    async def retention(self, engine: AsyncEngine, jobs: SqlAlchemyJobRepository) -> RetentionRepository:
        return SqlAlchemyRetentionRepository(engine=engine)
