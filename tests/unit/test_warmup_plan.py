"""Warm-up planning: which transitions a warm-up generates, in which order, and what it skips and why."""

from __future__ import annotations

from typing import Any

import pytest

from dyngen.domain.contracts import Strategy
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.domain.warmup import candidates, distances, parse_playthrough, skip_reason


def _node(node_id: str, source: str, target: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "fromScene": source,
        "toScene": target,
        "config": {"generationType": "transition", **config},
    }


def graph() -> SceneGraph:
    """a -> b (node n_ab) -> c (edge with generate: true) -> d (node n_cd); e -> a is unreachable from a;
    b -> x is a plain edge."""
    return SceneGraph.model_validate(
        {
            "id": "g",
            "start": "a",
            "scenes": [{"id": s, "mood": "calm"} for s in ("a", "b", "c", "d", "e", "x")],
            # Listed far-first on purpose: the order comes from the graph, not the list.
            "nodes": [_node("n_cd", "c", "d"), _node("n_ea", "e", "a"), _node("n_ab", "a", "b")],
            "edges": [
                {"source": "b", "target": "c", "meta": {"generate": True}},
                {"source": "b", "target": "x"},
            ],
        }
    )


def test_without_a_playthrough_every_generation_node_is_warmed_nearest_to_the_start_first():
    order = [n.id for n in candidates(graph())]
    assert order == ["n_ab", "edge:b->c", "n_cd", "n_ea"]
    assert distances(graph()) == {"a": 0, "b": 1, "c": 2, "x": 2, "d": 3}


def test_a_playthrough_warms_only_the_transitions_on_its_path_implicit_edges_included():
    assert [n.id for n in candidates(graph(), [["a", "b", "c"]])] == ["n_ab", "edge:b->c"]
    assert [n.id for n in candidates(graph(), [["b", "x"]])] == [], "a plain edge has nothing to warm"
    both = candidates(graph(), [["c", "d"], ["a", "b", "c", "d"]])
    assert [n.id for n in both] == ["n_cd", "n_ab", "edge:b->c"], "each node once, in the order first met"


@pytest.mark.parametrize(
    ("path", "field", "says"),
    [
        (["a", "nowhere"], "playthrough[0][1]", "'nowhere' is not in graph"),
        (["a", "c"], "playthrough[0][1]", "'c' does not follow 'a'"),
    ],
)
def test_a_playthrough_that_does_not_fit_the_graph_is_refused_naming_the_scene(path, field, says):
    with pytest.raises(DyngenError) as raised:
        candidates(graph(), [path])
    assert raised.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert says in raised.value.message
    assert raised.value.details[0]["field"] == field


def test_what_cannot_be_warmed_says_why():
    def reason(strategy: Strategy, *, enabled: bool = True, playthrough: str | None = None, player: str | None = None):
        return skip_reason(enabled=enabled, strategy=strategy, playthrough_id=playthrough, player_id=player)

    assert reason(Strategy.ONCE) is None
    assert reason(Strategy.ALWAYS, playthrough="p", player="q") == (
        "strategy always: generated fresh for every request, never cached"
    )
    assert "name a playthrough id" in (reason(Strategy.PER_PLAYTHROUGH) or "")
    assert reason(Strategy.PER_PLAYTHROUGH, playthrough="alice") is None
    assert "name a player id" in (reason(Strategy.PER_PLAYER, playthrough="alice") or "")
    assert reason(Strategy.PER_PLAYER, player="bob") is None
    assert reason(Strategy.ONCE, enabled=False) == "disabled"


def test_playthrough_text_takes_commas_or_spaces():
    assert parse_playthrough("a,b, c  d,,") == ["a", "b", "c", "d"]
