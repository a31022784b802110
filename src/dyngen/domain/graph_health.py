"""Scene graph health (spec section 8's health panel): every node's status and findings, plus the
warnings about the graph as a whole.

Global warnings:

- more always-fresh nodes than `ALWAYS_FRESH_LIMIT` (each one generates on every play: cost and latency);
- nodes without a usable fallback (`default_content` without `defaultContentId`: a failure would leave
  the player with nothing);
- nodes whose p95 latency is over their timeout (players regularly get the fallback);
- providers that are down.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from dyngen.domain.contracts import FallbackMode, NodeStatus, Severity, Strategy
from dyngen.domain.graph import SceneGraph
from dyngen.domain.node_checks import check_node
from dyngen.domain.responses import GenerationValidationResult, ValidationFinding
from dyngen.domain.world import world_findings

ALWAYS_FRESH_LIMIT = 3


class NodeHealth(BaseModel):
    node_id: str
    from_scene: str
    to_scene: str
    status: NodeStatus
    result: GenerationValidationResult
    p95_latency_ms: float | None = None


class GraphWarning(BaseModel):
    code: str
    message: str
    node_ids: list[str] = []


class GraphHealth(BaseModel):
    """Every node's health, the warnings about the graph, and the findings of its characters and lore
    (`domain/world.py`: an unknown character, a repeated id; errors block a save)."""

    graph_id: str
    status: NodeStatus
    nodes: list[NodeHealth]
    warnings: list[GraphWarning]
    findings: list[ValidationFinding] = []


def graph_health(
    graph: SceneGraph,
    *,
    p95_latency_ms: Mapping[str, float],
    default_timeout_ms: int,
    providers_down: list[str],
) -> GraphHealth:
    """Check every Generation Node of `graph` (including smart edges that generate).

    Args:
        graph: The scene graph.
        p95_latency_ms: Observed p95 latency per node id (nodes without data are left out).
        default_timeout_ms: The timeout of nodes that set none.
        providers_down: Names of providers the service cannot reach now.
    """
    nodes: list[NodeHealth] = []
    always: list[str] = []
    no_fallback: list[str] = []
    slow: list[str] = []
    for node in graph.generation_nodes():
        config = node.config
        result = check_node(config)
        p95 = p95_latency_ms.get(node.id)
        nodes.append(
            NodeHealth(
                node_id=node.id,
                from_scene=node.from_scene,
                to_scene=node.to_scene,
                status=result.status,
                result=result,
                p95_latency_ms=p95,
            )
        )
        if not config.enabled:
            continue
        if config.strategy is Strategy.ALWAYS:
            always.append(node.id)
        if config.fallback.mode is FallbackMode.DEFAULT_CONTENT and not config.fallback.default_content_id:
            no_fallback.append(node.id)
        timeout = config.fallback.timeout_ms or default_timeout_ms
        if p95 is not None and p95 > timeout:
            slow.append(node.id)
    warnings: list[GraphWarning] = []
    if len(always) > ALWAYS_FRESH_LIMIT:
        warnings.append(
            GraphWarning(
                code="TOO_MANY_ALWAYS_FRESH",
                message=f"{len(always)} always-fresh nodes (more than {ALWAYS_FRESH_LIMIT}): "
                "each generates on every play",
                node_ids=always,
            )
        )
    if no_fallback:
        warnings.append(
            GraphWarning(
                code="NO_USABLE_FALLBACK", message="nodes whose failure leaves the player nothing", node_ids=no_fallback
            )
        )
    if slow:
        warnings.append(
            GraphWarning(
                code="P95_OVER_TIMEOUT",
                message="nodes whose p95 latency is over their timeout: players often get the fallback",
                node_ids=slow,
            )
        )
    if providers_down:
        warnings.append(GraphWarning(code="PROVIDERS_DOWN", message=f"providers down: {', '.join(providers_down)}"))
    findings = world_findings(graph)
    statuses = {n.status for n in nodes}
    if any(f.severity is Severity.ERROR for f in findings):
        statuses.add(NodeStatus.ERRORS)
    elif findings:
        statuses.add(NodeStatus.WARNINGS)
    status = next(
        (s for s in (NodeStatus.ERRORS, NodeStatus.WARNINGS) if s in statuses),
        NodeStatus.WARNINGS if warnings else NodeStatus.OK,
    )
    return GraphHealth(graph_id=graph.id, status=status, nodes=nodes, warnings=warnings, findings=findings)
