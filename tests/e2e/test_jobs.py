"""Async generation jobs on the embedded runner, through the HTTP API as a game client calls it (spec
section 6): `Prefer: respond-async`, polling, Server-Sent Events, idempotency, joining, cancel, retries,
the cache, a restart and a runner that died."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import job_ports
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import RepositoryUnavailable
from dyngen.services.jobs.lifecycle import reap
from dyngen.services.machinery.container import Services
from tests.fakes import FakeProvider
from tests.support.waiting import hang_guard, until

ASYNC = {"Prefer": "respond-async"}
TERMINAL = ("complete", "failed")


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Fast retries and a short lease; a test changes more with `parametrize("settings", [...], indirect=True)`."""
    return job_settings(tmp_path / "data", **getattr(request, "param", {}))


def job_settings(data_dir: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {"retry_backoff_ms": 1, "job_retry_base_s": 0.02, "job_lease_s": 1.5} | changes
    return Settings(data_dir=data_dir, **values)


def body(
    playthrough: str, *, latency_ms: int = 0, fail_with: str | None = None, strategy: str = "per_playthrough"
) -> dict[str, Any]:
    """A game's transition request; the placeholder fallback makes one provider attempt per job run."""
    request: dict[str, Any] = {
        "type": "transition",
        "node_id": "jobs_node",
        "from_scene": {"id": "cafe", "mood": "romantic", "location": "corner_cafe"},
        "to_scene": {"id": "roof", "mood": "intense", "location": "city_rooftops"},
        "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium"},
        "duration": {"min": 15, "max": 45, "target": 30},
        "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring"], "avoidElements": ["violence"]},
        "strategy": strategy,
        "fallback": {"mode": "placeholder", "timeoutMs": 30_000},
        "player_context": {"playthroughId": playthrough},
    }
    simulate = {"latency_ms": latency_ms or None, "fail_with": fail_with}
    if any(simulate.values()):
        request["simulate"] = {k: v for k, v in simulate.items() if v is not None}
    return request


