"""A browser game on another origin, as it calls the API: CORS, and media it can load with keys enforced
(signed artifact URLs), and the spec's own client shapes (string seeds, errors/warnings/suggestions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain import media
from dyngen.domain.access import Scope
from dyngen.entrypoints.api.app import create_app
from dyngen.services.machinery.container import Services
from tests.e2e.test_api import game_request
from tests.e2e.test_video import video_request
from tests.support.keys import make_key

GAME = "http://game.test:5173"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1, cors_origins=[GAME], example_graph=None)


@pytest.fixture
async def runtime_key(services: Services) -> str:
    """A runtime key, which switches enforcement on (auth `auto`)."""
    _, secret = await make_key(services, "game", Scope.RUNTIME)
    return secret


# --- CORS ------------------------------------------------------------------------------------------


async def test_a_preflight_from_an_allowed_origin_is_a_204_naming_what_a_client_sends(client: httpx.AsyncClient):
    response = await client.options(
        "/api/generate-content",
        headers={
            "Origin": GAME,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, prefer, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == GAME
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-api-key", "content-type", "prefer", "idempotency-key", "last-event-id"} <= allowed
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in response.headers["vary"].lower()


async def test_answers_to_an_allowed_origin_expose_location_retry_after_and_etag(
    client: httpx.AsyncClient, runtime_key: str
):
    refused = await client.post("/api/generate-content", json=game_request(), headers={"Origin": GAME})
    assert refused.status_code == 401, "a refusal carries the CORS headers too, so the game can read it"
    assert refused.headers["access-control-allow-origin"] == GAME
    queued = await client.post(
        "/api/generate-content",
        json=game_request(),
        headers={"Origin": GAME, "X-API-Key": runtime_key, "Prefer": "respond-async"},
    )
    assert queued.status_code == 202
    assert queued.headers["access-control-allow-origin"] == GAME
    exposed = {h.strip().lower() for h in queued.headers["access-control-expose-headers"].split(",")}
    assert {"location", "retry-after", "etag"} <= exposed


async def test_another_origin_gets_no_cors_headers_and_its_preflight_is_refused(client: httpx.AsyncClient):
    preflight = await client.options(
        "/api/generate-content", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    health = await client.get("/api/health", headers={"Origin": "http://evil.test"})
    assert health.status_code == 200
    assert "access-control-allow-origin" not in health.headers
    same_origin = await client.get("/api/health")
    assert "access-control-allow-origin" not in same_origin.headers


async def test_without_configured_origins_there_is_no_cors(tmp_path: Path, services: Services):
    app = create_app(Settings(data_dir=tmp_path / "data"), services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        preflight = await http.options(
            "/api/generate-content", headers={"Origin": GAME, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 405
        assert "access-control-allow-origin" not in preflight.headers


async def test_any_origin_is_answered_with_a_star(tmp_path: Path, services: Services):
    app = create_app(Settings(data_dir=tmp_path / "data", cors_origins=["*"]), services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        preflight = await http.options(
            "/api/generate-content", headers={"Origin": "http://any.test", "Access-Control-Request-Method": "POST"}
        )
        assert (preflight.status_code, preflight.headers["access-control-allow-origin"]) == (204, "*")
        assert "access-control-allow-credentials" not in preflight.headers


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"DYNGEN_CORS_ORIGINS": "*", "DYNGEN_CORS_ALLOW_CREDENTIALS": "true"}, "cannot be used with"),
        ({"DYNGEN_CORS_ORIGINS": "http://game.test/play"}, "without a path"),
    ],
)
def test_settings_refuse_a_star_with_credentials_and_origins_with_paths(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=problem):
        Settings()


def test_origins_are_read_as_a_comma_separated_list_or_json(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DYNGEN_CORS_ORIGINS", "http://a.test:8080, https://b.test/")
    assert Settings().cors_origins == ["http://a.test:8080", "https://b.test"]
    monkeypatch.setenv("DYNGEN_CORS_ORIGINS", '["http://a.test"]')
    assert Settings().cors_origins == ["http://a.test"]
    monkeypatch.delenv("DYNGEN_CORS_ORIGINS")
    assert Settings().cors_origins == []


# --- media a player can load ---------------------------------------------------------------------


def parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


async def test_with_keys_enforced_a_signed_url_loads_without_a_key_and_a_changed_one_is_a_403(
    client: httpx.AsyncClient, runtime_key: str, services: Services
):
    body = (await client.post("/api/generate-content", json=game_request(), headers={"X-API-Key": runtime_key})).json()
    url = body["content"]["url"]
    path, params = parts(url)
    assert set(params) == {"exp", "sig"}

    loaded = await client.get(url)  # what <video src>, <img src> and <track src> do: no header
    assert loaded.status_code == 200
    head = await client.head(url)  # what a player checks before a download: the same signature, no body
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == loaded.headers["content-length"]
    assert (await client.get(path)).status_code == 401, "the bare path still needs a key"
    assert (await client.get(path, params={"key": runtime_key})).status_code == 401, "?key= stays refused"

    tampered_sig = await client.get(path, params={**params, "sig": params["sig"][:-2] + "AA"})
    later_exp = await client.get(path, params={**params, "exp": str(int(params["exp"]) + 3600)})
    other = await client.post(
        "/api/generate-content", json=game_request(playthrough="pt-2"), headers={"X-API-Key": runtime_key}
    )
    other_path, _ = parts(other.json()["content"]["url"])
    borrowed = await client.get(other_path, params=params)  # this signature on another artifact
    assert (tampered_sig.status_code, later_exp.status_code, borrowed.status_code) == (403, 403, 403)
    assert tampered_sig.json()["error"]["code"] == "FORBIDDEN"

    artifact_id = path.rpartition("/")[2]
    expired = media.signed_url("", services.media.secret, artifact_id, int(services.clock.now().timestamp()) - 1)
    refused = await client.get(expired)
    assert refused.status_code == 403
    assert "expired" in refused.json()["error"]["message"]
    assert (await client.get(expired, headers={"X-API-Key": runtime_key})).status_code == 200, "a key still works"


async def test_a_transition_carries_its_video_poster_captions_and_script_inline(
    client: httpx.AsyncClient, runtime_key: str
):
    response = await client.post(
        "/api/generate-content", json=video_request(strategy="once"), headers={"X-API-Key": runtime_key}
    )
    body = response.json()
    assert body["status"] == "complete", body
    artifacts: list[dict[str, Any]] = body["artifacts"]
    by_role = {a["role"]: a for a in artifacts}
    assert {role: a["media_type"] for role, a in by_role.items()} == {
        "video": "video/mp4",
        "poster": "image/jpeg",
        "captions": "text/vtt",
        "script": "application/json",
    }
    assert body["content"]["url"] == by_role["video"]["url"]
    extensions = {"video": "mp4", "poster": "jpg", "captions": "vtt", "script": "json"}
    sizes: dict[str, int] = {}
    for role, artifact in by_role.items():
        loaded = await client.get(artifact["url"])  # no key: the signature is enough
        assert loaded.status_code == 200, role
        assert loaded.headers["content-type"].startswith(artifact["media_type"])
        sizes[role] = len(loaded.content)
        if role != "video" or "bytes" in artifact:  # a video answered while it renders has no size yet
            assert sizes[role] == artifact["bytes"], role
        disposition = loaded.headers["content-disposition"]
        assert disposition.startswith("inline; filename=")
        assert disposition.endswith(f'.{extensions[role]}"')
    captions = await client.get(by_role["captions"]["url"])
    assert captions.text.startswith("WEBVTT")

    hit = (
        await client.post(
            "/api/generate-content", json=video_request(strategy="once"), headers={"X-API-Key": runtime_key}
        )
    ).json()
    assert hit["cache"]["hit"] is True
    assert {a["role"]: a["bytes"] for a in hit["artifacts"]} == sizes, "a hit lists the same artifacts, sized"


@pytest.fixture
async def public_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "public", public_url="https://cdn.example.com/dyngen", example_graph=None)
    built = await build(settings)
    app = create_app(settings, services=built)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        yield http
    await built.aclose()


async def test_a_public_url_makes_artifact_urls_absolute(public_client: httpx.AsyncClient):
    body = (await public_client.post("/api/generate-content", json=game_request())).json()
    url = body["content"]["url"]
    assert url.startswith("https://cdn.example.com/dyngen/api/artifacts/")
    # The proxy strips its prefix: the signature covers the artifact and the expiry, not the host.
    path, params = parts(url)
    assert (await public_client.get(path.removeprefix("/dyngen"), params=params)).status_code == 200


# --- the spec's client shapes --------------------------------------------------------------------


async def test_a_string_seed_is_hashed_stably_and_a_decimal_one_is_its_number(client: httpx.AsyncClient):
    fixed = {"seed_source": "fixed", "strategy": "per_playthrough"}
    named = (await client.post("/api/generate-content", json={**game_request(), **fixed, "seed": "dawn-run"})).json()
    again = (await client.post("/api/generate-content", json={**game_request(), **fixed, "seed": "dawn-run"})).json()
    assert named["seed"] == again["seed"] == 4833797729294993280  # sha256("dawn-run")[:8], 63 bits
    assert again["cache"]["hit"] is True
    decimal = (await client.post("/api/generate-content", json={**game_request(), **fixed, "seed": "42"})).json()
    number = (await client.post("/api/generate-content", json={**game_request(), **fixed, "seed": 42})).json()
    assert decimal["seed"] == number["seed"] == 42
    assert decimal["cache_key"] == number["cache_key"]
    empty = await client.post("/api/generate-content", json={**game_request(), "seed": ""})
    assert empty.status_code == 422


async def test_validate_answers_the_spec_errors_warnings_and_suggestions_beside_findings(client: httpx.AsyncClient):
    config = {
        "generationType": "transition",
        "duration": {"min": 40, "max": 10, "target": 20},
        "strategy": "always",
        "fallback": {"mode": "retry"},
    }
    result = (await client.post("/api/validate-generation-config", json=config)).json()
    by_severity = {
        severity: [f["message"] for f in result["findings"] if f["severity"] == severity]
        for severity in ("error", "warning", "suggestion")
    }
    assert result["errors"] == by_severity["error"] != []
    assert result["warnings"] == by_severity["warning"] != []
    assert result["suggestions"] == by_severity["suggestion"]
    assert all(isinstance(message, str) for message in result["errors"] + result["warnings"])
