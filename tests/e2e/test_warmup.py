"""Pre-generation warm-up as a user runs it: over HTTP (a background run with an event stream), through
the service (resume after an interruption), and as `dyngen warm` (progress, report, exit codes)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import authoring_ports, generation_ports, preparer, warmup_ports
from dyngen.config import Settings
from dyngen.domain.contracts import PlayerContext
from dyngen.domain.errors import ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.domain.warmup import ItemOutcome, ItemStatus, WarmupRun
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import GenerationFilter
from dyngen.services.generation import runs as generation_runs
from dyngen.services.generation.front_door import generate_content, warm_content
from dyngen.services.machinery.container import Services
from dyngen.services.warmup import plan as warmup_plan
from dyngen.services.warmup import runner as warmup_runner
from dyngen.services.warmup import runs as warmup
from tests.e2e.test_cli import Workdir
from tests.e2e.test_jobs import Event, parse_sse
from tests.fakes import FakeClock, FakeProvider
from tests.support.waiting import hang_guard, until


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    # Transitions from the text provider (not rendered to video), a short lease for the resume tests;
    # a test changes more with `parametrize("settings", [...], indirect=True)`.
    values: dict[str, Any] = {"retry_backoff_ms": 1, "providers_by_type": {}, "job_lease_s": 1.5}
    return Settings(data_dir=tmp_path / "data", **values | getattr(request, "param", {}))


def node(node_id: str, source: str, target: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "fromScene": source,
        "toScene": target,
        "config": {
            "id": node_id,
            "generationType": "transition",
            "style": {"moodFrom": "calm", "moodTo": "tense"},
            "fallback": {"mode": "placeholder", "timeoutMs": 5000},
            **config,
        },
    }


def story(graph_id: str = "story") -> dict[str, Any]:
    """a -> b (once) -> c (an edge with generate: true) -> d (always) -> e (per_playthrough) -> f (per_player)."""
    return {
        "id": graph_id,
        "start": "a",
        "scenes": [{"id": s, "mood": "calm", "summary": f"scene {s}"} for s in "abcdef"],
        "nodes": [
            node("n_ab", "a", "b"),
            node("n_cd", "c", "d", strategy="always"),
            node("n_de", "d", "e", strategy="per_playthrough"),
            node("n_ef", "e", "f", strategy="per_player"),
        ],
        "edges": [{"source": "b", "target": "c", "meta": {"generate": True}}],
    }


def chain(count: int, graph_id: str = "long") -> dict[str, Any]:
    """`count` once-transitions in a row: s0 -> s1 -> ... (enough items for a run to be interrupted)."""
    return {
        "id": graph_id,
        "scenes": [{"id": f"s{i}", "mood": "calm"} for i in range(count + 1)],
        "nodes": [node(f"t{i}", f"s{i}", f"s{i + 1}") for i in range(count)],
    }


async def events_of(client: httpx.AsyncClient, warmup_id: str, *, last_event_id: int | None = None) -> list[Event]:
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    async with hang_guard("the warm-up's event stream to end"):
        response = await client.get(f"/api/warmups/{warmup_id}/events", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


async def warm(client: httpx.AsyncClient, graph_id: str, body: dict[str, Any] | None = None) -> str:
    response = await client.post(f"/api/graphs/{graph_id}/warm", json=body or {})
    assert response.status_code == 202, response.text
    warmup_id: str = response.json()["warmup_id"]
    assert response.json()["status"] == "queued"
    assert response.headers["location"] == f"/api/warmups/{warmup_id}"
    return warmup_id


async def test_a_warm_up_over_http_generates_the_graphs_transitions_and_streams_its_progress(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/graphs", json=story())).status_code == 201
    warmup_id = await warm(client, "story")

    events = await events_of(client, warmup_id)  # streams until the run ends
    kinds = [e.type for e in events]
    assert kinds[0] == "progress", kinds
    assert kinds[-1] == "completed", kinds
    assert set(kinds[1:-1]) == {"progress", "item"}, kinds
    items = [e.data for e in events if e.type == "item"]
    assert sorted(i["node_id"] for i in items) == ["edge:b->c", "n_ab"]
    assert {i["status"] for i in items} == {"generated"}
    assert all(e.data["warmup_id"] == warmup_id for e in events)
    final = events[-1].data
    assert (final["status"], final["total"], final["generated"], final["cached"], final["failed"]) == (
        "complete",
        2,
        2,
        0,
        {},
    )
    skipped = {s["node_id"]: s["reason"] for s in final["skipped"]}
    assert skipped.keys() == {"n_cd", "n_de", "n_ef"}
    assert skipped["n_cd"].startswith("strategy always")
    assert "playthrough id" in skipped["n_de"]
    assert "player id" in skipped["n_ef"]

    report = (await client.get(f"/api/warmups/{warmup_id}")).json()
    assert report == final | {"warmup_id": warmup_id}
    assert report["started_at"]
    assert report["finished_at"]
    assert report["graph_version"] == 1

    resumed = await events_of(client, warmup_id, last_event_id=events[2].id)
    assert resumed == events[3:], "Last-Event-ID resumes the stream after that event"

    # What was generated is served from the cache: a player gets it, and a second warm-up only counts it.
    again = await warm(client, "story")
    second = (await events_of(client, again))[-1].data
    assert (second["generated"], second["cached"], second["status"]) == (0, 2, "complete")


async def test_naming_a_playthrough_and_player_warms_their_nodes_along_the_path(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/graphs", json=story())).status_code == 201
    body = {"playthrough": ["c", "d", "e", "f"], "playthrough_id": "alice", "player_id": "ann", "concurrency": 2}
    final = (await events_of(client, await warm(client, "story", body)))[-1].data
    assert (final["total"], final["generated"], final["concurrency"]) == (2, 2, 2), final
    assert [s["node_id"] for s in final["skipped"]] == ["n_cd"], "only the always node is left out"
    generated = (await client.get("/api/generations", params={"node_id": "n_de"})).json()
    assert generated, "the per_playthrough node was generated"


async def test_a_pool_of_variants_is_warmed_for_every_player_without_naming_one(client: httpx.AsyncClient) -> None:
    body = {
        "id": "pool",
        "scenes": [{"id": "a", "mood": "calm"}, {"id": "b", "mood": "tense"}],
        "nodes": [node("n_pool", "a", "b", strategy="per_player", variants=4)],
    }
    assert (await client.post("/api/graphs", json=body)).status_code == 201
    final = (await events_of(client, await warm(client, "pool")))[-1].data
    assert (final["total"], final["generated"], final["skipped"]) == (4, 4, []), final
    graph = SceneGraph.model_validate(body)
    for player in ("ann", "bob", "cy", "dee", "eve"):  # whoever plays gets one of the warmed variants
        context = PlayerContext(playthrough_id=player, player_id=player)
        request = warmup_plan.node_request(graph, graph.nodes[0], player_context=context)
        answer = await client.post(
            "/api/generate-content",
            content=request.model_dump_json(exclude_none=True),
            headers={"content-type": "application/json"},
        )
        assert answer.json()["cache"]["hit"] is True, (player, answer.json()["cache"])


async def test_warm_up_requests_that_cannot_be_used_are_refused(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/graphs/nosuch/warm", json={})).status_code == 404
    assert (await client.post("/api/graphs", json=story())).status_code == 201
    bad = await client.post("/api/graphs/story/warm", json={"playthrough": ["a", "c"]})
    assert bad.status_code == 422, bad.text
    assert bad.json()["details"][0]["field"] == "playthrough[0][1]"
    assert (await client.post("/api/graphs/story/warm", json={"concurrency": 0})).status_code == 422
    assert (await client.post("/api/graphs/story/warm", json={"concurency": 2})).status_code == 422
    assert (await client.get("/api/warmups/nosuchwarmup")).status_code == 404
    assert (await client.get("/api/warmups/nosuchwarmup/events")).status_code == 404


@pytest.mark.parametrize("settings", [{"rate_limit_api_key": {"rate": 10, "per": "second", "burst": 2}}], indirect=True)
async def test_a_warm_up_over_http_keeps_to_its_api_keys_rate_limit(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/graphs", json=chain(6))).status_code == 201
    began = time.monotonic()
    final = (await events_of(client, await warm(client, "long", {"concurrency": 6})))[-1].data
    took = time.monotonic() - began
    # Two at once (the burst), then one per 100 ms: it waits for the limit rather than failing.
    assert (final["status"], final["generated"], final["failed"]) == ("complete", 6, {})
    assert took >= 0.35, f"6 generations at 10/s after a burst of 2 took only {took:.2f} s"


async def create_warmup(services: Services, **options: Any) -> WarmupRun:
    """`warmup.create_warmup` with the ports it plans and stores with, picked out of `services`."""
    return await warmup.create_warmup(
        **options, preparer=preparer(services), warmups=services.warmups, clock=services.clock
    )


@pytest.fixture
async def slow_services(settings: Settings) -> AsyncIterator[tuple[Services, FakeProvider]]:
    provider = FakeProvider(name="builtin", latency_s=0.05)
    built = await build(settings, providers={"builtin": provider})
    yield built, provider
    await built.aclose()


async def stored_done(services: Services, warmup_id: str, *, at_least: int) -> None:
    """Wait until the run has stored `at_least` items as done, woken by its notifier at each stored batch."""
    async with hang_guard(f"the run to store {at_least} items"):
        while (await services.warmups.warmup_counts(warmup_id)).done < at_least:
            await services.notifier.wait(warmup_id, timeout_s=1.0)


async def test_an_interrupted_run_resumes_with_what_it_had_not_warmed(settings: Settings) -> None:
    # The provider answers eight calls and holds the rest until released: the run is interrupted with
    # eight items done and four in flight, however fast or slow the machine.
    provider = FakeProvider(name="builtin", hang_after=8)
    services = await build(settings, providers={"builtin": provider})
    try:
        await _interrupted_then_resumed(services, provider)
    finally:
        provider.release()
        await services.aclose()


async def _interrupted_then_resumed(services: Services, provider: FakeProvider) -> None:
    graph = SceneGraph.model_validate(chain(24))
    run = await create_warmup(services, graph=graph, graph_version=None, concurrency=4, origin="cli")
    first = asyncio.ensure_future(warmup_runner.run_warmup(warmup_id=run.id, ports=warmup_ports(services)))
    await stored_done(services, run.id, at_least=8)
    first.cancel()  # as a shutdown does: the run stays resumable
    with pytest.raises(asyncio.CancelledError):
        await first
    stored = await services.warmups.warmup_counts(run.id)
    assert 8 <= stored.done < 24
    assert stored.pending == 24 - stored.done
    assert (await services.warmups.get_warmup(run.id)).status.value == "running"  # type: ignore[union-attr]
    calls_before = len(provider.calls)
    provider.release()  # the resumed run is answered (and so are the calls held at the interruption)

    attempted: list[str] = []
    report = await warmup_runner.run_warmup(
        warmup_id=run.id,
        ports=warmup_ports(services),
        progress=lambda _, item: attempted.append(item.node_id) if item else None,
    )
    assert (report.status.value, report.total, report.pending, report.failed) == ("complete", 24, 0, {})
    assert len(attempted) == 24 - stored.done, "the resumed run attempted only the items not stored as done"
    assert report.generated + report.cached == 24
    # Up to twice the concurrency is under way (4 provider runs, and as many items prepared or recorded).
    assert report.cached <= 8, "only items under way at the interruption (generated, not yet stored) were cache hits"
    retried = len(provider.calls) - calls_before
    assert retried <= 24 - stored.done, "items stored as done were not generated again"
    assert len({c.request.node_id for c in provider.calls}) == 24, "every transition was generated once"
    assert len(provider.calls) <= 24 + 4, "at most the provider runs under way at the interruption ran twice"
    assert report.cost == pytest.approx(0.01 * report.generated)


async def test_failed_items_are_counted_by_code_and_tried_again_on_resume(
    slow_services: tuple[Services, FakeProvider],
) -> None:
    services, provider = slow_services
    provider.failures = [ErrorCode.GEN_CONSTRAINT_FAIL, ErrorCode.GEN_EMPTY_OUTPUT]
    graph = SceneGraph.model_validate(chain(5))
    run = await create_warmup(services, graph=graph, graph_version=None, concurrency=1, origin="cli")
    report = await warmup_runner.run_warmup(warmup_id=run.id, ports=warmup_ports(services))
    assert (report.status.value, report.generated, report.failed) == (
        "failed",
        3,
        {"GEN_CONSTRAINT_FAIL": 1, "GEN_EMPTY_OUTPUT": 1},
    )
    again = await warmup_runner.run_warmup(warmup_id=run.id, ports=warmup_ports(services))
    assert (again.status.value, again.generated, again.failed, again.pending) == ("complete", 5, {}, 0)
    assert len(provider.calls) == 7, "the resume ran only the two failed items"


async def test_cancelling_a_running_warm_up_stops_it_and_keeps_what_finished(settings: Settings) -> None:
    # The provider answers two calls and holds the rest: the run is cancelled with exactly two items done,
    # however slow the machine (no race between the run finishing and the cancel arriving).
    provider = FakeProvider(name="builtin", hang_after=2)
    services = await build(settings, providers={"builtin": provider})
    try:
        await services.start()  # the background runner the API's lifespan starts
        app = create_app(settings, services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyngen.test") as client:
            assert (await client.post("/api/graphs", json=chain(40))).status_code == 201
            warmup_id = await warm(client, "long", {"concurrency": 2})
            while (await client.get(f"/api/warmups/{warmup_id}")).json()["generated"] < 2:
                await services.notifier.wait(warmup_id, timeout_s=1.0)  # woken by each stored item
            cancelled = await client.post(f"/api/warmups/{warmup_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            final = (await events_of(client, warmup_id))[-1].data
            assert final["status"] == "cancelled"
            assert (final["generated"], final["pending"]) == (2, 38)
    finally:
        provider.release()
        await services.aclose()


async def store_graph(data_dir: Path, body: dict[str, Any]) -> None:
    from dyngen.services.authoring import graphs

    services = await build(Settings(data_dir=data_dir))
    try:
        await graphs.save_graph(graph=SceneGraph.model_validate(body), author="test", ports=authoring_ports(services))
    finally:
        await services.aclose()


def test_dyngen_warm_reports_generated_then_cached_and_resumes_a_run(tmp_path: Path) -> None:
    work = Workdir(tmp_path)
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"
    graph = work.write("story.json", story())
    done = work.run("warm", graph, "--json")
    report = json.loads(done.stdout)
    assert (report["status"], report["total"], report["generated"], report["cached"]) == ("complete", 2, 2, 0)
    assert len(report["skipped"]) == 3

    (tmp_path / "paths.txt").write_text("a b\nb,c\n", encoding="utf-8")  # two playthroughs, one per line
    text = work.run("warm", graph, "--path", "paths.txt").stdout
    assert "of graph story: complete" in text
    assert "generated      0" in text, text
    assert "already cached 2" in text, text
    assert "skipped        0" in text, text
    assert "skipped n_cd: strategy always" not in text, "a playthrough plans only its own path"

    again = json.loads(work.run("warm", "--resume", report["warmup_id"], "--json").stdout)
    assert (again["warmup_id"], again["generated"], again["status"]) == (report["warmup_id"], 2, "complete")

    asyncio.run(store_graph(work.data, chain(3, "stored")))
    from_store = json.loads(work.run("warm", "--graph-id", "stored", "--concurrency", "2", "--json").stdout)
    assert (from_store["graph_id"], from_store["graph_version"], from_store["generated"]) == ("stored", 1, 3)
    assert "no graph 'nosuch'" in work.run("warm", "--graph-id", "nosuch", expect=2).stderr
    assert "name one graph" in work.run("warm", graph, "--graph-id", "stored", expect=2).stderr

    refused = work.run("warm", graph, "--path", "a,nowhere", expect=2)
    assert "playthrough[0][1]" in refused.stderr
    assert "nosuchrun" in work.run("warm", "--resume", "nosuchrun", expect=2).stderr
    assert "name a graph" in work.run("warm", expect=2).stderr


async def test_a_server_resumes_the_api_runs_a_dead_process_left_unfinished(settings: Settings) -> None:
    provider = FakeProvider(name="builtin")
    services = await build(settings, providers={"builtin": provider})
    try:
        graph = SceneGraph.model_validate(chain(10))
        run = await create_warmup(services, graph=graph, graph_version=1, origin="api")
        # A process claimed it, stored three outcomes, and died: its lease has run out.
        now = services.clock.now()
        await services.warmups.claim_warmup(run.id, owner="dead", now=now, lease_until=now)
        done = [ItemOutcome(i, f"t{i}", ItemStatus.CACHED) for i in range(3)]
        await services.warmups.record_items(run.id, done, events=[], at=now)

        await services.start()  # as `dyngen serve` starts: its warm-up runner sweeps at once
        async with hang_guard("the resumed run to complete"):
            while (
                report := await warmup.get_report(warmup_id=run.id, warmups=services.warmups)
            ).status.value != "complete":
                await services.notifier.wait(run.id, timeout_s=1.0)  # woken by each stored batch and the end
    finally:
        await services.aclose()
    assert (report.generated, report.cached, report.pending) == (7, 3, 0)
    assert sorted(c.request.node_id or "" for c in provider.calls) == [f"t{i}" for i in range(3, 10)]


@pytest.mark.parametrize("settings", [{"budget_global_cap": 0.025}], indirect=True)
async def test_a_spent_budget_fails_the_rest_with_its_code_and_a_resume_after_raising_it_finishes(
    slow_services: tuple[Services, FakeProvider], settings: Settings
) -> None:
    services, provider = slow_services  # every generation costs 0.01
    graph = SceneGraph.model_validate(chain(4))
    run = await create_warmup(services, graph=graph, graph_version=None, concurrency=1, origin="cli")
    report = await warmup_runner.run_warmup(warmup_id=run.id, ports=warmup_ports(services))
    assert (report.status.value, report.generated, report.failed) == ("failed", 2, {"GEN_BUDGET_EXCEEDED": 2})
    assert report.cost == pytest.approx(0.02)
    assert len(provider.calls) == 2, "a refused generation never reaches the provider"

    raised = settings.model_copy(update={"budget_global_cap": 1.0})
    services.options = dataclasses.replace(services.options, budgets=raised.budget_policy)
    again = await warmup_runner.run_warmup(warmup_id=run.id, ports=warmup_ports(services))
    assert (again.status.value, again.generated, again.failed, len(provider.calls)) == ("complete", 4, {}, 4)


async def test_a_warm_up_runs_its_concurrency_of_provider_calls_while_earlier_items_are_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: `concurrency` bounds the provider runs at once, not the items: an item gives its slot back
    before its record is written. With every record held, the provider still runs the next items' calls, two
    at a time at most (each held until released), and four items at most are under way (twice the
    concurrency); once the records go, the run completes."""
    provider = FakeProvider(name="builtin", hang=True)
    services = await build(settings, providers={"builtin": provider})
    records_go, recording = asyncio.Event(), list[str]()
    in_call, most_in_call = [0], [0]
    real_record, real_generate = generation_runs.record_generation, provider.generate

    async def held_record(**kwargs: Any) -> bool:
        recording.append(kwargs["record"].node_id)
        await records_go.wait()
        return await real_record(**kwargs)

    async def counted(call: Any) -> Any:
        in_call[0] += 1
        most_in_call[0] = max(most_in_call[0], in_call[0])
        try:
            return await real_generate(call)
        finally:
            in_call[0] -= 1

    monkeypatch.setattr(generation_runs, "record_generation", held_record)
    monkeypatch.setattr(provider, "generate", counted)
    try:
        graph = SceneGraph.model_validate(chain(8))
        run = await create_warmup(services, graph=graph, graph_version=None, concurrency=2, origin="cli")
        warming = asyncio.ensure_future(warmup_runner.run_warmup(warmup_id=run.id, ports=warmup_ports(services)))
        await until(lambda: len(provider.calls) == 2, what="the first two provider calls, held")
        provider.release()
        await until(lambda: len(recording) == 4, what="four items under way, every one held in its record")
        assert len(provider.calls) == 4, "the third and fourth calls ran while the first records were held"
        records_go.set()
        async with hang_guard("the warm-up to finish once the records go"):
            report = await warming
    finally:
        provider.release()
        records_go.set()
        await services.aclose()
    assert (report.status.value, report.generated) == ("complete", 8)
    assert most_in_call[0] == 2, "never more provider calls at once than the concurrency"


