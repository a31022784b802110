"""The WarmupRepository contract (claims with leases, per-item outcomes, counts with cost, events), run on
every database dyngen supports and on the memory repository: one runner owns a run at a time, and a run's
stored progress is what a resume starts from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.repository import SqlAlchemyGenerationRepository
from dyngen.adapters.db.warmups import SqlAlchemyWarmupRepository
from dyngen.adapters.db.writer import SqlWriter
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryGenerationRepository
from dyngen.adapters.memory.warmups import MemoryWarmupRepository
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import GenerationRecord
from dyngen.domain.warmup import ItemOutcome, ItemStatus, WarmupItem, WarmupRun, WarmupStatus
from dyngen.ports import GenerationRepository, WarmupRepository

T0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
LEASE = timedelta(seconds=15)


def a_run(run_id: str = "w1", *, origin: str = "api", at: datetime = T0) -> WarmupRun:
    return WarmupRun(
        id=run_id,
        graph_id="g",
        graph_version=3,
        origin=origin,
        status=WarmupStatus.QUEUED,
        concurrency=4,
        options={"playthroughs": [["a", "b"]], "playthrough_id": None, "player_id": None},
        skipped=[{"node_id": "n_always", "reason": "strategy always"}],
        created_at=at,
    )


def items(count: int) -> list[WarmupItem]:
    return [WarmupItem(position=i, node_id=f"n{i}", request={"type": "transition", "n": i}) for i in range(count)]


class WarmupRepositoryContract:
    """Behaviour every `WarmupRepository` adapter must have."""

    @pytest.fixture
    async def stores(self) -> tuple[GenerationRepository, WarmupRepository]:
        raise NotImplementedError("a Test<Repository> subclass provides the repositories under test")

    @pytest.fixture
    def warmups(self, stores: tuple[GenerationRepository, WarmupRepository]) -> WarmupRepository:
        return stores[1]

    async def test_a_run_and_its_items_are_stored_as_planned(self, warmups: WarmupRepository) -> None:
        await warmups.add_warmup(a_run(), items(3))
        stored = await warmups.get_warmup("w1")
        assert stored == a_run()
        assert await warmups.get_warmup("nosuch") is None
        assert [(i.position, i.node_id, i.request) for i in await warmups.pending_items("w1")] == [
            (0, "n0", {"type": "transition", "n": 0}),
            (1, "n1", {"type": "transition", "n": 1}),
            (2, "n2", {"type": "transition", "n": 2}),
        ]
        counts = await warmups.warmup_counts("w1")
        assert (counts.total, counts.pending, counts.done, counts.cost) == (3, 3, 0, 0.0)

    async def test_one_runner_claims_a_run_until_its_lease_expires(self, warmups: WarmupRepository) -> None:
        await warmups.add_warmup(a_run(), items(2))
        claims = await asyncio.gather(
            *(warmups.claim_warmup("w1", owner=f"r{i}", now=T0, lease_until=T0 + LEASE) for i in range(4))
        )
        owners = [c.lease_owner for c in claims if c is not None]
        assert len(owners) == 1, claims
        assert claims[[c is not None for c in claims].index(True)].status is WarmupStatus.RUNNING  # type: ignore[union-attr]
        assert await warmups.claim_warmup("w1", owner="late", now=T0 + LEASE / 2, lease_until=T0 + LEASE) is None
        assert await warmups.heartbeat_warmup("w1", owner=owners[0], lease_until=T0 + 2 * LEASE) == (True, False)
        assert await warmups.heartbeat_warmup("w1", owner="late", lease_until=T0 + 3 * LEASE) == (False, False)
        assert await warmups.claimable_warmups(origin="api", now=T0 + LEASE) == [], "its lease was extended"
        assert await warmups.claimable_warmups(origin="api", now=T0 + 3 * LEASE) == ["w1"], "its runner died"
        taken = await warmups.claim_warmup("w1", owner="heir", now=T0 + 3 * LEASE, lease_until=T0 + 4 * LEASE)
        assert taken is not None
        assert taken.lease_owner == "heir"
        assert taken.started_at == T0, "started when first claimed"

    async def test_outcomes_and_events_are_stored_and_counted_with_the_cost_of_their_generations(
        self, stores: tuple[GenerationRepository, WarmupRepository]
    ) -> None:
        generations, warmups = stores
        await generations.add(
            GenerationRecord(
                id="gen0",
                created_at=T0,
                cache_key="k0",
                version=1,
                type="transition",
                purpose="gap_fill",
                strategy="once",
                seed_source="fixed",
                deterministic=True,
                status=GenerationStatus.COMPLETE,
                cost=0.25,
                config_fingerprint="f" * 64,
                request={},
            )
        )
        await warmups.add_warmup(a_run(), items(4))
        await warmups.claim_warmup("w1", owner="r", now=T0, lease_until=T0 + LEASE)
        outcomes = [
            ItemOutcome(0, "n0", ItemStatus.GENERATED, cache_key="k0", generation_id="gen0"),
            ItemOutcome(1, "n1", ItemStatus.CACHED, cache_key="k1"),
            ItemOutcome(2, "n2", ItemStatus.FAILED, error_code="GEN_TIMEOUT", cache_key="k2"),
        ]
        await warmups.record_items("w1", outcomes, events=[("item", {"position": 0}), ("progress", {"done": 3})], at=T0)
        counts = await warmups.warmup_counts("w1")
        assert (counts.total, counts.pending, counts.generated, counts.cached, counts.failed, counts.cost) == (
            4,
            1,
            1,
            1,
            {"GEN_TIMEOUT": 1},
            0.25,
        )
        assert [i.position for i in await warmups.pending_items("w1")] == [3]
        events = await warmups.warmup_events_after("w1", 0)
        assert [(e.type, e.data) for e in events] == [("item", {"position": 0}), ("progress", {"done": 3})]
        assert await warmups.warmup_events_after("w1", events[0].id) == events[1:]
        later = await warmups.add_warmup_event("w1", "completed", {"status": "failed"}, at=T0)
        assert later > events[-1].id

        assert await warmups.finish_warmup("w1", owner="someone else", status=WarmupStatus.FAILED, at=T0) is False
        assert await warmups.finish_warmup("w1", owner="r", status=WarmupStatus.FAILED, at=T0 + LEASE) is True
        finished = await warmups.get_warmup("w1")
        assert finished is not None
        assert (finished.status, finished.finished_at, finished.lease_owner) == (WarmupStatus.FAILED, T0 + LEASE, None)
        # A background sweep never takes a finished run (it would run again what just failed).
        swept = await warmups.claim_warmup(
            "w1", owner="sweep", now=T0 + LEASE, lease_until=T0 + 2 * LEASE, finished=False
        )
        assert swept is None
        assert [i.position for i in await warmups.pending_items("w1")] == [3], "the failed item 2 stays failed"
        # Resuming a finished run takes it again and puts what failed back to pending; what is warm stays done.
        again = await warmups.claim_warmup("w1", owner="r2", now=T0 + LEASE, lease_until=T0 + 2 * LEASE)
        assert again is not None
        assert (again.status, again.finished_at) == (WarmupStatus.RUNNING, None)
        assert [i.position for i in await warmups.pending_items("w1")] == [2, 3]

    async def test_a_cancel_is_flagged_for_the_runner_and_a_queued_run_ends_without_one(
        self,
        warmups: WarmupRepository,
    ) -> None:
        await warmups.add_warmup(a_run("w1"), items(1))
        await warmups.add_warmup(a_run("w2", origin="cli", at=T0 + LEASE), items(1))
        assert await warmups.claimable_warmups(origin="api", now=T0) == ["w1"], "cli runs are resumed by the cli"
        await warmups.claim_warmup("w1", owner="r", now=T0, lease_until=T0 + LEASE)
        flagged = await warmups.request_warmup_cancel("w1")
        assert flagged is not None
        assert flagged.cancel_requested is True
        assert await warmups.heartbeat_warmup("w1", owner="r", lease_until=T0 + LEASE) == (True, True)
        assert await warmups.request_warmup_cancel("nosuch") is None
        assert await warmups.finish_warmup("w2", owner=None, status=WarmupStatus.CANCELLED, at=T0) is True
        assert await warmups.finish_warmup("w2", owner=None, status=WarmupStatus.CANCELLED, at=T0) is False


class TestSqlAlchemyWarmupRepository(WarmupRepositoryContract):
    @pytest.fixture
    async def stores(self, engine: AsyncEngine) -> tuple[GenerationRepository, WarmupRepository]:
        await schema.upgrade(engine)
        return SqlAlchemyGenerationRepository(engine=engine), SqlAlchemyWarmupRepository(engine=engine)


class TestSqlAlchemyWarmupRepositoryGroupCommit(WarmupRepositoryContract):
    """Finished items written through the process's group-commit writer (the way `bootstrap.build` wires it)."""

    @pytest.fixture
    async def stores(self, engine: AsyncEngine) -> AsyncIterator[tuple[GenerationRepository, WarmupRepository]]:
        await schema.upgrade(engine)
        writer = SqlWriter(engine=engine)
        try:
            yield (
                SqlAlchemyGenerationRepository(engine=engine, writer=writer),
                SqlAlchemyWarmupRepository(engine=engine, writer=writer),
            )
        finally:
            await writer.aclose()


class TestMemoryWarmupRepository(WarmupRepositoryContract):
    @pytest.fixture
    def stores(self) -> tuple[GenerationRepository, WarmupRepository]:
        database = MemoryDatabase()
        return MemoryGenerationRepository(database=database), MemoryWarmupRepository(database=database)
