"""A/B arms (spec section 15): a player's arm is stable, arms get their weight's share of players, an
arm's overrides merge into the node, and the validator checks arms."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dyngen.domain.arms import arm_config, arm_unit, choose_arm, pick_arm
from dyngen.domain.contracts import Arm, GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.validation import validate_config

ARMS = [
    {"id": "control", "weight": 1},
    {"id": "calm", "weight": 3, "overrides": {"style": {"moodTo": "calm"}}},
]


def request(player: str | None = "pl-1", *, arms: list[dict[str, Any]] = ARMS, **fields: Any) -> GenerateContentRequest:
    wire: dict[str, Any] = {
        "type": "transition",
        "node_id": "cafe_to_roof",
        "from_scene": {"id": "cafe"},
        "to_scene": {"id": "roof"},
        "arms": arms,
        **fields,
    }
    if player is not None:
        wire["player_context"] = {"playerId": player}
    return GenerateContentRequest.model_validate(wire)


def config(**fields: Any) -> GenerationNodeConfig:
    return GenerationNodeConfig.model_validate({"generationType": "transition", **fields})


def codes(node: GenerationNodeConfig) -> dict[str, str]:
    return {f.code: f.field for f in validate_config(node).findings}


def test_a_players_arm_is_the_same_on_every_call() -> None:
    for n in range(50):
        first = choose_arm(request(f"pl-{n}"))
        assert first is not None
        assert all(choose_arm(request(f"pl-{n}")) == first for _ in range(3))


def test_arms_get_their_weights_share_of_players() -> None:
    counts = Counter(choose_arm(request(f"player-{n}")).id for n in range(4000))  # type: ignore[union-attr]

    assert set(counts) == {"control", "calm"}
    assert counts["calm"] / 4000 == pytest.approx(0.75, abs=0.03)


def test_two_nodes_split_players_independently() -> None:
    a = [choose_arm(request(f"p{n}", node_id="a")).id for n in range(400)]  # type: ignore[union-attr]
    b = [choose_arm(request(f"p{n}", node_id="b")).id for n in range(400)]  # type: ignore[union-attr]

    assert a != b


def test_the_arm_follows_the_player_then_the_playthrough_then_the_fixed_seed() -> None:
    assert arm_unit(request("pl-9", player_context={"playerId": "pl-9", "playthroughId": "pt-1"})) == "player:pl-9"
    assert arm_unit(request(None, player_context={"playthroughId": "pt-1"})) == "playthrough:pt-1"
    assert arm_unit(request(None, seed=42, seed_source="fixed")) == "seed:42"
    assert arm_unit(request(None)) == "anonymous"


def test_a_node_without_arms_has_no_arm() -> None:
    assert choose_arm(request(arms=[])) is None
    assert choose_arm(GenerateContentRequest.model_validate({"type": "dialogue"})) is None


def test_pick_arm_maps_points_onto_cumulative_weights_and_skips_zero_weights() -> None:
    arms = [Arm(id="a", weight=1), Arm(id="off", weight=0), Arm(id="b", weight=1)]

    assert pick_arm(arms, 0.0).id == "a"  # type: ignore[union-attr]
    assert pick_arm(arms, 0.49).id == "a"  # type: ignore[union-attr]
    assert pick_arm(arms, 0.5).id == "b"  # type: ignore[union-attr]
    assert pick_arm(arms, 0.999999).id == "b"  # type: ignore[union-attr]
    assert pick_arm([Arm(id="off", weight=0)], 0.3) is None


def test_an_arms_overrides_merge_over_the_node_in_either_spelling() -> None:
    node = config(style={"moodFrom": "romantic", "moodTo": "tense"}, constraints={"requiredElements": ["rain"]})
    arm = Arm(id="b", overrides={"style": {"mood_to": "calm"}, "constraints": {"required_elements": ["wind"]}})

    merged = GenerationNodeConfig.model_validate(arm_config(node, arm))

    assert (merged.style.mood_from, merged.style.mood_to) == ("romantic", "calm")
    assert merged.constraints.required_elements == ["wind"]  # lists are replaced, as with templates


def test_valid_arms_have_no_findings() -> None:
    assert not {c for c in codes(config(arms=ARMS)) if c.startswith("ARM")}


@pytest.mark.parametrize(
    ("arms", "code", "field"),
    [
        ([{"id": "a"}, {"id": "a"}], "ARM_ID_DUPLICATE", "arms[1].id"),
        ([{"id": "a"}, {"id": "b", "weight": 0}], "ARM_WEIGHT_NOT_POSITIVE", "arms[1].weight"),
        (
            [{"id": "a"}, {"id": "b", "overrides": {"version": 3}}],
            "ARM_OVERRIDE_FORBIDDEN",
            "arms[1].overrides.version",
        ),
        ([{"id": "a"}, {"id": "b", "overrides": {"arms": []}}], "ARM_OVERRIDE_FORBIDDEN", "arms[1].overrides.arms"),
        (
            [{"id": "a"}, {"id": "b", "overrides": {"pacing": "fast"}}],
            "ARM_OVERRIDES_INVALID",
            "arms[1].overrides.pacing",
        ),
        (
            [{"id": "a"}, {"id": "b", "overrides": {"duration": {"min": 50}}}],
            "DURATION_RANGE_INVERTED",
            "arms[1].overrides.duration.min",
        ),
        ([{"id": "solo"}], "ARMS_SINGLE", "arms"),
    ],
)
def test_arm_rules(arms: list[dict[str, Any]], code: str, field: str) -> None:
    found = codes(config(arms=arms))

    assert found.get(code) == field, found


def test_an_arm_error_blocks_the_node() -> None:
    assert validate_config(config(arms=[{"id": "a"}, {"id": "a"}])).status.value == "errors"


def test_refresh_after_without_hybrid_is_a_suggestion() -> None:
    assert codes(config(refreshAfterS=60)) == {"REFRESH_WITHOUT_HYBRID": "refreshAfterS"}
    assert "REFRESH_WITHOUT_HYBRID" not in codes(config(refreshAfterS=60, hybrid=True))


def test_the_ambient_example_with_arms_and_hybrid_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "configs" / "ambient_market.json"
    node = GenerationNodeConfig.model_validate_json(example.read_text(encoding="utf-8"))

    assert validate_config(node).findings == []
    assert node.strategy.value == "always"
    assert node.hybrid is True
    assert [arm.id for arm in node.arms or []] == ["control", "quiet"]
