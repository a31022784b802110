"""Rule DSL route: compile rules and evaluate them for a player context."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dyngen.domain.access import Scope
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import wire_response
from dyngen.services.authoring import dsl
from dyngen.services.authoring.dsl import DslCompileRequest, DslResult

router = APIRouter(prefix="/api", tags=["dsl"])


@router.post(
    "/dsl/compile",
    response_model=DslResult,
    dependencies=[require(Scope.EDITOR)],
    responses=documented(401, 403, 413, 422),
)
def compile_rules(payload: DslCompileRequest) -> Response:
    """Compile rule source (docs/dsl.md) and evaluate it for `player_context` / `social_context`.

    Always 200 for a well-formed body: `{overrides, warnings, errors}`, where `errors` (syntax errors and
    values a node cannot hold, each with line, column and a caret excerpt) leave `overrides` empty.
    """
    # A plain `def`: compiling is CPU work, so FastAPI runs it in its thread pool, off the event loop.
    result = dsl.compile_and_evaluate(
        source=payload.source, player_context=payload.player_context, social_context=payload.social_context
    )
    return wire_response(result)
