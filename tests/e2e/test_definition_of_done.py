"""The spec's Definition of Done for Phase 1 (section 14), items 1-5, checked through the HTTP API."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.config import Settings
from tests.support.apps import app_client
from tests.support.examples import SPEC_TEMPLATE

TEMPLATE: dict[str, Any] = SPEC_TEMPLATE
GENERATION_FAILURES = ["GEN_TIMEOUT", "GEN_CONSTRAINT_FAIL", "GEN_PROVIDER_UNAVAILABLE", "GEN_EMPTY_OUTPUT"]


def button_request(config: dict[str, Any], playthrough: str = "pt-1", **changes: Any) -> dict[str, Any]:
    """What the editor's Test Generation button sends for a node between the cafe and the rooftops."""
    request = {
        "type": config["generationType"],
        "node_id": config["id"],
        "from_scene": {"id": "cafe_date", "mood": "romantic", "location": "corner_cafe"},
        "to_scene": {"id": "rooftop_chase", "mood": "intense", "location": "city_rooftops"},
        **{k: copy.deepcopy(config[k]) for k in ("style", "duration", "constraints", "strategy", "fallback")},
        "version": config["version"],
        "player_context": {"playthroughId": playthrough},
    }
    request.update(changes)
    return request


async def validate(client: httpx.AsyncClient, config: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/validate-generation-config", json=config)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_dod1_a_node_can_be_added_and_configured_without_errors(client: httpx.AsyncClient):
    result = await validate(client, TEMPLATE)

    assert result["status"] == "ok"
    assert [f for f in result["findings"] if f["severity"] in ("error", "warning")] == []
    generated = await client.post("/api/generate-content", json=button_request(TEMPLATE))
    assert generated.status_code == 200
    assert generated.json()["status"] == "complete"


async def test_dod2_validation_surfaces_warnings_and_blocks_contradictions(client: httpx.AsyncClient):
    always = {**copy.deepcopy(TEMPLATE), "strategy": "always"}
    warned = await validate(client, always)
    assert warned["status"] == "warnings"
    assert [f["field"] for f in warned["findings"] if f["severity"] == "warning"] == ["strategy"]
    served = await client.post("/api/generate-content", json=button_request(always))
    assert served.status_code == 200, "a warning informs the designer; it does not block generation"
    assert served.json()["status"] == "complete"

    contradiction = copy.deepcopy(TEMPLATE)
    contradiction["constraints"]["avoidElements"].append("phone_ring")
    blocked = await validate(client, contradiction)
    assert blocked["status"] == "errors"
    assert "ELEMENT_REQUIRED_AND_AVOIDED" in {f["code"] for f in blocked["findings"] if f["severity"] == "error"}
    refused = await client.post("/api/generate-content", json=button_request(contradiction))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "GEN_INVALID_CONFIG"
    assert "ELEMENT_REQUIRED_AND_AVOIDED" in {d.get("code") for d in refused.json()["details"]}


async def test_dod3_test_generation_returns_an_asset(client: httpx.AsyncClient):
    # The spec's "under two seconds" is a timing claim: `make bench` (provider: "service miss p95") holds it
    # against the spec's 2,000 ms; a test on a busy machine asserts the asset, never the clock.
    response = await client.post("/api/generate-content", json=button_request(TEMPLATE, "fresh-run"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "complete"
    assert body["cache"]["hit"] is False, "a real generation, not a cache hit"
    assert body["content"]["beats"] or body["content"]["dialogue"]
    assert body["cost"]["time_ms"] >= 0, "the generation's time is reported to the editor"


@asynccontextmanager
async def separate_instance(data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A whole service of its own: its own settings, data dir, database, caches and app."""
    # Explicit Nones: a shared database, Redis or bucket from the environment would make them one service.
    settings = Settings(data_dir=data_dir, database_url=None, redis_url=None, object_store_url=None)
    async with app_client(settings) as http:
        yield http


async def test_dod4_the_cache_key_is_stable_across_identical_config_and_playthrough(tmp_path: Path):
    request = button_request(TEMPLATE, "pt-42")
    seen = []
    for name in ("machine_a", "machine_b"):
        async with separate_instance(tmp_path / name) as http:
            body = (await http.post("/api/generate-content", json=request)).json()
            assert body["status"] == "complete"
            assert body["cache"]["hit"] is False, "each instance generates on its own"
            artifact = await http.get(body["content"]["url"])
            assert artifact.status_code == 200
            seen.append((body, artifact.content))
    (a, a_bytes), (b, b_bytes) = seen

    assert (
        a["cache_key"]
        == b["cache_key"]
        == "transition|gap_fill|cafe_date|rooftop_chase|per_playthrough|pt-42|1;c=e23ad39e67e1"
    )
    assert a["seed"] == b["seed"]
    assert {k: v for k, v in a["content"].items() if k != "url"} == {
        k: v for k, v in b["content"].items() if k != "url"
    }
    assert a_bytes == b_bytes, "identical config + playthrough must give identical content bytes"


@pytest.mark.parametrize("code", GENERATION_FAILURES)
async def test_dod5_the_fallback_path_works_when_generation_is_forced_to_fail(client: httpx.AsyncClient, code: str):
    request = button_request(TEMPLATE, simulate={"fail_with": code})
    response = await client.post("/api/generate-content", json=request)

    assert response.status_code == 200, "a failed generation still serves the player"
    body = response.json()
    assert body["status"] == "failed"
    assert body["fallback"]["applied"] is True
    assert body["fallback"]["mode"] == "default_content"
    assert body["content"]["content_id"] == "transition_01"
    assert body["error"]["code"] == code

    failed = (await client.get("/api/generations", params={"status": "failed"})).json()["generations"]
    recorded = {g["id"]: g for g in failed}
    assert body["generation_id"] in recorded
    assert recorded[body["generation_id"]]["error_code"] == code
    assert recorded[body["generation_id"]]["fallback_mode"] == "default_content"
