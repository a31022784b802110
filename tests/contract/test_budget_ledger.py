"""The BudgetLedger contract: SQLite, PostgreSQL, Redis and memory ledgers hold budgets exactly the same way.

Each subject gives several ledgers on one shared store (as several processes would have), so the
concurrency tests race separate connections, not one.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from dyngen.adapters.budgets.redis import RedisBudgetLedger
from dyngen.adapters.db.budgets import SqlAlchemyBudgetLedger
from dyngen.adapters.db.repository import create_engine
from dyngen.adapters.db.schema import upgrade
from dyngen.adapters.db.writer import SqlWriter
from dyngen.adapters.memory.budgets import MemoryBudgetLedger
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.messaging.redis import RedisConnection
from dyngen.domain.budgets import GLOBAL_SCOPE, to_micros
from dyngen.ports import BudgetLedger, Reservation
from tests.fakes import FakeClock
from tests.support.databases import PATIENT_REDIS, migrated_postgres
from tests.support.statements import watching
from tests.support.waiting import until

PERIOD = "2026-11-25"
NODE = "node:cafe_to_roof"
OTHER = "node:roof_to_street"


def reservation(amount: float, *, node: str = NODE, period: str = PERIOD) -> Reservation:
    return Reservation(
        id=uuid.uuid4().hex,
        period=period,
        scopes=(GLOBAL_SCOPE, node),
        amount=to_micros(amount),
        node_id=node.removeprefix("node:"),
        provider="openai",
    )


def limits(global_cap: float | None, node: float | None, *, scope: str = NODE) -> dict[str, int | None]:
    return {
        GLOBAL_SCOPE: None if global_cap is None else to_micros(global_cap),
        scope: None if node is None else to_micros(node),
    }


@dataclass
class LedgerUnderTest:
    """Ledgers sharing one store (`ledgers[0]` is the main one), and a way to let reservations expire:
    `expire(check)` lets a reservation of `ttl_s=EXPIRING` lapse, then requires `check`."""

    ledgers: list[BudgetLedger]
    expire: Callable[[Callable[[], Awaitable[bool]]], Awaitable[None]]

    @property
    def ledger(self) -> BudgetLedger:
        return self.ledgers[0]


EXPIRING = 0.2  # seconds


async def state(ledger: BudgetLedger, scope: str, period: str = PERIOD) -> tuple[int, int]:
    found = {s.scope: (s.spent, s.reserved) for s in await ledger.snapshot(period)}
    return found.get(scope, (0, 0))


class BudgetLedgerContract:
    @pytest.fixture
    def subject(self) -> LedgerUnderTest:
        raise NotImplementedError("a Test<Ledger> subclass provides the ledger under test")

    async def test_a_reservation_within_budget_is_held_in_every_scope(self, subject: LedgerUnderTest) -> None:
        held = reservation(1.5)
        assert await subject.ledger.reserve(held, limits=limits(10, 5), ttl_s=60) is None
        assert await state(subject.ledger, GLOBAL_SCOPE) == (0, to_micros(1.5))
        assert await state(subject.ledger, NODE) == (0, to_micros(1.5))

    async def test_over_the_node_budget_is_refused_naming_it_and_nothing_is_held(
        self, subject: LedgerUnderTest
    ) -> None:
        assert await subject.ledger.reserve(reservation(4), limits=limits(10, 5), ttl_s=60) is None
        refusal = await subject.ledger.reserve(reservation(2), limits=limits(10, 5), ttl_s=60)
        assert refusal is not None
        assert (refusal.scope, refusal.limit, refusal.remaining) == (NODE, to_micros(5), to_micros(1))
        assert await state(subject.ledger, GLOBAL_SCOPE) == (0, to_micros(4)), "the global cap holds nothing either"

    async def test_over_the_global_cap_is_refused_even_with_node_budget_left(self, subject: LedgerUnderTest) -> None:
        assert (
            await subject.ledger.reserve(reservation(3, node=OTHER), limits=limits(4, None, scope=OTHER), ttl_s=60)
            is None
        )
        refusal = await subject.ledger.reserve(reservation(2), limits=limits(4, 5), ttl_s=60)
        assert refusal is not None
        assert refusal.scope == GLOBAL_SCOPE
        assert refusal.remaining == to_micros(1)
        assert await state(subject.ledger, NODE) == (0, 0)

    async def test_unlimited_scopes_hold_without_refusing(self, subject: LedgerUnderTest) -> None:
        for _ in range(3):
            assert await subject.ledger.reserve(reservation(1000), limits=limits(None, None), ttl_s=60) is None
        assert await state(subject.ledger, NODE) == (0, to_micros(3000))

    async def test_commit_replaces_the_hold_with_the_actual_cost_and_keeps_history(
        self, subject: LedgerUnderTest
    ) -> None:
        held = reservation(2)
        await subject.ledger.reserve(held, limits=limits(10, 5), ttl_s=60)
        at = datetime(2026, 11, 25, 14, 35, tzinfo=UTC)
        await subject.ledger.commit(held, actual=to_micros(0.75), at=at)
        assert await state(subject.ledger, NODE) == (to_micros(0.75), 0)
        assert await state(subject.ledger, GLOBAL_SCOPE) == (to_micros(0.75), 0)
        second = reservation(1)
        await subject.ledger.reserve(second, limits=limits(10, 5), ttl_s=60)
        await subject.ledger.commit(second, actual=to_micros(0.25), at=at.replace(minute=50))
        [bucket] = await subject.ledger.history(PERIOD)
        assert bucket.bucket_start == datetime(2026, 11, 25, 14, tzinfo=UTC)
        assert (bucket.node_id, bucket.provider, bucket.cost) == ("cafe_to_roof", "openai", to_micros(1))

    async def test_a_commit_queued_soon_counts_once_its_future_is_done(self, subject: LedgerUnderTest) -> None:
        """`commit_soon`: None for a ledger that does not batch (the caller commits), else a future done once
        the commit is written; one given up on (cancelled) is written all the same."""
        held, abandoned = reservation(2), reservation(1)
        at = datetime(2026, 11, 25, 14, 35, tzinfo=UTC)
        for r in (held, abandoned):
            await subject.ledger.reserve(r, limits=limits(10, 5), ttl_s=60)
        given_up = subject.ledger.commit_soon(abandoned, actual=to_micros(0.25), at=at)
        soon = subject.ledger.commit_soon(held, actual=to_micros(0.75), at=at)
        if soon is None or given_up is None:
            assert soon is None
            assert given_up is None
            assert await state(subject.ledger, NODE) == (0, to_micros(3)), "nothing is written by a refusal"
            return
        given_up.cancel()
        await soon  # batches go in the order of their writes: the one given up on, queued first, is written
        assert await state(subject.ledger, NODE) == (to_micros(1), 0)

    async def test_a_spend_never_reserved_is_counted_and_gives_no_hold_back(self, subject: LedgerUnderTest) -> None:
        # No limit applied, so `reserve` was never asked (`held=False`); another call's hold stays held.
        other = reservation(2)
        await subject.ledger.reserve(other, limits=limits(10, 5), ttl_s=60)
        at = datetime(2026, 11, 25, 9, 5, tzinfo=UTC)
        for amount in (0.25, 0.5):
            await subject.ledger.commit(reservation(9), actual=to_micros(amount), at=at, held=False)

        assert await state(subject.ledger, NODE) == (to_micros(0.75), to_micros(2))
        assert await state(subject.ledger, GLOBAL_SCOPE) == (to_micros(0.75), to_micros(2))
        [bucket] = await subject.ledger.history(PERIOD)
        assert (bucket.bucket_start, bucket.cost) == (datetime(2026, 11, 25, 9, tzinfo=UTC), to_micros(0.75))

    async def test_release_gives_the_hold_back(self, subject: LedgerUnderTest) -> None:
        held = reservation(5)
        await subject.ledger.reserve(held, limits=limits(10, 5), ttl_s=60)
        assert await subject.ledger.reserve(reservation(1), limits=limits(10, 5), ttl_s=60) is not None
        await subject.ledger.release(held)
        await subject.ledger.release(held)  # twice: nothing more happens
        assert await state(subject.ledger, NODE) == (0, 0)
        assert await subject.ledger.reserve(reservation(5), limits=limits(10, 5), ttl_s=60) is None

    async def test_spend_counts_against_the_budget(self, subject: LedgerUnderTest) -> None:
        held = reservation(1)
        await subject.ledger.reserve(held, limits=limits(10, 5), ttl_s=60)
        await subject.ledger.commit(held, actual=to_micros(4.5), at=datetime.now(UTC))  # dearer than estimated
        refusal = await subject.ledger.reserve(reservation(1), limits=limits(10, 5), ttl_s=60)
        assert refusal is not None
        assert refusal.remaining == to_micros(0.5)

    async def test_an_expired_reservation_comes_back_and_a_late_commit_still_counts(
        self, subject: LedgerUnderTest
    ) -> None:
        crashed = reservation(5)
        assert await subject.ledger.reserve(crashed, limits=limits(10, 5), ttl_s=EXPIRING) is None

        async def budget_back() -> bool:
            return await subject.ledger.reserve(reservation(5), limits=limits(10, 5), ttl_s=60) is None

        await subject.expire(budget_back)
        late = reservation(1, node=OTHER)
        await subject.ledger.reserve(late, limits=limits(None, None, scope=OTHER), ttl_s=EXPIRING)
        await subject.expire(lambda: _reserved_is(subject.ledger, OTHER, 0))
        await subject.ledger.commit(late, actual=to_micros(1), at=datetime.now(UTC))
        assert await state(subject.ledger, OTHER) == (to_micros(1), 0)

    async def test_periods_are_separate_budgets(self, subject: LedgerUnderTest) -> None:
        await subject.ledger.reserve(reservation(5), limits=limits(10, 5), ttl_s=60)
        tomorrow = reservation(5, period="2026-11-26")
        assert await subject.ledger.reserve(tomorrow, limits=limits(10, 5), ttl_s=60) is None
        assert await state(subject.ledger, NODE, "2026-11-26") == (0, to_micros(5))

    async def test_cents_add_up_exactly(self, subject: LedgerUnderTest) -> None:
        held = [reservation(0.01) for _ in range(50)]
        for r in held:
            assert await subject.ledger.reserve(r, limits=limits(0.5, None), ttl_s=60) is None
        assert await subject.ledger.reserve(reservation(0.01), limits=limits(0.5, None), ttl_s=60) is not None

    async def test_racing_ledgers_never_overspend_and_never_refuse_while_budget_remains(
        self, subject: LedgerUnderTest
    ) -> None:
        # 120 callers on several connections race for a budget worth 50 calls (node 50, global 60).
        attempts = [reservation(0.02) for _ in range(120)]
        results = await asyncio.gather(
            *(
                subject.ledgers[i % len(subject.ledgers)].reserve(r, limits=limits(1.2, 1.0), ttl_s=60)
                for i, r in enumerate(attempts)
            )
        )
        assert sum(r is None for r in results) == 50
        assert {r.scope for r in results if r is not None} == {NODE}
        assert await state(subject.ledger, NODE) == (0, to_micros(1.0))
        assert await state(subject.ledger, GLOBAL_SCOPE) == (0, to_micros(1.0))

    async def test_racing_reservations_and_settlements_spend_exactly_the_budget(self, subject: LedgerUnderTest) -> None:
        # Each caller reserves, then settles its actual cost at once, while the others still reserve: with
        # group commit, settlements share transactions while reservations stay one transaction each.
        at = datetime(2026, 11, 25, 12, tzinfo=UTC)

        async def call(i: int) -> bool:
            ledger = subject.ledgers[i % len(subject.ledgers)]
            held = reservation(0.02)
            if await ledger.reserve(held, limits=limits(1.2, 1.0), ttl_s=60) is not None:
                return False
            await ledger.commit(held, actual=to_micros(0.02), at=at)
            return True

        served = await asyncio.gather(*(call(i) for i in range(120)))

        assert sum(served) == 50
        assert await state(subject.ledger, NODE) == (to_micros(1.0), 0)
        assert await state(subject.ledger, GLOBAL_SCOPE) == (to_micros(1.0), 0)


async def _reserved_is(ledger: BudgetLedger, scope: str, amount: int) -> bool:
    return (await state(ledger, scope))[1] == amount


async def _sql_subject(
    urls: list[str], clock: FakeClock, *, group_commit: bool = False
) -> AsyncIterator[LedgerUnderTest]:
    """Ledgers on separate engines (as processes have); with `group_commit`, each with its engine's writer."""
    # Roomy waits: 120 callers share the pools here, and on a busy machine a connection can take longer than
    # a deployment's few seconds to come free; what a silent database costs is tests/faults' subject.
    engines = [create_engine(url, pool_timeout_s=60, command_timeout_s=60) for url in urls]
    writers = [SqlWriter(engine=e) if group_commit else None for e in engines]
    await upgrade(engines[0])

    async def expire(check: Callable[[], Awaitable[bool]]) -> None:
        clock.advance(EXPIRING + 0.01)
        assert await check()

    ledgers: list[BudgetLedger] = [
        SqlAlchemyBudgetLedger(engine=e, clock=clock, writer=w) for e, w in zip(engines, writers, strict=True)
    ]
    try:
        yield LedgerUnderTest(ledgers=ledgers, expire=expire)
    finally:
        for writer in writers:
            if writer is not None:
                await writer.aclose()
        for engine in engines:
            await engine.dispose()


