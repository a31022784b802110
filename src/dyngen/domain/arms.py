"""A/B arms (spec section 15, "A/B variation testing harness"): which arm a player is in, and the node
config that arm runs with.

A node declares `arms: [{id, weight, overrides}]`. A player's arm is a pure function of the node and the
player: SHA-256 of the node's id and the player's id (else the playthrough's id, else the node's fixed
seed; requests with none of them all land in one arm), mapped onto the arms' cumulative weights. So a
player keeps its arm across calls, processes and releases, each arm gets its weight's share of players,
and two nodes split players independently. The arm's id joins the cache key's version slot, so arms
never share cached content.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dyngen.domain.cache_keys import SEED_BITS, stable_int
from dyngen.domain.contracts import Arm, GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.wire import deep_merge, spec_spelling

# Fields an arm may not override: they say which node, which template and which arms it is, not how it
# generates.
FORBIDDEN_OVERRIDES = frozenset({"id", "arms", "templateId", "version"})


def arm_unit(request: GenerateContentRequest) -> str:
    """Who an arm is chosen for: the player, else the playthrough, else the node's fixed seed."""
    context = request.player_context
    if context is not None and context.player_id:
        return f"player:{context.player_id}"
    if context is not None and context.playthrough_id:
        return f"playthrough:{context.playthrough_id}"
    if request.seed is not None:
        return f"seed:{request.seed}"
    return "anonymous"


def _node_identity(request: GenerateContentRequest) -> str:
    if request.node_id:
        return request.node_id
    scenes = (request.from_scene.id if request.from_scene else "", request.to_scene.id if request.to_scene else "")
    return "|".join((request.type.value, request.purpose.value, *scenes))


def pick_arm(arms: Sequence[Arm], point: float) -> Arm | None:
    """The arm whose share of [0, 1) holds `point` (shares proportional to weight; zero weights never
    win). None when no arm has a positive weight."""
    total = sum(arm.weight for arm in arms if arm.weight > 0)
    if total <= 0:
        return None
    edge = 0.0
    chosen = None
    for arm in arms:
        if arm.weight <= 0:
            continue
        chosen = arm
        edge += arm.weight / total
        if point < edge:
            return arm
    return chosen  # rounding left `point` just past the last edge


def choose_arm(request: GenerateContentRequest) -> Arm | None:
    """The arm `request`'s player is in, or None for a node without arms."""
    if not request.arms:
        return None
    point = stable_int("arm", _node_identity(request), arm_unit(request)) / 2**SEED_BITS
    return pick_arm(request.arms, point)


def override_problems(overrides: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, message) for each override an arm may not make."""
    spelled = spec_spelling(GenerationNodeConfig, overrides)
    for name in sorted(FORBIDDEN_OVERRIDES & spelled.keys()):
        yield name, f"an arm cannot override {name}: it names the node, not how it generates"


def arm_config(config: GenerationNodeConfig, arm: Arm) -> dict[str, Any]:
    """The wire dict of `config` with `arm`'s overrides merged over it (objects merged field by field,
    lists and scalars replaced; either spelling of a field name), for `load(GenerationNodeConfig, ...)`."""
    base = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return deep_merge(base, spec_spelling(GenerationNodeConfig, arm.overrides))
