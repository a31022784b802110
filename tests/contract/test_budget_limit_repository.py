"""The BudgetLimitRepository contract (budget limits set in the editor, and their history), run on every
database in `BACKENDS` and on the memory repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.budget_limits import SqlAlchemyBudgetLimitRepository
from dyngen.adapters.db.reader import SqlReader
from dyngen.adapters.db.repository import create_engine
from dyngen.adapters.memory.budget_limits import MemoryBudgetLimitRepository
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.ports import BudgetLimitChange, BudgetLimitRepository
from tests.support.databases import Backend

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def change(scope: str, limit: int | None, *, minute: int = 0, use_default: bool = False) -> BudgetLimitChange:
    return BudgetLimitChange(
        scope=scope, limit=limit, use_default=use_default, changed_at=T0 + timedelta(minutes=minute), changed_by="mara"
    )


class BudgetLimitRepositoryContract:
    """Behaviour every `BudgetLimitRepository` adapter must have."""

    @pytest.fixture
    async def limits(self) -> BudgetLimitRepository:
        raise NotImplementedError("a Test<Repository> subclass provides the repository under test")

    async def test_nothing_is_stored_on_a_fresh_install(self, limits: BudgetLimitRepository) -> None:
        assert await limits.stored_limits() == {}
        assert await limits.limit_history() == []

    async def test_a_set_limit_is_stored_and_the_last_change_wins(self, limits: BudgetLimitRepository) -> None:
        await limits.change_limit(change("global", 5_000_000))
        await limits.change_limit(change("node:cafe_to_roof", 30_000, minute=1))
        await limits.change_limit(change("global", 2_500_000, minute=2))

        assert await limits.stored_limits() == {"global": 2_500_000, "node:cafe_to_roof": 30_000}
        assert limits.stored_limits_now() in (None, await limits.stored_limits())

    async def test_no_limit_is_stored_as_none_and_use_default_removes_the_limit(
        self, limits: BudgetLimitRepository
    ) -> None:
        await limits.change_limit(change("default", None))
        await limits.change_limit(change("node:cafe_to_roof", 30_000, minute=1))
        await limits.change_limit(change("node:cafe_to_roof", 99, minute=2, use_default=True))

        assert await limits.stored_limits() == {"default": None}

    async def test_history_is_newest_first_per_scope_and_keeps_every_change(
        self, limits: BudgetLimitRepository
    ) -> None:
        await limits.change_limit(change("global", 5_000_000))
        await limits.change_limit(change("node:a", 10, minute=1))
        await limits.change_limit(change("global", None, minute=2))
        await limits.change_limit(change("global", None, minute=3, use_default=True))

        history = await limits.limit_history(scope="global")
        assert [(c.limit, c.use_default) for c in history] == [(None, True), (None, False), (5_000_000, False)]
        assert history[0].changed_at == T0 + timedelta(minutes=3)
        assert history[0].changed_by == "mara"
        assert [c.scope for c in await limits.limit_history()] == ["global", "global", "node:a", "global"]
        assert len(await limits.limit_history(limit=2)) == 2


class TestSqlAlchemyBudgetLimitRepository(BudgetLimitRepositoryContract):
    @pytest.fixture
    async def limits(self, engine: AsyncEngine) -> BudgetLimitRepository:
        await schema.upgrade(engine)
        return SqlAlchemyBudgetLimitRepository(engine=engine)


class TestReaderBudgetLimitRepository(BudgetLimitRepositoryContract):
    """As `bootstrap.build` wires it: the stored limits read through the process's reader."""

    @pytest.fixture
    async def reader(self, engine: AsyncEngine) -> AsyncIterator[SqlReader]:
        reader = SqlReader(engine=engine)
        yield reader
        await reader.aclose()

    @pytest.fixture
    async def limits(self, engine: AsyncEngine, reader: SqlReader) -> BudgetLimitRepository:
        await schema.upgrade(engine)
        return SqlAlchemyBudgetLimitRepository(engine=engine, reader=reader)

    async def test_a_limit_set_through_another_process_applies_to_the_next_read(
        self, request: pytest.FixtureRequest, backend: Backend, limits: BudgetLimitRepository, tmp_path: Path
    ) -> None:
        assert await limits.stored_limits() == {}
        other = create_engine(backend.url(tmp_path, request))  # another process's engine on the same database
        try:
            await SqlAlchemyBudgetLimitRepository(engine=other).change_limit(change("global", 7))
        finally:
            await other.dispose()

        assert await limits.stored_limits() == {"global": 7}
        # SQLite reads them in place, at once (a generation then sets no deadline for the read); PostgreSQL cannot.
        assert limits.stored_limits_now() == ({"global": 7} if backend.name == "sqlite" else None)


class TestMemoryBudgetLimitRepository(BudgetLimitRepositoryContract):
    @pytest.fixture
    def limits(self) -> BudgetLimitRepository:
        return MemoryBudgetLimitRepository(database=MemoryDatabase())
