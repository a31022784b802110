"""Scene graphs on the server, as the editor uses them: stored with versions, validated on save."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx

EXAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "three_scenes.json").read_text()
)


def contradictory(graph: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(graph)
    config = broken["nodes"][0]["config"]
    config["constraints"]["avoidElements"] = ["phone_ring"]
    config["duration"] = {"min": 40, "max": 20, "target": 30}
    return broken


async def test_a_graph_is_stored_read_back_and_versioned(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/graphs", json=EXAMPLE)
    assert created.status_code == 201
    assert created.json()["version"] == 1
    assert created.json()["health"]["status"] == "ok"

    renamed = {**EXAMPLE, "title": "The call, take two"}
    saved = await client.put(f"/api/graphs/{EXAMPLE['id']}", json=renamed)
    assert saved.json()["version"] == 2

    current = await client.get(f"/api/graphs/{EXAMPLE['id']}")
    assert current.json()["title"] == "The call, take two"
    assert current.headers["x-graph-version"] == "2"
    first = await client.get(f"/api/graphs/{EXAMPLE['id']}", params={"version": 1})
    assert first.json()["title"] == EXAMPLE["title"]
    assert first.json()["nodes"][0]["config"]["style"]["moodFrom"] == "romantic"  # spec spelling back
    listing = (await client.get("/api/graphs")).json()
    assert [(g["id"], g["version"]) for g in listing] == [(EXAMPLE["id"], 2)]


async def test_a_graph_with_a_contradiction_is_refused_with_every_finding(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/graphs", json=contradictory(EXAMPLE))
    assert response.status_code == 422
    codes = {d["code"] for d in response.json()["details"]}
    assert codes == {"ELEMENT_REQUIRED_AND_AVOIDED", "DURATION_RANGE_INVERTED"}
    assert all(d["field"].startswith("nodes.cafe_to_rooftops.") for d in response.json()["details"])
    assert (await client.get(f"/api/graphs/{EXAMPLE['id']}")).status_code == 404


async def test_warnings_are_saved_and_shown(client: httpx.AsyncClient) -> None:
    warned = copy.deepcopy(EXAMPLE)
    warned["nodes"][0]["config"]["strategy"] = "always"
    response = await client.post("/api/graphs", json=warned)
    assert response.status_code == 201
    node = response.json()["health"]["nodes"][0]
    assert node["status"] == "warnings"
    assert "STRATEGY_ALWAYS_VIDEO" in {f["code"] for f in node["result"]["findings"]}


async def test_create_twice_conflicts_and_delete_hides_the_graph(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/graphs", json=EXAMPLE)).status_code == 201
    assert (await client.post("/api/graphs", json=EXAMPLE)).status_code == 409
    assert (await client.delete(f"/api/graphs/{EXAMPLE['id']}")).status_code == 204
    assert (await client.get(f"/api/graphs/{EXAMPLE['id']}")).status_code == 404
    assert (await client.delete(f"/api/graphs/{EXAMPLE['id']}")).status_code == 404
    assert (await client.get("/api/graphs")).json() == []


async def test_put_refuses_a_body_for_another_graph(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/graphs/someone_else", json=EXAMPLE)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.id"


async def test_a_stored_graphs_health_panel(client: httpx.AsyncClient) -> None:
    await client.post("/api/graphs", json=EXAMPLE)
    health = (await client.get(f"/api/health/graph/{EXAMPLE['id']}")).json()
    assert [n["node_id"] for n in health["nodes"]] == ["cafe_to_rooftops"]
    assert health["status"] == "ok"
    assert (await client.get("/api/health/graph/nope")).status_code == 404


async def test_rules_that_do_not_compile_block_the_save_and_show_in_validation(client: httpx.AsyncClient) -> None:
    broken = copy.deepcopy(EXAMPLE)
    broken["nodes"][0]["config"]["rules"] = (
        'IF player_choice.quest_accept == true\n  THEN moodTo = "determined"\nIF foo =='
    )

    refused = await client.post("/api/graphs", json=broken)

    assert refused.status_code == 422
    (finding,) = refused.json()["details"]
    assert finding["field"] == "nodes.cafe_to_rooftops.rules"
    assert finding["message"].startswith("line 3, column ")
    assert (await client.get(f"/api/graphs/{EXAMPLE['id']}")).status_code == 404
    checked = await client.post("/api/validate-generation-config", json=broken["nodes"][0]["config"])
    assert checked.json()["status"] == "errors"
    assert [f["field"] for f in checked.json()["findings"] if f["severity"] == "error"] == ["rules"]
    health = (await client.post("/api/health/graph", json=broken)).json()
    assert health["nodes"][0]["status"] == "errors", "the health panel agrees with the editor's badge"


async def test_rules_that_compile_change_nothing(client: httpx.AsyncClient) -> None:
    ruled = copy.deepcopy(EXAMPLE)
    ruled["nodes"][0]["config"]["rules"] = 'IF player_choice.quest_accept == true\n  THEN moodTo = "determined"'

    response = await client.post("/api/graphs", json=ruled)

    assert response.status_code == 201, response.text
    assert response.json()["health"]["status"] == "ok"


async def test_a_graph_whose_node_names_an_unknown_provider_is_not_saved(client: httpx.AsyncClient) -> None:
    named = copy.deepcopy(EXAMPLE)
    named["nodes"][0]["config"]["provider"] = "stroy"

    refused = await client.post("/api/graphs", json=named)

    assert refused.status_code == 422, "the editor saves nodes through the graph: the provider is checked here too"
    [finding] = [d for d in refused.json()["details"] if d["code"] == "UNKNOWN_PROVIDER"]
    assert finding["field"] == f"nodes.{named['nodes'][0]['id']}.provider"
    assert "unknown provider 'stroy'" in finding["message"]
    assert (await client.get(f"/api/graphs/{EXAMPLE['id']}")).status_code == 404
    named["nodes"][0]["config"]["provider"] = "builtin_video"
    assert (await client.post("/api/graphs", json=named)).status_code == 201
