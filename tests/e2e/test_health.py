"""Health as an operator and a designer see it (spec section 8): `GET /api/health` with every dependency,
each provider and the job queue; `POST /api/health/graph`, the editor's health panel of a scene graph."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.adapters.providers.http_video import HttpVideoProvider
from dyngen.adapters.providers.plugins import ProviderInstance
from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import Clock, Provider
from dyngen.services.machinery.container import Services
from tests.fakes import FakeClock, FakeProvider, FakeUnreachableProvider

ROOT = Path(__file__).resolve().parents[2]
THREE_SCENES: dict[str, Any] = json.loads((ROOT / "examples" / "three_scenes.json").read_text())
NODE = THREE_SCENES["nodes"][0]["id"]


@asynccontextmanager
async def api(
    settings: Settings,
    providers: dict[str, Provider] | None = None,
    *,
    start: bool = True,
    clock: Clock | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The API over services of this test's own; `start=False` leaves the job runner off; `clock` is the
    clock of everything built."""
    if providers:
        settings = settings.model_copy(update={"default_provider": next(iter(providers))})
    services = await build(settings, providers=providers, clock=clock)
    if start:
        await services.start()
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            yield http, services
    finally:
        await services.aclose()


def game_request(playthrough: str, *, node: str = NODE, timeout_ms: int = 30_000) -> dict[str, Any]:
    return {
        "type": "transition",
        "node_id": node,
        "from_scene": {"id": "cafe_date", "mood": "romantic"},
        "to_scene": {"id": "rooftop_chase", "mood": "intense"},
        "style": {"moodFrom": "romantic", "moodTo": "intense"},
        "strategy": "per_playthrough",
        "fallback": {"mode": "placeholder", "timeoutMs": timeout_ms},
        "player_context": {"playthroughId": playthrough},
    }


async def health(client: httpx.AsyncClient, expect: int = 200) -> dict[str, Any]:
    response = await client.get("/api/health")
    assert response.status_code == expect, response.text
    report: dict[str, Any] = response.json()
    return report


