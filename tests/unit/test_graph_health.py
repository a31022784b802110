"""The scene graph health panel's rules (domain.graph_health), without I/O: each graph-wide warning at its
threshold, how node statuses add up to the graph's, providers that are down, and edges that generate."""

from __future__ import annotations

from typing import Any

import pytest

from dyngen.domain.contracts import NodeStatus
from dyngen.domain.graph import Edge, GenerationNode, SceneGraph
from dyngen.domain.graph_health import ALWAYS_FRESH_LIMIT, GraphHealth, graph_health

DEFAULT_TIMEOUT_MS = 5000
SCENES = [
    {"id": "cafe", "mood": "romantic"},
    {"id": "roof", "mood": "intense"},
    {"id": "dawn", "mood": "reflective"},
]


def node(node_id: str, **config: Any) -> dict[str, Any]:
    """A healthy dialogue node from the cafe to the roof (no findings), with `config` changed."""
    values: dict[str, Any] = {
        "id": node_id,
        "generationType": "dialogue",
        "strategy": "per_playthrough",
        "fallback": {"mode": "placeholder"},
    } | config
    return {"id": node_id, "fromScene": "cafe", "toScene": "roof", "config": values}


def fresh(node_id: str, **config: Any) -> dict[str, Any]:
    return node(node_id, strategy="always", **config)


def graph(*nodes: dict[str, Any], edges: tuple[dict[str, Any], ...] = ()) -> SceneGraph:
    return SceneGraph.model_validate({"id": "g", "scenes": SCENES, "nodes": list(nodes), "edges": list(edges)})


def check(
    scene_graph: SceneGraph, *, p95: dict[str, float] | None = None, providers_down: tuple[str, ...] = ()
) -> GraphHealth:
    return graph_health(
        scene_graph,
        p95_latency_ms=p95 or {},
        default_timeout_ms=DEFAULT_TIMEOUT_MS,
        providers_down=list(providers_down),
    )


def warnings(report: GraphHealth) -> dict[str, list[str]]:
    return {w.code: w.node_ids for w in report.warnings}


def node_of(report: GraphHealth, node_id: str) -> Any:
    return next(n for n in report.nodes if n.node_id == node_id)


def fresh_ids(count: int) -> list[str]:
    return [f"fresh_{i}" for i in range(count)]


GENERATES = {"generate": True}
NO_ASSET = {"mode": "default_content"}


