"""Budget limits set in the editor: stored per scope over the defaults of the environment and config file.

A stored limit wins over the configured one (`BudgetPolicy.with_stored`); removing it brings the default
back. Every change is kept in the limit's history. The limits are read from the repository for each
provider call that the ledger checks, so a limit set through one process applies in every process at
once (on SQLite each call reads them in place; on PostgreSQL the calls in flight share one read that
started after each asked);
when they cannot be read the configured defaults apply (logged), as before the editor set any.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from dyngen.domain.budgets import DEFAULT_SCOPE, GLOBAL_SCOPE, NODE_PREFIX, BudgetPolicy, from_micros, to_micros
from dyngen.domain.ids import id_problem
from dyngen.ports import BudgetLimitChange, BudgetLimitRepository, Clock

log = logging.getLogger("dyngen.budgets")

MAX_LIMIT = 1_000_000_000.0


async def current_policy(
    *, policy: BudgetPolicy, limits: BudgetLimitRepository | None, within_s: float | None = None
) -> BudgetPolicy:
    """The budgets that apply now: `policy` (the configured defaults) with the stored limits over it.

    Args:
        within_s: At most this long for the read (a generation passes part of its node's deadline, so a
            database that accepts and never answers costs it that part, not the database's own timeouts);
            past it, as when the read fails, the configured defaults apply (logged).
    """
    if limits is None:
        return policy
    try:
        stored = limits.stored_limits_now()  # read at once (nothing to bound), or else within `within_s`
        if stored is None:
            async with asyncio.timeout(within_s):
                stored = await limits.stored_limits()
    except Exception as exc:
        log.warning("budget.limits_unavailable error=%s", f"{type(exc).__name__}: {exc}"[:200])
        return policy
    return policy.with_stored(stored)


class BudgetLimitEdit(BaseModel):
    """`PUT /api/budgets/limits`: set one budget's limit, or give it back to the configured default.

    Attributes:
        scope: `global` (the cap over every node), `default` (every node without its own limit) or
            `node:<node_id>`.
        limit: The budget per period in the providers' cost unit; null: no limit.
        use_default: Remove the stored limit: the environment or config file's value applies again.
    """

    scope: Annotated[str, Field(min_length=1, max_length=220)]
    limit: Annotated[float, Field(ge=0, le=MAX_LIMIT)] | None = None
    use_default: bool = False

    @field_validator("scope")
    @classmethod
    def _known_scope(cls, scope: str) -> str:
        if scope in (GLOBAL_SCOPE, DEFAULT_SCOPE):
            return scope
        if scope.startswith(NODE_PREFIX):
            node = scope.removeprefix(NODE_PREFIX)
            problem = id_problem(node) if node else "a node id is needed after 'node:'"
            if problem is None:
                return scope
            raise ValueError(problem)
        raise ValueError("scope is 'global', 'default' or 'node:<node_id>'")


class LimitChange(BaseModel):
    """One change of a stored limit (`limit` null with `use_default` false: set to no limit)."""

    scope: str
    limit: float | None
    use_default: bool
    changed_at: datetime
    changed_by: str | None


class LimitHistory(BaseModel):
    changes: list[LimitChange]


class ConfiguredLimit(BaseModel):
    """One scope's limit: what applies, where it comes from and what the environment or config file says."""

    scope: str
    limit: float | None
    source: Literal["editor", "config", "none"]
    default: float | None


def _change(change: BudgetLimitChange) -> LimitChange:
    return LimitChange(
        scope=change.scope,
        limit=None if change.limit is None else from_micros(change.limit),
        use_default=change.use_default,
        changed_at=change.changed_at,
        changed_by=change.changed_by,
    )


async def set_limit(
    *, edit: BudgetLimitEdit, by: str | None, limits: BudgetLimitRepository, clock: Clock
) -> LimitChange:
    """Store `edit` (and its history entry); the next provider call is checked against it."""
    change = BudgetLimitChange(
        scope=edit.scope,
        limit=None if edit.use_default or edit.limit is None else to_micros(edit.limit),
        use_default=edit.use_default,
        changed_at=clock.now(),
        changed_by=by,
    )
    await limits.change_limit(change)
    log.info("budget.limit_set scope=%s limit=%s use_default=%s", edit.scope, edit.limit, edit.use_default)
    return _change(change)


async def history(*, scope: str | None, limits: BudgetLimitRepository, limit: int = 100) -> LimitHistory:
    """The changes of one scope's limit (or of all), newest first."""
    return LimitHistory(changes=[_change(c) for c in await limits.limit_history(scope=scope, limit=limit)])


def configured(*, scope: str, defaults: BudgetPolicy, stored: dict[str, int | None]) -> ConfiguredLimit:
    """Where the limit of `scope` comes from: set in the editor, the environment or config file, or none."""
    if scope == GLOBAL_SCOPE:
        default = defaults.global_cap
    elif scope == DEFAULT_SCOPE:
        default = defaults.node_default
    else:
        default = defaults.nodes.get(scope.removeprefix(NODE_PREFIX))
    if scope in stored:
        micros = stored[scope]
        return ConfiguredLimit(
            scope=scope, limit=None if micros is None else from_micros(micros), source="editor", default=default
        )
    return ConfiguredLimit(
        scope=scope, limit=default, source="config" if default is not None else "none", default=default
    )
