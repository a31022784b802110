"""A request's groundwork (`generation/request.py`) is laid once per body shape and finished per player.

The front door remembers a body's shape (`front_door._shaped`); for a node whose preparation reads only
the player context's ids, each new player costs finishing the shape's groundwork, not resolving and
validating the node again. What it makes must be exactly what preparing the whole request makes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dyngen.bootstrap_ports import generation_ports, preparer
from dyngen.domain.contracts import GenerateContentRequest, PlayerContext
from dyngen.domain.errors import DyngenError
from dyngen.services.generation import front_door
from dyngen.services.generation import request as request_module
from dyngen.services.generation.front_door import GenerateCall, answer_known
from dyngen.services.machinery.container import Services
from tests.e2e.test_api import game_request

CONTEXTS = [
    {"playthroughId": "pt-1", "playerId": "alice"},
    {"playthroughId": "pt-2", "playerId": "alice", "flags": {"met_theo": True}},
    {"playthroughId": "pt-3", "playerId": "bob", "choices": {"door": "left"}},
    {"playthroughId": "pt-4"},
]
NODES: dict[str, dict[str, Any]] = {
    "per playthrough": {},
    "per player": {"strategy": "per_player"},
    "once": {"strategy": "once"},
    "fixed seed": {"strategy": "once", "seed": 42, "seedSource": "fixed"},
    "always": {"strategy": "always"},
    "variants": {"variants": 3},
    "social context": {
        "social_context": {"contentRating": "mature_implied", "userMaxRating": "romantic", "npcIds": ["theo"]}
    },
    "lore": {
        "lore": [
            {"id": "cafe", "text": "The cafe never closes.", "tags": ["corner_cafe"]},
            {"id": "docks", "text": "The docks flood at night.", "tags": ["docks"]},
        ]
    },
}


def request_of(node: dict[str, Any], context: dict[str, Any]) -> GenerateContentRequest:
    return GenerateContentRequest.model_validate(game_request(player_context=context, **node))


@pytest.mark.parametrize("node", NODES.values(), ids=NODES.keys())
def test_a_shapes_groundwork_finished_for_a_player_is_that_players_whole_preparation(
    services: Services, node: dict[str, Any]
) -> None:
    prepare = preparer(services)
    ground = prepare.groundwork(request_of(node, CONTEXTS[0]))

    for context in CONTEXTS:
        if node.get("strategy") == "per_player" and "playerId" not in context:
            continue
        whole = prepare.prepare(request_of(node, context))
        finished = prepare.for_context(ground, PlayerContext.model_validate(context))
        if whole.seed is None:  # `always`: a fresh timestamp seed each time, drawn from the service's entropy
            assert finished.seed is None
            assert finished.key == whole.key
            continue
        assert finished == whole, context


def test_a_player_context_without_the_id_its_strategy_needs_is_refused_as_the_whole_preparation_refuses_it(
    services: Services,
) -> None:
    prepare = preparer(services)
    node = {"strategy": "per_player"}
    ground = prepare.groundwork(request_of(node, CONTEXTS[0]))

    with pytest.raises(DyngenError) as whole:
        prepare.prepare(request_of(node, {"playthroughId": "pt-9"}))
    with pytest.raises(DyngenError) as finished:
        prepare.for_context(ground, PlayerContext(playthrough_id="pt-9"))

    assert (finished.value.code, finished.value.message, finished.value.details) == (
        whole.value.code,
        whole.value.message,
        whole.value.details,
    )


def calls_to(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    """The first argument of every call to `module.name` from now on (the function still runs)."""
    seen: list[Any] = []
    original = getattr(module, name)

    def counted(first: Any) -> Any:
        seen.append(first)
        return original(first)

    monkeypatch.setattr(module, name, counted)
    return seen


async def test_new_players_of_a_known_shape_do_not_resolve_and_validate_its_node_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated = calls_to(monkeypatch, request_module, "validate_config")
    ports = generation_ports(services)
    answers = []
    for n in range(4):
        body = json.dumps(game_request(player_context={"playthroughId": f"pt-{n}"})).encode()
        answers.append(await answer_known(GenerateCall(body=body), ports=ports))

    assert answers[0] is None, "a body read for the first time is handed on (to `generate`)"
    assert all(answer is not None for answer in answers[1:])
    keys = [json.loads(answer.data)["cache_key"] for answer in answers[1:] if answer is not None]
    assert [key.split("|")[5] for key in keys] == ["pt-1", "pt-2", "pt-3"]
    assert len(validated) == 1, "the node was validated once, for its shape"


async def test_the_same_body_again_is_answered_without_reading_its_player_context_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut = calls_to(monkeypatch, front_door, "split_context")
    ports = generation_ports(services)
    alice = json.dumps(game_request(player_context={"playthroughId": "pt-1", "playerId": "alice"})).encode()
    bob = json.dumps(game_request(player_context={"playthroughId": "pt-2", "playerId": "bob"})).encode()
    answers = [
        await answer_known(GenerateCall(body=body), ports=ports) for body in (alice, alice, bob, alice, bob, bob)
    ]

    assert answers[0] is None, "a body read for the first time is handed on (to `generate`)"
    assert [json.loads(a.data)["cache_key"].split("|")[5] for a in answers[1:] if a is not None] == [
        "pt-1",
        "pt-2",
        "pt-1",
        "pt-2",
        "pt-2",
    ], "each body keeps its own player's answer"
    # alice's body is read whole first (its shape is learnt), then looked at once more, then known; bob's body
    # has a known shape, so its first look is the last.
    assert cut == [alice, alice, bob], "a body's player context is cut out until its look is known, then never"