@pytest.mark.parametrize(
    ("nodes", "edges", "p95", "expected"),
    [
        pytest.param([], (), {}, {}, id="an empty graph"),
        # Always-fresh nodes: up to the limit is fine, one more warns and lists them all.
        pytest.param(
            [fresh(i) for i in fresh_ids(ALWAYS_FRESH_LIMIT)], (), {}, {}, id="always-fresh exactly at the limit"
        ),
        pytest.param(
            [fresh(i) for i in fresh_ids(ALWAYS_FRESH_LIMIT + 1)],
            (),
            {},
            {"TOO_MANY_ALWAYS_FRESH": fresh_ids(ALWAYS_FRESH_LIMIT + 1)},
            id="always-fresh one over the limit",
        ),
        pytest.param(
            [*(fresh(i) for i in fresh_ids(ALWAYS_FRESH_LIMIT)), fresh("off", enabled=False)],
            (),
            {},
            {},
            id="a disabled always-fresh node does not count",
        ),
        pytest.param(
            [*(fresh(i) for i in fresh_ids(ALWAYS_FRESH_LIMIT)), node("cached"), node("once", strategy="once")],
            (),
            {},
            {},
            id="cached nodes do not count",
        ),
        # Fallbacks: default content needs the asset it names.
        pytest.param(
            [node("asset", fallback={"mode": "default_content", "defaultContentId": "transition_01"})],
            (),
            {},
            {},
            id="default content with its asset",
        ),
        pytest.param(
            [node("no_asset", fallback=NO_ASSET), node("fine")],
            (),
            {},
            {"NO_USABLE_FALLBACK": ["no_asset"]},
            id="default content without its asset",
        ),
        pytest.param(
            [node("off", fallback=NO_ASSET, enabled=False)], (), {}, {}, id="a disabled node without an asset"
        ),
        pytest.param(
            [],
            ({"source": "roof", "target": "dawn", "meta": GENERATES | {"fallback": NO_ASSET}},),
            {},
            {"NO_USABLE_FALLBACK": ["edge:roof->dawn"]},
            id="an edge that generates, without its asset",
        ),
        # p95 latency against the node's timeout (or the service default when it sets none).
        pytest.param(
            [node("n", fallback={"mode": "placeholder", "timeoutMs": 400})], (), {"n": 400.0}, {}, id="p95 at timeout"
        ),
        pytest.param(
            [node("n", fallback={"mode": "placeholder", "timeoutMs": 400})],
            (),
            {"n": 400.5},
            {"P95_OVER_TIMEOUT": ["n"]},
            id="p95 just over timeout",
        ),
        pytest.param([node("n")], (), {"n": DEFAULT_TIMEOUT_MS}, {}, id="p95 at the default timeout"),
        pytest.param(
            [node("n")], (), {"n": DEFAULT_TIMEOUT_MS + 1}, {"P95_OVER_TIMEOUT": ["n"]}, id="p95 over default timeout"
        ),
        pytest.param([node("n")], (), {}, {}, id="a node without latency data"),
        pytest.param(
            [node("n", enabled=False, fallback={"mode": "placeholder", "timeoutMs": 10})],
            (),
            {"n": 9000.0},
            {},
            id="a slow disabled node",
        ),
        pytest.param([node("n")], (), {"other": 9000.0}, {}, id="latency of a node not in the graph is ignored"),
    ],
)
def test_graph_wide_warnings_at_their_thresholds(
    nodes: list[dict[str, Any]],
    edges: tuple[dict[str, Any], ...],
    p95: dict[str, float],
    expected: dict[str, list[str]],
) -> None:
    report = check(graph(*nodes, edges=edges), p95=p95)

    assert warnings(report) == expected
    # A default_content node without its asset is also an error of that node's config.
    status = NodeStatus.ERRORS if "NO_USABLE_FALLBACK" in expected else NodeStatus.WARNINGS
    assert report.status is (status if expected else NodeStatus.OK)


def test_each_warning_says_what_is_wrong() -> None:
    nodes = [
        *(fresh(i) for i in fresh_ids(ALWAYS_FRESH_LIMIT + 1)),
        node("no_asset", fallback=NO_ASSET),
        node("slow", fallback={"mode": "placeholder", "timeoutMs": 100}),
    ]

    report = check(graph(*nodes), p95={"slow": 250.0}, providers_down=("openai", "replicate"))

    messages = {w.code: w.message for w in report.warnings}
    assert list(messages) == ["TOO_MANY_ALWAYS_FRESH", "NO_USABLE_FALLBACK", "P95_OVER_TIMEOUT", "PROVIDERS_DOWN"]
    assert f"{ALWAYS_FRESH_LIMIT + 1} always-fresh" in messages["TOO_MANY_ALWAYS_FRESH"]
    assert "openai" in messages["PROVIDERS_DOWN"]
    assert "replicate" in messages["PROVIDERS_DOWN"]
    assert node_of(report, "slow").p95_latency_ms == 250.0


@pytest.mark.parametrize(
    ("providers_down", "expected"),
    [
        pytest.param((), None, id="none down"),
        pytest.param(("replicate",), "replicate", id="one down"),
    ],
)
def test_providers_that_are_down_are_a_warning_of_the_whole_graph(
    providers_down: tuple[str, ...], expected: str | None
) -> None:
    report = check(graph(node("n")), providers_down=providers_down)

    down = [w for w in report.warnings if w.code == "PROVIDERS_DOWN"]
    assert [expected in w.message for w in down] == ([True] if expected else [])
    assert all(w.node_ids == [] for w in down)
    assert report.status is (NodeStatus.WARNINGS if expected else NodeStatus.OK)
    assert node_of(report, "n").status is NodeStatus.OK  # the node itself is fine


