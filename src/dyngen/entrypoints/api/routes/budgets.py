"""Budget routes: spend, reservations and what remains of the cost budgets (the editor's budget page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dyngen.domain.access import Scope
from dyngen.domain.ids import IdChars
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import services_of
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
        node_id=node_id, ledger=services.budget_ledger, policy=services.options.budgets, clock=services.clock
    )
    # Not `wire_response`: an unlimited budget's `limit` and `remaining` are sent as null, not left out.
    return Response(content=report.model_dump_json(by_alias=True), media_type="application/json")
