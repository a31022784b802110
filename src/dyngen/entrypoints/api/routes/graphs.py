"""Scene graph routes: list, create, read (any version), save a new version, delete; and a stored
graph's health panel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dyngen.bootstrap_ports import authoring_ports, health_ports, play_ports
from dyngen.domain.access import Scope
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.domain.graph_health import GraphHealth
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import PathId, services_of, wire_response
from dyngen.services.authoring import graphs
from dyngen.services.play import prompts
from dyngen.services.play.prompts import PromptPreview, PromptRequest
from dyngen.services.reporting.health import check_graph

router = APIRouter(tags=["graphs"], dependencies=[require(Scope.EDITOR)])

GraphId = PathId


def _author(request: Request) -> str | None:
    key = getattr(request.state, "api_key", None)
    return getattr(key, "name", None)


@router.get("/api/graphs", response_model=list[graphs.GraphSummary], responses=documented(401, 403))
async def list_graphs(request: Request) -> Response:
    """The current version of every stored graph."""
    found = await graphs.list_graphs(graphs=services_of(request).graphs)
    return Response(
        content=b"[" + b",".join(g.model_dump_json(exclude_none=True).encode() for g in found) + b"]",
        media_type="application/json",
    )


@router.post(
    "/api/graphs", response_model=graphs.SavedGraph, status_code=201, responses=documented(401, 403, 409, 413, 422)
)
async def create_graph(graph: SceneGraph, request: Request) -> Response:
    """Store a new graph; refused (422, every finding listed) when a node has an error."""
    ports = authoring_ports(services_of(request))
    saved = await graphs.save_graph(graph=graph, author=_author(request), ports=ports, create=True)
    return wire_response(saved, status_code=201)


@router.get("/api/graphs/{graph_id}", response_model=SceneGraph, responses=documented(401, 403, 404, 422))
async def get_graph(
    graph_id: GraphId, request: Request, version: Annotated[int | None, Query(ge=1, le=2**31)] = None
) -> Response:
    """A stored graph: the current version, or `?version=N`."""
    stored = await graphs.get_graph(graph_id=graph_id, version=version, graphs=services_of(request).graphs)
    return Response(
        content=SceneGraph.model_validate(stored.body).model_dump_json(by_alias=True, exclude_none=True),
        media_type="application/json",
        headers={"X-Graph-Version": str(stored.version)},
    )


@router.put("/api/graphs/{graph_id}", response_model=graphs.SavedGraph, responses=documented(401, 403, 413, 422))
async def save_graph(graph_id: GraphId, graph: SceneGraph, request: Request) -> Response:
    """Save a new version of a graph (validated as on create)."""
    if graph.id != graph_id:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"the body's id {graph.id!r} is not the path's {graph_id!r}",
            details=[{"field": "body.id", "message": "must match the path", "type": "value_error"}],
        )
    saved = await graphs.save_graph(graph=graph, author=_author(request), ports=authoring_ports(services_of(request)))
    return wire_response(saved)


@router.delete("/api/graphs/{graph_id}", status_code=204, responses=documented(401, 403, 404, 422))
async def delete_graph(graph_id: GraphId, request: Request) -> Response:
    """Delete a graph (its versions stay in the history)."""
    ports = authoring_ports(services_of(request))
    await graphs.delete_graph(graph_id=graph_id, graphs=ports.graphs, cache=ports.cache)
    return Response(status_code=204)


@router.get("/api/health/graph/{graph_id}", response_model=GraphHealth, responses=documented(401, 403, 404, 422))
async def stored_graph_health(graph_id: GraphId, request: Request) -> Response:
    """The health panel of a stored graph (its current version)."""
    services = services_of(request)
    stored = await graphs.get_graph(graph_id=graph_id, version=None, graphs=services.graphs)
    return wire_response(await check_graph(graph=SceneGraph.model_validate(stored.body), ports=health_ports(services)))


@router.post(
    "/api/graphs/{graph_id}/nodes/{node_id}/prompt",
    response_model=PromptPreview,
    responses=documented(401, 403, 404, 413, 422),
)
async def node_prompt(graph_id: GraphId, node_id: PathId, body: PromptRequest, request: Request) -> Response:
    """The prompt a node's provider would get for a player: every role (`system`, `user`, `prompt`,
    `negativePrompt`) rendered from the node's templates or the shipped defaults, the variables with their
    values and what they hold, and template findings with their lines. `graph` and `prompt` in the body
    preview drafts. Nothing is generated."""
    play = play_ports(services_of(request))
    preview = await prompts.node_prompt(
        graph_id=graph_id, node_id=node_id, body=body, live_graph=play.live_graph, preparer=play.generation.preparer
    )
    return wire_response(preview)
