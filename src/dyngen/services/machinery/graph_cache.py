"""The game runtime's in-process cache of parsed graph versions (`services/authoring/runtime_graphs.py` fills it)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from dyngen.domain.contracts import GenerationNodeConfig
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import GenerationNode, SceneGraph
from dyngen.domain.responses import GenerateContentResponse
from dyngen.domain.runtime import NodeContentRequest
from dyngen.services.machinery.memo import BodyKey, LruMemo
from dyngen.services.machinery.revalidating import RevalidatingMemo


@dataclass(frozen=True, slots=True)
class LiveGraph:
    """One version of a stored graph, parsed, with its Generation Nodes (edges with `generate: true`
    included) by node id and by config id."""

    id: str
    version: int
    graph: SceneGraph
    nodes: dict[str, GenerationNode]

    @classmethod
    def of(cls, graph_id: str, version: int, graph: SceneGraph) -> LiveGraph:
        nodes: dict[str, GenerationNode] = {}
        for node in graph.generation_nodes():
            nodes.setdefault(node.id, node)
        for node in graph.generation_nodes():
            if node.config.id:
                nodes.setdefault(node.config.id, node)
        return cls(id=graph_id, version=version, graph=graph, nodes=nodes)

    def node(self, node_id: str) -> GenerationNode:
        """Raises DyngenError NOT_FOUND naming the closest node id."""
        found = self.nodes.get(node_id)
        if found is None:
            message = f"no node {node_id!r} in graph {self.id!r} version {self.version}"
            close = difflib.get_close_matches(node_id, list(self.nodes), n=1, cutoff=0.3)
            if close:
                message += f"; did you mean {close[0]!r}?"
            details = [{"field": "node_id", "message": message, "type": "not_found"}]
            if close:
                details[0]["suggestion"] = close[0]
            raise DyngenError(ErrorCode.NOT_FOUND, message, details=details)
        return found


@dataclass(frozen=True, slots=True)
class NodeCall:
    """What a by-reference call resolves to: the flat request's JSON body to serve, or (for a disabled
    node) the answer itself."""

    body: bytes | None
    answer: GenerateContentResponse | None = None


CURRENT_TTL_S = 2.0
"""How long this process trusts what the store said is current (a graph's version, the stored graphs, a
saved node's config) before asking again (another process may have saved)."""

STALE_S = 300.0
"""Seconds past `CURRENT_TTL_S` that what the store said is served while asking again is stuck or refused
(a database down): the game keeps getting the nodes it was getting (`DYNGEN_RUNTIME_STALE_S`)."""


@dataclass
class GraphCache:
    """Parsed graph versions, what the store says is current, and by-reference calls resolved per (graph,
    version, node, body). The parsed versions and the calls are keyed by immutable versions; only
    what is current is asked again, after `CURRENT_TTL_S`, and at once after a save or a delete in this
    process (`invalidate`, `forget_node`).

    What is current is a `RevalidatingMemo`: each graph's current version (`current`, None for no such
    graph), the stored graphs' ids and versions (`stored`, under the key ""), and each saved node's config
    by node id (`nodes`, None for none). While the database does not answer, or refuses, they are served
    as last read for up to `stale_s` more, so a by-reference call or a flat call naming a stored node is
    answered within its node's deadline with content or its fallback (issue 12).
    """

    stale_s: float = STALE_S
    versions: LruMemo[tuple[str, int], LiveGraph] = field(default_factory=lambda: LruMemo(256))
    current: RevalidatingMemo[str, LiveGraph | None] = field(init=False)
    stored: RevalidatingMemo[str, tuple[tuple[str, int], ...]] = field(init=False)
    nodes: RevalidatingMemo[str, GenerationNodeConfig | None] = field(init=False)
    bodies: LruMemo[BodyKey, NodeContentRequest] = field(default_factory=lambda: LruMemo(4096))
    calls: LruMemo[tuple[str, int, str, BodyKey], NodeCall] = field(default_factory=lambda: LruMemo(4096))
    epoch: int = 0

    def __post_init__(self) -> None:
        self.current = RevalidatingMemo(ttl_s=CURRENT_TTL_S, stale_s=self.stale_s, max_entries=256, what="graph")
        self.stored = RevalidatingMemo(ttl_s=CURRENT_TTL_S, stale_s=self.stale_s, max_entries=1, what="graphs")
        self.nodes = RevalidatingMemo(ttl_s=CURRENT_TTL_S, stale_s=self.stale_s, max_entries=1024, what="node")

    def invalidate(self, graph_id: str) -> None:
        """A graph was saved or deleted in this process: ask the store for its current version next time."""
        self.current.forget(graph_id)
        self.stored.forget("")
        self.epoch += 1

    def forget_node(self, node_id: str) -> None:
        """A node's config was saved in this process: ask the store for it next time."""
        self.nodes.forget(node_id)
