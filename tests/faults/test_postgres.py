"""PostgreSQL in both failure shapes (issue 12): refused (`cut`) and accepting but never answering (`hang`).

Through either, a generation answers with content or its node's fallback, never an error, and a record
route answers 503 with `Retry-After`, each well inside a client timeout that the unbounded waits of before
(45 s and more) would overrun. After the database is back, every URL a player was given is fetchable, also
after a restart (the records kept in the outbox were written to the database).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.adapters.db import schema
from dyngen.adapters.db.repository import SqlAlchemyGenerationRepository, create_engine
from dyngen.adapters.db.writer import SqlWriter
from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import GenerationRecord
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import GenerationFilter
from dyngen.services.authoring.runtime_graphs import CURRENT_TTL_S
from tests.fakes import FakeManualClock, FakeProvider
from tests.support.cli_zygote import run_dyngen
from tests.support.proxy import TcpProxy
from tests.support.servers import dyngen_server
from tests.support.waiting import until, wait_until

pytestmark = pytest.mark.services

# The guard: a request held by the database (as before: 45 s and more) fails the test. The database
# settings below are small, so every answer comes long before it.
CLIENT_TIMEOUT_S = 15.0
NODE_TIMEOUT_MS = 3000
DATABASE_SETTINGS = {
    "DYNGEN_DB_CONNECT_TIMEOUT_S": "0.5",
    "DYNGEN_DB_COMMAND_TIMEOUT_S": "1",
    "DYNGEN_DB_POOL_TIMEOUT_S": "0.5",
    "DYNGEN_RECORD_TIMEOUT_S": "0.5",
    "DYNGEN_OUTBOX_REPLAY_S": "0.2",
}


def dialogue(node: str, playthrough: str, *, strategy: str = "per_playthrough") -> dict[str, Any]:
    return {
        "type": "dialogue",
        "node_id": node,
        "from_scene": {"id": "cafe", "mood": "romantic", "location": "corner_cafe"},
        "to_scene": {"id": "roof", "mood": "intense", "location": "city_rooftops"},
        "strategy": strategy,
        "fallback": {"mode": "placeholder", "timeoutMs": NODE_TIMEOUT_MS},
        "player_context": {"playthroughId": playthrough},
    }


class Player:
    """Asks for content and remembers every URL it was given."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.urls: list[str] = []
        self.generations: list[str] = []

    def generate(self, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.base}/api/generate-content", json=body, timeout=CLIENT_TIMEOUT_S)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["content"] is not None, answer
        assert answer["status"] == "complete" or answer["fallback"]["applied"], answer
        if (url := answer["content"].get("url")) is not None:
            self.urls.append(url)
        if answer.get("generation_id"):
            self.generations.append(answer["generation_id"])
        return answer

    def fetchable(self, *, since: int = 0) -> dict[str, int]:
        """The URLs (and generation records) from the `since`-th answer on that do not answer 200, with
        their status."""
        paths = self.urls[since:] + [f"/api/generations/{g}" for g in self.generations[since:]]
        statuses = {p: httpx.get(f"{self.base}{p}", timeout=CLIENT_TIMEOUT_S).status_code for p in paths}
        return {p: s for p, s in statuses.items() if s != 200}


