"""Schemathesis over the app's own OpenAPI schema: no request input may produce a 5xx, and what the API
answers matches what the schema documents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dyngen.config import Settings
from dyngen.domain.access import AuthMode
from dyngen.entrypoints.api.app import create_app


def openapi_document() -> dict[str, Any]:
    # `create_app` does no I/O and `openapi()` needs no services, so this is safe at import time.
    document: dict[str, Any] = create_app(Settings()).openapi()
    return document


# The lazy `schemathesis.pytest.from_fixture` loader would let a fixture build the app, but it reads the
# private `Item._nodeid` that pytest 9 removed; so the schema is loaded from the document, and each case is
# sent to the fixture's app.
schema = schemathesis.openapi.from_dict(openapi_document())

# `positive_data_acceptance` is left out: the service rightly refuses schema-valid but contradictory
# configs (min > max, an uninstalled provider) with 422, which that check reports as a rejected valid request.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # No `services=`: the app's own lifespan builds real services in the tmp dir, on the event loop that
    # schemathesis drives the app with (services are bound to the loop that built them).
    # Short retry backoff and default timeout: a retry-mode case must not spend seconds backing off.
    # DYNGEN_AUTH=off: a fuzzed `POST /api/keys` creates keys, which would turn every later case into a 401
    # (tests/e2e/test_auth.py covers access control route by route).
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("fuzz") / "data",
        retry_backoff_ms=1,
        default_timeout_ms=500,
        auth=AuthMode.OFF,
    )
    return create_app(settings)


def cap_simulated_latency(case: schemathesis.Case) -> None:
    """`simulate.latency_ms` is real waiting (up to 120 s, cut at the node's timeout); cap it so 25 examples
    stay quick. Every other generated value is sent as generated."""
    simulate = case.body.get("simulate") if isinstance(case.body, dict) else None
    if isinstance(simulate, dict):
        for name in ("latency_ms", "latencyMs"):
            if isinstance(simulate.get(name), int) and not isinstance(simulate[name], bool):
                simulate[name] = min(simulate[name], 50)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_no_input_makes_a_server_error_and_responses_match_the_schema(case: schemathesis.Case, app: FastAPI):
    cap_simulated_latency(case)
    response = case.call(app=app)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    case.validate_response(response, checks=CHECKS)


def test_every_status_the_api_answers_is_documented():
    paths = openapi_document()["paths"]
    expected = {
        ("get", "/api/generations/{generation_id}"): {"404"},
        ("get", "/api/artifacts/{artifact_id}"): {"404", "304"},
        ("post", "/api/generate-content"): {"403", "413", "422"},
        ("post", "/api/validate-generation-config"): {"413", "422"},
        ("post", "/api/cache/invalidate"): {"413", "422"},
    }
    missing = {
        f"{method.upper()} {path}": sorted(codes - set(paths[path][method]["responses"]))
        for (method, path), codes in expected.items()
        if codes - set(paths[path][method]["responses"])
    }
    assert missing == {}
    unprocessable = paths["/api/generate-content"]["post"]["responses"]["422"]["content"]["application/json"]
    ref = unprocessable["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"error", "details"} <= set(openapi_document()["components"]["schemas"][ref]["properties"])


async def test_a_body_that_is_not_utf8_is_a_422_like_other_malformed_json(client: httpx.AsyncClient):
    latin1 = b'{"type": "transition", "node_id": "caf\xe9"}'  # as a careless client sends it
    response = await client.post("/api/generate-content", content=latin1, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["details"], "say what is wrong with the body"