def without_url(content: dict[str, Any]) -> dict[str, Any]:
    """What a player sees; `url` names the generation's artifact record, so it differs per run."""
    return {k: v for k, v in content.items() if k != "url"}


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[Event]:
    """The events of a text/event-stream body (comments and `retry:` lines skipped)."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


async def submit(client: httpx.AsyncClient, request: dict[str, Any], **headers: str) -> str:
    response = await client.post("/api/generate-content", json=request, headers=ASYNC | headers)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def wait_for(client: httpx.AsyncClient, job_id: str, statuses: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
    """Poll the job until its status is one of `statuses`."""

    async def reached() -> dict[str, Any] | None:
        response = await client.get(f"/api/generation-jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job if job["status"] in statuses else None

    return await until(reached, what=f"job {job_id} to be {' or '.join(statuses)}")


async def events_of(client: httpx.AsyncClient, job_id: str, *, last_event_id: int | None = None) -> list[Event]:
    """The job's event stream, read to its end (a terminal event); fails when it does not end."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    async with hang_guard(f"job {job_id}'s event stream to end"):
        response = await client.get(f"/api/generation-jobs/{job_id}/events", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


@dataclass
class Held:
    """The API over started services whose provider holds every call until `provider.release()`."""

    client: httpx.AsyncClient
    services: Services
    provider: FakeProvider


@pytest.fixture
async def held(settings: Settings) -> AsyncIterator[Held]:
    """A job is still running whenever the test acts on it, however busy the machine (no provider latency
    to race)."""
    provider = FakeProvider(name="builtin", hang=True)
    services = await build(settings, providers={"builtin": provider})
    await services.start()
    try:
        async with app_client(settings, services) as client:
            yield Held(client, services, provider)
    finally:
        provider.release()
        await services.aclose()


@asynccontextmanager
async def app_client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        yield http


async def test_respond_async_queues_a_job_whose_content_is_what_a_sync_call_gives(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    response = await client.post("/api/generate-content", json=body("pt-async"), headers=ASYNC)

    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.json() == {"job_id": job_id, "status": "queued"}
    assert response.headers["Location"] == f"/api/generation-jobs/{job_id}"
    assert response.headers["Preference-Applied"] == "respond-async"
    job = await wait_for(client, job_id)
    assert job["status"] == "complete"
    assert job["job_id"] == job_id
    assert job.get("error") is None
    assert job.get("fallback") is None

    # The same request, synchronously, on a deployment of its own: the same content.
    other_settings = job_settings(tmp_path / "sync")
    other = await build(other_settings)
    try:
        async with app_client(other_settings, other) as sync_client:
            sync = await sync_client.post("/api/generate-content", json=body("pt-async"))
    finally:
        await other.aclose()
    assert sync.status_code == 200
    assert sync.json()["status"] == "complete"
    assert sync.json()["cache"]["hit"] is False
    assert without_url(job["content"]) == without_url(sync.json()["content"])


async def test_without_prefer_the_call_stays_synchronous(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/generate-content", json=body("pt-sync"))

    assert response.status_code == 200
    assert response.json()["status"] == "complete"
    assert response.json()["content"]["beats"]
    assert "job_id" not in response.json()
    assert "Location" not in response.headers


async def test_the_event_stream_is_queued_started_progress_completed_and_resumes_after_last_event_id(
    client: httpx.AsyncClient,
) -> None:
    job_id = await submit(client, body("pt-sse", latency_ms=200))

    events = await events_of(client, job_id)  # opened while the job runs: it streams until the end

    assert types(events)[:2] == ["queued", "started"]
    assert types(events)[-1] == "completed"
    assert types(events)[2:-1], types(events)
    assert set(types(events)[2:-1]) == {"progress"}, types(events)
    assert [e.id for e in events] == sorted({e.id for e in events})
    assert all(e.data["job_id"] == job_id for e in events)
    assert (await wait_for(client, job_id))["status"] == "complete"

    resumed = await events_of(client, job_id, last_event_id=events[1].id)
    assert resumed == events[2:]


async def test_the_same_idempotency_key_and_body_returns_the_same_job(client: httpx.AsyncClient) -> None:
    request = body("pt-idem")
    first = await submit(client, request, **{"Idempotency-Key": "order-17"})
    await wait_for(client, first)
    # The same request, its keys in another order and spaced out: the same body to the service.
    reordered = json.dumps(dict(reversed(list(request.items()))), indent=4)

    again = await client.post(
        "/api/generate-content",
        content=reordered,
        headers=ASYNC | {"Idempotency-Key": "order-17", "content-type": "application/json"},
    )

    assert again.status_code == 202
    assert again.json()["job_id"] == first
    assert types(await events_of(client, first)).count("started") == 1


async def test_concurrent_retries_with_one_idempotency_key_make_one_job(client: httpx.AsyncClient) -> None:
    # A game client that timed out and retried at once: the submissions race to insert the job. Fresh
    # content every time (strategy `always`), so only the key can make them one job.
    request = body("pt-race", latency_ms=100, strategy="always")
    job_ids = await asyncio.gather(*(submit(client, request, **{"Idempotency-Key": "order-19"}) for _ in range(8)))
    unkeyed = await asyncio.gather(*(submit(client, request) for _ in range(2)))

    assert len(set(job_ids)) == 1
    assert len({*job_ids, *unkeyed}) == 3
    assert (await wait_for(client, job_ids[0]))["status"] == "complete"


async def test_a_database_down_at_the_insert_is_a_503_not_taken_for_the_idempotency_race(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = body("pt-idem-down", strategy="always")
    first = await submit(client, request, **{"Idempotency-Key": "order-20"})
    await wait_for(client, first)

    async def unreachable(record: Any, **_events: Any) -> None:  # `add` takes the job's queued event too
        raise RepositoryUnavailable()

    # The retried submission's lookup misses (as when the first insert is not yet visible), then its insert
    # fails because the database is down: that is an outage, not the other submission winning the race.
    found, lookups = services.jobs.by_idempotency_key, [0]

    async def first_misses(key: str) -> Any:
        lookups[0] += 1
        return None if lookups[0] == 1 else await found(key)

    monkeypatch.setattr(services.jobs, "add", unreachable)
    monkeypatch.setattr(services.jobs, "by_idempotency_key", first_misses)
    again = await client.post("/api/generate-content", json=request, headers=ASYNC | {"Idempotency-Key": "order-20"})

    assert again.status_code == 503, again.text
    assert again.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"


async def test_the_same_idempotency_key_with_another_body_is_409(client: httpx.AsyncClient) -> None:
    first = await submit(client, body("pt-idem-a"), **{"Idempotency-Key": "order-18"})

    response = await client.post(
        "/api/generate-content", json=body("pt-idem-b"), headers=ASYNC | {"Idempotency-Key": "order-18"}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert (await wait_for(client, first))["cache_key"].split(";c=")[0].endswith("|pt-idem-a|1")


# A lease no heartbeat misses on a busy machine: a lapsed one rightly hands the job on (it then starts twice).
@pytest.mark.parametrize("settings", [{"job_lease_s": 60}], indirect=True)
async def test_a_submission_for_content_a_job_is_making_joins_that_job(held: Held) -> None:
    client = held.client
    first = await submit(client, body("pt-join"))  # its provider call holds until released

    second = await submit(client, body("pt-join"))
    other = await submit(client, body("pt-join-other"))

    assert second == first
    assert other != first
    held.provider.release()
    assert (await wait_for(client, first))["status"] == "complete"
    assert types(await events_of(client, first)).count("started") == 1


async def wait_until_running(client: httpx.AsyncClient, job_id: str) -> None:
    await wait_for(client, job_id, statuses=("processing",))


@pytest.mark.parametrize("settings", [{"job_concurrency": 1}], indirect=True)
async def test_cancel_of_a_queued_job_fails_it_at_once_and_it_never_runs(held: Held) -> None:
    client, services = held.client, held.services
    blocker = await submit(client, body("pt-busy"))  # its provider call holds until released
    await wait_until_running(client, blocker)  # the only runner is busy now
    victim = await submit(client, body("pt-victim"))
    assert (await client.get(f"/api/generation-jobs/{victim}")).json()["status"] == "queued"

    cancelled = await client.post(f"/api/generation-jobs/{victim}/cancel")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "failed"
    assert cancelled.json()["error"]["code"] == "GEN_CANCELLED"
    # Free the runner; a job queued after the victim completing means the runner has seen the victim.
    await client.post(f"/api/generation-jobs/{blocker}/cancel")
    held.provider.release()
    after = await submit(client, body("pt-after"))
    assert (await wait_for(client, after))["status"] == "complete"
    final = await wait_for(client, victim)
    assert final["error"]["code"] == "GEN_CANCELLED"
    assert final.get("content") is None
    assert types(await events_of(client, victim)) == ["queued", "failed"]
    record = await services.jobs.get(victim)
    assert record is not None
    assert record.started_at is None
    assert record.artifacts == []


async def test_cancel_of_a_running_job_stops_it(held: Held) -> None:
    client = held.client
    job_id = await submit(client, body("pt-long"))  # its provider call holds until the test ends
    await wait_until_running(client, job_id)

    started = time.monotonic()
    response = await client.post(f"/api/generation-jobs/{job_id}/cancel")
    job = await wait_for(client, job_id)
    # Logged, not asserted (a busy machine is slow, not wrong); GEN_CANCELLED, not "complete", is the proof
    # that the running provider call was stopped rather than left to finish.
    print(f"\ncancel of a running job: failed after {(time.monotonic() - started) * 1000:.0f} ms")
    assert response.status_code == 200
    assert job["status"] == "failed"
    assert job["error"]["code"] == "GEN_CANCELLED"
    events = types(await events_of(client, job_id))
    assert events[-1] == "failed"
    assert "started" in events
    assert "completed" not in events


@pytest.mark.parametrize("settings", [{"job_max_attempts": 2}, {"job_max_attempts": 4}], indirect=True)
async def test_a_retryable_failure_runs_the_job_max_attempts_times_then_applies_the_fallback(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    job_id = await submit(client, body("pt-flaky", fail_with="GEN_PROVIDER_UNAVAILABLE"))

    job = await wait_for(client, job_id)

    assert job["status"] == "failed"
    assert job["error"]["code"] == "GEN_PROVIDER_UNAVAILABLE"
    assert job["fallback"]["applied"] is True
    assert job["fallback"]["mode"] == "placeholder"
    assert job["content"]["placeholder"] is True
    events = await events_of(client, job_id)
    assert types(events).count("started") == settings.job_max_attempts
    assert types(events)[-2:] == ["fallback_applied", "failed"]


async def test_a_failure_that_is_not_retryable_runs_once(client: httpx.AsyncClient) -> None:
    job_id = await submit(client, body("pt-broken", fail_with="GEN_CONSTRAINT_FAIL"))

    job = await wait_for(client, job_id)

    assert job["error"]["code"] == "GEN_CONSTRAINT_FAIL"
    assert job["fallback"]["mode"] == "placeholder"
    events = types(await events_of(client, job_id))
    assert events.count("started") == 1
    assert events[-2:] == ["fallback_applied", "failed"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", ""), ("POST", "/cancel"), ("GET", "/events")], ids=["get", "cancel", "events"]
)
async def test_an_unknown_job_is_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, f"/api/generation-jobs/no-such-job{path}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_a_job_for_a_cached_key_completes_from_the_cache(client: httpx.AsyncClient) -> None:
    sync = await client.post("/api/generate-content", json=body("pt-cached"))
    assert sync.status_code == 200

    job_id = await submit(client, body("pt-cached"))
    job = await wait_for(client, job_id)

    assert job["status"] == "complete"
    assert job["cache"]["hit"] is True
    assert without_url(job["content"]) == without_url(sync.json()["content"])
    assert types(await events_of(client, job_id)) == ["queued", "started", "cache_hit", "completed"]


async def test_queued_jobs_complete_after_a_restart(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "data")
    stopped = await build(settings)  # never started: nothing runs its jobs
    try:
        async with app_client(settings, stopped) as before:
            job_ids = [await submit(before, body(f"pt-restart-{n}")) for n in range(3)]
            assert [(await wait_for(before, j, statuses=("queued",)))["status"] for j in job_ids] == ["queued"] * 3
    finally:
        await stopped.aclose()

    restarted = await build(settings)
    await restarted.start()
    try:
        async with app_client(settings, restarted) as after:
            finals = [await wait_for(after, j) for j in job_ids]
    finally:
        await restarted.aclose()
    assert [f["status"] for f in finals] == ["complete"] * 3


def reaper(services: Services) -> dict[str, Any]:
    """What `reap` runs with, picked out of `services` (as the reaper loop bootstrap starts has it)."""
    options = services.options
    return {
        "ports": job_ports(services),
        "outbox": services.outbox,
        "lease_s": options.job_lease_s,
        "max_attempts": options.job_max_attempts,
    }


async def lose_runner(services: Services, job_id: str) -> None:
    """A runner that claimed the job and died: its lease ran out a while ago."""
    now = services.clock.now()
    claimed = await services.jobs.claim(
        job_id, owner="dead-runner", now=now - timedelta(seconds=60), lease_until=now - timedelta(seconds=30)
    )
    assert claimed is not None


async def test_a_job_whose_runner_died_is_queued_again_and_completes(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "data")
    services = await build(settings)
    try:
        async with app_client(settings, services) as client:
            job_id = await submit(client, body("pt-lost"))
            await lose_runner(services, job_id)
            assert (await client.get(f"/api/generation-jobs/{job_id}")).json()["status"] == "processing"

            assert await reap(**reaper(services)) >= 1

            assert (await client.get(f"/api/generation-jobs/{job_id}")).json()["status"] == "queued"
            await services.start()
            job = await wait_for(client, job_id)
            events = await events_of(client, job_id)
    finally:
        await services.aclose()
    assert job["status"] == "complete"
    assert types(events) == ["queued", "queued", "started", "progress", "completed"]
    assert events[2].data["attempt"] == 2


async def test_a_job_whose_runner_died_too_often_fails_with_worker_lost_and_a_fallback(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "data", job_max_attempts=2)
    services = await build(settings)
    try:
        async with app_client(settings, services) as client:
            job_id = await submit(client, body("pt-cursed"))
            seen = []
            for _ in range(settings.job_max_attempts):
                await lose_runner(services, job_id)
                await reap(**reaper(services))
                seen.append((await client.get(f"/api/generation-jobs/{job_id}")).json()["status"])
            job = await wait_for(client, job_id)
            events = types(await events_of(client, job_id))
    finally:
        await services.aclose()
    assert seen == ["queued", "failed"]
    assert job["error"]["code"] == "GEN_WORKER_LOST"
    assert job["fallback"]["mode"] == "placeholder"
    assert job["content"]["placeholder"] is True
    assert events == ["queued", "queued", "failed"]


async def test_a_job_cancelled_while_its_runner_was_dead_ends_cancelled(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "data")
    services = await build(settings)
    try:
        async with app_client(settings, services) as client:
            job_id = await submit(client, body("pt-orphan"))
            await lose_runner(services, job_id)
            cancelled = await client.post(f"/api/generation-jobs/{job_id}/cancel")
            assert cancelled.status_code == 200
            await services.start()  # the reaper hands the job on; a runner must not leave it pending

            job = await wait_for(client, job_id)
            events = types(await events_of(client, job_id))
    finally:
        await services.aclose()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "GEN_CANCELLED"
    assert events[-1] == "failed"
    assert "started" not in events
