"""The RetentionRepository contract on every database dyngen supports (SQLite, PostgreSQL) and on the
memory records: which records are past their window, what refers to them, and removals that take their
artifacts and events along and name the objects nothing else names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.graphs import SqlAlchemyGraphRepository
from dyngen.adapters.db.jobs import SqlAlchemyJobRepository
from dyngen.adapters.db.nodes import SqlAlchemyNodeConfigRepository
from dyngen.adapters.db.retention import SqlAlchemyRetentionRepository
from dyngen.adapters.db.reviews import SqlAlchemyReviewRepository
from dyngen.adapters.db.warmups import SqlAlchemyWarmupRepository
from dyngen.adapters.memory.authoring import (
    MemoryGraphRepository,
    MemoryNodeConfigRepository,
    MemoryReviewRepository,
)
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryJobRepository
from dyngen.adapters.memory.retention import MemoryRetentionRepository
from dyngen.adapters.memory.warmups import MemoryWarmupRepository
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import ArtifactRecord, GenerationRecord
from dyngen.domain.warmup import WarmupStatus
from dyngen.ports import (
    GraphRepository,
    JobRepository,
    NodeConfigRepository,
    RetentionRepository,
    Review,
    ReviewRepository,
    WarmupRepository,
)
from tests.contract.test_repository import T0, record
from tests.contract.test_warmup_repository import a_run, items

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


@dataclass(frozen=True)
class Stores:
    """The repositories of one database: retention's, and those that write what it reads."""

    retention: RetentionRepository
    jobs: JobRepository
    reviews: ReviewRepository
    graphs: GraphRepository
    nodes: NodeConfigRepository
    warmups: WarmupRepository


class RetentionRepositoryContract:
    @pytest.fixture
    async def stores(self) -> Stores:
        raise NotImplementedError

    @pytest.fixture
    def retention(self, stores: Stores) -> RetentionRepository:
        return stores.retention

    @pytest.fixture
    def jobs(self, stores: Stores) -> JobRepository:
        return stores.jobs

    async def test_expired_generations_follow_each_strategys_window_oldest_first(
        self, retention: RetentionRepository, jobs: JobRepository
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
        self, retention: RetentionRepository, jobs: JobRepository, stores: Stores
    ) -> None:
        await jobs.add(generation("queued", days=0, status=GenerationStatus.QUEUED))
        await jobs.add(generation("running", days=0, status=GenerationStatus.PROCESSING))
        await jobs.add(generation("reviewed", days=0))
        await jobs.add(generation("plain", days=0))
        await stores.reviews.add_review(
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
        self, retention: RetentionRepository, jobs: JobRepository
    ) -> None:
        for index in range(5):
            await jobs.add(generation(f"g{index}", days=index))
        cutoffs = {"always": T0 + 10 * DAY}

        first = await retention.expired_generations(cutoffs=cutoffs, failed_before=None, limit=2)
        second = await retention.expired_generations(
            cutoffs=cutoffs, failed_before=None, limit=2, after=(first[-1].created_at, first[-1].id)
        )

        assert [g.id for g in [*first, *second]] == ["g0", "g1", "g2", "g3"]

    async def test_newest_complete_per_key(self, retention: RetentionRepository, jobs: JobRepository) -> None:
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
        self, retention: RetentionRepository, jobs: JobRepository, stores: Stores
    ) -> None:
        await jobs.add(generation("g1", days=0, artifacts=[blob(ID(1), "g1", uri="local://artifacts/aa/1")]))
        image = {"scenes": [{"id": "cafe", "image": ID(7)}]}
        await stores.graphs.save_graph("g", title="t", body=image, author=None, at=T0)
        config = {"from_scene": {"image": ID(8)}}
        await stores.nodes.save_node("n", config=config, author=None, note=None, at=T0)

        assert await retention.artifact_owners([ID(1), ID(2)]) == {ID(1): "g1"}
        authored = await retention.authored_references()
        assert ID(7).encode() in authored
        assert ID(8).encode() in authored

    async def test_removal_takes_artifacts_and_events_and_names_only_unshared_objects(
        self, retention: RetentionRepository, jobs: JobRepository
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
        self, retention: RetentionRepository, jobs: JobRepository, stores: Stores
    ) -> None:
        await jobs.add(generation("done", days=0))
        await jobs.add(generation("queued", days=0, status=GenerationStatus.QUEUED))
        for job in ("done", "queued"):
            await jobs.add_event(job, "progress", {}, at=T0)
        await jobs.add_event("done", "completed", {}, at=T0 + 5 * DAY)
        for run in ("w-done", "w-live"):
            await stores.warmups.add_warmup(a_run(run), items(1))
            await stores.warmups.add_warmup_event(run, "x", {}, at=T0)
        assert await stores.warmups.finish_warmup("w-done", owner=None, status=WarmupStatus.COMPLETE, at=T0)

        assert await retention.remove_events(before=T0 + DAY, dry_run=True) == 2
        assert len(await jobs.events_after("done", 0)) == 2, "a dry run removes nothing"
        assert await retention.remove_events(before=T0 + DAY) == 2

        # the newer event of `done`, every event of `queued`, every event of the live run
        assert [e.type for e in await jobs.events_after("done", 0)] == ["completed"]
        assert len(await jobs.events_after("queued", 0)) == 1
        assert await stores.warmups.warmup_events_after("w-done", 0) == []
        assert len(await stores.warmups.warmup_events_after("w-live", 0)) == 1

        assert await retention.remove_warmups(before=T0 + DAY, dry_run=True) == 1
        assert await retention.remove_warmups(before=T0 + DAY) == 1
        assert await stores.warmups.get_warmup("w-done") is None
        assert await stores.warmups.get_warmup("w-live") is not None


class TestSqlAlchemyRetentionRepository(RetentionRepositoryContract):
    @pytest.fixture
    async def stores(self, engine: AsyncEngine) -> Stores:
        await schema.upgrade(engine)
        return Stores(
            retention=SqlAlchemyRetentionRepository(engine=engine),
            jobs=SqlAlchemyJobRepository(engine=engine),
            reviews=SqlAlchemyReviewRepository(engine=engine),
            graphs=SqlAlchemyGraphRepository(engine=engine),
            nodes=SqlAlchemyNodeConfigRepository(engine=engine),
            warmups=SqlAlchemyWarmupRepository(engine=engine),
        )


class TestMemoryRetentionRepository(RetentionRepositoryContract):
    @pytest.fixture
    def stores(self) -> Stores:
        database = MemoryDatabase()
        return Stores(
            retention=MemoryRetentionRepository(database=database),
            jobs=MemoryJobRepository(database=database),
            reviews=MemoryReviewRepository(database=database),
            graphs=MemoryGraphRepository(database=database),
            nodes=MemoryNodeConfigRepository(database=database),
            warmups=MemoryWarmupRepository(database=database),
        )