@pytest.fixture
def proxied_postgres(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    proxy = TcpProxy(host, int(port))
    yield proxy, postgres_url.replace(host_port, f"127.0.0.1:{proxy.port}")
    proxy.close()


@pytest.mark.parametrize("shape", ["cut", "hang"])
def test_generations_answer_through_the_fault_and_every_url_is_fetchable_after_recovery(
    shape: str, tmp_path: Path, proxied_postgres: tuple[TcpProxy, str]
) -> None:
    proxy, url = proxied_postgres
    env = {"DYNGEN_DATA_DIR": str(tmp_path / "data"), "DYNGEN_DATABASE_URL": url, **DATABASE_SETTINGS}
    run_dyngen(["migrate"], env={**os.environ, **env}, check=True)
    node = f"pg-{shape}-{uuid.uuid4().hex[:8]}"
    server, base = dyngen_server(tmp_path, env)
    player = Player(base)
    try:
        assert player.generate(dialogue(node, "before"))["status"] == "complete"

        getattr(proxy, shape)()
        since = len(player.urls)
        assert since == len(player.generations)
        for n in range(3):
            player.generate(dialogue(node, f"during-{n}"))  # misses
        assert player.generate(dialogue(node, "during-0"))["cache"]["hit"] is True
        for n in range(2):
            player.generate(dialogue(node, f"always-{n}", strategy="always"))
        listing = httpx.get(f"{base}/api/generations", params={"node_id": node}, timeout=CLIENT_TIMEOUT_S)
        assert listing.status_code == 503
        assert listing.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
        assert int(listing.headers["Retry-After"]) >= 1
        submitted = httpx.post(
            f"{base}/api/generate-content",
            json=dialogue(node, "async"),
            headers={"Prefer": "respond-async"},
            timeout=CLIENT_TIMEOUT_S,
        )
        assert submitted.status_code in (202, 503), submitted.text
        assert len(player.urls) == len(player.generations) == since + 6  # 3 misses, a hit, 2 always
        # Answered during the fault, and readable already (from the outbox).
        assert player.fetchable(since=since) == {}

        proxy.restore()
        # The kept records reach the database: the listing (database only) shows every one.
        listed = wait_until(
            lambda: (
                (r := httpx.get(f"{base}/api/generations", params={"node_id": node}, timeout=30)).status_code == 200
                and {g["id"] for g in r.json()["generations"]} >= set(player.generations)
            ),
            what="every generation listed",
        )
        assert listed
        assert player.fetchable() == {}
    finally:
        server.stop()
    assert not list((tmp_path / "data" / "outbox").glob("*.json")), "the outbox is written and empty"

    server, base = dyngen_server(tmp_path, env, name="restarted")
    try:
        player.base = base
        assert player.fetchable() == {}, "after a restart too"
        assert player.generate(dialogue(node, "during-1"))["cache"]["hit"] is True
    finally:
        server.stop()


async def test_after_one_timeout_database_calls_fail_at_once_until_one_probe_finds_it_back(
    proxied_postgres: tuple[TcpProxy, str],
) -> None:
    """A hung database costs one caller its timeout; the next callers get DEPENDENCY_UNAVAILABLE at once
    (they send nothing to it) for the cooldown; then one probe goes through, and once it answers everyone
    does again. (Before the switch, each call of a request waited out its own timeout.)"""
    proxy, url = proxied_postgres
    now = [0.0]
    engine = create_engine(url, connect_timeout_s=0.5, command_timeout_s=0.5, cooldown_s=30, clock=lambda: now[0])
    repository = SqlAlchemyGenerationRepository(engine=engine)
    anything = GenerationFilter(limit=1)
    try:
        await schema.upgrade(engine)
        before = await repository.find(anything)  # the session's database: other tests may have written

        proxy.hang()
        with pytest.raises(DyngenError) as first:
            await repository.find(anything)  # waits out one timeout
        assert first.value.code is ErrorCode.DEPENDENCY_UNAVAILABLE
        reached = proxy.swallowed
        assert reached > 0, "the first call did reach the hung database"
        for _ in range(3):
            with pytest.raises(DyngenError) as fast:
                await repository.find(anything)
            assert fast.value.code is ErrorCode.DEPENDENCY_UNAVAILABLE
            assert fast.value.retry_after_s == 30
        assert proxy.swallowed == reached, "during the cooldown no call goes to the database"

        now[0] += 31  # the cooldown is over: one probe, the others still fail at once
        probe = asyncio.create_task(repository.find(anything))
        await until(lambda: proxy.swallowed > reached, what="the probe to reach the database")
        with pytest.raises(DyngenError):
            await repository.find(anything)
        assert not probe.done(), "a caller failed at once while the probe was still waiting"
        with pytest.raises(DyngenError):
            await probe

        proxy.restore()
        now[0] += 31
        assert await repository.find(anything) == before  # the probe finds it back
        assert await asyncio.gather(*(repository.find(anything) for _ in range(3))) == [before] * 3
    finally:
        proxy.restore()
        await engine.dispose()


async def test_a_job_finishing_while_the_database_is_cut_leaves_its_urls_fetchable_after_restore(
    tmp_path: Path, proxied_postgres: tuple[TcpProxy, str]
) -> None:
    """A job's final record goes through the outbox like a synchronous one: its content is cached (and so
    served) at once, so its record must land once the database is back (before: the job's finish failed,
    the job stayed `processing`, and the cached URL was a 404)."""
    proxy, url = proxied_postgres
    provider = FakeProvider(hang=True)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        default_provider="fake",
        db_connect_timeout_s=0.5,
        db_command_timeout_s=1,
        db_pool_timeout_s=0.5,
        db_cooldown_s=0.2,
        record_timeout_s=0.5,
        outbox_replay_s=0.2,
    )
    services = await build(settings, migrate=True, providers={"fake": provider})
    await services.start()
    request = dialogue(f"pg-job-{uuid.uuid4().hex[:8]}", "job")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, services=services)), base_url="http://dyngen.test"
        ) as client:
            submitted = await client.post("/api/generate-content", json=request, headers={"Prefer": "respond-async"})
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["job_id"]
            await until(lambda: bool(provider.calls), what="the job to reach its provider")

            proxy.cut()
            provider.release()  # the job finishes while the database refuses connections
            await until(lambda: services.outbox is not None and services.outbox.holding(), what="the kept record")
            hit = await client.post("/api/generate-content", json=request)
            assert hit.json()["cache"]["hit"] is True, "the job's content is cached and served meanwhile"

            proxy.restore()

            async def finished() -> bool:
                job = await client.get(f"/api/generation-jobs/{job_id}")
                return job.status_code == 200 and job.json()["status"] == "complete"

            await until(finished, what="the job's record to land")
            job = (await client.get(f"/api/generation-jobs/{job_id}")).json()
            for answer in (job, (await client.post("/api/generate-content", json=request)).json()):
                fetched = await client.get(answer["content"]["url"])
                assert fetched.status_code == 200, (answer["content"]["url"], fetched.text)
            assert (await client.get(f"/api/generations/{job_id}")).status_code == 200
    finally:
        proxy.restore()
        await services.aclose()