class TestSqliteBudgetLedger(BudgetLedgerContract):
    @pytest.fixture
    async def subject(self, tmp_path: Path) -> AsyncIterator[LedgerUnderTest]:
        url = f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}"
        async for subject in _sql_subject([url] * 3, FakeClock(datetime.now(UTC))):
            yield subject


class TestSqliteBudgetLedgerGroupCommit(BudgetLedgerContract):
    """Settlements through each process's group-commit writer (the way `bootstrap.build` wires it)."""

    @pytest.fixture
    async def subject(self, tmp_path: Path) -> AsyncIterator[LedgerUnderTest]:
        url = f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}"
        async for subject in _sql_subject([url] * 3, FakeClock(datetime.now(UTC)), group_commit=True):
            yield subject


class TestMemoryBudgetLedger(BudgetLedgerContract):
    @pytest.fixture
    def subject(self) -> LedgerUnderTest:
        database, clock = MemoryDatabase(), FakeClock(datetime.now(UTC))

        async def expire(check: Callable[[], Awaitable[bool]]) -> None:
            clock.advance(EXPIRING + 0.01)
            assert await check()

        ledgers: list[BudgetLedger] = [MemoryBudgetLedger(database=database, clock=clock) for _ in range(3)]
        return LedgerUnderTest(ledgers=ledgers, expire=expire)


