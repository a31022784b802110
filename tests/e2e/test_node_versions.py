"""Versioned node configs, as the editor uses them: save, history, diff, rollback, and new cache keys."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx

CONFIG: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "configs" / "romantic_to_action.json").read_text()
)
NODE = "cafe_to_rooftops"


async def save(client: httpx.AsyncClient, config: dict[str, Any], note: str | None = None) -> httpx.Response:
    params = {"note": note} if note else None
    return await client.put(f"/api/nodes/{NODE}/config", json=config, params=params)


async def test_every_save_is_a_new_version_with_history(client: httpx.AsyncClient) -> None:
    first = await save(client, CONFIG, note="first cut")
    assert first.status_code == 200
    assert first.json()["version"] == 1
    slower = copy.deepcopy(CONFIG)
    slower["style"]["pacing"] = "slow"
    assert (await save(client, slower)).json()["version"] == 2

    current = (await client.get(f"/api/nodes/{NODE}/config")).json()
    assert (current["version"], current["config"]["style"]["pacing"], current["config"]["version"]) == (2, "slow", 2)
    assert current["config"]["id"] == NODE
    old = (await client.get(f"/api/nodes/{NODE}/config", params={"version": 1})).json()
    assert old["config"]["style"]["pacing"] == "medium"
    versions = (await client.get(f"/api/nodes/{NODE}/versions")).json()["versions"]
    assert [(v["version"], v.get("note")) for v in versions] == [(2, None), (1, "first cut")]


async def test_diff_lists_the_changed_fields(client: httpx.AsyncClient) -> None:
    await save(client, CONFIG)
    changed = copy.deepcopy(CONFIG)
    changed["style"]["moodTo"] = "tense"
    changed["constraints"]["avoidElements"] = ["violence", "gore"]
    await save(client, changed)
    diff = (await client.get(f"/api/nodes/{NODE}/diff", params={"from": 1, "to": 2})).json()
    assert diff["changes"] == [
        {"field": "constraints.avoidElements", "before": ["violence"], "after": ["violence", "gore"]},
        {"field": "style.moodTo", "before": "intense", "after": "tense"},
    ]


async def test_rollback_is_a_new_version_with_the_old_config(client: httpx.AsyncClient) -> None:
    await save(client, CONFIG)
    changed = copy.deepcopy(CONFIG)
    changed["style"]["moodTo"] = "tense"
    await save(client, changed)
    rolled = await client.post(f"/api/nodes/{NODE}/rollback", json={"version": 1})
    assert rolled.json()["version"] == 3
    current = (await client.get(f"/api/nodes/{NODE}/config")).json()
    assert (current["config"]["style"]["moodTo"], current["note"]) == ("intense", "rollback to version 1")
    assert (await client.get(f"/api/nodes/{NODE}/diff", params={"from": 1, "to": 3})).json()["changes"] == []


async def test_a_config_with_errors_is_not_saved(client: httpx.AsyncClient) -> None:
    broken = copy.deepcopy(CONFIG)
    broken["constraints"]["avoidElements"] = ["phone_ring"]
    response = await save(client, broken)
    assert response.status_code == 422
    assert [d["code"] for d in response.json()["details"]] == ["ELEMENT_REQUIRED_AND_AVOIDED"]
    assert (await client.get(f"/api/nodes/{NODE}/versions")).status_code == 404


async def test_a_new_version_gives_the_node_new_cache_keys(client: httpx.AsyncClient) -> None:
    await save(client, CONFIG)
    await save(client, CONFIG)
    keys = []
    for version in (1, 2):
        config = (await client.get(f"/api/nodes/{NODE}/config", params={"version": version})).json()["config"]
        request = {
            "type": config["generationType"],
            "node_id": NODE,
            "style": config["style"],
            "duration": config["duration"],
            "constraints": config["constraints"],
            "strategy": config["strategy"],
            "fallback": config["fallback"],
            "version": config["version"],
            "player_context": {"playthroughId": "p1"},
        }
        keys.append((await client.post("/api/generate-content", json=request)).json()["cache_key"])
    assert keys[0].split(";c=")[0].endswith("|1")
    assert keys[1].split(";c=")[0].endswith("|2")


async def test_unknown_nodes_and_versions_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/nodes/nope/config")).status_code == 404
    assert (await client.get("/api/nodes/nope/versions")).status_code == 404
    await save(client, CONFIG)
    assert (await client.get(f"/api/nodes/{NODE}/config", params={"version": 9})).status_code == 404
    assert (await client.post(f"/api/nodes/{NODE}/rollback", json={"version": 9})).status_code == 404


async def test_a_node_naming_an_unknown_provider_is_not_saved(client: httpx.AsyncClient) -> None:
    named = copy.deepcopy(CONFIG) | {"provider": "stroy"}

    refused = await save(client, named)

    assert refused.status_code == 422
    [finding] = [d for d in refused.json()["details"] if d["code"] == "UNKNOWN_PROVIDER"]
    assert finding["field"] == "provider"
    assert "unknown provider 'stroy'; configured: builtin" in finding["message"]
    assert (await save(client, copy.deepcopy(CONFIG) | {"provider": "builtin"})).status_code == 200
