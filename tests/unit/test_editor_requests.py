"""The editor's Test Generation sends the request a game's by-reference call and a warm-up make for the same
node and player (issue 14), so a node warmed in the editor is a hit for the game and the other way round.

The server's request for a node is `domain.graph.node_request`; the editor builds its own in TypeScript
(`web/src/state/requests.ts:buildRequest`, for unsaved changes too). `web/test/fixtures/node_requests.json`
holds graphs and what `node_request` makes of them; this test keeps that file in step with the Python, and
`web/test/requests.test.ts` checks that `buildRequest` makes the same requests from the same graphs.

Regenerate after a change to `node_request` or the wire models:
`.venv/bin/python -m tests.unit.test_editor_requests` (then `cd web && npm test`).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from dyngen.domain.cache_keys import cache_key
from dyngen.domain.contracts import GenerateContentRequest, PlayerContext
from dyngen.domain.graph import SceneGraph, node_request

FIXTURE = Path(__file__).resolve().parents[2] / "web" / "test" / "fixtures" / "node_requests.json"
REGENERATE = "run `.venv/bin/python -m tests.unit.test_editor_requests` and commit web/test/fixtures/node_requests.json"
PLAYER = {"playthroughId": "pt-1", "playerId": "pl-1"}

# Everything `node_request` takes from the graph beside the node's config: scene titles and characters,
# the cast (present and related characters, not the others), the whole lore, the lexicon; and from the node's
# config: its prompt, lore tags, provider, social context, seed.
WORLD: dict[str, Any] = {
    "id": "world",
    "title": "A graph with a world",
    "characters": [
        {"id": "mara", "name": "Mara", "description": "a courier", "relationships": [{"to": "theo", "kind": "love"}]},
        {"id": "stranger", "name": "The stranger"},
        {"id": "theo", "name": "Theo", "voice": "dry"},
        {"id": "ines", "name": "Ines", "relationships": [{"to": "mara", "kind": "rival"}]},
    ],
    "lore": [
        {"id": "city", "text": "The city never sleeps.", "tags": ["rooftops"]},
        {"id": "phone", "text": "Mara's phone rings at the worst moments."},
    ],
    "lexicon": {"phone_ring": ["her phone buzzes"]},
    "scenes": [
        {"id": "cafe", "title": "Late coffee", "mood": "romantic", "characters": ["mara"], "location": "corner_cafe"},
        {"id": "roof", "title": "Rooftops", "mood": "intense", "characters": ["mara", "ines"], "image": "roof.png"},
    ],
    "nodes": [
        {
            "id": "cafe_to_roof",
            "fromScene": "cafe",
            "toScene": "roof",
            "config": {
                "generationType": "dialogue",
                "purpose": "adaptive",
                "style": {"moodFrom": "romantic", "moodTo": "intense"},
                "strategy": "per_player",
                "seedSource": "fixed",
                "seed": 7,
                "fallback": {"mode": "placeholder"},
                "provider": "builtin",
                "loreTags": ["rooftops"],
                "prompt": {"user": "Write {{ to_scene.title }} for {{ characters | length }} people."},
                "socialContext": {"relationshipTierId": "friend", "npcIds": ["theo"]},
                "rules": "IF flags.late THEN { PACING fast }",
                "version": 3,
            },
        }
    ],
}


def cases() -> list[dict[str, Any]]:
    """Each graph (as the editor holds it: the server's own reading of it), a node, a player, and the
    request `node_request` makes, as JSON."""
    example = json.loads((resources.files("dyngen.defaults") / "three_scenes.json").read_text(encoding="utf-8"))
    made = []
    for name, raw, node_id in (("example", example, "cafe_to_rooftops"), ("world", WORLD, "cafe_to_roof")):
        graph = SceneGraph.model_validate(raw)
        [node] = [n for n in graph.nodes if n.id == node_id]
        request = node_request(graph, node, player_context=PlayerContext.model_validate(PLAYER))
        made.append(
            {
                "name": name,
                "graph": graph.model_dump(mode="json", by_alias=True, exclude_none=True),
                "node_id": node_id,
                "player": PLAYER,
                "request": request.model_dump(mode="json", by_alias=True, exclude_none=True),
                "cache_key": cache_key(request),
            }
        )
    return made


def render() -> str:
    return json.dumps({"regenerate": REGENERATE, "cases": cases()}, indent=2, sort_keys=True) + "\n"


def test_the_fixture_holds_what_node_request_makes_now() -> None:
    assert FIXTURE.is_file(), f"{FIXTURE} is missing: {REGENERATE}"
    assert FIXTURE.read_text(encoding="utf-8") == render(), f"node_request changed: {REGENERATE}"


def test_each_fixture_request_reads_back_as_the_same_request_and_key() -> None:
    """What the editor sends is read by the server's model: the JSON of a fixture request is that request."""
    for case in cases():
        read = GenerateContentRequest.model_validate(case["request"])
        assert cache_key(read) == case["cache_key"], case["name"]


def test_the_world_case_exercises_what_the_editor_used_to_leave_out() -> None:
    world = next(c["request"] for c in cases() if c["name"] == "world")
    assert [c["id"] for c in world["characters"]] == ["mara", "theo", "ines"], "the cast: present and related"
    assert [entry["id"] for entry in world["lore"]] == ["city", "phone"]
    assert world["from_scene"]["title"] == "Late coffee"
    assert world["to_scene"]["characters"] == ["mara", "ines"]
    assert (world["provider"], world["lore_tags"], world["prompt"]["user"][:5]) == ("builtin", ["rooftops"], "Write")


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(render(), encoding="utf-8")
    print(f"wrote {FIXTURE}")