@pytest.mark.services
class TestPostgresBudgetLedger(BudgetLedgerContract):
    @pytest.fixture
    async def subject(self, postgres_url: str) -> AsyncIterator[LedgerUnderTest]:
        await migrated_postgres(postgres_url)
        async for subject in _sql_subject([postgres_url] * 3, FakeClock(datetime.now(UTC))):
            yield subject


@pytest.mark.services
class TestPostgresBudgetLedgerGroupCommit(BudgetLedgerContract):
    @pytest.fixture
    async def subject(self, postgres_url: str) -> AsyncIterator[LedgerUnderTest]:
        await migrated_postgres(postgres_url)
        async for subject in _sql_subject([postgres_url] * 3, FakeClock(datetime.now(UTC)), group_commit=True):
            yield subject


@pytest.mark.services
class TestRedisBudgetLedger(BudgetLedgerContract):
    @pytest.fixture
    async def subject(self, redis_url: str, redis_prefix: str) -> AsyncIterator[LedgerUnderTest]:
        connections = [RedisConnection(url=redis_url, prefix=redis_prefix, **PATIENT_REDIS) for _ in range(3)]

        async def expire(check: Callable[[], Awaitable[bool]]) -> None:
            await until(check, what="the reservation to expire")

        try:
            yield LedgerUnderTest(ledgers=[RedisBudgetLedger(connection=c) for c in connections], expire=expire)
        finally:
            for connection in connections:
                await connection.aclose()


