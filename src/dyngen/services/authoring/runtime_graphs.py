"""Stored graphs as the game runtime reads them: parsed once per (graph, version) and kept in process, so
a by-reference call costs a dictionary lookup, not a database read and a parse.

A pinned version never changes, so it is kept until evicted. The current version of a graph is looked up
again after `CURRENT_TTL_S` (another process may have saved one) and at once after a save or a delete in
this process (`GraphCache.invalidate`, called by `authoring.graphs`). While the database does not answer
or refuses, what it said last is served (`GraphCache`: stale-while-revalidate, `DYNGEN_RUNTIME_STALE_S`).

Also here: the flat request's node resolution (`referenced`): a `POST /api/generate-content` whose
`node_id` names a saved node and that brings no config of its own generates that node, as stored.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable

from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph, node_request
from dyngen.ports import GraphRepository, NodeConfigRepository
from dyngen.services.authoring.ports import AuthoringPorts
from dyngen.services.machinery.graph_cache import CURRENT_TTL_S, GraphCache, LiveGraph

log = logging.getLogger("dyngen.runtime_graphs")

__all__ = ["CURRENT_TTL_S", "brings_config", "live_graph", "not_found", "referenced"]

# A flat request's fields that are not node config: a body that sets nothing else brings no config.
_NOT_CONFIG = frozenset({"type", "node_id", "player_context", "social_context", "provider", "simulate", "cache_key"})


def not_found(message: str, wanted: str, known: Iterable[str]) -> DyngenError:
    """NOT_FOUND with the closest known id suggested (in the message and as `suggestion`)."""
    close = difflib.get_close_matches(wanted, list(known), n=1, cutoff=0.3)
    if close:
        message += f"; did you mean {close[0]!r}?"
    details = [
        {"field": "path", "message": message, "type": "not_found", **({"suggestion": close[0]} if close else {})}
    ]
    return DyngenError(ErrorCode.NOT_FOUND, message, details=details)


async def live_graph(*, graph_id: str, version: int | None, ports: AuthoringPorts) -> LiveGraph:
    """The graph's `version` (None: its current one), parsed once per process.

    Raises:
        DyngenError: NOT_FOUND naming the closest graph id, or the versions there are.
    """
    cache: GraphCache = ports.cache
    if version is None:
        live = await cache.current.get(
            graph_id, lambda: _read_version(graph_id, None, ports), now=ports.clock.monotonic()
        )
    else:
        live = cache.versions.get((graph_id, version)) or await _read_version(graph_id, version, ports)
    if live is not None:
        return live
    if version is not None and (current := await ports.graphs.get_graph(graph_id)) is not None:
        raise DyngenError(
            ErrorCode.NOT_FOUND,
            f"graph {graph_id!r} has no version {version}; its versions are 1 to {current.version}",
            details=[{"field": "graph_version", "message": f"1 to {current.version}", "type": "not_found"}],
        )
    ids = [g.id for g in await ports.graphs.list_graphs()]
    raise not_found(f"no graph {graph_id!r}", graph_id, ids)


async def _read_version(graph_id: str, version: int | None, ports: AuthoringPorts) -> LiveGraph | None:
    """The graph's `version` (None: current) from the store, parsed once per version (None: no such one)."""
    stored = await ports.graphs.get_graph(graph_id, version)
    if stored is None:
        return None
    cache = ports.cache
    if (live := cache.versions.get((stored.id, stored.version))) is None:
        live = LiveGraph.of(stored.id, stored.version, SceneGraph.model_validate(stored.body))
        cache.versions.put((stored.id, stored.version), live)
    return live


async def _stored_graphs(graphs: GraphRepository) -> tuple[tuple[str, int], ...]:
    return tuple((g.id, g.version) for g in await graphs.list_graphs())


async def _saved_node(node_id: str, nodes: NodeConfigRepository) -> GenerationNodeConfig | None:
    saved = await nodes.node_version(node_id, None)
    return None if saved is None else GenerationNodeConfig.model_validate(saved.config)


def brings_config(request: GenerateContentRequest) -> bool:
    """Whether a flat request sets any node config field (beyond its type and the node's id)."""
    return not request.model_fields_set <= _NOT_CONFIG


async def referenced(*, request: GenerateContentRequest, ports: AuthoringPorts) -> GenerateContentRequest:
    """A flat request resolved by its `node_id` when it brings no config: the node as stored (in the
    current version of a stored graph, between its scenes; else the node's saved config), for the
    request's player. A request that brings config generates what it brings (the body wins: the editor's
    Test Generation tries unsaved changes this way). Unchanged without a `node_id`.

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) when the `node_id` names no saved node (the closest id
            suggested) or a node of another type than the body's.
    """
    if request.node_id is None or brings_config(request):
        return request
    node_id = request.node_id
    cache = ports.cache
    now = ports.clock.monotonic()
    known: list[str] = []
    for graph_id, version in await cache.stored.get("", lambda: _stored_graphs(ports.graphs), now=now):
        live = await live_graph(graph_id=graph_id, version=version, ports=ports)
        known.extend(live.nodes)
        if (node := live.nodes.get(node_id)) is not None:
            resolved = node_request(
                live.graph,
                node,
                player_context=request.player_context,
                social_context=request.social_context,
                simulate=request.simulate,
            )
            return _same_type(request, resolved.model_copy(update={"provider": request.provider}))
    config = await cache.nodes.get(node_id, lambda: _saved_node(node_id, ports.nodes), now=now)
    if config is not None:
        resolved = GenerateContentRequest.for_node(
            config.model_copy(update={"id": config.id or node_id}),
            player_context=request.player_context,
            simulate=request.simulate,
        )
        update = {"provider": request.provider}
        if request.social_context is not None:
            update["social_context"] = request.social_context  # type: ignore[assignment]
        return _same_type(request, resolved.model_copy(update=update))
    message = f"node_id {node_id!r} names no saved node and the request brings no config"
    close = difflib.get_close_matches(node_id, known, n=1, cutoff=0.3)
    finding = {"field": "body.node_id", "message": message, "type": "value_error"}
    if close:
        finding["suggestion"] = close[0]
        message += f"; did you mean {close[0]!r}?"
        finding["message"] = message
    raise DyngenError(ErrorCode.GEN_INVALID_CONFIG, message, details=[finding])


def _same_type(request: GenerateContentRequest, resolved: GenerateContentRequest) -> GenerateContentRequest:
    if resolved.type is not request.type:
        message = f"node {request.node_id!r} is a {resolved.type.value} node, not {request.type.value}"
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            message,
            details=[{"field": "body.type", "message": message, "type": "value_error"}],
        )
    return resolved
