"""Spending and pacing: the budget ledger and the rate limiter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget held for one provider call until it is committed (with the actual cost) or released.

    Attributes:
        id: Unique per reservation.
        period: The budget period's key (`2026-11-25`).
        scopes: The scopes charged, global first (`global`, `node:<id>`).
        amount: Micro-units held (the provider's estimate).
        node_id: The node charged (`-` for none), for the spend history.
        provider: The provider called, for the spend history.
    """

    id: str
    period: str
    scopes: tuple[str, ...]
    amount: int
    node_id: str
    provider: str


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    """Why a reservation was refused: the first scope whose budget it would overrun.

    Attributes:
        scope: `global` or `node:<id>`.
        limit: The scope's budget, micro-units.
        remaining: What is left of it (limit - spent - reserved), micro-units.
    """

    scope: str
    limit: int
    remaining: int


@dataclass(frozen=True, slots=True)
class ScopeSpend:
    """A scope's state in a period, micro-units."""

    scope: str
    spent: int
    reserved: int


@dataclass(frozen=True, slots=True)
class SpendBucket:
    """Committed cost of one node and provider in one hour (the budget page's chart)."""

    bucket_start: datetime
    node_id: str
    provider: str
    cost: int


class BudgetLedger(Protocol):
    """Spend and reservations per budget scope and period, exact under concurrency (spec section 16).

    A reservation is checked against every scope's limit and held in every scope atomically: either all
    scopes hold it or none does, and no two callers can both take the last of a budget. Reservations
    expire (`ttl_s`), so budget held by a process that died comes back by itself. Amounts are integer
    micro-units (see `dyngen.domain.budgets`).
    """

    async def reserve(
        self, reservation: Reservation, *, limits: dict[str, int | None], ttl_s: float
    ) -> BudgetRefusal | None:
        """Hold `reservation.amount` in each of its scopes, unless one would go over its limit.

        Args:
            reservation: What to hold and where (`scopes`).
            limits: Each scope's budget for the period in micro-units (None: unlimited).
            ttl_s: Seconds after which an uncommitted reservation is dropped.

        Returns:
            None when held; the refusal (the first scope over its limit) when nothing was held.
        """
        ...

    async def commit(self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True) -> None:
        """Replace the held amount with the actual cost (spent). Counts the spend even when the
        reservation has expired meanwhile (the money was spent), and adds it to the hour of `at` in the
        spend history. `held=False`: `reserve` was never asked (no limit applied), so there is no hold to
        give back, only the spend to count."""
        ...

    def commit_soon(
        self, reservation: Reservation, *, actual: int, at: datetime, held: bool = True
    ) -> asyncio.Future[None] | None:
        """`commit` without a task of its own, when the ledger writes in batches: queued for the next batch at
        once (with the generation's record, when it follows), and the future is done once that batch
        committed, or holds its error (retrieved already). The future is the caller's own: cancelling it
        leaves the write in its batch. None when the ledger does not batch: `commit` it."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give the held amount back (the call failed or never ran). Unknown or expired: nothing happens."""
        ...

    async def snapshot(self, period: str) -> list[ScopeSpend]:
        """Every scope with spend or reservations in `period` (expired reservations dropped first)."""
        ...

    async def history(self, period: str) -> list[SpendBucket]:
        """The period's committed spend by hour, node and provider, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request is admitted, and if not, in how many seconds it would be."""

    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    """GCRA rate limits by key (API key, player, always-fresh node), shared by every process through Redis
    in scaled mode, per process when embedded. See `dyngen.domain.rate_limits`."""

    async def acquire(self, key: str, *, per_second: float, burst: int) -> RateDecision:
        """Admit one request for `key` at `per_second` sustained with `burst` at once, or say when to retry."""
        ...


@dataclass(frozen=True, slots=True)
class BudgetLimitChange:
    """One edit of a stored budget limit (the editor's budget page), kept in the limit's history.

    Attributes:
        scope: `global`, `default` (a node without its own limit) or `node:<id>`.
        limit: The budget per period in micro-units; None: no limit.
        use_default: True when the edit removed the stored limit (the configured default applies again).
        changed_at: When.
        changed_by: The API key's name or id that made it (None without keys).
    """

    scope: str
    limit: int | None
    use_default: bool
    changed_at: datetime
    changed_by: str | None = None


class BudgetLimitRepository(Protocol):
    """Budget limits set in the editor, over the defaults of the environment and config file, with history."""

    async def stored_limits(self) -> dict[str, int | None]:
        """Every scope with a stored limit: its micro-units, None for a stored "no limit"."""
        ...

    def stored_limits_now(self) -> dict[str, int | None] | None:
        """`stored_limits` when they can be read at once, without waiting for anything (SQLite in place, memory);
        None when they must be read with `stored_limits`."""
        ...

    async def change_limit(self, change: BudgetLimitChange) -> None:
        """Store (or with `use_default`, remove) a scope's limit and add the change to its history, at once."""
        ...

    async def limit_history(self, *, scope: str | None = None, limit: int = 100) -> list[BudgetLimitChange]:
        """Changes newest first, of one scope or of all."""
        ...