class _FirstCallHangs(FakeProvider):
    """Only the first call waits for `release()`; every later one answers at once."""

    async def generate(self, call: Any) -> Any:
        if not self.calls:
            self.calls.append(call)
            await self.released.wait()
            self.calls.pop()
        return await super().generate(call)


async def _watched_warmup(services: Services, *, count: int, concurrency: int) -> tuple[list[Any], asyncio.Future[Any]]:
    """A warm-up of `count` transitions started in the background, and the requests its items sent."""
    ports = warmup_ports(services)
    sent: list[Any] = []
    warm = ports.warm

    async def watched(*, request: Any) -> Any:
        sent.append(request)
        return await warm(request=request)

    graph = SceneGraph.model_validate(chain(count))
    run = await create_warmup(services, graph=graph, graph_version=None, concurrency=concurrency, origin="cli")
    ports = dataclasses.replace(ports, warm=watched)
    return sent, asyncio.ensure_future(warmup_runner.run_warmup(warmup_id=run.id, ports=ports))


async def test_a_player_asking_for_what_a_warm_up_waits_to_generate_never_waits_for_its_slot(
    settings: Settings,
) -> None:
    """An item takes its provider slot before its single flight starts: a player's request for the same
    content (here while the warm-up's one slot is held) starts or joins a flight that runs at once."""
    provider = _FirstCallHangs(name="builtin")
    services = await build(settings, providers={"builtin": provider})
    try:
        sent, warming = await _watched_warmup(services, count=2, concurrency=1)
        await until(lambda: len(provider.calls) == 1 and len(sent) == 2, what="one call held, the next item sent")
        [waiting] = [r for r in sent if r.node_id != provider.calls[0].request.node_id]
        async with hang_guard("the player's request while the warm-up's slot is held"):
            answer = await generate_content(request=waiting, ports=generation_ports(services))
        assert (answer.status.value, answer.cache.hit) == ("complete", False)
        provider.release()
        async with hang_guard("the warm-up"):
            report = await warming
        assert (report.status.value, report.generated + report.cached) == ("complete", 2)
    finally:
        provider.release()
        await services.aclose()