async def test_a_batch_of_settlements_runs_the_same_statements_whatever_its_nodes(tmp_path: Path) -> None:
    # Issue 18: a statement built per scope and per spend bucket cost ~0.2 ms each, 14 ms for a batch of 32
    # settlements of different nodes (a warm-up's): the batch now runs each of its statements once.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}")
    await upgrade(engine)
    window = asyncio.Event()
    writer = SqlWriter(engine=engine, window=window.wait)
    ledger = SqlAlchemyBudgetLedger(engine=engine, clock=FakeClock(datetime.now(UTC)), writer=writer)
    statements: list[str] = []
    watched = False

    def seen(statement: str, _thread: str) -> None:
        if watched and "budget_" in statement:
            statements.append(" ".join(statement.split(maxsplit=3)[:3]))  # DELETE FROM budget_reservations

    try:
        with watching(seen):
            held = [reservation(0.5, node=f"node:n{i}") for i in range(10)]
            for h in held:
                assert await ledger.reserve(h, limits=limits(100, 1, scope=h.scopes[1]), ttl_s=60) is None
            unheld = [reservation(0.5, node=f"node:u{i}") for i in range(10)]  # no limit applied: never reserved
            watched = True
            await settle_in_two_batches(ledger, window, held, unheld, statements)

        assert writer.commits.batches == 2
        # holds (one delete for all of them), scopes (made and summed in one upsert, a row per scope), spend
        # buckets; without holds, no delete of them
        kinds = [kind for i, kind in enumerate(statements) if i == 0 or statements[i - 1] != kind]
        assert kinds == [
            "DELETE FROM budget_reservations",
            "INSERT INTO budget_scopes",
            "INSERT INTO budget_spend",
            "|",
            "INSERT INTO budget_scopes",
            "INSERT INTO budget_spend",
            "|",
        ]
        assert statements.count("DELETE FROM budget_reservations") == 1
        assert await state(ledger, "node:n7") == (to_micros(0.4), 0)
        assert await state(ledger, "node:u7") == (to_micros(0.4), 0)
        assert await state(ledger, GLOBAL_SCOPE) == (to_micros(8.0), 0)
    finally:
        await writer.aclose()
        await engine.dispose()


