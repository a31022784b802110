"""Budget routes: spend, reservations and what remains of the cost budgets (the editor's budget page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dyngen.domain.access import Scope
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.ids import IdChars
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import services_of
from dyngen.ports import ApiKey, BudgetLimitRepository
from dyngen.services.budgets import limits as budget_limits
from dyngen.services.budgets import spending as budgets

router = APIRouter(prefix="/api", tags=["budgets"])


@router.get(
    "/budgets",
    response_model=budgets.BudgetReport,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 422, 503),
)
async def get_budgets(
    request: Request, node_id: Annotated[str | None, Query(min_length=1, max_length=200), IdChars] = None
) -> Response:
    """The current period's cost budgets: the global cap and each node's budget (limit, spent, reserved,
    remaining, exhausted; `null` limit and remaining mean no budget), and the spend history by hour,
    node and provider. `?node_id=` narrows to one node (listed even before it spends)."""
    services = services_of(request)
    report = await budgets.report(
        node_id=node_id,
        ledger=services.budget_ledger,
        policy=services.options.budgets,
        clock=services.clock,
        limits=services.budget_limits,
    )
    # Not `wire_response`: an unlimited budget's `limit` and `remaining` are sent as null, not left out.
    return Response(content=report.model_dump_json(by_alias=True), media_type="application/json")


def _limits(request: Request) -> BudgetLimitRepository:
    found = services_of(request).budget_limits
    if found is None:
        raise DyngenError(ErrorCode.DEPENDENCY_UNAVAILABLE, "no database keeps budget limits in this deployment")
    return found


@router.put(
    "/budgets/limits",
    response_model=budget_limits.LimitChange,
    responses=documented(401, 403, 413, 415, 422, 503),
)
async def set_budget_limit(
    body: budget_limits.BudgetLimitEdit, request: Request, key: Annotated[ApiKey | None, require(Scope.EDITOR)]
) -> Response:
    """Set a budget's limit per period over the environment and config file's default: `scope` is
    `global`, `default` (every node without its own) or `node:<node_id>`; `limit: null` means no limit;
    `use_default: true` removes the stored limit. Applies to the next provider call; kept in the history."""
    services = services_of(request)
    change = await budget_limits.set_limit(
        edit=body, by=key.name if key is not None else None, limits=_limits(request), clock=services.clock
    )
    return Response(content=change.model_dump_json(), media_type="application/json")


@router.get(
    "/budgets/limits/history",
    response_model=budget_limits.LimitHistory,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 422, 503),
)
async def budget_limit_history(
    request: Request,
    scope: Annotated[str | None, Query(min_length=1, max_length=220), IdChars] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The changes of the stored budget limits, newest first (of one `scope`, or of all)."""
    found = await budget_limits.history(scope=scope, limits=_limits(request), limit=limit)
    return Response(content=found.model_dump_json(), media_type="application/json")
