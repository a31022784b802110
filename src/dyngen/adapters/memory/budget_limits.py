"""`MemoryBudgetLimitRepository`: budget limits set in the editor, and their history, in a `MemoryDatabase`."""

from __future__ import annotations

import dataclasses

from dyngen.adapters.memory.database import MemoryDatabase, utc_now
from dyngen.ports import BudgetLimitChange


class MemoryBudgetLimitRepository:
    """Stores budget limits per scope (see `dyngen.ports.BudgetLimitRepository`).

    Args:
        database: The tables (repositories on one database share them).
    """

    def __init__(self, *, database: MemoryDatabase) -> None:
        self._db = database

    async def stored_limits(self) -> dict[str, int | None]:
        return dict(self._db.budget_limits)

    def stored_limits_now(self) -> dict[str, int | None] | None:
        return dict(self._db.budget_limits)

    async def change_limit(self, change: BudgetLimitChange) -> None:
        stored = dataclasses.replace(
            change, limit=None if change.use_default else change.limit, changed_at=utc_now(change.changed_at)
        )
        self._db.budget_limit_history.append(stored)
        if change.use_default:
            self._db.budget_limits.pop(change.scope, None)
        else:
            self._db.budget_limits[change.scope] = change.limit

    async def limit_history(self, *, scope: str | None = None, limit: int = 100) -> list[BudgetLimitChange]:
        found = [c for c in reversed(self._db.budget_limit_history) if scope is None or c.scope == scope]
        return found[:limit]
