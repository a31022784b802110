"""`SqlWriter` on a SQLite file: a batch (and a budget reservation's transaction) is written on the event
loop's own thread at once when the file is free; when another connection holds the write lock it goes to the
writer's thread, which waits for the lock while the loop goes on; the log is checkpointed in that thread,
never by a commit in place. Nothing here times anything: the lock is a connection the test holds."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import writer as writer_module
from dyngen.adapters.db.budgets import SqlAlchemyBudgetLedger
from dyngen.adapters.db.repository import (
    SqlAlchemyGenerationRepository,
    add_records,
    sqlite_in_place_engine,
)
from dyngen.adapters.db.writer import SqlWriter
from dyngen.domain.budgets import to_micros
from tests.contract.test_budget_ledger import NODE, limits, reservation, state
from tests.contract.test_repository import artifact, record
from tests.fakes import FakeClock
from tests.support.statements import watching
from tests.support.waiting import hang_guard

WRITER_THREAD = "dyngen-db-writer_0"


class Statements:
    """Every statement any engine runs, with the thread it ran on; `seen` is set (from any thread) once one
    containing `wanted` ran on the writer's thread."""

    def __init__(self, wanted: str) -> None:
        self.ran: list[tuple[str, str]] = []
        self.wanted = wanted
        self.seen = threading.Event()

    def __call__(self, statement: str, thread: str) -> None:
        self.ran.append((statement, thread))
        if self.wanted in statement and thread == WRITER_THREAD:
            self.seen.set()

    def threads(self, part: str) -> set[str]:
        return {thread for statement, thread in self.ran if part in statement}


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[SqlWriter]:
    writer = SqlWriter(engine=engine, window_s=0)
    yield writer
    await writer.aclose()


def watch(wanted: str) -> Iterator[Statements]:
    statements = Statements(wanted)
    with watching(statements):
        yield statements


@pytest.fixture
def inserts() -> Iterator[Statements]:
    yield from watch("INSERT INTO generations")


@pytest.fixture
def holds() -> Iterator[Statements]:
    yield from watch("INSERT INTO budget_reservations")


def _log_restarts(engine: AsyncEngine) -> int:
    """How often the write-ahead log started over: its header's checkpoint sequence number (sqlite.org/fileformat)."""
    header = Path(f"{engine.url.database}-wal").read_bytes()[:16]
    return int.from_bytes(header[12:16], "big")


