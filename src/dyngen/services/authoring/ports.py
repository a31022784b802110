"""The ports of authoring (saving graphs and node configs, reading stored graphs as the runtime does),
which `bootstrap_ports.authoring_ports` builds once from `Services`."""

from __future__ import annotations

from dataclasses import dataclass

from dyngen.ports import Clock, GraphRepository, NodeConfigRepository
from dyngen.services.machinery.graph_cache import GraphCache
from dyngen.services.machinery.providers import ProviderRegistry


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthoringPorts:
    """What saving a graph or a node, and reading them back for the runtime, takes.

    Attributes:
        graphs: The stored graphs, with their versions.
        nodes: The stored node configs, with their versions.
        providers: The configured providers and chains (a node's `provider` must name one).
        cache: The runtime's parsed graphs and nodes, forgotten on a save or a delete.
        clock: When a version is saved; when a cached current version is looked up again.
        default_timeout_ms: A node's timeout when it sets none (the graph health check).
    """

    graphs: GraphRepository
    nodes: NodeConfigRepository
    providers: ProviderRegistry
    cache: GraphCache
    clock: Clock
    default_timeout_ms: int
