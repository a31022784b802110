"""Budget limits set in the editor over HTTP: a fresh install's budget page says where limits come from,
a limit set through `PUT /api/budgets/limits` is what the next provider call is checked against (over
the configured default), `use_default` brings the default back, every change is in the history, and the
route takes an editor key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dyngen.config import Settings
from dyngen.domain.access import Scope
from dyngen.services.machinery.container import Services
from tests.e2e.test_budgets import _client, request_for
from tests.fakes import FakeProvider
from tests.support.keys import make_key


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    settings = Settings(
        data_dir=tmp_path / "data", default_provider="fake", budget_nodes={"roof_to_street": 0.5}, example_graph=None
    )
    async for pair in _client(settings, FakeProvider()):
        yield pair


async def test_a_fresh_install_says_where_each_limit_comes_from(fresh: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = fresh
    report = (await client.get("/api/budgets")).json()

    assert report["limited"] is True
    limits = {entry["scope"]: entry for entry in report["limits"]}
    assert limits["global"] == {"scope": "global", "limit": None, "source": "none", "default": None}
    assert limits["default"]["source"] == "none"
    assert limits["node:roof_to_street"] == {
        "scope": "node:roof_to_street",
        "limit": 0.5,
        "source": "config",
        "default": 0.5,
    }


async def test_a_limit_set_in_the_editor_is_enforced_over_the_default_and_kept_in_history(
    fresh: tuple[httpx.AsyncClient, Services],
) -> None:
    client, _ = fresh
    set_answer = await client.put("/api/budgets/limits", json={"scope": "node:cafe_to_roof", "limit": 0.02})
    assert set_answer.status_code == 200, set_answer.text
    assert set_answer.json()["limit"] == 0.02

    statuses = [
        (await client.post("/api/generate-content", json=request_for("cafe_to_roof", f"pt-{i}"))).json()
        for i in range(3)
    ]
    assert [s["status"] for s in statuses] == ["complete", "complete", "failed"]
    assert statuses[-1]["error"]["code"] == "GEN_BUDGET_EXCEEDED"
    node = next(n for n in (await client.get("/api/budgets")).json()["nodes"] if n["node_id"] == "cafe_to_roof")
    assert node["limit"] == 0.02
    assert node["exhausted"] is True

    # Over a configured default too: roof_to_street's 0.5 from settings becomes "no limit", then comes back.
    await client.put("/api/budgets/limits", json={"scope": "node:roof_to_street", "limit": None})
    report = (await client.get("/api/budgets")).json()
    roof = {e["scope"]: e for e in report["limits"]}["node:roof_to_street"]
    assert roof == {"scope": "node:roof_to_street", "limit": None, "source": "editor", "default": 0.5}
    await client.put("/api/budgets/limits", json={"scope": "node:roof_to_street", "use_default": True})
    report = (await client.get("/api/budgets")).json()
    assert {e["scope"]: e for e in report["limits"]}["node:roof_to_street"]["source"] == "config"

    history = (await client.get("/api/budgets/limits/history", params={"scope": "node:roof_to_street"})).json()
    assert [(c["limit"], c["use_default"]) for c in history["changes"]] == [(None, True), (None, False)]
    everything = (await client.get("/api/budgets/limits/history")).json()["changes"]
    assert [c["scope"] for c in everything][-1] == "node:cafe_to_roof"


async def test_a_global_limit_refuses_every_node(fresh: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = fresh
    await client.put("/api/budgets/limits", json={"scope": "global", "limit": 0.01})
    first = (await client.post("/api/generate-content", json=request_for("a_node", "pt-1"))).json()
    second = (await client.post("/api/generate-content", json=request_for("b_node", "pt-2"))).json()

    assert first["status"] == "complete"
    assert second["error"]["code"] == "GEN_BUDGET_EXCEEDED"
    assert "the global budget" in second["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "everything", "limit": 1},
        {"scope": "node:", "limit": 1},
        {"scope": "node:bad\u0007id", "limit": 1},
        {"scope": "global", "limit": -1},
    ],
)
async def test_an_unknown_scope_or_negative_limit_is_refused(
    fresh: tuple[httpx.AsyncClient, Services], body: dict[str, object]
) -> None:
    client, _ = fresh
    answer = await client.put("/api/budgets/limits", json=body)

    assert answer.status_code == 422
    assert (await client.get("/api/budgets/limits/history")).json()["changes"] == []


async def test_setting_a_limit_takes_an_editor_key(fresh: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = fresh
    _, runtime = await make_key(services, "game", Scope.RUNTIME)
    _, editor = await make_key(services, "designer", Scope.EDITOR)
    body = {"scope": "global", "limit": 3}

    refused = await client.put("/api/budgets/limits", json=body, headers={"X-API-Key": runtime})
    assert refused.status_code == 403
    accepted = await client.put("/api/budgets/limits", json=body, headers={"X-API-Key": editor})
    assert accepted.status_code == 200
    assert accepted.json()["changed_by"] == "designer"