def hold_the_write_lock(engine: AsyncEngine) -> sqlite3.Connection:
    """Another process's connection in the middle of a write: nobody else may write until it commits."""
    other = sqlite3.connect(str(engine.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_record_on_a_free_file_is_written_on_the_callers_thread(
    engine: AsyncEngine, writer: SqlWriter, inserts: Statements
) -> None:
    repository = SqlAlchemyGenerationRepository(engine=engine, writer=writer)

    await repository.add(record("g1"))

    assert inserts.threads("INSERT INTO generations") == {threading.current_thread().name}
    assert await repository.get("g1") is not None


async def test_a_record_while_another_connection_writes_waits_in_the_writers_thread_not_on_the_loop(
    engine: AsyncEngine, writer: SqlWriter, inserts: Statements
) -> None:
    repository = SqlAlchemyGenerationRepository(engine=engine, writer=writer)
    other = hold_the_write_lock(engine)
    try:
        adding = asyncio.create_task(repository.add(record("g1")))
        async with hang_guard("the record handed to the writer's thread"):
            await asyncio.to_thread(inserts.seen.wait)
        assert not adding.done()  # it waits for the lock in the thread; this loop runs meanwhile
        other.execute("COMMIT")
        async with hang_guard("the record committed once the lock was let go"):
            await adding
    finally:
        other.close()

    assert await repository.get("g1") is not None
    assert WRITER_THREAD in inserts.threads("INSERT INTO generations")


async def test_a_reservation_while_another_connection_writes_waits_in_the_writers_thread_not_on_the_loop(
    engine: AsyncEngine, writer: SqlWriter, holds: Statements
) -> None:
    ledger = SqlAlchemyBudgetLedger(engine=engine, clock=FakeClock(datetime.now(UTC)), writer=writer)
    other = hold_the_write_lock(engine)
    try:
        reserving = asyncio.create_task(ledger.reserve(reservation(0.5), limits=limits(100, 1), ttl_s=60))
        async with hang_guard("the reservation handed to the writer's thread"):
            await asyncio.to_thread(holds.seen.wait)
        assert not reserving.done()
        other.execute("COMMIT")
        async with hang_guard("the reservation committed once the lock was let go"):
            assert await reserving is None
    finally:
        other.close()

    assert await state(ledger, NODE) == (0, to_micros(0.5))


async def test_the_log_starts_over_though_batches_are_written_in_place_without_a_pause(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A passive checkpoint run beside commits in place never covered the whole log, which then never started
    # over: 37 MB after 1,000 small batches. Now a second one copies what came during the first, after a batch
    # that goes to the writer's thread, while nothing is written in place.
    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", 10)
    writer = SqlWriter(engine=engine, window_s=0)
    repository = SqlAlchemyGenerationRepository(engine=engine, writer=writer)
    checkpoints = Statements("wal_checkpoint")
    try:
        with watching(checkpoints):
            for i in range(300):
                await repository.add(record(f"g{i}"))  # one batch each
        restarts = _log_restarts(engine)
    finally:
        await writer.aclose()

    ran = [thread for statement, thread in checkpoints.ran if "wal_checkpoint" in statement]
    assert set(ran) == {WRITER_THREAD}
    assert restarts >= 5, "the log started over every few dozen batches at most"


def test_the_in_place_connection_never_waits_for_a_lock_nor_checkpoints_on_commit(engine: AsyncEngine) -> None:
    in_place = sqlite_in_place_engine(engine)
    try:
        with in_place.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        in_place.dispose()


async def test_a_batch_with_a_record_stored_already_writes_the_others_and_their_artifacts(engine: AsyncEngine) -> None:
    # A replayed record (the outbox, or another process) in the same batch as a new one: the stored one and its
    # artifacts are left as they are (not written twice, the batch not failed on their ids), the new one is added.
    window = asyncio.Event()
    writer = SqlWriter(engine=engine, window=window.wait)
    repository = SqlAlchemyGenerationRepository(engine=engine, writer=writer)
    stored = record("g1", artifacts=[artifact("a1", "g1")])
    try:
        window.set()
        await repository.add(stored)
        window.clear()
        both = [
            asyncio.create_task(repository.add(r)) for r in (stored, record("g2", artifacts=[artifact("a2", "g2")]))
        ]
        await asyncio.sleep(0)  # both wait in the same window
        window.set()
        await asyncio.gather(*both)
        assert writer.commits.batches == 2
        assert await repository.get("g1") == stored
        again = await repository.get("g2")
        assert again is not None
        assert [a.id for a in again.artifacts] == ["a2"]
    finally:
        window.set()
        await writer.aclose()


@pytest.mark.parametrize(
    "clash",
    [["dup", "dup"], ["a1"]],
    ids=["two artifacts of one id", "the stored record's artifact id"],
)
async def test_a_batch_with_a_record_stored_already_still_fails_on_a_new_records_artifact_clash(
    engine: AsyncEngine, clash: list[str]
) -> None:
    # Only the stored record's own artifacts are left out: a new record's artifact whose id is taken fails the
    # batch, as it does without a stored record beside it (and on PostgreSQL), and nothing of it is kept.
    sync = sqlite_in_place_engine(engine)
    stored = record("g1", artifacts=[artifact("a1", "g1")])
    broken = record("g2", artifacts=[artifact(i, "g2", role=f"r{n}") for n, i in enumerate(clash)])
    try:
        with sync.begin() as conn:
            add_records(conn, [stored], postgres=False)
        with pytest.raises(IntegrityError), sync.begin() as conn:
            add_records(conn, [stored, broken], postgres=False)
        with sync.begin() as conn:
            add_records(conn, [stored, record("g3", artifacts=[artifact("a3", "g3")])], postgres=False)
    finally:
        sync.dispose()
    repository = SqlAlchemyGenerationRepository(engine=engine)
    assert await repository.get("g1") == stored
    assert await repository.get("g2") is None
    third = await repository.get("g3")
    assert third is not None
    assert [a.id for a in third.artifacts] == ["a3"]
