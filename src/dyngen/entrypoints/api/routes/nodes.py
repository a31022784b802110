"""Node config routes: save a node (a new version), read any version, list versions, diff, roll back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dyngen.bootstrap_ports import authoring_ports
from dyngen.domain.access import Scope
from dyngen.domain.contracts import GenerationNodeConfig
from dyngen.domain.diff import Change
from dyngen.domain.ids import TextChars
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import documented
from dyngen.entrypoints.api.wire import PathId, services_of, wire_response
from dyngen.services.authoring import nodes

router = APIRouter(prefix="/api/nodes/{node_id}", tags=["nodes"], dependencies=[require(Scope.EDITOR)])

NodeId = PathId
Version = Annotated[int, Query(ge=1, le=2**31)]


class NodeVersions(BaseModel):
    versions: list[nodes.NodeVersionView]


class NodeDiff(BaseModel):
    node_id: str
    before: int
    after: int
    changes: list[Change]


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31, strict=True)


def _author(request: Request) -> str | None:
    return getattr(getattr(request.state, "api_key", None), "name", None)


@router.put("/config", response_model=nodes.SavedNode, responses=documented(401, 403, 413, 422))
async def save_node(
    node_id: NodeId,
    config: GenerationNodeConfig,
    request: Request,
    note: Annotated[str | None, Query(max_length=500), TextChars] = None,
) -> Response:
    """Save the node's config as its next version (refused, with every finding, when it has errors)."""
    saved = await nodes.save_node(
        node_id=node_id, config=config, author=_author(request), note=note, ports=authoring_ports(services_of(request))
    )
    return wire_response(saved)


@router.get("/config", response_model=nodes.NodeVersionView, responses=documented(401, 403, 404, 422))
async def node_config(node_id: NodeId, request: Request, version: Version | None = None) -> Response:
    """The node's current config, or `?version=N`."""
    found = await nodes.node_version(node_id=node_id, version=version, nodes=services_of(request).nodes)
    return wire_response(nodes.view(found))


@router.get("/versions", response_model=NodeVersions, responses=documented(401, 403, 404, 422))
async def node_versions(node_id: NodeId, request: Request) -> Response:
    """Every saved version of the node, newest first, with author and time."""
    versions = await nodes.node_versions(node_id=node_id, nodes=services_of(request).nodes)
    return wire_response(NodeVersions(versions=[nodes.view(v) for v in versions]))


@router.get("/diff", response_model=NodeDiff, responses=documented(401, 403, 404, 422))
async def node_diff(
    node_id: NodeId,
    request: Request,
    before: Annotated[int, Query(alias="from", ge=1, le=2**31)],
    after: Annotated[int, Query(alias="to", ge=1, le=2**31)],
) -> Response:
    """What changed between two versions (`?from=1&to=3`)."""
    changes = await nodes.diff(node_id=node_id, before=before, after=after, nodes=services_of(request).nodes)
    return wire_response(NodeDiff(node_id=node_id, before=before, after=after, changes=changes))


@router.post("/rollback", response_model=nodes.SavedNode, responses=documented(401, 403, 404, 413, 422))
async def rollback(node_id: NodeId, body: Rollback, request: Request) -> Response:
    """Make an old version current again (the rollback is itself a new version)."""
    saved = await nodes.rollback(
        node_id=node_id, to_version=body.version, author=_author(request), ports=authoring_ports(services_of(request))
    )
    return wire_response(saved)
