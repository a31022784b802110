"""`DriverStatement` (adapters/db/driver_sql.py) stores what SQLAlchemy's execution of the same statement
stores, fails as it fails, and leaves a connection that is not sqlite3's to SQLAlchemy."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.driver_sql import DriverStatement
from dyngen.adapters.db.repository import sqlite_in_place_engine
from dyngen.adapters.db.tables import budget_scopes, budget_spend

ADD_SPEND = budget_spend.insert()
AT = datetime(2026, 12, 5, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def in_place(engine: AsyncEngine) -> Iterator[Engine]:
    sync = sqlite_in_place_engine(engine)
    yield sync
    sync.dispose()


def stored(conn: Connection, table: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]


def rows(prefix: str) -> list[dict[str, Any]]:
    """Spend buckets (a date-time column) of three hours for node `prefix`."""
    return [
        {"period": "day", "bucket_start": AT + timedelta(hours=i), "node_id": prefix, "provider": "p", "cost": i}
        for i in range(3)
    ]


def test_what_is_stored_is_what_sqlalchemy_stores(in_place: Engine) -> None:
    # Dates as SQLite's text, by the columns' own bind processors; a column a row leaves out gets its
    # server default (budget_scopes.reserved), as SQLAlchemy's execution leaves it out.
    scopes = [{"period": "day", "scope": f"node:n{i}", "spent": i} for i in range(2)]
    with in_place.begin() as conn:
        assert DriverStatement(ADD_SPEND).executemany(conn, rows("driver")) == 3
        conn.execute(ADD_SPEND, rows("alchemy"))
        assert DriverStatement(budget_scopes.insert()).executemany(conn, scopes) == 2
    with in_place.connect() as conn:
        found = stored(conn, budget_spend)
        raw = conn.exec_driver_sql("SELECT node_id, bucket_start FROM budget_spend").all()
        scoped = stored(conn, budget_scopes)

    by_driver = [row for row in found if row[2] == "driver"]
    by_alchemy = [row for row in found if row[2] == "alchemy"]
    assert [row[:2] + row[3:] for row in by_driver] == [row[:2] + row[3:] for row in by_alchemy]
    assert len(by_driver) == 3
    texts = {node: sorted(start for n, start in raw if n == node) for node in ("driver", "alchemy")}
    assert texts["driver"] == texts["alchemy"], "the same text for a date either way"
    assert all(isinstance(start, str) for start in texts["driver"])
    assert scoped == [("day", "node:n0", 0, 0), ("day", "node:n1", 1, 0)]


def test_a_clash_is_sqlalchemys_integrity_error_and_the_transaction_is_rolled_back(in_place: Engine) -> None:
    statement = DriverStatement(ADD_SPEND)
    with in_place.begin() as conn:
        statement.executemany(conn, rows("first"))

    def clash() -> None:
        with in_place.begin() as conn:
            statement.executemany(conn, rows("second"))
            statement.executemany(conn, rows("first"))

    with pytest.raises(IntegrityError):
        clash()
    with in_place.connect() as conn:
        nodes = [row[2] for row in stored(conn, budget_spend)]
    assert nodes == ["first"] * 3, "nothing of the failed transaction"


def test_a_busy_file_is_sqlalchemys_operational_error(engine: AsyncEngine, in_place: Engine) -> None:
    other = sqlite3.connect(str(engine.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another connection in the middle of a write
    try:
        with pytest.raises(OperationalError), in_place.begin() as conn:
            DriverStatement(ADD_SPEND).executemany(conn, rows("busy"))
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_rows_are_returned_and_a_missing_parameter_is_named(in_place: Engine) -> None:
    take = DriverStatement(
        budget_spend.delete().where(budget_spend.c.cost >= bindparam("least")).returning(budget_spend.c.cost)
    )
    with in_place.begin() as conn:
        DriverStatement(ADD_SPEND).executemany(conn, rows("kept"))
        assert DriverStatement(ADD_SPEND).executemany(conn, []) == 0
        gone = take.fetchall(conn, {"least": 1})
        with pytest.raises(KeyError, match="least"):
            take.fetchall(conn, {})
    assert sorted(gone) == [(1,), (2,)]


async def test_a_connection_that_is_not_sqlite3s_runs_the_statement_through_sqlalchemy(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:  # aiosqlite's
        added = await conn.run_sync(lambda sync: DriverStatement(ADD_SPEND).executemany(sync, rows("aio")))
        none = await conn.run_sync(lambda sync: DriverStatement(ADD_SPEND).executemany(sync, []))
    async with engine.connect() as conn:
        found = (await conn.execute(select(budget_spend.c.cost).where(budget_spend.c.node_id == "aio"))).scalars().all()
    assert (added, none) == (3, 0)
    assert sorted(found) == [0, 1, 2]
