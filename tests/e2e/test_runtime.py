"""The game runtime over HTTP (issue 14): a stored node's content by reference (warmed by the warm-up API,
then every call a hit), 404s naming the closest id, a disabled node, a flat request naming a node, the
body-versus-node conflict, advancing through the example graph, and rule contradictions (refused on save,
a fallback at play time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.config import Settings
from tests.e2e.test_warmup import events_of, node, story, warm

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three_scenes.json"
PLAYER = {"playthroughId": "pt-1", "playerId": "pl-1"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1, providers_by_type={})


async def content(client: httpx.AsyncClient, graph_id: str, node_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/api/graphs/{graph_id}/nodes/{node_id}/content", json={"player_context": PLAYER, **body})


async def test_after_a_warm_up_over_the_api_every_by_reference_call_for_that_player_is_a_hit(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/graphs", json=story())).status_code == 201
    warmup_id = await warm(client, "story", {"playthrough_id": "pt-1", "player_id": "pl-1"})
    events = await events_of(client, warmup_id)
    assert events[-1].data["status"] == "complete", events[-1].data
    warmed = {e.data["node_id"]: e.data["cache_key"] for e in events if e.type == "item"}
    assert set(warmed) == {"n_ab", "edge:b->c", "n_de", "n_ef"}

    answers = {}
    for node_id in ("n_ab", "edge:b->c", "n_de", "n_ef"):  # n_cd is `always`: never warmed, never cached
        response = await content(client, "story", node_id)
        assert response.status_code == 200, response.text
        answers[node_id] = response.json()

    assert {n: a["cache"]["hit"] for n, a in answers.items()} == dict.fromkeys(answers, True)
    assert {n: a["status"] for n, a in answers.items()} == dict.fromkeys(answers, "complete")
    assert {n: a["cache_key"] for n, a in answers.items()} == warmed
    generated = (await client.get("/api/generations", params={"node_id": "n_de"})).json()
    assert [g["cache_key"] for g in generated["generations"]] == [answers["n_de"]["cache_key"]], "generated once"


async def test_a_by_reference_call_can_run_as_a_job_with_an_idempotency_key(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/graphs", json=story())).status_code == 201
    headers = {"Prefer": "respond-async", "Idempotency-Key": "call-1"}
    path = "/api/graphs/story/nodes/n_ab/content"

    first = await client.post(path, json={"player_context": PLAYER}, headers=headers)
    again = await client.post(path, json={"player_context": PLAYER}, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["job_id"] == again.json()["job_id"]
    assert first.headers["location"] == f"/api/generation-jobs/{first.json()['job_id']}"


async def test_unknown_graph_version_and_node_are_404_naming_the_closest_id(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/graphs", json=story())).status_code == 201

    graph = await content(client, "stroy", "n_ab")
    version = await content(client, "story", "n_ab", graph_version=9)
    missing = await content(client, "story", "n_abc")

    assert (graph.status_code, version.status_code, missing.status_code) == (404, 404, 404)
    assert "did you mean 'story'?" in graph.json()["error"]["message"]
    assert "versions are 1 to 1" in version.json()["error"]["message"]
    assert missing.json()["details"][0]["suggestion"] == "n_ab"


async def test_a_disabled_node_answers_its_fallback_with_the_reason(client: httpx.AsyncClient) -> None:
    body = story()
    body["nodes"][0]["config"]["enabled"] = False
    assert (await client.post("/api/graphs", json=body)).status_code == 201

    response = await content(client, "story", "n_ab")

    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["fallback"]["mode"]) == ("failed", "placeholder")
    assert "'n_ab' is disabled" in answer["fallback"]["reason"]


async def test_a_flat_request_naming_a_saved_node_without_config_generates_that_node(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/graphs", json=story())).status_code == 201
    by_reference = (await content(client, "story", "n_de")).json()

    flat = await client.post(
        "/api/generate-content", json={"type": "transition", "node_id": "n_de", "player_context": PLAYER}
    )
    unknown = await client.post("/api/generate-content", json={"type": "transition", "node_id": "n_dd"})

    assert flat.status_code == 200, flat.text
    assert (flat.json()["cache_key"], flat.json()["cache"]["hit"]) == (by_reference["cache_key"], True)
    assert unknown.status_code == 422
    assert "did you mean 'n_de'?" in unknown.json()["error"]["message"]


async def test_a_body_that_brings_config_and_names_a_saved_node_generates_the_body(
    client: httpx.AsyncClient,
) -> None:
    """The documented decision: the body wins (the editor tests unsaved changes this way)."""
    assert (await client.post("/api/graphs", json=story())).status_code == 201
    saved = (await content(client, "story", "n_ab")).json()

    draft = await client.post(
        "/api/generate-content",
        json={
            "type": "transition",
            "node_id": "n_ab",
            "from_scene": {"id": "a"},
            "to_scene": {"id": "b"},
            "style": {"moodFrom": "calm", "moodTo": "joyful"},
            "fallback": {"mode": "placeholder"},
        },
    )

    assert draft.status_code == 200
    assert draft.json()["cache_key"] != saved["cache_key"]
    assert draft.json()["content"]["metadata"]["mood"] == "joyful"
    assert saved["content"]["metadata"]["mood"] != "joyful"


async def test_advance_plays_the_example_graph_one_step_at_a_time(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/graphs", json=json.loads(EXAMPLE.read_text()))).status_code == 201
    steps = []
    scene: str | None = "cafe_date"
    while scene is not None:
        response = await client.post(
            "/api/graphs/three_scenes/advance", json={"from_scene": scene, "player_context": PLAYER}
        )
        assert response.status_code == 200, response.text
        steps.append(response.json())
        scene = steps[-1].get("scene", {}).get("id")

    assert [(s["from_scene"], s.get("node_id"), s.get("scene", {}).get("id"), s["exits"]) for s in steps] == [
        ("cafe_date", "cafe_to_rooftops", "rooftop_chase", ["dawn_aftermath"]),
        ("rooftop_chase", None, "dawn_aftermath", []),
        ("dawn_aftermath", None, None, []),
    ]
    assert steps[0]["content"]["status"] == "complete"
    by_reference = (await content(client, "three_scenes", "cafe_to_rooftops")).json()
    assert (by_reference["cache_key"], by_reference["cache"]["hit"]) == (steps[0]["content"]["cache_key"], True)
    wrong = await client.post(
        "/api/graphs/three_scenes/advance", json={"from_scene": "cafe_date", "to_scene": "dawn_aftermath"}
    )
    nowhere = await client.post("/api/graphs/three_scenes/advance", json={"from_scene": "cafe_dat"})
    assert wrong.status_code == 422
    assert (nowhere.status_code, nowhere.json()["details"][0]["suggestion"]) == (404, "cafe_date")


async def test_a_rule_contradiction_on_a_reachable_branch_is_refused_on_save(client: httpx.AsyncClient) -> None:
    body = story()
    body["nodes"][0]["config"]["rules"] = "IF stats.hp < 3 THEN {\n  INCLUDE blood\n}"
    body["nodes"][0]["config"]["constraints"] = {"avoidElements": ["blood"]}

    response = await client.post("/api/graphs", json=body)

    assert response.status_code == 422
    [finding] = [d for d in response.json()["details"] if d["code"] == "DSL_CONTRADICTION"]
    assert finding["field"] == "nodes.n_ab.rules"
    assert finding["message"].startswith("line 2, column 11: ")
    assert "when the IF condition on line 1 is true" in finding["message"]
    node_save = await client.put("/api/nodes/n_ab/config", json=body["nodes"][0]["config"])
    assert node_save.status_code == 422


async def test_rules_that_still_make_an_invalid_config_at_play_time_answer_the_fallback(
    client: httpx.AsyncClient,
) -> None:
    # The rule's range leaves the node's 10 s target outside it: nothing in the rules alone to prove.
    body = {
        "id": "rushed",
        "scenes": [{"id": "a", "mood": "calm"}, {"id": "b", "mood": "tense"}],
        "nodes": [
            node(
                "n_rushed",
                "a",
                "b",
                duration={"min": 5, "max": 20, "target": 10},
                rules="IF flags.rushed THEN { DURATION 1-3s }",
            )
        ],
    }
    assert (await client.post("/api/graphs", json=body)).status_code == 201

    rushed = await client.post(
        "/api/graphs/rushed/nodes/n_rushed/content", json={"player_context": {"flags": {"rushed": True}}}
    )
    calm = await client.post("/api/graphs/rushed/nodes/n_rushed/content", json={"player_context": {}})

    assert rushed.status_code == 200, rushed.text
    answer = rushed.json()
    assert (answer["status"], answer["error"]["code"], answer["fallback"]["mode"]) == (
        "failed",
        "GEN_INVALID_CONFIG",
        "placeholder",
    )
    record = (await client.get(f"/api/generations/{answer['generation_id']}")).json()
    assert record["error_code"] == "GEN_INVALID_CONFIG"
    assert "duration" in record["error_message"].lower()
    assert calm.json()["status"] == "complete"
