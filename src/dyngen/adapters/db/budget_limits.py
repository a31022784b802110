"""`SqlAlchemyBudgetLimitRepository`: budget limits set in the editor, and their history, in SQLite or
PostgreSQL. A change writes the current limit and its history row in one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import db_time, retrying, to_utc
from dyngen.adapters.db.shared_read import SharedRead
from dyngen.adapters.db.tables import budget_limit_history, budget_limits
from dyngen.ports import BudgetLimitChange

if TYPE_CHECKING:
    from dyngen.adapters.db.reader import SqlReader


def _limits(rows: Any) -> dict[str, int | None]:
    """Rows of (scope, limit_micros) as the limits by scope."""
    return {scope: None if limit is None else int(limit) for scope, limit in rows}


class SqlAlchemyBudgetLimitRepository:
    """Stores budget limits per scope (see `dyngen.ports.BudgetLimitRepository`).

    Args:
        engine: The async engine (the same one the other repositories use).
        reader: The process's reader on `engine` (adapters/db/reader.py): the limits read for every
            provider call a ledger checks runs through it, one hand-over to its thread. None: on a
            connection of `engine`.
    """

    def __init__(self, *, engine: AsyncEngine, reader: SqlReader | None = None) -> None:
        self._engine = engine
        self._reader = reader
        self._insert: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Read for every provider call a ledger checks: the calls in flight share one read (`SharedRead`),
        # each served by one that started after it asked, so a limit changed before a call applies to it.
        self._stored = SharedRead(lambda: retrying(self._read_limits))
        self._select = select(budget_limits.c.scope, budget_limits.c.limit_micros)
        self._select_sql = str(self._select.compile(dialect=sqlite.dialect()))

    async def _read_limits(self) -> dict[str, int | None]:
        if self._reader is not None:
            return await self._reader.read(self._limits_of)
        async with self._engine.connect() as conn:
            return await conn.run_sync(self._limits_of)

    def _limits_of(self, conn: Connection) -> dict[str, int | None]:
        return _limits(conn.execute(self._select).all())

    async def stored_limits(self) -> dict[str, int | None]:
        if (now := self.stored_limits_now()) is not None:
            return now
        return dict(await self._stored())

    def stored_limits_now(self) -> dict[str, int | None] | None:
        if self._reader is not None and (rows := self._reader.rows_now(self._select_sql)) is not None:
            return _limits(rows)  # SQLite: read in place, nothing to share
        return None

    async def change_limit(self, change: BudgetLimitChange) -> None:
        async def write() -> None:
            at = to_utc(change.changed_at)
            async with self._engine.begin() as conn:
                await conn.execute(
                    budget_limit_history.insert().values(
                        scope=change.scope,
                        limit_micros=None if change.use_default else change.limit,
                        use_default=change.use_default,
                        changed_at=at,
                        changed_by=change.changed_by,
                    )
                )
                if change.use_default:
                    await conn.execute(budget_limits.delete().where(budget_limits.c.scope == change.scope))
                    return
                values = {"limit_micros": change.limit, "changed_at": at, "changed_by": change.changed_by}
                insert = self._insert(budget_limits).values(scope=change.scope, **values)
                await conn.execute(insert.on_conflict_do_update(index_elements=["scope"], set_=values))

        await retrying(write)

    async def limit_history(self, *, scope: str | None = None, limit: int = 100) -> list[BudgetLimitChange]:
        async def read() -> list[BudgetLimitChange]:
            c = budget_limit_history.c
            stmt = select(c.scope, c.limit_micros, c.use_default, c.changed_at, c.changed_by)
            if scope is not None:
                stmt = stmt.where(c.scope == scope)
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt.order_by(c.id.desc()).limit(limit))).all()
            return [
                BudgetLimitChange(
                    scope=row.scope,
                    limit=None if row.limit_micros is None else int(row.limit_micros),
                    use_default=bool(row.use_default),
                    changed_at=db_time(row.changed_at) or row.changed_at,
                    changed_by=row.changed_by,
                )
                for row in rows
            ]

        return await retrying(read)
