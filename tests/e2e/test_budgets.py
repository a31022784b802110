"""Budgets and rate limits over HTTP: a spent budget answers with the node's fallback and
GEN_BUDGET_EXCEEDED, `GET /api/budgets` shows spend, and over a rate limit the API answers 429 with
Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from dyngen.adapters.budgets.redis import RedisBudgetLedger
from dyngen.adapters.messaging.redis import RedisConnection
from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.access import Scope
from dyngen.domain.errors import ErrorCode
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import Reservation
from dyngen.services.budgets import spending
from dyngen.services.generation import attempts, runs, stages
from dyngen.services.machinery.container import Services
from tests.e2e.test_api import game_request
from tests.fakes import FakeProvider, FakeVideoProvider
from tests.support.keys import make_key
from tests.support.servers import free_port
from tests.support.waiting import hang_guard, signalled

PLACEHOLDER = {"mode": "placeholder", "timeoutMs": 5000}


def request_for(node: str, playthrough: str, player: str | None = None) -> dict[str, Any]:
    body = game_request(playthrough, node_id=node, fallback=PLACEHOLDER)
    if player is not None:
        body["player_context"]["playerId"] = player
    return body


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()  # estimates and costs 0.01 a call


async def _client(settings: Settings, provider: FakeProvider) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    services = await build(settings, providers={"fake": provider})
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            yield http, services
    finally:
        await services.aclose()


@pytest.fixture
async def budgeted(tmp_path: Path, provider: FakeProvider) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        default_provider="fake",
        budget_global_cap=1.0,
        budget_nodes={"cafe_to_roof": 0.03},
        example_graph=None,
    )
    async for pair in _client(settings, provider):
        yield pair


async def test_a_spent_node_budget_answers_with_the_fallback_and_is_recorded(
    budgeted: tuple[httpx.AsyncClient, Services], provider: FakeProvider
) -> None:
    client, _ = budgeted
    answers = [
        (await client.post("/api/generate-content", json=request_for("cafe_to_roof", f"pt-{i}"))).json()
        for i in range(4)
    ]
    assert [a["status"] for a in answers] == ["complete", "complete", "complete", "failed"]
    refused = answers[-1]
    assert refused["error"]["code"] == "GEN_BUDGET_EXCEEDED"
    assert "the budget of node 'cafe_to_roof' for this day has 0.0 left of 0.03" in refused["error"]["message"]
    assert refused["fallback"]["applied"] is True
    assert refused["fallback"]["mode"] == "placeholder"
    assert refused["content"]["placeholder"] is True
    assert len(provider.calls) == 3, "no provider call once the budget is spent"
    record = (await client.get(f"/api/generations/{refused['generation_id']}")).json()
    assert record["error_code"] == "GEN_BUDGET_EXCEEDED"
    other = (await client.post("/api/generate-content", json=request_for("roof_to_street", "pt-x"))).json()
    assert other["status"] == "complete", "another node's budget is its own"


async def test_budgets_show_spend_reservations_remaining_and_history(
    budgeted: tuple[httpx.AsyncClient, Services],
) -> None:
    client, _ = budgeted
    for i in range(2):
        await client.post("/api/generate-content", json=request_for("cafe_to_roof", f"pt-{i}"))
    await client.post("/api/generate-content", json=request_for("roof_to_street", "pt-x"))
    answer = await client.get("/api/budgets")
    assert answer.status_code == 200
    report = answer.json()
    assert report["period"] == "day"
    start, end = datetime.fromisoformat(report["period_start"]), datetime.fromisoformat(report["period_end"])
    assert (end - start).days == 1
    assert start <= datetime.now(start.tzinfo) < end
    assert report["global"] == {"limit": 1.0, "spent": 0.03, "reserved": 0.0, "remaining": 0.97, "exhausted": False}
    nodes = {n["node_id"]: n for n in report["nodes"]}
    assert nodes["cafe_to_roof"] == {
        "node_id": "cafe_to_roof",
        "limit": 0.03,
        "spent": 0.02,
        "reserved": 0.0,
        "remaining": 0.01,
        "exhausted": False,
    }
    assert nodes["roof_to_street"]["limit"] is None
    assert nodes["roof_to_street"]["remaining"] is None
    [bucket] = [h for h in report["history"] if h["node_id"] == "cafe_to_roof"]
    assert bucket["provider"] == "fake"
    assert bucket["cost"] == 0.02
    assert datetime.fromisoformat(bucket["bucket_start"]).minute == 0

    one = (await client.get("/api/budgets", params={"node_id": "cafe_to_roof"})).json()
    assert [n["node_id"] for n in one["nodes"]] == ["cafe_to_roof"]
    assert {h["node_id"] for h in one["history"]} == {"cafe_to_roof"}
    await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-9"))
    spent = (await client.get("/api/budgets", params={"node_id": "cafe_to_roof"})).json()["nodes"][0]
    assert spent["exhausted"] is True
    assert spent["remaining"] == 0.0
    fresh = (await client.get("/api/budgets", params={"node_id": "never_ran"})).json()["nodes"]
    assert fresh == [
        {"node_id": "never_ran", "limit": None, "spent": 0.0, "reserved": 0.0, "remaining": None, "exhausted": False}
    ]


@pytest.fixture
async def limited(tmp_path: Path, provider: FakeProvider) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        default_provider="fake",
        rate_limit_api_key={"rate": 1, "per": "minute", "burst": 3},  # type: ignore[arg-type]
        rate_limit_player={"rate": 1, "per": "minute", "burst": 1},  # type: ignore[arg-type]
        example_graph=None,
    )
    async for pair in _client(settings, provider):
        yield pair


async def test_over_the_api_key_limit_the_api_answers_429_with_retry_after(
    limited: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = limited
    _, first = await make_key(services, "game", Scope.RUNTIME)
    _, second = await make_key(services, "other game", Scope.RUNTIME)
    statuses = []
    for i in range(4):
        answer = await client.post(
            "/api/generate-content", json=request_for("cafe_to_roof", f"pt-{i}"), headers={"X-API-Key": first}
        )
        statuses.append(answer.status_code)
    assert statuses == [200, 200, 200, 429]
    assert answer.json()["error"]["code"] == "GEN_RATE_LIMITED"
    retry_after = int(answer.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    other = await client.post(
        "/api/generate-content", json=request_for("cafe_to_roof", "pt-9"), headers={"X-API-Key": second}
    )
    assert other.status_code == 200, "another key has its own limit"


async def test_over_the_player_limit_the_api_answers_429(limited: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = limited
    alice = request_for("cafe_to_roof", "pt-1", player="alice")
    assert (await client.post("/api/generate-content", json=alice)).status_code == 200
    again = await client.post("/api/generate-content", json=alice)
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) >= 1
    assert "alice" in again.json()["error"]["message"]
    bob = request_for("cafe_to_roof", "pt-2", player="bob")
    assert (await client.post("/api/generate-content", json=bob)).status_code == 200


async def test_with_a_budget_and_the_ledger_unreachable_no_provider_call_is_made(
    budgeted: tuple[httpx.AsyncClient, Services], provider: FakeProvider
) -> None:
    client, services = budgeted
    dead = RedisConnection(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.2)
    services.budget_ledger = RedisBudgetLedger(connection=dead)
    try:
        answer = (await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-1"))).json()
    finally:
        await dead.aclose()
    assert answer["status"] == "failed"
    assert answer["error"]["code"] == "GEN_PROVIDER_UNAVAILABLE"
    assert "budget ledger" in answer["error"]["message"]
    assert answer["fallback"]["mode"] == "placeholder"
    assert provider.calls == [], "no money is spent without a reservation"


async def test_without_budgets_an_unreachable_ledger_costs_nothing_but_the_count(
    tmp_path: Path, provider: FakeProvider
) -> None:
    settings = Settings(data_dir=tmp_path / "data", default_provider="fake", example_graph=None)
    async for client, services in _client(settings, provider):
        dead = RedisConnection(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.2)
        services.budget_ledger = RedisBudgetLedger(connection=dead)
        try:
            answer = (await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-1"))).json()
        finally:
            await dead.aclose()
        assert answer["status"] == "complete"
        assert len(provider.calls) == 1


async def _one_call_budget(tmp_path: Path, provider: FakeProvider) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    settings = Settings(
        data_dir=tmp_path / "data", default_provider="fake", budget_nodes={"cafe_to_roof": 0.01}, example_graph=None
    )
    async for pair in _client(settings, provider):
        yield pair


async def test_a_call_that_failed_gives_its_reservation_back(tmp_path: Path) -> None:
    provider = FakeProvider(failures=[ErrorCode.GEN_PROVIDER_UNAVAILABLE])
    async for client, _ in _one_call_budget(tmp_path, provider):
        failed = (await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-1"))).json()
        assert failed["error"]["code"] == "GEN_PROVIDER_UNAVAILABLE"
        served = (await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-2"))).json()
        assert served["status"] == "complete", "the failed call's reservation came back"
        node = (await client.get("/api/budgets", params={"node_id": "cafe_to_roof"})).json()["nodes"][0]
        assert (node["spent"], node["reserved"]) == (0.01, 0.0)


async def test_a_call_whose_output_is_refused_still_spends(tmp_path: Path) -> None:
    provider = FakeProvider(mention="violence")  # the request avoids violence: GEN_CONSTRAINT_FAIL
    async for client, _ in _one_call_budget(tmp_path, provider):
        refused = (await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-1"))).json()
        assert refused["error"]["code"] == "GEN_CONSTRAINT_FAIL"
        spent = (await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-2"))).json()
        assert spent["error"]["code"] == "GEN_BUDGET_EXCEEDED", "the provider was paid for the refused output"
        assert len(provider.calls) == 1


async def test_a_miss_answers_once_its_settlement_and_its_record_share_a_batch(
    tmp_path: Path, provider: FakeProvider
) -> None:
    """The budget's settlement does not wait for a batch of its own before the record is written (issue 18):
    with a writer that takes a batch only once two writes wait, a miss is answered only when the record
    was queued while its settlement still waited, and both are committed when it is."""
    settings = Settings(
        data_dir=tmp_path / "data",
        default_provider="fake",
        budget_nodes={"cafe_to_roof": 0.03},
        example_graph=None,
        db_write_batch=2,
    )
    async for client, services in _client(settings, provider):
        commits = services.budget_ledger._writer.commits  # type: ignore[union-attr]
        commits._window = asyncio.Event().wait  # no window ends by time: only two waiting writes take a batch
        async with hang_guard("a miss whose settlement waited alone for a batch"):
            answer = (await client.post("/api/generate-content", json=request_for("cafe_to_roof", "pt-1"))).json()
        assert answer["status"] == "complete"
        record = (await client.get(f"/api/generations/{answer['generation_id']}")).json()
        assert record["cost"] == 0.01
        node = (await client.get("/api/budgets", params={"node_id": "cafe_to_roof"})).json()["nodes"][0]
        assert (node["spent"], node["reserved"]) == (0.01, 0.0), "settled when answered"


@pytest.mark.parametrize(
    ("provider", "module", "status"),
    [
        pytest.param("fake", runs, "complete", id="a miss"),
        pytest.param("pipe", stages, "failed", id="a pipeline whose script has no beats: its fallback"),
    ],
)
async def test_the_answer_waits_for_the_settlement_under_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, module: ModuleType, status: str
) -> None:
    """A settlement runs while the result is recorded, and the answer still waits for it, also when what
    follows the provider call fails (the pipeline's script stage refuses a script without beats): with the
    ledger's commit held, the request reaches `settled` with the settlement pending, and answers only once
    the commit is let go."""
    settings = Settings(
        data_dir=tmp_path / "data",
        example_graph=None,
        default_provider="fake",
        providers_by_type={},
        budget_nodes={"cafe_to_roof": 1.0},
        provider_pipelines={"pipe": {"script": "fake", "render": "fake_video"}},
    )
    services = await build(settings, providers={"fake": FakeProvider(), "fake_video": FakeVideoProvider()})
    ledger = services.budget_ledger
    assert ledger is not None
    release, waiting = asyncio.Event(), asyncio.Event()
    commit, commit_soon, settled = ledger.commit, ledger.commit_soon, module.settled
    handing_over: list[asyncio.Task[None]] = []

    async def held_commit(*args: Any, **kwargs: Any) -> None:
        await release.wait()
        await commit(*args, **kwargs)

    def held_commit_soon(*args: Any, **kwargs: Any) -> asyncio.Future[None] | None:
        """The batched commit (the SQL ledger's), its future done only once it is let go and written."""
        written = commit_soon(*args, **kwargs)
        if written is None:
            return None
        held: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def hand_over() -> None:
            await release.wait()
            await written
            held.set_result(None)

        handing_over.append(asyncio.ensure_future(hand_over()))
        return held

    async def watched(settling: asyncio.Future[None] | None) -> None:
        if settling is not None and not settling.done():
            waiting.set()
        await settled(settling)

    monkeypatch.setattr(ledger, "commit", held_commit)
    monkeypatch.setattr(ledger, "commit_soon", held_commit_soon)
    monkeypatch.setattr(module, "settled", watched)
    monkeypatch.setattr(attempts, "settled", watched)  # what `settled_on_failure` waits through
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            body = request_for("cafe_to_roof", "pt-1") | {"provider": provider}
            answering = asyncio.ensure_future(http.post("/api/generate-content", json=body))
            await signalled(waiting, what="the request waiting for its settlement")
            assert not answering.done()
            release.set()
            answer = (await answering).json()
            node = (await http.get("/api/budgets", params={"node_id": "cafe_to_roof"})).json()["nodes"][0]
        assert answer["status"] == status
        assert (node["spent"], node["reserved"]) == (0.01, 0.0), "settled when answered"
    finally:
        release.set()
        await asyncio.gather(*handing_over)
        await services.aclose()


async def test_a_settlement_queued_once_the_writer_closed_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A flight whose caller left can finish after the service began to close: its paid call's settlement
    meets a closed writer. As `settle` does, `settling` logs it and returns nothing to wait for, so the call's
    result (and its record, through the outbox) is not turned into an error."""
    services = await build(Settings(data_dir=tmp_path / "data", example_graph=None))
    ledger = services.budget_ledger
    assert ledger is not None
    try:
        await services.budget_ledger._writer.aclose()  # type: ignore[union-attr]
        reservation = Reservation(id="r1", period="2026-12", scopes=("global",), amount=5, node_id="n", provider="p")
        held = spending.Hold(reservation=reservation, held=True)
        assert spending.settling(hold=held, actual=0.5, ledger=ledger, clock=services.clock) is None
        assert "budget.settle_failed" in caplog.text
    finally:
        await services.aclose()