@pytest.mark.parametrize("shape", ["cut", "hang"])
async def test_a_group_commit_through_a_refused_or_silent_database_fails_its_writers_in_bounded_time(
    shape: str, proxied_postgres: tuple[TcpProxy, str]
) -> None:
    """The group-commit writer (issue 18) with the database refusing or silent during a batch: every caller
    of that batch gets DEPENDENCY_UNAVAILABLE within the database's deadlines (the guard below fails a
    caller held longer), every record acknowledged before is still there, and the writer takes the next
    batch once the database is back."""
    proxy, url = proxied_postgres
    now = [0.0]
    engine = create_engine(url, connect_timeout_s=0.5, command_timeout_s=0.5, cooldown_s=30, clock=lambda: now[0])
    writer = SqlWriter(engine=engine)
    repository = SqlAlchemyGenerationRepository(engine=engine, writer=writer)
    tag = uuid.uuid4().hex[:8]
    try:
        await schema.upgrade(engine)
        acknowledged = [_record(f"{tag}-before-{i}") for i in range(5)]
        await asyncio.gather(*(repository.add(r) for r in acknowledged))

        getattr(proxy, shape)()
        async with asyncio.timeout(CLIENT_TIMEOUT_S):
            during = await asyncio.gather(
                *(repository.add(_record(f"{tag}-during-{i}")) for i in range(5)), return_exceptions=True
            )
        assert all(isinstance(o, DyngenError) and o.code is ErrorCode.DEPENDENCY_UNAVAILABLE for o in during), during

        proxy.restore()
        now[0] += 31  # past the cooldown a hang started: the next call probes
        after = _record(f"{tag}-after")
        await until(lambda: _added(repository, after), what="a write once it is back")
        reader = SqlAlchemyGenerationRepository(engine=engine)
        for kept in [*acknowledged, after]:
            assert await reader.get(kept.id) == kept
    finally:
        proxy.restore()
        await writer.aclose()
        await engine.dispose()


def _record(generation_id: str) -> GenerationRecord:
    return GenerationRecord(
        id=generation_id,
        created_at=datetime(2026, 12, 2, 11, 0, tzinfo=UTC),
        cache_key=f"dialogue|gap_fill|a|b|once||{generation_id}",
        version=1,
        type="dialogue",
        purpose="gap_fill",
        strategy="once",
        seed=7,
        seed_source="hash",
        deterministic=True,
        status=GenerationStatus.COMPLETE,
        config_fingerprint="0" * 64,
        request={},
    )


