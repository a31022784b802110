"""The game runtime's routes: a stored node's content by reference, and advancing through a stored graph."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from dyngen.domain.access import Scope
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.ids import id_problem
from dyngen.domain.responses import GenerateContentResponse
from dyngen.domain.runtime import AdvanceRequest, AdvanceResponse, NodeContentRequest
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.routes.generation import generate_response
from dyngen.entrypoints.api.wire import PathId, json_body, play_of, wire_response
from dyngen.ports import ApiKey
from dyngen.services.play import by_reference

router = APIRouter(tags=["runtime"])  # the by-reference route only: app.py includes it first (see there)
advance_router = APIRouter(tags=["runtime"])

GraphId = PathId


@router.post(
    "/api/graphs/{graph_id}/nodes/{node_id}/content",
    response_model=GenerateContentResponse,
    responses={
        202: {"description": "Queued as a job (with `Prefer: respond-async`)"},
        **documented(401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
    # The path's ids are read from `request.path_params`, not declared: FastAPI's per-parameter validation
    # cost more than the rest of a cache hit (bench/by_reference.py). They are documented here instead.
    openapi_extra={
        **json_body(NodeContentRequest),
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in ("graph_id", "node_id")
        ],
    },
)
async def node_content(request: Request, key: Annotated[ApiKey | None, require(Scope.RUNTIME)]) -> Response:
    """A stored node's content for a player: the graph's current version (or `graph_version`), the node's
    config, template, arms and rules, its scenes; the same request (cache key, content) as the editor's
    Test Generation and a warm-up make. An edge with `generate: true` is the node `edge:<from>-><to>`.

    Body: `{player_context, social_context?, graph_version?}`. `Prefer: respond-async` and
    `Idempotency-Key` as on `POST /api/generate-content`. A disabled node answers its fallback with the
    reason. Unknown graph, version or node: 404 naming the closest id.
    """
    params = request.path_params
    refused = [
        {"field": f"path.{name}", "message": problem, "type": "value_error"}
        for name in ("graph_id", "node_id")
        if (problem := id_problem(params[name])) is not None
    ]
    if refused:
        raise DyngenError(ErrorCode.GEN_INVALID_CONFIG, f"{len(refused)} problem(s) in the request", details=refused)
    call = await by_reference.node_call(
        graph_id=params["graph_id"], node_id=params["node_id"], body=await request.body(), ports=play_of(request)
    )
    if call.body is None:
        assert call.answer is not None
        return wire_response(call.answer)
    return await generate_response(request, key, call.body)


@advance_router.post(
    "/api/graphs/{graph_id}/advance",
    response_model=AdvanceResponse,
    dependencies=[require(Scope.RUNTIME)],
    responses=documented(401, 403, 404, 413, 415, 422, 429, 503),
)
async def advance(graph_id: GraphId, body: AdvanceRequest, request: Request) -> Response:
    """One step of `dyngen play`: leave `from_scene` (by its first exit, `choice` or `to_scene`); answers
    what the game plays on the way (a node's content or fallback, or nothing for a plain edge), the scene
    that follows and its exits."""
    return wire_response(await by_reference.advance(graph_id=graph_id, body=body, ports=play_of(request)))
