"""The group-commit writer on PostgreSQL when the reply to a batch's COMMIT is lost: the server committed,
the connection dropped before saying so, and `retrying` runs the batch again. Nothing of it is written twice:
not a budget settlement (spent would count twice), not a job event, and a claim's result stands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dyngen.adapters.db.budgets import SqlAlchemyBudgetLedger
from dyngen.adapters.db.jobs import SqlAlchemyJobRepository
from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.repository import create_engine
from dyngen.adapters.db.tables import write_batches
from dyngen.adapters.db.writer import SqlWriter
from dyngen.domain.budgets import GLOBAL_SCOPE, to_micros
from dyngen.ports import Reservation
from tests.contract.test_job_repository import job
from tests.fakes import FakeClock
from tests.support.databases import migrated_postgres
from tests.support.waiting import until

pytestmark = pytest.mark.services


class RepliesLost:
    """`engine` for the writer, with the reply to its next `lose` commits lost: each such transaction
    commits, then raises as a connection that dropped before the server's answer came."""

    def __init__(self, engine: AsyncEngine, *, lose: int) -> None:
        self.dialect = engine.dialect
        self._engine = engine
        self.lose = lose

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as conn:
            yield conn
        if self.lose > 0:
            self.lose -= 1
            raise OSError("connection lost before the reply to COMMIT")


class CommitsLate:
    """`engine` for the writer, whose first transaction loses its connection before its COMMIT has finished
    on the server: the client sees the error at once, the server commits once `commit` is set (a standby
    to wait for, a proxy that cut the client's side only)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.dialect = engine.dialect
        self._engine = engine
        self.commit = asyncio.Event()
        self.first: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        if self.first is not None:
            async with self._engine.begin() as conn:
                yield conn
            return
        conn = await self._engine.connect()
        transaction = await conn.begin()
        yield conn

        async def commit_later() -> None:
            await self.commit.wait()
            await transaction.commit()
            await conn.close()

        self.first = asyncio.ensure_future(commit_later())
        raise OSError("connection lost while the server was committing")


async def waiting_on_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(text("select count(*) from pg_locks where not granted"))).scalar())


async def held_in(ledger: SqlAlchemyBudgetLedger, name: str) -> Reservation:
    """A reservation of 1.0 held in the global scope and node `name`'s, in period `name`."""
    held = Reservation(
        id=f"r-{name}", period=name, scopes=(GLOBAL_SCOPE, f"node:{name}"), amount=to_micros(1.0), node_id=name,
        provider="openai",
    )  # fmt: skip
    assert await ledger.reserve(held, limits=dict.fromkeys(held.scopes), ttl_s=60) is None
    return held


async def spent(ledger: SqlAlchemyBudgetLedger, period: str) -> dict[str, tuple[int, int]]:
    return {s.scope: (s.spent, s.reserved) for s in await ledger.snapshot(period)}


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    await migrated_postgres(postgres_url)
    created = create_engine(postgres_url)
    yield created
    await created.dispose()


async def test_a_settlement_whose_commit_reply_was_lost_is_spent_once(engine: AsyncEngine) -> None:
    lossy = RepliesLost(engine, lose=0)
    writer = SqlWriter(engine=cast(AsyncEngine, lossy))
    ledger = SqlAlchemyBudgetLedger(engine=engine, clock=FakeClock(datetime.now(UTC)), writer=writer)
    try:
        held = await held_in(ledger, "replayed")
        lossy.lose = 1
        await ledger.commit(held, actual=to_micros(0.4), at=datetime.now(UTC))
        assert lossy.lose == 0, "the commit's reply was not lost: the test did not run the batch again"
        after = await spent(ledger, "replayed")
        assert after["node:replayed"] == (to_micros(0.4), 0)
        assert after[GLOBAL_SCOPE] == (to_micros(0.4), 0)
    finally:
        await writer.aclose()


async def test_a_batch_run_again_while_its_first_commit_is_still_finishing_is_written_once(
    engine: AsyncEngine,
) -> None:
    late = CommitsLate(engine)
    writer = SqlWriter(engine=cast(AsyncEngine, late))
    ledger = SqlAlchemyBudgetLedger(engine=engine, clock=FakeClock(datetime.now(UTC)), writer=writer)
    try:
        held = await held_in(ledger, "late")
        settling = asyncio.ensure_future(ledger.commit(held, actual=to_micros(0.4), at=datetime.now(UTC)))
        await until(lambda: waiting_on_a_lock(engine), what="the batch run again to wait on the first run")
        late.commit.set()  # the first run's COMMIT finishes on the server
        await settling  # the batch's callers are told it committed (it did, once)
        assert late.first is not None
        await late.first
        assert (await spent(ledger, "late"))["node:late"] == (to_micros(0.4), 0)
    finally:
        late.commit.set()
        await writer.aclose()


async def test_an_event_and_a_claim_whose_commit_reply_was_lost_are_written_once(engine: AsyncEngine) -> None:
    lossy = RepliesLost(engine, lose=0)
    writer = SqlWriter(engine=cast(AsyncEngine, lossy))
    reader = SqlReader(engine=engine)
    jobs = SqlAlchemyJobRepository(engine=engine, writer=writer, reader=reader)
    now = datetime.now(UTC)
    try:
        await jobs.add(job("j-replayed", at=now))
        lossy.lose = 1
        event_id = await jobs.add_event("j-replayed", "progress", {"attempt": 1}, at=now)
        assert lossy.lose == 0
        assert [(e.id, e.type) for e in await jobs.events_after("j-replayed", 0)] == [(event_id, "progress")]

        lossy.lose = 1
        claimed = await jobs.claim("j-replayed", owner="w1", now=now, lease_until=now + timedelta(seconds=30))
        assert lossy.lose == 0
        assert claimed is not None, "the claim committed, and its result was lost on the replay"
        assert claimed.lease_owner == "w1"
    finally:
        await writer.aclose()
        await reader.aclose()


async def test_old_batch_tokens_are_deleted_as_batches_go(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    import dyngen.adapters.db.writer as writer_module

    monkeypatch.setattr(writer_module, "PRUNE_EVERY", 2)
    async with engine.begin() as conn:
        await conn.execute(write_batches.delete())
        await conn.execute(write_batches.insert().values(token="old", written_at=func.now() - timedelta(hours=1)))
    writer = SqlWriter(engine=engine)
    ledger = SqlAlchemyBudgetLedger(engine=engine, clock=FakeClock(datetime.now(UTC)), writer=writer)
    try:
        for i in range(2):
            held = Reservation(
                id=f"r-prune-{i}", period="prune", scopes=(GLOBAL_SCOPE,), amount=1, node_id="n", provider="p"
            )
            await ledger.release(held)
        async with engine.connect() as conn:
            tokens: list[Any] = list((await conn.execute(select(write_batches.c.token))).scalars())
        assert "old" not in tokens
        assert len(tokens) == 2  # this writer's two batches, kept for a replay
    finally:
        await writer.aclose()
