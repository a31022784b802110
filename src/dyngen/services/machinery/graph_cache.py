"""The game runtime's in-process cache of parsed graph versions (`services/authoring/runtime_graphs.py` fills it)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from dyngen.domain.contracts import GenerateContentResponse
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import GenerationNode, SceneGraph
from dyngen.domain.runtime import NodeContentRequest
from dyngen.services.machinery.memo import LruMemo


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


@dataclass
class GraphCache:
    """Parsed graph versions, each graph's current version as last seen (with when it was seen), and
    by-reference calls resolved per (graph, version, node, body digest): all keyed by immutable versions,
    so only the current-version pointers need invalidating."""

    versions: LruMemo[tuple[str, int], LiveGraph] = field(default_factory=lambda: LruMemo(256))
    current: dict[str, tuple[int, float]] = field(default_factory=dict)
    bodies: LruMemo[bytes, NodeContentRequest] = field(default_factory=lambda: LruMemo(4096))
    calls: LruMemo[tuple[str, int, str, bytes], NodeCall] = field(default_factory=lambda: LruMemo(4096))
    epoch: int = 0

    def invalidate(self, graph_id: str) -> None:
        """A graph was saved or deleted in this process: ask the store for its current version next time."""
        self.current.pop(graph_id, None)
        self.epoch += 1