async def graph_health(client: httpx.AsyncClient, graph: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/health/graph", json=graph)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def warnings_by_code(report: dict[str, Any]) -> dict[str, list[str]]:
    return {w["code"]: w["node_ids"] for w in report["warnings"]}


def node_health(report: dict[str, Any], node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in report["nodes"] if n["node_id"] == node_id)
    return found


def graph_with_nodes(*configs: dict[str, Any]) -> dict[str, Any]:
    """The three-scene graph with these node configs between the cafe and the rooftops instead of its own."""
    graph = copy.deepcopy(THREE_SCENES)
    graph["nodes"] = [
        {"id": c["id"], "fromScene": "cafe_date", "toScene": "rooftop_chase", "config": c} for c in configs
    ]
    return graph


def config(node_id: str, **changes: Any) -> dict[str, Any]:
    """The example's node config under another id (a valid, ok node), with `changes`."""
    return copy.deepcopy(THREE_SCENES["nodes"][0]["config"]) | {"id": node_id} | changes


# --- GET /api/health -------------------------------------------------------------------------------


async def test_health_lists_database_object_store_the_builtin_provider_and_an_empty_queue(
    client: httpx.AsyncClient,
) -> None:
    report = await health(client)

    assert report["status"] == "ok"
    assert report["reasons"] == []
    assert report["dependencies"]["database"]["status"] == "ok"
    assert report["dependencies"]["object_store"]["status"] == "ok"
    assert report["providers"] == {"builtin": {"status": "ok"}, "builtin_video": {"status": "ok"}}
    assert report["queue"]["depth"] == 0
    assert report["queue"].get("oldest_job_age_s") is None


async def test_a_job_nobody_runs_shows_as_queue_depth_with_a_growing_age(settings: Settings) -> None:
    clock = FakeClock()  # the age grows as the test moves the clock, however fast the machine
    async with api(settings, start=False, clock=clock) as (client, _):
        submitted = await client.post(
            "/api/generate-content", json=game_request("pt-waiting"), headers={"Prefer": "respond-async"}
        )
        assert submitted.status_code == 202, submitted.text

        first = (await health(client))["queue"]
        assert first["depth"] == 1
        assert first["oldest_job_age_s"] >= 0
        clock.advance(30)
        later = (await health(client))["queue"]
        assert later["oldest_job_age_s"] == pytest.approx(first["oldest_job_age_s"] + 30), "the age grows"
        assert later["depth"] == 1

        cancelled = await client.post(f"/api/generation-jobs/{submitted.json()['job_id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert (await health(client))["queue"] == {"depth": 0}


async def test_a_provider_that_fails_its_health_check_degrades_the_service_and_is_named(
    settings: Settings,
) -> None:
    providers: dict[str, Provider] = {"builtin": BuiltinProvider(), "vendor": FakeUnreachableProvider(name="vendor")}
    async with api(settings, providers) as (client, _):
        report = await health(client)
        served = await client.post("/api/generate-content", json=game_request("pt-still-served"))

    assert report["status"] == "degraded"
    assert report["providers"]["builtin"]["status"] == "ok"
    assert report["providers"]["vendor"]["status"] == "down"
    assert "api.vendor.example did not answer" in report["providers"]["vendor"]["detail"]
    assert any("vendor" in reason for reason in report["reasons"]), report["reasons"]
    assert served.json()["status"] == "complete"  # the other provider still serves content


async def test_the_only_provider_failing_its_health_check_puts_the_service_down(settings: Settings) -> None:
    async with api(settings, {"vendor": FakeUnreachableProvider(name="vendor")}) as (client, _):
        report = await health(client, expect=503)

    assert report["status"] == "down"
    assert report["providers"]["vendor"]["status"] == "down"
    assert any("vendor" in reason for reason in report["reasons"]), report["reasons"]
    assert report["dependencies"]["database"]["status"] == "ok"


async def test_providers_that_are_not_probed_are_unchecked_and_change_nothing(settings: Settings) -> None:
    """A hosted API with no probe (Replicate, fal) and an instance with `health_check = false` are listed
    `unchecked`, not `ok`; the service stays `ok` with no reason, and the graph has no PROVIDERS_DOWN."""
    replicate = HttpVideoProvider(preset="replicate", model="owner/video", api_key="r8_never_called_0123")
    not_probed = ProviderInstance(FakeUnreachableProvider(name="quiet"), concurrency=None, timeout_s=None, health=False)
    providers: dict[str, Provider] = {"builtin": BuiltinProvider(), "replicate": replicate, "quiet": not_probed}
    async with api(settings, providers) as (client, _):
        report = await health(client)
        graph = await graph_health(client, THREE_SCENES)

    assert report["providers"]["builtin"] == {"status": "ok"}, "in-process: nothing to be down"
    assert report["providers"]["replicate"] == {
        "status": "unchecked",
        "detail": "not probed: its kind has no health check",
    }
    assert report["providers"]["quiet"] == {"status": "unchecked", "detail": "not probed: health_check = false"}
    assert report["status"] == "ok"
    assert report["reasons"] == []
    assert "PROVIDERS_DOWN" not in warnings_by_code(graph)


async def test_a_service_whose_only_provider_is_unchecked_is_not_down(settings: Settings) -> None:
    replicate = HttpVideoProvider(preset="replicate", model="owner/video", api_key="r8_never_called_0123")
    async with api(settings, {"replicate": replicate}) as (client, _):
        report = await health(client)

    assert report["status"] == "ok"
    assert report["providers"]["replicate"]["status"] == "unchecked"


# --- POST /api/health/graph ------------------------------------------------------------------------


async def test_the_example_graph_is_healthy_node_by_node(client: httpx.AsyncClient) -> None:
    report = await graph_health(client, THREE_SCENES)

    assert report["graph_id"] == "three_scenes"
    assert report["status"] == "ok"
    assert report["warnings"] == []
    assert [(n["node_id"], n["status"]) for n in report["nodes"]] == [(NODE, "ok")]
    assert (report["nodes"][0]["from_scene"], report["nodes"][0]["to_scene"]) == ("cafe_date", "rooftop_chase")


async def test_more_always_fresh_nodes_than_the_limit_are_listed(client: httpx.AsyncClient) -> None:
    fresh = [config(f"fresh_{i}", generationType="dialogue", strategy="always") for i in range(4)]

    report = await graph_health(client, graph_with_nodes(*fresh, config("cached_node")))

    assert warnings_by_code(report) == {"TOO_MANY_ALWAYS_FRESH": ["fresh_0", "fresh_1", "fresh_2", "fresh_3"]}
    assert report["status"] == "warnings"


async def test_a_default_content_fallback_without_its_id_is_no_usable_fallback_and_an_error(
    client: httpx.AsyncClient,
) -> None:
    broken = config("no_asset", fallback={"mode": "default_content", "timeoutMs": 4000})

    report = await graph_health(client, graph_with_nodes(broken, config("fine")))

    assert warnings_by_code(report) == {"NO_USABLE_FALLBACK": ["no_asset"]}
    assert node_health(report, "no_asset")["status"] == "errors"
    codes = [f["code"] for f in node_health(report, "no_asset")["result"]["findings"]]
    assert "FALLBACK_DEFAULT_CONTENT_MISSING" in codes
    assert node_health(report, "fine")["status"] == "ok"
    assert report["status"] == "errors"


async def test_a_node_whose_recorded_p95_is_over_its_timeout_is_flagged(settings: Settings) -> None:
    async with api(settings, {"slowpoke": FakeProvider(name="slowpoke", latency_s=0.15)}) as (client, _):
        for i in range(3):
            served = await client.post("/api/generate-content", json=game_request(f"pt-{i}", node="slow_node"))
            assert served.json()["status"] == "complete", served.text
        generous = config("slow_node", fallback={"mode": "placeholder", "timeoutMs": 30_000})
        tight = config("slow_node", fallback={"mode": "placeholder", "timeoutMs": 100})

        relaxed = await graph_health(client, graph_with_nodes(generous, config("quick_node")))
        strict = await graph_health(client, graph_with_nodes(tight, config("quick_node")))

    assert node_health(relaxed, "slow_node")["p95_latency_ms"] >= 150
    assert relaxed["warnings"] == []
    assert warnings_by_code(strict) == {"P95_OVER_TIMEOUT": ["slow_node"]}
    assert node_health(strict, "slow_node")["p95_latency_ms"] >= 150
    assert node_health(strict, "quick_node").get("p95_latency_ms") is None  # never served: no data, no flag
    assert strict["status"] == "warnings"


async def test_a_provider_that_is_down_is_a_graph_warning(settings: Settings) -> None:
    providers: dict[str, Provider] = {"builtin": BuiltinProvider(), "vendor": FakeUnreachableProvider(name="vendor")}
    async with api(settings, providers) as (client, _):
        report = await graph_health(client, THREE_SCENES)

    assert [w["code"] for w in report["warnings"]] == ["PROVIDERS_DOWN"]
    assert "vendor" in report["warnings"][0]["message"]
    assert report["status"] == "warnings"


async def test_an_edge_that_generates_is_checked_as_a_node(client: httpx.AsyncClient) -> None:
    graph = copy.deepcopy(THREE_SCENES)
    graph["edges"] = [
        {"source": "rooftop_chase", "target": "dawn_aftermath", "meta": {"generate": True}},
        {"source": "cafe_date", "target": "dawn_aftermath"},
        {"source": "dawn_aftermath", "target": "cafe_date", "meta": {"generate": False}},
    ]

    report = await graph_health(client, graph)

    assert [n["node_id"] for n in report["nodes"]] == [NODE, "edge:rooftop_chase->dawn_aftermath"]
    edge = node_health(report, "edge:rooftop_chase->dawn_aftermath")
    assert (edge["from_scene"], edge["to_scene"], edge["status"]) == ("rooftop_chase", "dawn_aftermath", "ok")


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("node names an unknown scene", lambda g: g["nodes"][0].update(toScene="nowhere")),
        ("edge names an unknown scene", lambda g: g["edges"].append({"source": "cafe_date", "target": "nowhere"})),
        ("no scenes field", lambda g: g.pop("scenes")),
        ("duplicate scene ids", lambda g: g["scenes"].append(copy.deepcopy(g["scenes"][0]))),
    ],
)
async def test_an_invalid_graph_is_422(client: httpx.AsyncClient, case: str, change: Any) -> None:
    graph = copy.deepcopy(THREE_SCENES)
    change(graph)

    response = await client.post("/api/health/graph", json=graph)

    assert response.status_code == 422, case
