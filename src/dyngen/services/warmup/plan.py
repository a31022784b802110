"""What a warm-up generates (`plan`): the requests a player's game would send for a graph's critical
transitions, in order, with what is skipped and why (the rules are `dyngen.domain.warmup`; this module
turns them into requests, which needs a `Preparer` to resolve templates, arms and variant pools).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from dyngen.domain.contracts import GenerateContentRequest, PlayerContext, Strategy
from dyngen.domain.errors import DyngenError
from dyngen.domain.graph import GenerationNode, SceneGraph, node_request
from dyngen.domain.warmup import (
    WARMUP_CONTEXT_ID,
    Skipped,
    WarmupItem,
    candidates,
    skip_reason,
)
from dyngen.services.generation.request import Preparer


def plan(
    *,
    graph: SceneGraph,
    playthroughs: Sequence[Sequence[str]],
    playthrough_id: str | None,
    player_id: str | None,
    preparer: Preparer,
) -> tuple[list[WarmupItem], list[Skipped]]:
    """The items a warm-up generates, in order, and the nodes it leaves out with the reason.

    The strategy that decides is the effective one (after the node's template and rules), so a node
    whose template makes it `always` is skipped like one that says so itself. A `per_playthrough` or
    `per_player` node with a pool of `variants` is warmed without a named id: its variants are shared by
    everyone, so the plan holds one item per variant (a made-up playthrough or player that lands on it).

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a playthrough that does not fit the graph.
    """
    context = PlayerContext(
        playthrough_id=playthrough_id or WARMUP_CONTEXT_ID, player_id=player_id or WARMUP_CONTEXT_ID
    )
    items: list[WarmupItem] = []
    skipped: list[Skipped] = []
    for node in candidates(graph, playthroughs):
        request = node_request(graph, node, player_context=context)
        strategy = request.strategy
        with contextlib.suppress(DyngenError):  # an invalid node is planned: its item fails with the reason
            strategy = preparer.resolve(request).request.strategy
        reason = skip_reason(
            enabled=node.config.enabled, strategy=strategy, playthrough_id=playthrough_id, player_id=player_id
        )
        requests = [request]
        if reason is not None and node.config.enabled and strategy in (Strategy.PER_PLAYTHROUGH, Strategy.PER_PLAYER):
            requests = variant_requests(graph, node, preparer=preparer)
            reason = None if requests else reason
        if reason is not None:
            skipped.append(Skipped(node.id, reason))
            continue
        items.extend(
            WarmupItem(
                position=len(items) + i,
                node_id=node.id,
                request=r.model_dump(mode="json", by_alias=True, exclude_none=True),
            )
            for i, r in enumerate(requests)
        )
    return items, skipped


# Made-up ids tried per variant of a pool before giving up on covering it (a pool of 32 needs ~130).
VARIANT_TRIES = 16


def variant_requests(graph: SceneGraph, node: GenerationNode, *, preparer: Preparer) -> list[GenerateContentRequest]:
    """For a node with a pool of variants: one request per variant, each from a made-up playthrough and
    player (`warm-up-<n>`) whose seed picks that variant (the pick without reviews); [] without a pool."""
    found: dict[int, GenerateContentRequest] = {}
    size: int | None = None
    for n in range(VARIANT_TRIES * 32):
        made_up = f"{WARMUP_CONTEXT_ID}-{n}"
        request = node_request(graph, node, player_context=PlayerContext(playthrough_id=made_up, player_id=made_up))
        try:
            variant = preparer.prepare(request).variant
        except DyngenError:
            return []
        if variant is None:
            return []
        size = variant.pool_size
        found.setdefault(variant.index, request)
        if len(found) == size or n >= VARIANT_TRIES * size:
            break
    return [found[index] for index in sorted(found)]