@pytest.mark.parametrize(
    ("nodes", "providers_down", "node_statuses", "status"),
    [
        pytest.param([node("a"), node("b")], (), ["ok", "ok"], NodeStatus.OK, id="all ok"),
        pytest.param(
            [node("a"), node("video", generationType="transition", strategy="always")],
            (),
            ["ok", "warnings"],
            NodeStatus.WARNINGS,
            id="a node with warnings",
        ),
        pytest.param(
            [
                node("a", duration={"min": 40, "max": 20, "target": 30}),
                node("b", generationType="transition", strategy="always"),
            ],
            (),
            ["errors", "warnings"],
            NodeStatus.ERRORS,
            id="errors outrank warnings",
        ),
        pytest.param(
            [node("a", duration={"min": 40, "max": 20, "target": 30})],
            ("replicate",),
            ["errors"],
            NodeStatus.ERRORS,
            id="errors outrank graph-wide warnings",
        ),
        pytest.param([node("a")], ("replicate",), ["ok"], NodeStatus.WARNINGS, id="only a graph-wide warning"),
        pytest.param(
            [node("a"), node("off", enabled=False, duration={"min": 40, "max": 20, "target": 30})],
            (),
            ["ok", "disabled"],
            NodeStatus.OK,
            id="a disabled node with errors does not count",
        ),
    ],
)
def test_the_graph_status_is_its_worst_node_or_warnings_when_only_the_graph_warns(
    nodes: list[dict[str, Any]], providers_down: tuple[str, ...], node_statuses: list[str], status: NodeStatus
) -> None:
    report = check(graph(*nodes), providers_down=providers_down)

    assert [n.status.value for n in report.nodes] == node_statuses
    assert report.status is status


def test_a_node_with_errors_carries_its_findings() -> None:
    report = check(graph(node("a", duration={"min": 40, "max": 20, "target": 30})))

    assert [f.code for f in node_of(report, "a").result.findings] == ["DURATION_RANGE_INVERTED"]


@pytest.mark.parametrize(
    ("meta", "implicit"),
    [
        pytest.param(GENERATES, True, id="generate true"),
        pytest.param({"generate": False}, False, id="generate false"),
        pytest.param(None, False, id="no meta"),
        pytest.param({"rules": ["keep it short"]}, False, id="meta without generate"),
    ],
)
def test_an_edge_that_generates_is_a_transition_node_between_its_scenes(
    meta: dict[str, Any] | None, implicit: bool
) -> None:
    edge: dict[str, Any] = {"source": "roof", "target": "dawn"} | ({"meta": meta} if meta is not None else {})

    report = check(graph(node("authored"), edges=(edge,)), p95={"edge:roof->dawn": 80.0})

    expected = ["authored", "edge:roof->dawn"] if implicit else ["authored"]
    assert [n.node_id for n in report.nodes] == expected
    if implicit:
        made = node_of(report, "edge:roof->dawn")
        assert (made.from_scene, made.to_scene, made.status) == ("roof", "dawn", NodeStatus.OK)
        assert made.p95_latency_ms == 80.0
        config = graph(edges=(edge,)).generation_nodes()[0].config
        assert config.generation_type.value == "transition"
        assert (config.style.mood_from, config.style.mood_to) == ("intense", "reflective")


def test_edges_that_generate_count_towards_slow_nodes_by_their_own_timeout() -> None:
    edge = {"source": "roof", "target": "dawn", "meta": GENERATES | {"fallback": {"mode": "skip", "timeoutMs": 50}}}

    report = check(graph(edges=(edge,)), p95={"edge:roof->dawn": 51.0})

    assert warnings(report) == {"P95_OVER_TIMEOUT": ["edge:roof->dawn"]}
    assert report.status is NodeStatus.WARNINGS


def test_an_edge_that_generates_is_what_follows_its_scene_in_play_with_its_rules() -> None:
    rules = ["DURATION 20-40s TARGET 30s", "CONSTRAINT AVOID violence"]
    edge = {"source": "roof", "target": "dawn", "meta": GENERATES | {"rules": rules}}
    plain = {"source": "dawn", "target": "roof"}

    scene_graph = graph(edges=(edge, plain))

    step = scene_graph.next_step("roof")
    assert isinstance(step, GenerationNode)
    assert step.id == "edge:roof->dawn"
    assert step.config.rules == "DURATION 20-40s TARGET 30s\nCONSTRAINT AVOID violence"
    assert scene_graph.next_step("dawn") == Edge.model_validate(plain), "an edge without meta stays a plain edge"