async def settle_in_two_batches(
    ledger: SqlAlchemyBudgetLedger,
    window: asyncio.Event,
    held: list[Reservation],
    unheld: list[Reservation],
    statements: list[str],
) -> None:
    """The held reservations' commits in one batch of the writer, then the unheld ones' in another."""
    for batch, spends in ((held, "held"), (unheld, "unheld")):
        settling = [
            asyncio.create_task(ledger.commit(h, actual=to_micros(0.4), at=datetime.now(UTC), held=spends == "held"))
            for h in batch
        ]
        await asyncio.sleep(0)  # every settlement waits in the writer's window: one batch
        window.set()
        await asyncio.gather(*settling)
        window.clear()
        statements.append("|")


async def test_a_sqlite_reservation_is_one_transaction_in_place(tmp_path: Path) -> None:
    # Issue 18: through aiosqlite, each of a reservation's statements was a hop to its thread and back
    # (3.9 ms at p50 for one caller); the whole transaction now runs on the caller's thread at once.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dyngen.db'}")
    await upgrade(engine)
    writer = SqlWriter(engine=engine)
    ledger = SqlAlchemyBudgetLedger(engine=engine, clock=FakeClock(datetime.now(UTC)), writer=writer)
    statements: list[tuple[str, str]] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "budget_" in statement:
            statements.append((statement.split(maxsplit=1)[0], threading.current_thread().name))

    try:
        assert await ledger.reserve(reservation(0.5), limits=limits(100, 1), ttl_s=60) is None  # warm
        event.listen(Engine, "before_cursor_execute", seen)
        try:
            assert await ledger.reserve(reservation(0.5), limits=limits(100, 1), ttl_s=60) is None
            refused = await ledger.reserve(reservation(0.5), limits=limits(100, 1), ttl_s=60)
        finally:
            event.remove(Engine, "before_cursor_execute", seen)

        assert refused is not None
        assert refused.scope == NODE  # the third of 0.5 against a node budget of 1
        assert [kind for kind, _ in statements] == ["INSERT", "INSERT", "DELETE", "UPDATE", "UPDATE"] * 2 + ["SELECT"]
        assert {thread for _, thread in statements} == {threading.current_thread().name}
        assert await state(ledger, NODE) == (0, to_micros(1.0))
    finally:
        await writer.aclose()
        await engine.dispose()
