"""The HTTP API as a game client calls it: real services, the real built-in provider, spec spellings."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from tests.support.examples import SPEC_TEMPLATE
from tests.support.servers import answers
from tests.support.waiting import HANG_GUARD_S, wait_until

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE: dict[str, Any] = SPEC_TEMPLATE
CAFE = {"id": "cafe_date", "mood": "romantic", "summary": "Mara finally kisses Theo.", "location": "corner_cafe"}
ROOFTOPS = {"id": "rooftop_chase", "mood": "intense", "location": "city_rooftops", "emotionalState": "alarmed"}
JSON = {"content-type": "application/json"}
KEY_PT1 = "transition|gap_fill|cafe_date|rooftop_chase|per_playthrough|pt-1|1;c=2b9b16f745b7"
# What a player must be able to read for each required element of the template (stems, all in one line).
REQUIRED_WORDS = {"phone_ring": ("phone", "ring"), "kiss_callback": ("kiss",)}


def game_request(playthrough: str | None = "pt-1", **changes: Any) -> dict[str, Any]:
    """The flat request a game sends for the spec template between the cafe and the rooftops."""
    request: dict[str, Any] = {
        "type": TEMPLATE["generationType"],
        "purpose": "gap_fill",
        "node_id": TEMPLATE["id"],
        "from_scene": CAFE,
        "to_scene": ROOFTOPS,
        **{k: copy.deepcopy(TEMPLATE[k]) for k in ("style", "duration", "constraints", "strategy", "fallback")},
        "version": TEMPLATE["version"],
    }
    if playthrough is not None:
        request["player_context"] = {"playthroughId": playthrough}
    request.update(changes)
    return request


def lines_of(content: dict[str, Any]) -> list[str]:
    return [b["text"] for b in content.get("beats") or []] + list(content.get("dialogue") or [])


def without_url(content: dict[str, Any]) -> dict[str, Any]:
    """The content a player sees; `url` names this generation's artifact record, so it differs per run."""
    return {k: v for k, v in content.items() if k != "url"}


def mentions(lines: list[str], stems: tuple[str, ...]) -> bool:
    return any(all(s in line.lower() for s in stems) for line in lines)


