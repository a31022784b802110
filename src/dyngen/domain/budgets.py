"""Cost budgets (spec sections 9 and 16): periods, scopes and exact amounts.

Amounts are kept as integer micro-units (one millionth of the cost unit) wherever they are added up, so
that 50 reservations of 0.01 fill a budget of 0.5 exactly; floating point sums would refuse the 50th.
A budget applies to a scope: `global` (the cap over every node) or `node:<node_id>`. The limits come
from settings (environment, config file) and may be set over them in the editor (stored per scope, where
`default` names the limit of every node without its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

MICROS = 1_000_000
GLOBAL_SCOPE = "global"
NODE_PREFIX = "node:"
NO_NODE = "-"  # the node id of a request that names none
DEFAULT_SCOPE = "default"  # a stored limit for every node without its own (not a ledger scope)


class BudgetPeriod(StrEnum):
    """How long a budget lasts before it starts again (UTC calendar boundaries)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """One period of a budget.

    Attributes:
        key: Names the period in the ledger (`2026-11-25` for a day); a new key starts a fresh budget.
        start: First instant of the period (UTC).
        end: First instant of the next period (UTC).
    """

    key: str
    start: datetime
    end: datetime


def period_window(now: datetime, period: BudgetPeriod) -> PeriodWindow:
    """The period `now` falls in: hours, days and ISO weeks (Monday) and months, all in UTC. (Keys are
    formatted by hand: `strftime` costs more than the rest of a provider call's budget check.)"""
    now = now.astimezone(UTC) if now.tzinfo is not None else now.replace(tzinfo=UTC)
    if period is BudgetPeriod.HOUR:
        start = now.replace(minute=0, second=0, microsecond=0)
        key = f"{start.year:04d}-{start.month:02d}-{start.day:02d}T{start.hour:02d}"
        return PeriodWindow(key, start, start + timedelta(hours=1))
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is BudgetPeriod.DAY:
        return PeriodWindow(f"{day.year:04d}-{day.month:02d}-{day.day:02d}", day, day + timedelta(days=1))
    if period is BudgetPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return PeriodWindow(f"{year}-W{week:02d}", start, start + timedelta(days=7))
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return PeriodWindow(f"{start.year:04d}-{start.month:02d}", start, end)


def to_micros(amount: float) -> int:
    """An amount in micro-units (rounded to the nearest; negative amounts count as zero)."""
    return max(0, round(amount * MICROS))


def from_micros(micros: int) -> float:
    return round(micros / MICROS, 6)


def node_scope(node_id: str | None) -> str:
    return NODE_PREFIX + (node_id or NO_NODE)


def scope_node(scope: str) -> str | None:
    """The node id of a `node:` scope, None for the global one."""
    return scope.removeprefix(NODE_PREFIX) if scope.startswith(NODE_PREFIX) else None


@dataclass(frozen=True, slots=True)
class ScopeLimit:
    """A scope and its budget in micro-units for the period (None: unlimited, spend is still counted)."""

    scope: str
    limit: int | None


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """Which budgets apply, from settings.

    Attributes:
        period: How long a budget lasts.
        global_cap: The cap over every node per period (None: no cap).
        node_default: The budget of a node without its own entry in `nodes` (None: unlimited).
        nodes: Budgets per node id.
        unlimited_nodes: Nodes set to no limit in the editor (the default does not apply to them).
    """

    period: BudgetPeriod = BudgetPeriod.DAY
    global_cap: float | None = None
    node_default: float | None = None
    nodes: dict[str, float] = field(default_factory=dict)
    unlimited_nodes: frozenset[str] = frozenset()

    def node_limit(self, node_id: str | None) -> float | None:
        if node_id is not None and node_id in self.nodes:
            return self.nodes[node_id]
        if node_id is not None and node_id in self.unlimited_nodes:
            return None
        return self.node_default

    def limits_for(self, node_id: str | None) -> list[ScopeLimit]:
        """The scopes a provider call for `node_id` is charged to: the global one first, then the node's.

        The order is the same for every call, so the database ledger locks rows in one order.
        """
        cap, node = self.global_cap, self.node_limit(node_id)
        return [
            ScopeLimit(GLOBAL_SCOPE, None if cap is None else to_micros(cap)),
            ScopeLimit(node_scope(node_id), None if node is None else to_micros(node)),
        ]

    @property
    def limited(self) -> bool:
        """True when any budget is configured (otherwise spend is only counted)."""
        return self.global_cap is not None or self.node_default is not None or bool(self.nodes)

    def with_stored(self, stored: dict[str, int | None]) -> BudgetPolicy:
        """These defaults with the limits set in the editor over them (micro-units per scope; None: no
        limit): `global`, `default` (every node without its own) and `node:<id>`."""
        if not stored:
            return self

        def amount(micros: int | None) -> float | None:
            return None if micros is None else from_micros(micros)

        cap = amount(stored[GLOBAL_SCOPE]) if GLOBAL_SCOPE in stored else self.global_cap
        default = amount(stored[DEFAULT_SCOPE]) if DEFAULT_SCOPE in stored else self.node_default
        nodes = dict(self.nodes)
        unlimited: set[str] = set()
        for scope, micros in stored.items():
            node = scope_node(scope)
            if node is None:
                continue
            if micros is None:
                nodes.pop(node, None)
                unlimited.add(node)
            else:
                nodes[node] = from_micros(micros)
        return BudgetPolicy(
            period=self.period,
            global_cap=cap,
            node_default=default,
            nodes=nodes,
            unlimited_nodes=frozenset(unlimited | (self.unlimited_nodes - set(nodes))),
        )
