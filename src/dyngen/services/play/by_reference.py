"""The game runtime: a stored node's content by reference, and advancing through a stored graph.

`node_call` turns `POST /api/graphs/{graph_id}/nodes/{node_id}/content` into the flat request the editor's
Test Generation, `dyngen play` and a warm-up send for the same node and player (`domain.graph.node_request`),
so all of them share cache keys and content; the route then serves it through the flat front door
(`generation/front_door.py:generate`, which queues a job for `Prefer: respond-async`). The work is
remembered per (graph, version, node, body), and the flat request is handed to the front door read and
prepared (`front_door.remember`), so a cache hit costs a few small-dictionary lookups more than the flat
request's hit of a body it has seen before (`python -m bench byref`).

`advance` is one step of `dyngen play` (`services/play/walk.py:take`, the same code).
"""

from __future__ import annotations

from dyngen.domain import fallback
from dyngen.domain.cache_keys import cache_key
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import Edge, GenerationNode, node_request, target_of
from dyngen.domain.responses import CacheInfo, Cost, FallbackInfo, GenerateContentResponse
from dyngen.domain.runtime import AdvanceRequest, AdvanceResponse, NodeContentRequest
from dyngen.domain.wire import load_json
from dyngen.services.authoring.runtime_graphs import not_found
from dyngen.services.generation import front_door
from dyngen.services.machinery.graph_cache import GraphCache, LiveGraph, NodeCall
from dyngen.services.machinery.memo import body_key
from dyngen.services.play import walk as play
from dyngen.services.play.ports import PlayPorts


def disabled_answer(request: GenerateContentRequest, *, graph: LiveGraph) -> GenerateContentResponse:
    """A disabled node's fallback, with the reason: nothing is generated, cached or recorded."""
    reason = f"node {request.node_id!r} is disabled in graph {graph.id!r} version {graph.version}"
    error = DyngenError(ErrorCode.GEN_INVALID_CONFIG, reason)
    payload, info = fallback.apply(request, error, mode=request.fallback.mode, attempts=0)
    try:
        key = cache_key(request)
    except DyngenError:  # a scope id the player did not send: the node is not generated anyway
        key = ""
    return GenerateContentResponse(
        status=GenerationStatus.FAILED,
        content=payload,
        cache_key=key,
        cache=CacheInfo(hit=False),
        cost=Cost(tokens=0, time_ms=0.0),
        deterministic=True,
        fallback=FallbackInfo(applied=True, mode=info.mode, reason=reason),
    )


def known_call(*, graph_id: str, node_id: str, body: bytes, ports: PlayPorts) -> NodeCall | None:
    """`node_call`'s answer when all of it is remembered and fresh (the body read, the graph's version,
    the call resolved), without a turn of the event loop; else None (`node_call` it). A call is remembered
    only once resolved: its ids are a stored graph's and node's."""
    cache = ports.graphs
    key = body_key(body)
    parsed = cache.bodies.get(key)
    if parsed is None:
        return None
    live = _known_graph(cache, graph_id, parsed.graph_version, now=ports.generation.clock.monotonic())
    return None if live is None else cache.calls.get((live.id, live.version, node_id, key))


def _known_graph(cache: GraphCache, graph_id: str, version: int | None, *, now: float) -> LiveGraph | None:
    """The graph's version a call names (its current one for None) when it is known and fresh."""
    return cache.current.fresh(graph_id, now=now) if version is None else cache.versions.get((graph_id, version))


