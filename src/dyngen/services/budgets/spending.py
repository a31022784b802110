"""Cost budgets (spec sections 9 and 16): a reservation around every provider call, and the budget page.

Before each provider attempt the provider's estimated cost is reserved in the node's budget and the
global cap at once (`BudgetLedger.reserve`: a Lua script in Redis, one transaction in the database); the
actual cost replaces it when the call returns, and a failed call gives it back. A refused reservation is
a `GEN_BUDGET_EXCEEDED` generation failure: the node's fallback answers it and the run is recorded like
any other failure. Without any budget configured the spend is still counted, but only calls that cost
something reach the ledger.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from dyngen.domain.budgets import (
    DEFAULT_SCOPE,
    GLOBAL_SCOPE,
    NO_NODE,
    BudgetPolicy,
    from_micros,
    node_scope,
    period_window,
    scope_node,
    to_micros,
)
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import BudgetLedger, BudgetLimitRepository, Clock, Reservation, ScopeSpend
from dyngen.services.budgets.limits import ConfiguredLimit, configured
from dyngen.services.machinery.ids import new_id

log = logging.getLogger("dyngen.budgets")

# A reservation outlives its call by this much before the ledger takes it back (a crashed process).
RESERVATION_GRACE_S = 60.0


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


@dataclass(frozen=True, slots=True)
class Hold:
    """A provider call's reservation. `held` is False when no budget applies and the ledger was not asked
    (the spend is still counted when the call costs something)."""

    reservation: Reservation
    held: bool


async def reserve(
    *,
    node_id: str | None,
    provider: str,
    estimate: float,
    deadline_s: float,
    ledger: BudgetLedger | None,
    policy: BudgetPolicy,
    clock: Clock,
) -> Hold | None:
    """Reserve `estimate` for one provider call of `node_id` in its node budget and the global cap.

    Args:
        node_id: The node charged (None: the `-` node).
        provider: The provider about to be called (the spend history is kept per provider).
        estimate: `provider.estimate_cost(request)`.
        deadline_s: Seconds the call may take; the reservation lasts a minute longer.
        ledger: Where spend is counted (None: nothing is counted).
        policy: The budgets per node and the global cap, per period.
        clock: The clock of the period and the reservation's expiry.

    Returns:
        The hold to `settle` after the call, or None when no ledger is configured.

    Raises:
        DyngenError: GEN_BUDGET_EXCEEDED when the node's budget or the global cap has not enough left;
            GEN_PROVIDER_UNAVAILABLE when a budget applies and the ledger cannot be reached (no call is
            made without a reservation).
    """
    if ledger is None:
        return None
    window = period_window(clock.now(), policy.period)
    limits = policy.limits_for(node_id)
    reservation = Reservation(
        id=new_id(),
        period=window.key,
        scopes=tuple(limit.scope for limit in limits),
        amount=to_micros(estimate),
        node_id=node_id or NO_NODE,
        provider=provider,
    )
    if all(limit.limit is None for limit in limits):
        return Hold(reservation=reservation, held=False)
    try:
        refusal = await ledger.reserve(
            reservation, limits={limit.scope: limit.limit for limit in limits}, ttl_s=deadline_s + RESERVATION_GRACE_S
        )
    except Exception as exc:  # fail closed: a budget that cannot be checked is not spent blind
        log.warning("budget.ledger_unavailable node=%s error=%s", node_id, _why(exc))
        raise DyngenError(
            ErrorCode.GEN_PROVIDER_UNAVAILABLE, "the budget ledger cannot be reached; no provider call without it"
        ) from exc
    if refusal is None:
        return Hold(reservation=reservation, held=True)
    what = "the global budget" if refusal.scope == GLOBAL_SCOPE else f"the budget of node '{scope_node(refusal.scope)}'"
    log.info(
        "budget.exceeded node=%s scope=%s remaining=%s estimate=%s",
        node_id,
        refusal.scope,
        from_micros(max(0, refusal.remaining)),
        estimate,
    )
    raise DyngenError(
        ErrorCode.GEN_BUDGET_EXCEEDED,
        f"{what} for this {policy.period.value} has {from_micros(max(0, refusal.remaining))} left of "
        f"{from_micros(refusal.limit)}; this call is estimated at {from_micros(reservation.amount)}",
        details=[
            {
                "scope": refusal.scope,
                "limit": from_micros(refusal.limit),
                "remaining": from_micros(max(0, refusal.remaining)),
                "estimate": from_micros(reservation.amount),
                "period": window.key,
            }
        ],
    )


async def settle(*, hold: Hold | None, actual: float | None, ledger: BudgetLedger | None, clock: Clock) -> None:
    """After the call: `actual` cost replaces the reservation (spent), or None gives it back (failed).

    A ledger that cannot be reached now is logged: the call already ran, and a reservation that is not
    given back expires by itself.
    """
    if (amount := _amount(hold, actual, ledger)) is not None:
        assert hold is not None
        assert ledger is not None
        await _settle(hold, actual, amount, ledger=ledger, clock=clock)


def settling(
    *, hold: Hold | None, actual: float | None, ledger: BudgetLedger | None, clock: Clock
) -> asyncio.Future[None] | None:
    """`settle` under way, for the caller to wait on later (`generation.attempts.settled`): a commit queued in
    the ledger's next write batch when it batches (`BudgetLedger.commit_soon`: the batch of the generation's
    record, which follows it), else `settle`'s write as a task. None when there is nothing to write."""
    if (amount := _amount(hold, actual, ledger)) is None:
        return None
    assert hold is not None
    assert ledger is not None
    if actual is not None:
        try:
            soon = ledger.commit_soon(hold.reservation, actual=amount, at=clock.now(), held=hold.held)
        except Exception as exc:  # the writer is closed (a flight finishing at shutdown): logged, as `settle` does
            log.warning("budget.settle_failed node=%s amount=%s error=%s", hold.reservation.node_id, actual, _why(exc))
            return None
        if soon is not None:
            soon.add_done_callback(functools.partial(_log_failed, hold, actual))
            return soon
    return asyncio.get_running_loop().create_task(
        _settle(hold, actual, amount, ledger=ledger, clock=clock), name="dyngen-budget-settle"
    )


