"""The ports of playing a stored graph (the by-reference route, `advance`, the Prompt view), which
`bootstrap_ports.play_ports` builds once from `Services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dyngen.services.generation.ports import GenerationPorts
from dyngen.services.machinery.graph_cache import GraphCache, LiveGraph


class LiveGraphs(Protocol):
    """A stored graph's version (None: its current one), parsed once per process
    (`authoring.runtime_graphs.live_graph`)."""

    async def __call__(self, *, graph_id: str, version: int | None) -> LiveGraph: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayPorts:
    """What playing a stored graph takes.

    Attributes:
        generation: Generation's front door (a node's content, the flat request remembered).
        live_graph: The stored graphs, parsed once per version.
        graphs: The by-reference calls' memos (read bodies, resolved calls), by graph version.
    """

    generation: GenerationPorts
    live_graph: LiveGraphs
    graphs: GraphCache