async def node_call(*, graph_id: str, node_id: str, body: bytes, ports: PlayPorts) -> NodeCall:
    """Resolve a by-reference call: the graph's current (or pinned) version, the node in it (a Generation
    Node, or an edge with `generate: true` by its `edge:<from>-><to>` id), its scenes, and the player.

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a body that is not a `NodeContentRequest` (every problem
            listed); NOT_FOUND for an unknown graph, version or node (the closest id suggested).
    """
    cache = ports.graphs
    key = body_key(body)
    parsed = cache.bodies.get(key)
    if parsed is None:
        parsed = load_json(NodeContentRequest, body or b"{}", prefix=("body",))
        cache.bodies.put(key, parsed)
    version = parsed.graph_version
    # What is known and fresh is taken in place (a remembered call: no turn of the event loop); else asked.
    live = _known_graph(cache, graph_id, version, now=ports.generation.clock.monotonic()) or await ports.live_graph(
        graph_id=graph_id, version=version
    )
    memo_key = (live.id, live.version, node_id, key)
    call = cache.calls.get(memo_key)
    if call is None:
        node = live.node(node_id)
        request = node_request(
            live.graph, node, player_context=parsed.player_context, social_context=parsed.social_context
        )
        if node.config.enabled:
            flat_body = request.model_dump_json(by_alias=True, exclude_none=True).encode()
            await front_door.remember(flat_body, ports=ports.generation)
            call = NodeCall(body=flat_body)
        else:
            call = NodeCall(body=None, answer=disabled_answer(request, graph=live))
        cache.calls.put(memo_key, call)
    return call


def _exit(live: LiveGraph, body: AdvanceRequest) -> GenerationNode | Edge | None:
    graph = live.graph
    scenes = [s.id for s in graph.scenes]
    for scene in (body.from_scene, body.to_scene):
        if scene is not None and scene not in scenes:
            raise not_found(f"no scene {scene!r} in graph {live.id!r} version {live.version}", scene, scenes)
    exits = graph.exits(body.from_scene)
    shown = ", ".join(target_of(e) for e in exits) or "none"
    if body.choice is not None:
        if body.choice >= len(exits):
            raise DyngenError(
                ErrorCode.GEN_INVALID_CONFIG,
                f"scene {body.from_scene!r} has {len(exits)} exit(s) ({shown}); choice {body.choice} is not one",
                details=[{"field": "body.choice", "message": f"0 to {len(exits) - 1}", "type": "value_error"}],
            )
        return exits[body.choice]
    if body.to_scene is None:
        return exits[0] if exits else None
    found = next((e for e in exits if target_of(e) == body.to_scene), None)
    if found is None:  # a disabled node is still the way there: the game plays its fallback
        found = next(
            (
                n
                for n in graph.generation_nodes()
                if n.from_scene == body.from_scene and n.to_scene == body.to_scene and not n.config.enabled
            ),
            None,
        )
    if found is None:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"nothing leads from {body.from_scene!r} to {body.to_scene!r}; its exits: {shown}",
            details=[{"field": "body.to_scene", "message": f"one of: {shown}", "type": "value_error"}],
        )
    return found


async def advance(*, graph_id: str, body: AdvanceRequest, ports: PlayPorts) -> AdvanceResponse:
    """One step of play: leave `from_scene` by its first exit, by `choice` (an index into its exits) or
    towards `to_scene`; generate the Generation Node on the way (its content or fallback) and name the
    scene that follows with its own exits.

    Raises:
        DyngenError: NOT_FOUND for an unknown graph, version or scene (closest id suggested);
            GEN_INVALID_CONFIG for a choice or `to_scene` that is not an exit of `from_scene`.
    """
    live = await ports.live_graph(graph_id=graph_id, version=body.graph_version)
    step = _exit(live, body)
    response = AdvanceResponse(graph_id=live.id, graph_version=live.version, from_scene=body.from_scene)
    if step is None:
        return response
    target = target_of(step)
    update: dict[str, object] = {
        "scene": live.graph.scene(target),
        "exits": [target_of(e) for e in live.graph.exits(target)],
    }
    if isinstance(step, GenerationNode) and not step.config.enabled:
        request = node_request(live.graph, step, player_context=body.player_context)
        update |= {"node_id": step.id, "content": disabled_answer(request, graph=live)}
    else:
        taken = await play.take(
            graph=live.graph,
            step=step,
            player_context=body.player_context,
            social_context=body.social_context,
            ports=ports.generation,
        )
        if taken is not None:
            update |= {"node_id": taken.node.id, "content": taken.response}
    return response.model_copy(update=update)
