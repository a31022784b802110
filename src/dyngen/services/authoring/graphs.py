"""Scene graphs on the server: saved with versions, validated on every save (spec section 9: the
validator blocks a save with a contradiction; warnings are saved and shown)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from dyngen.domain.contracts import (
    NodeStatus,
    Severity,
)
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.domain.graph_health import GraphHealth, graph_health
from dyngen.domain.wire import load
from dyngen.ports import GraphRepository, StoredGraph
from dyngen.services.authoring.ports import AuthoringPorts
from dyngen.services.machinery.graph_cache import GraphCache

log = logging.getLogger("dyngen.graphs")


class GraphSummary(BaseModel):
    id: str
    version: int
    title: str
    author: str | None = None


class SavedGraph(BaseModel):
    id: str
    version: int
    graph: dict[str, Any]
    health: GraphHealth


def _check(graph: SceneGraph, ports: AuthoringPorts) -> GraphHealth:
    health = graph_health(graph, p95_latency_ms={}, default_timeout_ms=ports.default_timeout_ms, providers_down=[])
    errors = [
        {
            "field": f"nodes.{node.node_id}.{finding.field}",
            "message": finding.message,
            "code": finding.code,
            "severity": finding.severity.value,
        }
        for node in health.nodes
        if node.status is NodeStatus.ERRORS
        for finding in node.result.findings
        if finding.severity is Severity.ERROR
    ] + [
        {"field": finding.field, "message": finding.message, "code": finding.code, "severity": finding.severity.value}
        for finding in health.findings
        if finding.severity is Severity.ERROR
    ]
    # A node's `provider` names a configured instance or chain, as when the node is saved on its own.
    errors += [
        {
            "field": f"nodes.{node.id}.provider",
            "message": ports.providers.unknown(node.config.provider),
            "code": "UNKNOWN_PROVIDER",
            "severity": Severity.ERROR.value,
        }
        for node in graph.generation_nodes()
        if node.config.provider and ports.providers.get(node.config.provider) is None
    ]
    if errors:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"the graph has {len(errors)} error{'s' if len(errors) != 1 else ''}; it was not saved",
            details=errors,
        )
    return health


async def save_graph(
    *, graph: SceneGraph, author: str | None, ports: AuthoringPorts, create: bool = False
) -> SavedGraph:
    """Validate and store a new version of a graph.

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) listing every error of every node; CONFLICT (409) when
            `create` and the graph exists.
    """
    health = _check(graph, ports)
    if create and await ports.graphs.get_graph(graph.id) is not None:
        raise DyngenError(
            ErrorCode.CONFLICT, f"graph {graph.id!r} exists: PUT /api/graphs/{graph.id} saves a new version"
        )
    body = graph.model_dump(mode="json", by_alias=True, exclude_none=True)
    version = await ports.graphs.save_graph(graph.id, title=graph.title, body=body, author=author, at=ports.clock.now())
    ports.cache.invalidate(graph.id)
    return SavedGraph(id=graph.id, version=version, graph=body, health=health)


async def get_graph(*, graph_id: str, version: int | None, graphs: GraphRepository) -> StoredGraph:
    """A stored graph at `version` (None: its current one). Raises DyngenError NOT_FOUND when there is none."""
    stored = await graphs.get_graph(graph_id, version)
    if stored is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no graph {graph_id!r}" + (f" version {version}" if version else ""))
    return stored


async def list_graphs(*, graphs: GraphRepository) -> list[GraphSummary]:
    return [
        GraphSummary(id=g.id, version=g.version, title=g.title, author=g.author) for g in await graphs.list_graphs()
    ]


async def delete_graph(*, graph_id: str, graphs: GraphRepository, cache: GraphCache) -> None:
    if not await graphs.delete_graph(graph_id):
        raise DyngenError(ErrorCode.NOT_FOUND, f"no graph {graph_id!r}")
    cache.invalidate(graph_id)


async def load_example(*, data: Any, ports: AuthoringPorts) -> bool:
    """Store the example graph on first start (when no graph is stored yet). True when it was loaded."""
    if await ports.graphs.list_graphs():
        return False
    graph = load(SceneGraph, data)
    await save_graph(graph=graph, author="dyngen (example)", ports=ports)
    log.info("graphs.example_loaded id=%s", graph.id)
    return True