async def _added(repository: SqlAlchemyGenerationRepository, record: GenerationRecord) -> bool:
    try:
        await repository.add(record)
    except DyngenError:
        return False
    return True


STORY = {
    "id": "story",
    "scenes": [{"id": "a", "mood": "calm", "summary": "the cafe"}, {"id": "b", "mood": "tense", "summary": "the roof"}],
    "nodes": [
        {
            "id": "n_ab",
            "fromScene": "a",
            "toScene": "b",
            "config": {
                "id": "n_ab",
                "generationType": "dialogue",
                "strategy": "per_playthrough",
                "fallback": {"mode": "placeholder", "timeoutMs": NODE_TIMEOUT_MS},
            },
        }
    ],
}


@pytest.mark.parametrize("shape", ["cut", "hang"])
async def test_a_game_calling_stored_nodes_is_answered_through_the_fault(
    shape: str, tmp_path: Path, proxied_postgres: tuple[TcpProxy, str]
) -> None:
    """The game's calls name stored nodes: by reference (`/api/graphs/{graph}/nodes/{node}/content`) or by
    `node_id` alone (a graph's node or a saved node config). Through either failure shape, once the
    process's idea of the current graph has expired, they are answered within the node's deadline, hits
    with their content and misses with new content (before: 503, or held for the database's timeouts);
    every URL answered is fetchable once the database is back."""
    proxy, url = proxied_postgres
    clock = FakeManualClock()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        db_connect_timeout_s=0.5,
        db_command_timeout_s=1,
        db_pool_timeout_s=0.5,
        record_timeout_s=0.5,
        outbox_replay_s=0.2,
    )
    services = await build(settings, migrate=True, clock=clock)
    await services.start()
    player = {"player_context": {"playthroughId": "alice"}}
    saved = {"type": "dialogue", "node_id": "saved", "player_context": {"playthroughId": "alice"}}
    by_id = {"type": "dialogue", "node_id": "n_ab", "player_context": {"playthroughId": "alice"}}
    urls: list[str] = []

    async def call(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with asyncio.timeout(NODE_TIMEOUT_MS / 1000):  # a call held past the node's deadline fails
            answer = await client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        assert found["status"] == "complete" or found["fallback"]["applied"], found
        if found["status"] == "complete":
            urls.append(found["content"]["url"])
        return found

    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, services=services)), base_url="http://dyngen.test"
        ) as client:
            graph_id = f"story-{uuid.uuid4().hex[:8]}"
            assert (await client.post("/api/graphs", json={**STORY, "id": graph_id})).status_code in (200, 201)
            config = {**STORY["nodes"][0]["config"], "id": "saved"}  # type: ignore[index]
            assert (await client.put("/api/nodes/saved/config", json=config)).status_code == 200
            by_ref = f"/api/graphs/{graph_id}/nodes/n_ab/content"
            before = [
                await call(client, by_ref, player),
                await call(client, "/api/generate-content", by_id),
                await call(client, "/api/generate-content", saved),
            ]

            clock.advance(CURRENT_TTL_S + 0.1)  # what is current must be asked again
            getattr(proxy, shape)()
            during = [
                await call(client, by_ref, player),
                await call(client, "/api/generate-content", by_id),
                await call(client, "/api/generate-content", saved),
            ]
            assert [a["generation_id"] for a in during] == [a["generation_id"] for a in before]
            assert all(a["cache"]["hit"] for a in during)
            misses = [
                await call(client, by_ref, {"player_context": {"playthroughId": "bob"}}),
                await call(client, "/api/generate-content", {**saved, "player_context": {"playthroughId": "bob"}}),
            ]
            assert all(a["status"] == "complete" for a in misses), misses

            proxy.restore()

            async def fetchable() -> bool:
                clock.advance(settings.outbox_replay_s)  # the outbox's replay loop sleeps on the clock
                statuses = [(await client.get(u)).status_code for u in urls]
                return statuses == [200] * len(statuses)

            await until(fetchable, what="every URL answered to be fetchable")
    finally:
        proxy.restore()
        await services.aclose()
