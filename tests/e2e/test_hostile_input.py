"""Hostile input over HTTP: no request makes a 5xx, on SQLite and PostgreSQL alike.

Each refusal is a coded error body: a NUL or control character in an id, a note, a name or a query value
is a 422 naming the field (PostgreSQL cannot store a NUL: without the contract's refusal it answered 500);
JSON nested deeper than Python parses is a 422; a body that is not `application/json` is a 415; a method a
path does not serve is a 405 listing the ones it does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.access import Scope
from dyngen.services.machinery.container import Services
from tests.e2e.test_api import JSON, TEMPLATE, game_request
from tests.e2e.test_auth import DOCUMENT
from tests.e2e.test_jobs import events_of, parse_sse, submit, wait_for
from tests.support.databases import BACKENDS, Backend, migrated_postgres, migrated_sqlite
from tests.support.keys import make_key
from tests.support.waiting import hang_guard

PARAM = re.compile(r"\{([^}]+)\}")


@pytest.fixture(params=BACKENDS)
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """SQLite in the test's folder, or the module's PostgreSQL database without rows before and after (the
    keys these tests create must not switch access control on for the tests that share the database); either
    at the newest schema already (what `build(migrate=True)` gives), not migrated again per test."""
    backend: Backend = request.param
    url = backend.url(tmp_path, request)
    await (migrated_postgres(url) if backend.name == "postgresql" else migrated_sqlite(url))
    yield Settings(data_dir=tmp_path / "data", retry_backoff_ms=1, database_url=url)
    if backend.name == "postgresql":
        await migrated_postgres(url)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    built = await build(settings, migrate=True)  # PostgreSQL is never migrated implicitly
    await built.start()
    yield built
    await built.aclose()


@pytest.fixture
async def keys(services: Services) -> dict[str, dict[str, str]]:
    """Headers for a runtime and an admin key (which switches enforcement on)."""
    made: dict[str, dict[str, str]] = {}
    for scope in (Scope.RUNTIME, Scope.ADMIN):
        _, plaintext = await make_key(services, f"hostile {scope.value}", scope)
        made[scope.value] = {"Authorization": f"Bearer {plaintext}"}
    return made


def coded(response: httpx.Response) -> bool:
    """Whether an answer is the API's error body (a 416 is HTTP's own: `Content-Range`, no body)."""
    try:
        return set(response.json()) == {"error", "details"}
    except ValueError:
        return False


def refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "details"}, body
    if field is not None:
        assert field in [d["field"] for d in body["details"]], body
    return body


async def test_json_nested_too_deeply_is_a_422_and_the_connection_serves_on(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
):
    runtime = keys["runtime"]
    for deep in (b"[" * 100_000, b'{"simulate":' * 60_000, b'{"a":[' * 50_000):
        answer = await client.post("/api/generate-content", content=deep, headers={**runtime, **JSON})
        assert refused(answer, 422)["details"][0]["type"] == "json_invalid"
        queued = await client.post(
            "/api/generate-content", content=deep, headers={**runtime, **JSON, "Prefer": "respond-async"}
        )
        refused(queued, 422)
    admin = keys["admin"]
    for path in ("/api/graphs", "/api/validate-generation-config", "/api/cache/invalidate", "/api/dsl/compile"):
        refused(await client.post(path, content=b"[" * 100_000, headers={**admin, **JSON}), 422)
    after = await client.post("/api/generate-content", json=game_request(), headers=runtime)
    assert after.status_code == 200, after.text


NUL_REQUESTS = [
    pytest.param("PUT", "/api/nodes/a%00b/config", {}, {**TEMPLATE, "id": "a"}, "path.node_id", id="node id"),
    pytest.param("GET", "/api/nodes/a%00b/versions", {}, None, "path.node_id", id="node versions"),
    pytest.param("PUT", "/api/nodes/a/config", {"note": "n\x00"}, {**TEMPLATE, "id": "a"}, "query.note", id="note"),
    pytest.param("GET", "/api/graphs/g%00", {}, None, "path.graph_id", id="graph id in path"),
    pytest.param("POST", "/api/graphs", {}, {"id": "g\x00", "scenes": [{"id": "a"}]}, "body.id", id="graph id in body"),
    pytest.param(
        "POST",
        "/api/graphs",
        {},
        {"id": "g", "scenes": [{"id": "a", "image": "x\x00"}]},
        "body.scenes.0.image",
        id="scene image",
    ),
    pytest.param("GET", "/api/generations", {"node_id": "a\x00b"}, None, "query.node_id", id="generations node_id"),
    pytest.param("GET", "/api/generations", {"cache_key": "k\x00"}, None, "query.cache_key", id="generations key"),
    pytest.param("GET", "/api/budgets", {"node_id": "a\x00b"}, None, "query.node_id", id="budgets node_id"),
    pytest.param(
        "GET", "/api/budgets/limits/history", {"scope": "node:a\x00b"}, None, "query.scope", id="budget limit scope"
    ),
    pytest.param("POST", "/api/keys", {}, {"name": "ops\x00", "scope": "admin"}, "body.name", id="key name"),
    pytest.param("POST", "/api/keys", {}, {"name": "ops\x1b[2J", "scope": "admin"}, "body.name", id="key escape"),
    pytest.param(
        "POST", "/api/generate-content", {}, game_request(node_id="a\x00b"), "body.node_id", id="generate node_id"
    ),
    pytest.param(
        "POST",
        "/api/generate-content",
        {},
        game_request(player_context={"playthroughId": "pt\x00"}),
        "body.player_context.playthroughId",
        id="generate playthrough",
    ),
    pytest.param("GET", "/api/nodes/a%ffb/config", {}, None, "path.node_id", id="bad utf-8 node id"),
    pytest.param("GET", "/api/templates/t%c3%28", {}, None, "path.template_id", id="bad utf-8 template id"),
    pytest.param("GET", "/api/generations?node_id=%ff", {}, None, "query.node_id", id="bad utf-8 query"),
    pytest.param("GET", "/api/generations?node_id=%ed%a0%80", {}, None, "query.node_id", id="surrogate query"),
]


@pytest.mark.parametrize(("method", "path", "params", "body", "field"), NUL_REQUESTS)
async def test_control_characters_and_bad_utf8_in_ids_are_a_422_naming_the_field(
    client: httpx.AsyncClient, method: str, path: str, params: dict[str, str], body: Any, field: str
):
    answer = await client.request(method, path, params=params or None, json=body)
    assert refused(answer, 422, field)["error"]["code"] == "GEN_INVALID_CONFIG"
    # Nothing was stored, under a mangled name or any other.
    assert (await client.get("/api/generations")).json()["count"] == 0
    assert (await client.get("/api/graphs")).json() == []
    assert (await client.get("/api/nodes/a/versions")).status_code == 404


async def test_a_nul_node_id_is_refused_before_any_job_is_queued(client: httpx.AsyncClient):
    queued = await client.post(
        "/api/generate-content", json=game_request(node_id="a\x00b"), headers={"Prefer": "respond-async"}
    )
    refused(queued, 422, "body.node_id")
    assert (await client.get("/api/generations")).json()["count"] == 0


async def artifact_url(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> tuple[str, int]:
    made = (await client.post("/api/generate-content", json=game_request(), headers=headers)).json()
    record = (await client.get(f"/api/generations/{made['generation_id']}", headers=headers)).json()
    artifact = record["artifacts"][0]
    return f"/api/artifacts/{artifact['id']}", artifact["size"]


async def test_a_malformed_range_is_ignored_and_one_past_the_end_is_a_416(client: httpx.AsyncClient):
    url, size = await artifact_url(client)
    whole = await client.get(url)
    for header in ("bytes=\u00b2-", "bytes=0-\u00b9", "bytes=\u0661-", "bytes=\x00-1", "bytes=5-1"):
        answer = await client.get(url, headers={"Range": header.encode("utf-8")})
        assert (answer.status_code, answer.content) == (200, whole.content), header
    for header in ("bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000):  # an end past the end: up to the end
        answer = await client.get(url, headers={"Range": header})
        assert (answer.status_code, answer.content) == (206, whole.content)
    beyond = await client.get(url, headers={"Range": "bytes=" + "9" * 5000 + "-"})
    assert (beyond.status_code, beyond.headers["content-range"]) == (416, f"bytes */{size}")
    first = await client.get(url, headers={"Range": "bytes=0-0"})
    assert (first.status_code, first.content) == (206, whole.content[:1])


async def test_head_on_an_artifact_answers_the_headers_of_get_without_the_bytes(client: httpx.AsyncClient):
    url, size = await artifact_url(client)
    got, head = await client.get(url), await client.head(url)
    assert (head.status_code, head.content) == (200, b"")
    for name in ("content-type", "etag", "cache-control", "accept-ranges", "x-content-type-options"):
        assert head.headers[name] == got.headers[name], name
    assert head.headers["content-length"] == str(size) == got.headers["content-length"]
    ranged = await client.head(url, headers={"Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.headers["content-length"], ranged.content) == (206, "10", b"")
    assert (await client.head("/api/artifacts/nosuchid")).status_code == 404


async def test_artifacts_are_never_sniffed(client: httpx.AsyncClient):
    url, _ = await artifact_url(client)
    for headers in ({}, {"Range": "bytes=0-3"}, {"Range": "bytes=999999999-"}):
        assert (await client.get(url, headers=headers)).headers["x-content-type-options"] == "nosniff"
    etag = (await client.get(url)).headers["etag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).headers["x-content-type-options"] == "nosniff"


async def test_a_malformed_last_event_id_replays_the_stream_from_its_start(client: httpx.AsyncClient):
    job_id = await submit(client, game_request())
    await wait_for(client, job_id)
    everything = await events_of(client, job_id)
    for header in ("\u00b2".encode(), ("9" * 5000).encode(), b"-1", b"1e3"):
        async with hang_guard("the replayed stream to end"):
            answer = await client.get(f"/api/generation-jobs/{job_id}/events", headers={"Last-Event-ID": header})
        assert answer.status_code == 200, (header, answer.text)
        assert parse_sse(answer.text) == everything, header


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/graphs/g", "GET, PUT, DELETE"),
        ("PATCH", "/api/graphs", "GET, POST"),
        ("DELETE", "/api/artifacts/abc", "GET, HEAD"),
        ("GET", "/api/generate-content", "POST"),
        ("PUT", "/api/nodes/n/rollback", "POST"),
    ],
)
async def test_a_method_a_path_does_not_serve_is_a_405_listing_every_method_it_does(
    client: httpx.AsyncClient, method: str, path: str, allow: str
):
    answer = await client.request(method, path)
    body = refused(answer, 405)
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert answer.headers["allow"] == allow


async def test_a_rollback_takes_exactly_a_version_number(client: httpx.AsyncClient):
    config = {**TEMPLATE, "id": "n1"}
    assert (await client.put("/api/nodes/n1/config", json=config)).status_code == 200
    assert (await client.put("/api/nodes/n1/config", json={**config, "strategy": "always"})).status_code == 200
    refused(await client.post("/api/nodes/n1/rollback", json={"version": True}), 422, "body.version")
    refused(await client.post("/api/nodes/n1/rollback", json={"version": "1"}), 422, "body.version")
    refused(await client.post("/api/nodes/n1/rollback", json={"version": 1, "force": True}), 422, "body.force")
    done = await client.post("/api/nodes/n1/rollback", json={"version": 1})
    assert done.status_code == 200, done.text


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "text/json"]
)
async def test_a_body_must_be_sent_as_application_json(client: httpx.AsyncClient, content_type: str | None):
    # A browser sends text/plain or a form cross-site without asking first: no route may take one.
    headers = {"content-type": content_type} if content_type else {}
    body = httpx.Request("POST", "http://x", json=game_request()).content
    for method, path in (("POST", "/api/generate-content"), ("POST", "/api/graphs"), ("PUT", "/api/nodes/n/config")):
        request = client.build_request(method, path, content=body, headers=headers)
        assert request.headers.get("content-type") == content_type
        answer = await client.send(request)
        assert refused(answer, 415)["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE", (method, path)
    assert (await client.post("/api/generations/nosuchid/review", headers=headers)).status_code != 415, (
        "an empty body needs no type"
    )


async def test_a_utf8_byte_order_mark_is_taken_by_every_route(client: httpx.AsyncClient):
    bom = b"\xef\xbb\xbf"
    request = httpx.Request("POST", "http://x", json=game_request()).content
    answered = await client.post("/api/generate-content", content=bom + request, headers=JSON)
    assert (answered.status_code, answered.json()["status"]) == (200, "complete"), answered.text
    queued = await client.post(
        "/api/generate-content", content=bom + request, headers={**JSON, "Prefer": "respond-async"}
    )
    assert queued.status_code == 202, queued.text
    node = httpx.Request("PUT", "http://x", json={**TEMPLATE, "id": "bom"}).content
    saved = await client.put("/api/nodes/bom/config", content=bom + node, headers=JSON)
    assert saved.status_code == 200, saved.text


HOSTILE_IDS = ["a%00b", "%ff%fe", "%e2%80%ae", "%c2%b2", "x" * 300, "..%2f..%2fetc"]
# Query values as sent on the wire (percent-encoded): NUL, a superscript digit, 5,000 digits, a UTF-8
# encoded surrogate, a byte that is not UTF-8.
HOSTILE_VALUES = ["a%00b", "%c2%b2", "9" * 5000, "%ed%a0%80", "%ff"]
HOSTILE_RANGES = [
    "bytes=\u00b2-",
    "bytes=0-\u00b9",
    "bytes=" + "9" * 5000 + "-",
    "bytes=-" + "9" * 5000,
    "bytes=\x00-1",
]
HOSTILE_BODIES = [
    b"[" * 100_000,
    b'{"simulate":' * 60_000,  # parsed by the check that a runtime key sends no `simulate`
    b'{"a":' * 100_000,
    b"\xef\xbb\xbf" + b"[" * 5_000,
    b'"\\u0000"',
    b'{"id": "\\u0000", "name": "\\u0000", "type": "transition", "scenes": [{"id": "\\u0000"}]}',
    b'{"id": "\\ud800", "node_id": "\\udfff", "type": "transition", "version": "\\u0000"}',
    b'{"version": ' + b"9" * 5000 + b"}",
    b'{"version": 1e999999, "type": "transition"}',
    b"\xef\xbb\xbf{}",
    b"\xef\xbb\xbf\xef\xbb\xbf{}",
    b"null",
    b"{}",
]
OPERATIONS = sorted((method.upper(), path) for path, ops in DOCUMENT["paths"].items() for method in ops)


@pytest.mark.parametrize("caller", ["runtime", "admin"])
async def test_no_hostile_input_makes_a_server_error(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], caller: str
):
    """Every operation in the OpenAPI document, with hostile path ids, query values and bodies."""
    headers = keys[caller]
    artifact = (await artifact_url(client, keys["admin"]))[0].rsplit("/", 1)[1]
    failures: list[str] = []

    async def probe(method: str, url: str, **kwargs: Any) -> None:
        try:
            async with hang_guard(f"{method} {url[:80]} to answer"):  # a streaming route must not hang the sweep
                sent = {**headers, **kwargs.pop("headers", {})}
                answer = await client.request(method, url, headers=sent, **kwargs)
        except Exception as error:  # the app raised: a 500 on a real server
            failures.append(f"{method} {url[:100]}: raised {error!r}"[:300])
            return
        if answer.status_code >= 500:
            failures.append(f"{method} {url} {kwargs}: {answer.status_code} {answer.text[:200]}")
        elif answer.status_code >= 400 and method != "HEAD" and answer.status_code != 416 and not coded(answer):
            failures.append(f"{method} {url}: {answer.status_code} without the error body: {answer.text[:200]}")

    for method, path in OPERATIONS:
        operation = DOCUMENT["paths"][path][method.lower()]
        queries = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        takes_body = method in ("POST", "PUT", "PATCH")
        for hostile in HOSTILE_IDS:
            url = PARAM.sub(hostile, path)
            await probe(method, url, content=b"{}" if takes_body else None, headers=JSON if takes_body else {})
        plain = PARAM.sub(lambda m: artifact if m.group(1) == "artifact_id" else "someid", path)
        for value in HOSTILE_VALUES if queries else ():
            await probe(method, plain + "?" + "&".join(f"{name}={value}" for name in queries))
            # One at a time too: a parameter refused first (a number) would hide what the route does with
            # another (a NUL in `scope` reached PostgreSQL while `limit` was refused beside it).
            for name in queries if len(queries) > 1 else ():
                await probe(method, f"{plain}?{name}={value}")
        for header in HOSTILE_RANGES if path.startswith("/api/artifacts/") else ():
            await probe(method, plain, headers={"Range": header.encode("utf-8")})
        if takes_body:
            for body in HOSTILE_BODIES:
                await probe(method, plain, content=body, headers=JSON)
    assert failures == []
