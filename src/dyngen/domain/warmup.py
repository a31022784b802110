"""Warm-up planning (spec section 9, "high latency transitions"; section 15, the batch warm-up tool).

A warm-up generates a scene graph's critical transitions before anyone plays, so that players get cache
hits. What is critical:

- with one or more *playthroughs* (paths of scene ids), the Generation Nodes a player meets walking each
  path: for every pair of consecutive scenes, the nodes from the first to the second (explicit nodes and
  edges with `generate: true`, which are implicit transition nodes), in path order;
- without, every Generation Node of the graph, nearest to the start scene first (scene hops through nodes
  and edges; nodes leaving unreachable scenes come last, in graph order).

What can be warmed depends on the node's strategy (its cache key's scope slot, `cache_keys.scope_id`):
`once` is one entry for everyone; `per_playthrough` and `per_player` are one entry per playthrough or
player, so they are warmed only for a playthrough id or player id the caller names (unless the node has a
pool of `variants`: those are shared by everyone, and the service warms each one); `always` never reads
the cache and is never warmed. Disabled nodes are skipped too. Every skip carries its reason.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dyngen.domain.contracts import Strategy
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import GenerationNode, SceneGraph

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
# The player context of a warm-up request when the caller names no ids: enough for `once` nodes whose
# seed source asks for an id; nodes keyed per playthrough or player are skipped without a named id.
WARMUP_CONTEXT_ID = "warm-up"


class WarmupStatus(StrEnum):
    """queued -> running -> complete (every item warm) | failed (some item failed) | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({WarmupStatus.COMPLETE, WarmupStatus.FAILED, WarmupStatus.CANCELLED})


class ItemStatus(StrEnum):
    """What became of one planned transition."""

    PENDING = "pending"
    GENERATED = "generated"
    CACHED = "cached"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A Generation Node the warm-up leaves out, and why."""

    node_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class WarmupRun:
    """A stored warm-up run.

    Attributes:
        origin: `api` (run by a server's background runner, resumed by any server after a restart) or
            `cli` (run by `dyngen warm`, resumed with `dyngen warm --resume ID`).
        options: What the caller asked: `playthroughs`, `playthrough_id`, `player_id`.
        skipped: The nodes left out, as `{"node_id", "reason"}`.
    """

    id: str
    graph_id: str
    graph_version: int | None
    origin: str
    status: WarmupStatus
    concurrency: int
    options: dict[str, Any]
    skipped: list[dict[str, str]]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False


@dataclass(frozen=True, slots=True)
class WarmupItem:
    """One transition to warm: the request play would send for it, and its outcome so far."""

    position: int
    node_id: str
    request: dict[str, Any]
    status: ItemStatus = ItemStatus.PENDING
    error_code: str | None = None
    cache_key: str | None = None
    generation_id: str | None = None


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What warming one item ended with (stored as soon as it is known)."""

    position: int
    node_id: str
    status: ItemStatus
    error_code: str | None = None
    cache_key: str | None = None
    generation_id: str | None = None


@dataclass(slots=True)
class WarmupCounts:
    """A run's progress: items by outcome, failures by error code, and what its generations cost."""

    total: int = 0
    pending: int = 0
    generated: int = 0
    cached: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0

    @property
    def done(self) -> int:
        return self.total - self.pending

    def count(self, outcome: ItemOutcome) -> None:
        """Move one pending item to its outcome."""
        self.pending -= 1
        if outcome.status is ItemStatus.GENERATED:
            self.generated += 1
        elif outcome.status is ItemStatus.CACHED:
            self.cached += 1
        else:
            code = outcome.error_code or "UNKNOWN"
            self.failed[code] = self.failed.get(code, 0) + 1


@dataclass(frozen=True, slots=True)
class WarmupEvent:
    """One entry of a warm-up's event stream: progress, item, completed."""

    id: int
    warmup_id: str
    type: str
    data: dict[str, Any]
    created_at: datetime


def _invalid(field_: str, message: str) -> DyngenError:
    return DyngenError(
        ErrorCode.GEN_INVALID_CONFIG,
        message,
        details=[{"field": field_, "message": message, "type": "value_error"}],
    )


def distances(graph: SceneGraph) -> dict[str, int]:
    """Scene hops from the start scene (through Generation Nodes and edges) of every reachable scene."""
    if not graph.scenes:
        return {}
    start = graph.start or graph.scenes[0].id
    following: dict[str, list[str]] = {}
    for node in graph.nodes:
        following.setdefault(node.from_scene, []).append(node.to_scene)
    for edge in graph.edges:
        following.setdefault(edge.source, []).append(edge.target)
    found = {start: 0}
    queue = deque([start])
    while queue:
        scene = queue.popleft()
        for after in following.get(scene, []):
            if after not in found:
                found[after] = found[scene] + 1
                queue.append(after)
    return found


def candidates(graph: SceneGraph, playthroughs: Sequence[Sequence[str]] = ()) -> list[GenerationNode]:
    """The Generation Nodes a warm-up considers, in the order it warms them (see the module docstring).

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a playthrough naming an unknown scene, or a scene that does
            not follow the one before it in the graph (field `playthrough[i][j]`).
    """
    nodes = graph.generation_nodes()
    if not playthroughs:
        hops = distances(graph)
        unreachable = len(graph.scenes) + 1
        return sorted(nodes, key=lambda n: hops.get(n.from_scene, unreachable))  # stable: graph order ties
    scene_ids = {s.id for s in graph.scenes}
    plain = {(e.source, e.target) for e in graph.edges}
    chosen: dict[str, GenerationNode] = {}
    for i, path in enumerate(playthroughs):
        for j, scene in enumerate(path):
            if scene not in scene_ids:
                raise _invalid(f"playthrough[{i}][{j}]", f"scene {scene!r} is not in graph {graph.id!r}")
        for j, (before, after) in enumerate(itertools.pairwise(path), start=1):
            between = [n for n in nodes if n.from_scene == before and n.to_scene == after]
            if not between and (before, after) not in plain:
                raise _invalid(
                    f"playthrough[{i}][{j}]", f"scene {after!r} does not follow {before!r} in graph {graph.id!r}"
                )
            for node in between:
                chosen.setdefault(node.id, node)
    return list(chosen.values())


def skip_reason(*, enabled: bool, strategy: Strategy, playthrough_id: str | None, player_id: str | None) -> str | None:
    """Why a node cannot be warmed (None: it can), given its effective strategy and the ids named."""
    if not enabled:
        return "disabled"
    if strategy is Strategy.ALWAYS:
        return "strategy always: generated fresh for every request, never cached"
    if strategy is Strategy.PER_PLAYTHROUGH and not playthrough_id:
        return "strategy per_playthrough: cached per playthrough; name a playthrough id to warm it"
    if strategy is Strategy.PER_PLAYER and not player_id:
        return "strategy per_player: cached per player; name a player id to warm it"
    return None


def parse_playthrough(text: str) -> list[str]:
    """`scene1,scene2,...` (commas or whitespace) as a list of scene ids."""
    return [part for part in text.replace(",", " ").split() if part]