async def test_a_cancelled_warm_up_starts_no_provider_call_after_the_cancel(settings: Settings) -> None:
    provider = FakeProvider(name="builtin", hang=True)
    services = await build(settings, providers={"builtin": provider})
    try:
        sent, warming = await _watched_warmup(services, count=4, concurrency=1)
        await until(lambda: len(provider.calls) == 1 and len(sent) == 2, what="one call held, an item waiting")
        warming.cancel()
        await asyncio.gather(warming, return_exceptions=True)
        provider.release()
        await until(lambda: services.single_flight.in_flight == 0, what="the flight under way to land")
        assert len(provider.calls) == 1, "the item that waited for a slot did not call the provider"
    finally:
        provider.release()
        await services.aclose()


async def test_the_wait_for_a_slot_is_not_counted_in_the_generations_time(settings: Settings) -> None:
    """Each call takes 1 s of a fake clock, one at a time: the second item waits for its slot while the first
    call (held until the second item is sent) takes its second, yet its record (and its deadline) count
    only its own call."""
    clock = FakeClock(datetime.now(UTC))
    provider = FakeProvider(name="builtin", latency_s=1.0, clock=clock, hang=True)
    services = await build(settings, providers={"builtin": provider}, clock=clock)
    try:
        sent, warming = await _watched_warmup(services, count=2, concurrency=1)
        await until(lambda: len(provider.calls) == 1 and len(sent) == 2, what="one call held, the next item sent")
        provider.release()
        async with hang_guard("the warm-up"):
            report = await warming
        assert (report.status.value, report.generated) == ("complete", 2)
        records = await services.repository.find(GenerationFilter(limit=10))
        assert sorted(r.latency_ms for r in records) == [pytest.approx(1000.0, abs=1)] * 2
    finally:
        provider.release()
        await services.aclose()


async def test_a_warm_up_serves_an_item_as_a_players_request_is_served_without_answering_it(
    settings: Settings,
) -> None:
    """`warm_content` (a warm-up's items) and `generate_content` (a player's request) share the key, the
    content and the counts; the first generates, the later ones are hits."""
    services = await build(settings, providers={"builtin": FakeProvider(name="builtin")})
    try:
        graph = SceneGraph.model_validate(chain(1))
        [transition] = graph.generation_nodes()
        request = warmup_plan.node_request(graph, transition, player_context=PlayerContext())
        ports = generation_ports(services)
        warmed = await warm_content(request=request, ports=ports)
        played = await generate_content(request=request, ports=ports)
        again = await warm_content(request=request, ports=ports)
        assert (warmed.hit, warmed.error_code, again.hit) == (False, None, True)
        assert (played.cache.hit, played.cache_key, played.generation_id) == (
            True,
            warmed.cache_key,
            warmed.generation_id,
        )
        assert services.metrics.cache_counts(node=transition.id) == (2, 1)
    finally:
        await services.aclose()