def _amount(hold: Hold | None, actual: float | None, ledger: BudgetLedger | None) -> int | None:
    """What to settle in micro-units, or None when there is nothing to write (no ledger, or a call that
    reserved nothing and cost nothing: the built-in providers')."""
    if hold is None or ledger is None:
        return None
    amount = to_micros(actual) if actual is not None else 0
    if not hold.held and amount == 0:
        return None
    return amount


async def _settle(hold: Hold, actual: float | None, amount: int, *, ledger: BudgetLedger, clock: Clock) -> None:
    try:
        if actual is None:
            await ledger.release(hold.reservation)
        else:
            await ledger.commit(hold.reservation, actual=amount, at=clock.now(), held=hold.held)
    except Exception as exc:
        log.warning("budget.settle_failed node=%s amount=%s error=%s", hold.reservation.node_id, actual, _why(exc))


def _log_failed(hold: Hold, actual: float | None, written: asyncio.Future[None]) -> None:
    if not written.cancelled() and (exc := written.exception()) is not None:
        log.warning("budget.settle_failed node=%s amount=%s error=%s", hold.reservation.node_id, actual, _why(exc))


class ScopeBudget(BaseModel):
    """One budget's state in the current period (amounts in the providers' cost unit)."""

    limit: float | None
    spent: float
    reserved: float
    remaining: float | None
    exhausted: bool


class NodeBudget(ScopeBudget):
    node_id: str


class SpendPoint(BaseModel):
    bucket_start: datetime
    node_id: str
    provider: str
    cost: float


class BudgetReport(BaseModel):
    """`GET /api/budgets`: spend, reservations and what remains, globally and per node, and the spend
    history of the period by hour, node and provider; `limits` says where each limit comes from (set in
    the editor, the environment or config file, or none) for `global`, `default` and every listed node,
    and `limited` whether any budget applies at all (without one, spend is only counted)."""

    model_config = ConfigDict(populate_by_name=True)

    period: str
    period_start: datetime
    period_end: datetime
    global_: ScopeBudget = Field(alias="global")
    nodes: list[NodeBudget]
    history: list[SpendPoint]
    limits: list[ConfiguredLimit] = Field(default_factory=list)
    limited: bool = False


def _scope_budget(state: ScopeSpend | None, limit: float | None) -> ScopeBudget:
    spent, reserved = (state.spent, state.reserved) if state is not None else (0, 0)
    limit_micros = to_micros(limit) if limit is not None else None
    remaining = max(0, limit_micros - spent - reserved) if limit_micros is not None else None
    return ScopeBudget(
        limit=limit,
        spent=from_micros(spent),
        reserved=from_micros(reserved),
        remaining=from_micros(remaining) if remaining is not None else None,
        exhausted=remaining is not None and remaining <= 0,
    )


async def report(
    *,
    node_id: str | None = None,
    ledger: BudgetLedger | None,
    policy: BudgetPolicy,
    clock: Clock,
    limits: BudgetLimitRepository | None = None,
) -> BudgetReport:
    """The current period's budgets: the global cap and every node with a budget or spend (or only
    `node_id`, which is listed even when nothing was spent). `policy` holds the configured defaults; the
    limits stored in `limits` apply over them."""
    window = period_window(clock.now(), policy.period)
    defaults = policy
    try:
        stored = await limits.stored_limits() if limits is not None else {}
        policy = policy.with_stored(stored)
        states = await ledger.snapshot(window.key) if ledger is not None else []
        history = await ledger.history(window.key) if ledger is not None else []
    except DyngenError:
        raise
    except Exception as exc:
        log.warning("budget.ledger_unavailable error=%s", _why(exc))
        raise DyngenError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the budget ledger cannot be reached") from exc
    by_scope = {state.scope: state for state in states}
    if node_id is not None:
        nodes = [node_id]
    else:
        spending = {n for state in states if (n := scope_node(state.scope)) is not None}
        nodes = sorted(spending | set(policy.nodes) | policy.unlimited_nodes)
    return BudgetReport(
        period=policy.period.value,
        period_start=window.start,
        period_end=window.end,
        global_=_scope_budget(by_scope.get(GLOBAL_SCOPE), policy.global_cap),
        nodes=[
            NodeBudget(node_id=n, **_scope_budget(by_scope.get(node_scope(n)), policy.node_limit(n)).model_dump())
            for n in nodes
        ],
        history=[
            SpendPoint(bucket_start=b.bucket_start, node_id=b.node_id, provider=b.provider, cost=from_micros(b.cost))
            for b in history
            if node_id is None or b.node_id == node_id
        ],
        limits=[
            configured(scope=scope, defaults=defaults, stored=stored)
            for scope in (GLOBAL_SCOPE, DEFAULT_SCOPE, *(node_scope(n) for n in nodes))
        ],
        limited=policy.limited,
    )