async def generate(client: httpx.AsyncClient, request: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def detail_fields(response: httpx.Response) -> dict[str, dict[str, Any]]:
    body = response.json()
    assert body["error"]["code"] == "GEN_INVALID_CONFIG", body
    return {d["field"]: d for d in body["details"]}


async def test_a_transition_between_two_scenes_is_generated_with_its_required_elements(client: httpx.AsyncClient):
    body = await generate(client, game_request())

    assert body["status"] == "complete"
    assert body["cache_key"] == KEY_PT1
    assert body["provider"] == "builtin"
    assert body["deterministic"] is True
    assert isinstance(body["seed"], int)
    assert body["generation_id"]
    assert body["cache"]["hit"] is False
    content = body["content"]
    lines = lines_of(content)
    assert content["beats"], "a transition is a sequence of timed beats"
    assert sum(b["duration"] for b in content["beats"]) == pytest.approx(30, abs=0.5)
    for element, stems in REQUIRED_WORDS.items():
        assert mentions(lines, stems), f"{element} is not in {lines}"
    assert not mentions(lines, ("violen",))


async def test_the_second_call_is_a_cache_hit_with_identical_content(client: httpx.AsyncClient):
    first = await generate(client, game_request())
    second = await generate(client, game_request())

    assert second["cache"]["hit"] is True
    assert second["cache"]["tier"]
    assert second["content"] == first["content"]
    assert second["generation_id"] == first["generation_id"]
    assert (second["cache_key"], second["seed"]) == (first["cache_key"], first["seed"])
    assert second["cost"]["tokens"] == 0


async def test_another_playthrough_or_version_gets_its_own_key(client: httpx.AsyncClient):
    first = await generate(client, game_request("pt-1"))
    other = await generate(client, game_request("pt-2"))
    bumped = await generate(client, game_request("pt-1", version=2))

    assert (other["cache_key"], bumped["cache_key"]) == (
        KEY_PT1.replace("pt-1", "pt-2"),
        KEY_PT1.replace("|1;c=", "|2;c="),
    )
    assert other["seed"] != first["seed"]
    assert (other["cache"]["hit"], bumped["cache"]["hit"]) == (False, False)


def respell(value: Any, spell: Callable[[str], str]) -> Any:
    """The same wire data with every key in another spelling."""
    if isinstance(value, dict):
        return {spell(k): respell(v, spell) for k, v in value.items()}
    return [respell(v, spell) for v in value] if isinstance(value, list) else value


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def to_snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


async def test_camel_and_snake_spellings_are_the_same_request(client: httpx.AsyncClient):
    camel, snake = respell(game_request(), to_camel), respell(game_request(), to_snake)
    assert {"fromScene", "playerContext"} <= set(camel)
    assert {"mood_from", "transition_type"} <= set(snake["style"])
    assert snake["player_context"] == {"playthrough_id": "pt-1"}
    from_camel = await generate(client, camel)
    from_snake = await generate(client, snake)

    assert from_snake["cache_key"] == from_camel["cache_key"] == KEY_PT1
    assert from_snake["cache"]["hit"] is True, "same node, other spelling: must be served from the same entry"
    assert from_snake["content"] == from_camel["content"]


async def test_responses_use_the_spec_spelling(client: httpx.AsyncClient):
    body = await generate(client, game_request())
    assert {"status", "content", "cache_key", "cache", "cost", "deterministic", "seed", "generation_id"} <= set(body)
    assert not {"cacheKey", "generationId"} & set(body)
    assert "time_ms" in body["cost"]

    record = (await client.get(f"/api/generations/{body['generation_id']}")).json()
    sent = record["request"]
    assert {"from_scene", "to_scene", "player_context", "node_id"} <= set(sent)
    assert sent["style"]["moodFrom"] == "romantic"
    assert sent["constraints"]["requiredElements"] == ["phone_ring", "kiss_callback"]
    assert sent["fallback"]["defaultContentId"] == "transition_01"
    assert sent["player_context"]["playthroughId"] == "pt-1"
    assert "mood_from" not in sent["style"]


async def test_an_unknown_field_is_refused_with_the_closest_known_name(client: httpx.AsyncClient):
    request = game_request(style={"moodFro": "romantic", "moodTo": "intense"})
    response = await client.post("/api/generate-content", json=request)

    assert response.status_code == 422
    fields = detail_fields(response)
    assert fields["body.style.moodFro"]["suggestion"] == "moodFrom"
    assert "moodFrom" in fields["body.style.moodFro"]["message"]


async def test_malformed_json_is_a_422(client: httpx.AsyncClient):
    response = await client.post("/api/generate-content", content=b'{"type": "transition",', headers=JSON)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "GEN_INVALID_CONFIG"
    assert any(d["field"].startswith("body") for d in response.json()["details"])


async def test_wrong_types_are_a_422_naming_each_field(client: httpx.AsyncClient):
    request = game_request(
        version="one",
        duration={"min": "fifteen", "max": 45, "target": 30},
        constraints={"requiredElements": "phone_ring"},
    )
    response = await client.post("/api/generate-content", json=request)

    assert response.status_code == 422
    fields = set(detail_fields(response))
    assert {"body.version", "body.duration.min", "body.constraints.requiredElements"} <= fields


async def test_bodies_up_to_one_mebibyte_are_served_and_larger_ones_are_a_413(client: httpx.AsyncClient):
    body = httpx.Request("POST", "/", json=game_request()).content
    padded = body + b" " * (1024 * 1024 - len(body))
    just_under = await client.post("/api/generate-content", content=padded, headers=JSON)
    too_big = await client.post("/api/generate-content", content=padded + b" ", headers=JSON)

    assert just_under.status_code == 200, just_under.text
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_streamed_body_over_one_mebibyte_is_a_413(client: httpx.AsyncClient):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "transition", "from_scene": {"id": "cafe_date", "summary": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    response = await client.post("/api/generate-content", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("context", [None, {"playerId": "p-9"}], ids=["no-player-context", "no-playthrough-id"])
async def test_per_playthrough_without_a_playthrough_is_a_422_naming_it(
    client: httpx.AsyncClient, context: dict[str, Any] | None
):
    request = game_request(None)
    if context is not None:
        request["player_context"] = context
    response = await client.post("/api/generate-content", json=request)

    assert response.status_code == 422
    assert "player_context.playthroughId" in detail_fields(response)


async def test_a_config_with_errors_is_refused_listing_every_finding(client: httpx.AsyncClient):
    request = game_request(
        duration={"min": 50, "max": 10, "target": 30},
        constraints={"requiredElements": ["phone_ring"], "avoidElements": ["Phone Ring"]},
        fallback={"mode": "default_content"},
        seed_source="fixed",
    )
    response = await client.post("/api/generate-content", json=request)

    assert response.status_code == 422
    codes = {d["code"] for d in response.json()["details"]}
    expected = {"DURATION_RANGE_INVERTED", "ELEMENT_REQUIRED_AND_AVOIDED", "FALLBACK_DEFAULT_CONTENT_MISSING"}
    assert codes >= {*expected, "SEED_FIXED_MISSING"}
    listed = await client.get("/api/generations", params={"node_id": TEMPLATE["id"]})
    assert listed.json()["count"] == 0, "a refused config must not run the provider"


# node fallback -> (the mode the response reports, what the player gets, provider attempts made)
FALLBACKS: dict[str, tuple[dict[str, Any], str, dict[str, Any] | None, int]] = {
    "default_content": (TEMPLATE["fallback"], "default_content", {"content_id": "transition_01"}, 1),
    "skip": ({"mode": "skip"}, "skip", None, 1),
    "placeholder": ({"mode": "placeholder"}, "placeholder", {"placeholder": True}, 1),
    # retry tries 1 + maxRetries times, then skips (the client jump-cuts)
    "retry": ({"mode": "retry", "maxRetries": 2, "timeoutMs": 4000}, "skip", None, 3),
}


@pytest.mark.parametrize("mode", list(FALLBACKS))
async def test_a_forced_timeout_serves_the_nodes_fallback(client: httpx.AsyncClient, mode: str):
    fallback, reported, shown, attempts = FALLBACKS[mode]
    request = game_request(fallback=fallback, simulate={"fail_with": "GEN_TIMEOUT"})
    body = await generate(client, request)

    assert (body["status"], body["error"]["code"]) == ("failed", "GEN_TIMEOUT")
    assert (body["fallback"]["applied"], body["fallback"]["mode"]) == (True, reported)
    if shown is None:
        assert body.get("content") is None
    else:
        assert shown.items() <= body["content"].items()
    record = (await client.get(f"/api/generations/{body['generation_id']}")).json()
    assert (record["error_code"], record["attempts"]) == ("GEN_TIMEOUT", attempts)

    # The forced failure is never cached: the same node without `simulate` is generated for real.
    del request["simulate"]
    real = await generate(client, request)
    assert real["status"] == "complete"
    assert real["cache"]["hit"] is False


async def test_a_generation_slower_than_the_node_timeout_is_cut_off_into_the_fallback(client: httpx.AsyncClient):
    request = game_request(
        fallback={"mode": "placeholder", "timeoutMs": 200}, simulate={"latency_ms": 5000}, node_id="slow_node"
    )
    started = time.perf_counter()
    body = await generate(client, request)
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0, f"the player waited {elapsed:.2f} s on a node with a 200 ms timeout"
    assert (body["status"], body["error"]["code"], body["fallback"]["mode"]) == ("failed", "GEN_TIMEOUT", "placeholder")
    assert body["content"]["placeholder"] is True
    recorded = (await client.get("/api/generations", params={"node_id": "slow_node", "status": "failed"})).json()
    assert [g["error_code"] for g in recorded["generations"]] == ["GEN_TIMEOUT"]


async def test_a_timed_out_generation_names_its_recorded_failure(client: httpx.AsyncClient):
    # The caller once raced its own generation to the same deadline and lost about half the time; 20 calls
    # make a regression of that race all but certain to show.
    for n in range(20):
        request = game_request(
            fallback={"mode": "skip", "timeoutMs": 50}, simulate={"latency_ms": 5000}, node_id=f"slow_{n}"
        )
        body = await generate(client, request)
        assert body["error"]["code"] == "GEN_TIMEOUT"
        assert "another request" not in body["error"]["message"], "there was no other request"
        assert body.get("generation_id"), "the response must name the recorded failure"
        record = (await client.get(f"/api/generations/{body['generation_id']}")).json()
        assert record["error_code"] == "GEN_TIMEOUT"


async def test_simulate_with_a_code_that_is_not_a_generation_failure_is_refused(client: httpx.AsyncClient):
    response = await client.post(
        "/api/generate-content", json=game_request(simulate={"fail_with": "GEN_INVALID_CONFIG"})
    )
    assert response.status_code == 422
    assert "body.simulate.fail_with" in detail_fields(response)


async def test_simulate_is_forbidden_when_dev_tools_are_off(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "prod", dev_tools=False)
    services = await build(settings)
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prod.test") as http:
            forced = await http.post("/api/generate-content", json=game_request(simulate={"fail_with": "GEN_TIMEOUT"}))
            normal = await http.post("/api/generate-content", json=game_request())
    finally:
        await services.aclose()

    assert forced.status_code == 403
    assert forced.json()["error"]["code"] == "FORBIDDEN"
    assert normal.status_code == 200
    assert normal.json()["status"] == "complete"


async def test_generations_are_recorded_and_can_be_filtered(client: httpx.AsyncClient):
    done = await generate(client, game_request("pt-1"))
    failed = await generate(client, game_request("pt-2", simulate={"fail_with": "GEN_EMPTY_OUTPUT"}))
    other = await generate(client, game_request("pt-1", node_id="another_node", to_scene={"id": "dawn"}))

    one = (await client.get(f"/api/generations/{done['generation_id']}")).json()
    assert (one["id"], one["cache_key"], one["status"]) == (done["generation_id"], KEY_PT1, "complete")
    assert (one["seed"], one["provider"], one["node_id"]) == (done["seed"], "builtin", TEMPLATE["id"])
    # The record keeps the artifact's path; the response hands it out signed (`?exp=&sig=`).
    assert one["content"] == {**done["content"], "url": done["content"]["url"].partition("?")[0]}

    async def ids(**params: str) -> set[str]:
        response = await client.get("/api/generations", params=params)
        assert response.status_code == 200, response.text
        return {g["id"] for g in response.json()["generations"]}

    assert await ids(node_id=TEMPLATE["id"]) == {done["generation_id"], failed["generation_id"]}
    assert await ids(status="failed") == {failed["generation_id"]}
    assert await ids(cache_key=KEY_PT1) == {done["generation_id"]}
    assert await ids(node_id=TEMPLATE["id"], status="complete") == {done["generation_id"]}
    assert await ids() == {done["generation_id"], failed["generation_id"], other["generation_id"]}


@pytest.mark.parametrize("path", ["/api/generations/nosuchid", "/api/artifacts/nosuchid", "/api/nowhere"])
async def test_unknown_things_are_a_404_with_a_coded_body(client: httpx.AsyncClient, path: str):
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_an_artifact_is_served_with_its_type_and_etag(client: httpx.AsyncClient):
    body = await generate(client, game_request())
    record = (await client.get(f"/api/generations/{body['generation_id']}")).json()
    assert record["artifacts"], "a generation records what it produced"
    artifact = record["artifacts"][0]

    response = await client.get(f"/api/artifacts/{artifact['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(artifact["media_type"])
    assert hashlib.sha256(response.content).hexdigest() == artifact["content_hash"]
    assert len(response.content) == artifact["size"]
    etag = response.headers["etag"]
    assert artifact["content_hash"] in etag

    again = await client.get(f"/api/artifacts/{artifact['id']}", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    other = await client.get(f"/api/artifacts/{artifact['id']}", headers={"If-None-Match": '"someone-elses"'})
    assert other.status_code == 200
    if body["content"].get("url"):
        assert (await client.get(body["content"]["url"])).status_code == 200


async def test_if_none_match_follows_http(client: httpx.AsyncClient):
    url = (await generate(client, game_request()))["content"]["url"]
    etag = (await client.get(url)).headers["etag"]
    for header in (f"W/{etag}", f'"someone-elses", {etag}', "*"):
        assert (await client.get(url, headers={"If-None-Match": header})).status_code == 304, header


async def test_validate_a_bare_config_or_one_with_a_context_that_gives_the_key(client: httpx.AsyncClient):
    bare = (await client.post("/api/validate-generation-config", json=TEMPLATE)).json()
    assert (bare["status"], bare["findings"]) == ("ok", [])
    assert bare["complexity"] == pytest.approx(7.0)  # 2 rules + 2 required elements + 30 s span / 10
    assert "cache_key" not in bare, "per_playthrough has no key without a playthrough"

    context = {"fromScene": CAFE, "toScene": ROOFTOPS, "playerContext": {"playthroughId": "pt-1"}}
    result = (
        await client.post("/api/validate-generation-config", json={"config": TEMPLATE, "context": context})
    ).json()
    assert result["status"] == "ok"
    assert result["cache_key"] == KEY_PT1 == (await generate(client, game_request()))["cache_key"]

    context["playerContext"] = {"playerId": "p-9"}
    missing = (
        await client.post("/api/validate-generation-config", json={"config": TEMPLATE, "context": context})
    ).json()
    assert missing["status"] == "errors"
    assert "SCOPE_ID_MISSING" in {f["code"] for f in missing["findings"]}
    assert "cache_key" not in missing


async def test_validate_refuses_a_typo_with_a_suggestion(client: httpx.AsyncClient):
    config = copy.deepcopy(TEMPLATE)
    config["fallback"]["defaultContentID"] = config["fallback"].pop("defaultContentId")
    response = await client.post("/api/validate-generation-config", json=config)
    assert response.status_code == 422
    suggestions = {d.get("suggestion") for d in response.json()["details"]}
    assert "defaultContentId" in suggestions


@pytest.mark.parametrize("selector", ["node_id", "cache_key", "version"])
async def test_invalidating_the_cache_makes_the_next_call_regenerate(client: httpx.AsyncClient, selector: str):
    first = await generate(client, game_request())
    assert (await generate(client, game_request()))["cache"]["hit"] is True
    query = {"node_id": TEMPLATE["id"], "cache_key": KEY_PT1, "version": 1}[selector]

    dropped = await client.post("/api/cache/invalidate", json={selector: query})
    assert dropped.status_code == 200, dropped.text
    assert KEY_PT1 in dropped.json()["keys"]
    again = await generate(client, game_request())

    assert again["cache"]["hit"] is False
    assert again["generation_id"] != first["generation_id"]
    assert without_url(again["content"]) == without_url(first["content"]), "same seed, same content"


@pytest.mark.parametrize("body", [{}, None], ids=["empty-object", "no-body"])
async def test_invalidate_without_a_selector_is_a_422(client: httpx.AsyncClient, body: dict[str, Any] | None):
    await generate(client, game_request())
    response = await client.post("/api/cache/invalidate", json=body)
    assert response.status_code == 422
    assert (await generate(client, game_request()))["cache"]["hit"] is True, "nothing was flushed"


async def test_health_reports_each_dependency(client: httpx.AsyncClient):
    response = await client.get("/api/health")
    health, dependencies = response.json(), response.json()["dependencies"]
    assert (response.status_code, health["status"], dependencies["database"]["status"]) == (200, "ok", "ok")
    # Where artifacts live: `artifact_store` in the first layout, `object_store` once storage went layered.
    assert {"artifact_store", "object_store"} & set(dependencies), dependencies
    assert {name: d["status"] for name, d in dependencies.items()} == dict.fromkeys(dependencies, "ok")
    assert "builtin" in health["providers"]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_real_server_serves_a_generation_and_stops_on_a_signal(tmp_path: Path, stop: signal.Signals):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DYNGEN_")}  # the embedded default only
    env = {**inherited, "DYNGEN_DATA_DIR": str(tmp_path / "data")}
    out, err = (tmp_path / "stdout.log").open("wb"), (tmp_path / "stderr.log").open("wb")
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/dyngen"), "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=out, stderr=err
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:

            def healthy() -> bool:
                assert server.poll() is None, f"server exited: {(tmp_path / 'stderr.log').read_text()}"
                return answers(http, "/api/health")

            wait_until(healthy, what="the server to answer /api/health")
            # A deadline that only guards against a hang: the embedded default renders this transition as
            # video, whose first part outlasts the template's 4 s on a machine whose cores are busy.
            roomy = game_request(fallback={**TEMPLATE["fallback"], "timeoutMs": 120_000})
            body = http.post("/api/generate-content", json=roomy, timeout=130).json()
            assert body["status"] == "complete"
            assert body["cache_key"] == KEY_PT1
            assert (tmp_path / "data" / "dyngen.db").exists()

        server.send_signal(stop)
        code = server.wait(timeout=HANG_GUARD_S)  # a guard against a hang: how long it takes is not the test
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        out.close()
        err.close()
    stderr = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in stderr, stderr
    assert "Application shutdown complete" in stderr, "the lifespan must close the services"
    # uvicorn re-raises the signal after a graceful shutdown, so dying "by" it is a clean exit too.
    assert code in (0, -stop), f"exit code {code}: {stderr}"
