"""API keys over HTTP: every route in the OpenAPI document x every kind of caller -> the status it gets.

`SCOPES` names what each route needs. A route that is not in it fails the table test: when you add a
route, add it here (and apply `require(scope)` from `dyngen.entrypoints.api.auth` to it).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dyngen.config import Settings
from dyngen.domain.access import AuthMode, Scope, allows
from dyngen.entrypoints.api.app import create_app
from dyngen.services.machinery.container import Services
from tests.e2e.test_api import game_request
from tests.support.keys import make_key
from tests.support.waiting import hang_guard

PUBLIC = None
# What each route needs; PUBLIC routes answer without a key.
SCOPES: dict[str, Scope | None] = {
    "POST /api/graphs/{graph_id}/nodes/{node_id}/content": Scope.RUNTIME,
    "POST /api/graphs/{graph_id}/advance": Scope.RUNTIME,
    "POST /api/graphs/{graph_id}/nodes/{node_id}/prompt": Scope.EDITOR,
    "GET /api/health": PUBLIC,
    "GET /api/health/live": PUBLIC,
    "POST /api/generate-content": Scope.RUNTIME,
    "GET /api/artifacts/{artifact_id}": Scope.RUNTIME,
    "HEAD /api/artifacts/{artifact_id}": Scope.RUNTIME,
    "POST /api/validate-generation-config": Scope.EDITOR,
    "POST /api/cache/invalidate": Scope.EDITOR,
    "GET /api/generations": Scope.EDITOR,
    "GET /api/generations/{generation_id}": Scope.EDITOR,
    "GET /api/keys": Scope.ADMIN,
    "POST /api/keys": Scope.ADMIN,
    "POST /api/keys/{key_id}/revoke": Scope.ADMIN,
    # Issue 4's other routes, as they arrive (entries for routes the app does not have yet are unused).
    "GET /api/generation-jobs/{job_id}": Scope.RUNTIME,
    "POST /api/generation-jobs/{job_id}/cancel": Scope.RUNTIME,
    "GET /api/generation-jobs/{job_id}/events": Scope.RUNTIME,
    "GET /api/nodes/{node_id}/stats": Scope.EDITOR,
    "POST /api/health/graph": Scope.EDITOR,
    "GET /api/health/graph/{graph_id}": Scope.EDITOR,
    "GET /metrics": Scope.ADMIN,
    "GET /api/graphs": Scope.EDITOR,
    "POST /api/graphs": Scope.EDITOR,
    "GET /api/graphs/{graph_id}": Scope.EDITOR,
    "PUT /api/graphs/{graph_id}": Scope.EDITOR,
    "DELETE /api/graphs/{graph_id}": Scope.EDITOR,
    "PUT /api/nodes/{node_id}/config": Scope.EDITOR,
    "GET /api/nodes/{node_id}/config": Scope.EDITOR,
    "GET /api/nodes/{node_id}/versions": Scope.EDITOR,
    "GET /api/nodes/{node_id}/diff": Scope.EDITOR,
    "POST /api/nodes/{node_id}/rollback": Scope.EDITOR,
    "GET /api/templates": Scope.EDITOR,
    "GET /api/templates/{template_id}": Scope.EDITOR,
    "GET /api/lexicon": Scope.EDITOR,
    "POST /api/dsl/compile": Scope.EDITOR,
    "POST /api/graphs/{graph_id}/warm": Scope.EDITOR,
    "GET /api/warmups/{warmup_id}": Scope.EDITOR,
    "POST /api/warmups/{warmup_id}/cancel": Scope.EDITOR,
    "GET /api/warmups/{warmup_id}/events": Scope.EDITOR,
    "GET /api/budgets": Scope.EDITOR,
    "PUT /api/budgets/limits": Scope.EDITOR,
    "GET /api/budgets/limits/history": Scope.EDITOR,
    "POST /api/artifacts": Scope.EDITOR,
    "GET /api/artifacts": Scope.EDITOR,
    "POST /api/generations/{generation_id}/review": Scope.EDITOR,
    "GET /api/nodes/{node_id}/arms": Scope.EDITOR,
}

CALLERS = ("no key", "wrong key", *(s.value for s in Scope))
PARAM = re.compile(r"\{([^}]+)\}")


def _document() -> dict[str, Any]:
    document: dict[str, Any] = create_app(Settings()).openapi()
    return document


DOCUMENT = _document()
ROUTES = sorted(f"{method.upper()} {path}" for path, ops in DOCUMENT["paths"].items() for method in ops)


@pytest.fixture
async def keys(services: Services) -> dict[str, str]:
    """One key per scope (which switches enforcement on), by caller name; plus a wrong one."""
    made = {"wrong key": "dyngen_" + "x" * 43}
    for scope in Scope:
        _, made[scope.value] = await make_key(services, f"test {scope.value}", scope)
    return made


def headers_of(caller: str, keys: dict[str, str], *, style: str = "bearer") -> dict[str, str]:
    if caller == "no key":
        return {}
    if style == "bearer":
        return {"Authorization": f"Bearer {keys[caller]}"}
    return {"X-API-Key": keys[caller]}


def expected(route_scope: Scope | None, caller: str) -> str:
    if route_scope is PUBLIC:
        return "let through"
    if caller in ("no key", "wrong key"):
        return "401"
    return "let through" if allows(caller, route_scope) else "403"


def outcome(status: int) -> str:
    return str(status) if status in (401, 403) else "let through"


async def call(
    client: httpx.AsyncClient, route: str, headers: dict[str, str], *, ids: dict[str, str] | None = None
) -> httpx.Response:
    method, path = route.split(" ", 1)
    url = PARAM.sub(lambda m: (ids or {}).get(m.group(1), "nosuchid0123"), path)
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    # A bound on every call: a streaming route must not hang the table.
    async with hang_guard(f"{route} to answer"):
        return await client.request(method, url, content=body, headers={**headers, "content-type": "application/json"})


@pytest.mark.parametrize("route", ROUTES)
async def test_every_route_answers_each_caller_as_its_scope_says(
    route: str, client: httpx.AsyncClient, keys: dict[str, str]
):
    assert route in SCOPES, f"{route} is not in SCOPES: add it with the scope it needs (and `require` it)"
    scope = SCOPES[route]
    got, want = {}, {}
    for caller in CALLERS:
        response = await call(client, route, headers_of(caller, keys))
        got[caller], want[caller] = outcome(response.status_code), expected(scope, caller)
        assert response.status_code < 500, f"{route} as {caller}: {response.status_code} {response.text}"
        if response.status_code in (401, 403) and not route.startswith("HEAD "):  # HEAD: headers only
            assert response.json()["error"]["code"] == {401: "UNAUTHORIZED", 403: "FORBIDDEN"}[response.status_code]
        if response.status_code == 401:
            assert response.headers["www-authenticate"] == "Bearer"
    assert got == want, f"{route} (needs {scope})"

    method, path = route.split(" ", 1)
    documented = set(DOCUMENT["paths"][path][method.lower()]["responses"])
    if scope is PUBLIC:
        assert not {"401", "403"} & documented, f"{route} is public: it must not document 401/403"
    else:
        assert {"401", "403"} <= documented, f"{route}: add documented(401, 403) to its responses"


async def test_the_key_may_come_in_either_header(client: httpx.AsyncClient, keys: dict[str, str]):
    for headers in (
        {"Authorization": f"Bearer {keys['editor']}"},
        {"Authorization": f"bearer {keys['editor']}"},
        {"X-API-Key": keys["editor"]},
    ):
        assert (await client.get("/api/generations", headers=headers)).status_code == 200, headers
    for headers in (
        {"Authorization": keys["editor"]},  # no scheme
        {"Authorization": f"Basic {keys['editor']}"},
        {"X-API-Key": ""},
    ):
        assert (await client.get("/api/generations", headers=headers)).status_code == 401, headers


async def test_without_any_key_the_api_is_open(client: httpx.AsyncClient):
    assert (await client.get("/api/generations")).status_code == 200
    assert (await client.get("/api/keys")).status_code == 200


SIMULATED = {"simulate": {"fail_with": "GEN_TIMEOUT"}}


async def test_simulate_needs_an_editor_key(client: httpx.AsyncClient, keys: dict[str, str]):
    as_runtime = headers_of("runtime", keys)
    forced = await client.post("/api/generate-content", json=game_request(**SIMULATED), headers=as_runtime)
    assert forced.status_code == 403, forced.text
    assert forced.json()["error"]["code"] == "FORBIDDEN"
    escaped = json.dumps(game_request(**SIMULATED)).replace('"simulate"', '"simul\\u0061te"')
    sneaky = await client.post(
        "/api/generate-content", content=escaped, headers={**as_runtime, "content-type": "application/json"}
    )
    assert sneaky.status_code == 403, sneaky.text

    queued = await client.post(
        "/api/generate-content", json=game_request(**SIMULATED), headers={**as_runtime, "Prefer": "respond-async"}
    )
    assert queued.status_code == 403, "an async job may not carry simulate either"

    plain = await client.post("/api/generate-content", json=game_request(), headers=as_runtime)
    assert (plain.status_code, plain.json()["status"]) == (200, "complete")
    nulled = await client.post("/api/generate-content", json=game_request(simulate=None), headers=as_runtime)
    assert nulled.status_code == 200, nulled.text

    as_editor = headers_of("editor", keys)
    answered = await client.post("/api/generate-content", json=game_request(**SIMULATED), headers=as_editor)
    assert answered.status_code == 200, answered.text
    assert answered.json()["error"]["code"] == "GEN_TIMEOUT", "the editor's simulate ran"
    assert answered.json()["fallback"]["applied"] is True


async def _stored_graph(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    graph = {"id": "g1", "scenes": [{"id": "a"}, {"id": "b"}], "edges": [{"source": "a", "target": "b"}]}
    assert (await client.post("/api/graphs", json=graph, headers=headers)).status_code == 201
    return "g1"


async def test_refusals_do_not_say_whether_an_id_exists(client: httpx.AsyncClient, keys: dict[str, str]):
    made = await client.post("/api/generate-content", json=game_request(), headers=headers_of("runtime", keys))
    generation_id = made.json()["generation_id"]
    record = (await client.get(f"/api/generations/{generation_id}", headers=headers_of("admin", keys))).json()
    existing = {
        "generation_id": generation_id,
        "job_id": generation_id,
        "artifact_id": record["artifacts"][0]["id"],
        "key_id": (await client.get("/api/keys", headers=headers_of("admin", keys))).json()["keys"][0]["id"],
        "node_id": game_request()["node_id"],
        "graph_id": await _stored_graph(client, headers_of("editor", keys)),
        "template_id": "romantic_to_action_transition_v1",  # shipped in examples/templates
    }
    warmed = await client.post("/api/graphs/g1/warm", json={}, headers=headers_of("editor", keys))
    existing["warmup_id"] = warmed.json()["warmup_id"]
    with_ids = [r for r in ROUTES if PARAM.search(r) and SCOPES.get(r) is not PUBLIC]
    assert with_ids, "routes with ids exist"
    for route in with_ids:
        names = PARAM.findall(route)
        assert set(names) <= set(existing), f"{route}: add an existing id for {names} to this test"
        refusing = [c for c in CALLERS if expected(SCOPES[route], c) != "let through"]
        for caller in refusing:
            answers = []
            for ids in (existing, {}):
                response = await call(client, route, headers_of(caller, keys), ids=ids)
                answers.append((response.status_code, response.content, response.headers.get("www-authenticate")))
            assert answers[0] == answers[1], f"{route} as {caller}: existing vs unknown id differ"
            assert answers[0][0] in (401, 403)


async def test_keys_over_http_create_list_and_revoke(client: httpx.AsyncClient, keys: dict[str, str]):
    admin = headers_of("admin", keys)
    created = await client.post("/api/keys", json={"name": "game build 7", "scope": "runtime"}, headers=admin)
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["key"].startswith("dyngen_")
    assert (new["name"], new["scope"]) == ("game build 7", "runtime")
    as_new = {"X-API-Key": new["key"]}
    assert (await client.post("/api/generate-content", json=game_request(), headers=as_new)).status_code == 200
    assert (await client.get("/api/keys", headers=as_new)).status_code == 403

    listed = await client.get("/api/keys", headers=admin)
    body = listed.json()
    assert body["count"] == len(body["keys"]) == 4
    assert new["id"] in {k["id"] for k in body["keys"]}
    for plaintext in (*keys.values(), new["key"]):
        assert plaintext not in listed.text
    assert all(set(k) <= {"id", "name", "scope", "created_at", "revoked_at"} for k in body["keys"]), body

    revoked = await client.post(f"/api/keys/{new['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"]
    assert (await client.post("/api/generate-content", json=game_request(), headers=as_new)).status_code == 401
    assert (await client.post("/api/keys/nosuchkey/revoke", headers=admin)).status_code == 404

    for bad in ({"name": "x", "scope": "root"}, {"scope": "runtime"}, {"name": "", "scope": "admin"}):
        assert (await client.post("/api/keys", json=bad, headers=admin)).status_code == 422, bad


async def test_the_last_active_key_cannot_be_revoked_over_http(client: httpx.AsyncClient, services: Services):
    only, plaintext = await make_key(services, "ops", Scope.ADMIN)
    response = await client.post(f"/api/keys/{only.id}/revoke", headers={"X-API-Key": plaintext})
    assert response.status_code == 409, response.text
    assert (await client.get("/api/keys", headers={"X-API-Key": plaintext})).status_code == 200


@pytest.fixture
async def required_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from dyngen.bootstrap import build

    strict = settings.model_copy(update={"auth": AuthMode.REQUIRED})
    built = await build(strict)
    app = create_app(strict, services=built)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        yield http
    await built.aclose()


async def test_auth_required_refuses_even_before_the_first_key(required_client: httpx.AsyncClient):
    assert (await required_client.get("/api/generations")).status_code == 401
    assert (await required_client.get("/api/health/live")).status_code == 200
