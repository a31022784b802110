"""Retention (issue 12 item 4): under a sustained `always` load, disk use stays flat once the window has
passed, and nothing a cache entry, a scene graph or a review refers to is removed (every URL still served
still loads). The clock is a FakeClock the test moves; sweeps are called, not waited for."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
from dyngen.config import Settings
from dyngen.config_sections import RetentionSettings
from dyngen.ports import Review
from dyngen.services import retention
from dyngen.services.generation.outcomes import CacheEntry
from dyngen.services.machinery.container import Services
from dyngen.services.retention import SweepReport
from tests.fakes import FakeClock, FakeManualClock
from tests.support.objects import stored
from tests.support.waiting import until

HOUR_S = 3600.0
ROUNDS = 10
PER_ROUND = 12  # `always` requests per round, over two nodes


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    windows = RetentionSettings(
        sweep=False, always_s=HOUR_S, failed_s=HOUR_S, once_s=HOUR_S, per_playthrough_s=HOUR_S, events_s=HOUR_S
    )
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1, retention=windows)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 5, 1, tzinfo=UTC))


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    """The service built with the test's clock (adapters included), started as the API's lifespan does."""
    built = await build(settings, clock=clock)
    await built.start()
    yield built
    await built.aclose()


def ambient(node: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "environment",
        "purpose": "ambient",
        "node_id": node,
        "from_scene": {"id": "market", "mood": "busy"},
        "strategy": "always",
        **changes,
    }


ONCE = {
    "type": "dialogue",
    "node_id": "barkeep",
    "from_scene": {"id": "tavern", "mood": "warm"},
    "to_scene": {"id": "street", "mood": "tense"},
    "strategy": "once",
}


async def generate(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def disk_bytes(settings: Settings) -> tuple[int, int]:
    """(live bytes of the SQLite database: used pages times page size, bytes of the artifacts)."""
    with sqlite3.connect(settings.data_dir / "dyngen.db") as db:
        pages, free, size = (
            db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size")
        )
    return (pages - free) * size, sum(stored(settings.object_dir, "artifacts/").values())


async def sweep(services: Services, *, dry_run: bool = False) -> SweepReport:
    assert services.retention is not None
    return await retention.sweep(
        policy=services.options.retention,
        repository=services.retention,
        cache=services.cache,
        artifacts=services.artifacts,
        clock=services.clock,
        cache_ttl_s=services.options.cache_ttl_s,
        probes=services.probes,
        dry_run=dry_run,
    )


async def fetch(client: httpx.AsyncClient, services: Services, url: str) -> int:
    """The status of a GET of the artifact behind `url`, signed afresh (the test's clock moves past the
    lifetime of the URLs it was given; what is checked here is whether the artifact is still there)."""
    artifact_id = url.split("?", 1)[0].rsplit("/", 1)[1]
    fresh = services.media.url(artifact_id, exp=services.media.expiry(services.clock.now()))
    return (await client.get(fresh)).status_code


def artifact_of(answer: dict[str, Any]) -> str:
    url: str = answer["content"]["url"]
    return url.split("?", 1)[0].rsplit("/", 1)[1]


async def served_urls(services: Services) -> list[str]:
    """The content URL of every cache entry of every key, in every tier."""
    urls = []
    for key in await services.repository.cache_keys():
        for raw in await services.cache.entries(key):
            content = CacheEntry.model_validate_json(raw).outcome.content
            if content is not None and content.url:
                urls.append(content.url)
    return urls


async def test_disk_use_is_flat_under_a_sustained_always_load_and_nothing_served_is_removed(
    client: httpx.AsyncClient, services: Services, settings: Settings, clock: FakeClock
) -> None:
    once_url = (await generate(client, ONCE))["content"]["url"]
    sizes: list[tuple[int, int]] = []
    for round_ in range(ROUNDS):
        latest = []
        for n in range(PER_ROUND):
            latest.append((await generate(client, ambient(f"ambient-{n % 2}")))["content"]["url"])
        await generate(client, ambient("ambient-0", simulate={"failWith": "GEN_PROVIDER_UNAVAILABLE"}))
        clock.advance(HOUR_S / 2)  # two rounds per window
        report = await sweep(services)
        if round_ >= 2:
            assert report.generations > 0, f"round {round_}: past the window, something must go"
        sizes.append(disk_bytes(settings))

        for url in [*await served_urls(services), once_url, *latest]:
            assert await fetch(client, services, url) == 200, f"round {round_}: {url} is served but gone"

    db, files = zip(*sizes, strict=True)
    steady = slice(3, None)  # after the window has passed once
    assert max(files[steady]) <= min(files[steady]) * 1.25, f"artifact bytes grow: {files}"
    assert max(db[steady]) <= min(db[steady]) * 1.25, f"database bytes grow: {db}"


async def test_without_sweeps_the_same_load_grows(
    client: httpx.AsyncClient, services: Services, settings: Settings, clock: FakeClock
) -> None:
    """The control of the test above: its load does grow the disk when nothing is swept (and a dry run
    reports the removal without making it)."""
    sizes = []
    for _ in range(4):
        for n in range(PER_ROUND):
            await generate(client, ambient(f"ambient-{n % 2}"))
        clock.advance(HOUR_S / 2)
        sizes.append(disk_bytes(settings))
    assert sizes[-1][1] > sizes[0][1] * 3
    dry = await sweep(services, dry_run=True)
    assert dry.generations == 2 * PER_ROUND  # the first two rounds (each node's newest is in the last)
    assert dry.bytes > 0
    assert disk_bytes(settings) == sizes[-1]


async def test_what_is_named_reviewed_or_cached_is_kept_past_its_window(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    first: dict[str, Any] = {}
    named: dict[str, Any] = {}
    reviewed: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    newest: dict[str, Any] = {}
    for answer in (first, named, reviewed, plain, newest):
        answer.update(await generate(client, ambient("ambient-0")))
        clock.advance(1)
    once = await generate(client, ONCE)
    image_id = artifact_of(named)
    graph = {"id": "g", "title": "t", "scenes": [{"id": "cafe", "image": image_id}], "nodes": []}
    await services.graphs.save_graph("g", title="t", body=graph, author=None, at=clock.now())
    await services.reviews.add_review(
        Review(
            id="r1",
            generation_id=reviewed["generation_id"],
            node_id="ambient-0",
            cache_key="k",
            arm=None,
            score=5,
            note=None,
            reviewer=None,
            created_at=clock.now(),
        )
    )
    clock.advance(2 * HOUR_S)

    report = await sweep(services)

    assert report.generations == 2
    gone = {first["generation_id"], plain["generation_id"]}
    for answer in (first, named, reviewed, plain, newest, once):
        status = await fetch(client, services, answer["content"]["url"])
        assert status == (404 if answer["generation_id"] in gone else 200), answer["generation_id"]


def pooled(playthrough: str) -> dict[str, Any]:
    """A node with a pool of 3 variants, shared by every playthrough (each picks one by its seed)."""
    return {
        "type": "variation",
        "node_id": "fountain",
        "from_scene": {"id": "gate", "mood": "calm"},
        "to_scene": {"id": "market", "mood": "joyful"},
        "strategy": "per_playthrough",
        "variants": 3,
        "player_context": {"playthroughId": playthrough},
    }


async def test_pool_variants_past_their_window_are_kept_while_their_pool_serves_them(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    """Every variant of a pool is served to new playthroughs for as long as its cache entry lives (30 days
    for `per_playthrough`), past the strategy's retention window (an hour here): none is removed, and a
    playthrough that arrives after the sweep is served a variant that loads."""
    made: dict[int, dict[str, Any]] = {}
    for n in range(40):
        answer = await generate(client, pooled(f"pt-{n}"))
        made.setdefault(answer["variant"]["index"], answer)
    assert sorted(made) == [0, 1, 2], "every variant of the pool was made"
    clock.advance(2 * HOUR_S)

    report = await sweep(services)

    assert (report.generations, report.kept) == (0, 3), "all three were past their window, and kept"
    for answer in made.values():
        assert await fetch(client, services, answer["content"]["url"]) == 200, answer["variant"]
    late = await generate(client, pooled("after-the-sweep"))
    assert late["cache"]["hit"] is True
    assert await fetch(client, services, late["content"]["url"]) == 200


def services_files(data: Path) -> list[str]:
    return list(stored(data / "objects", "artifacts/"))


async def started(settings: Settings, clock: FakeClock) -> Services:
    return await build(settings, clock=clock)


async def test_the_server_sweeps_periodically_and_the_switch_turns_it_off(tmp_path: Path) -> None:
    from dyngen.domain.contracts import GenerateContentRequest
    from dyngen.domain.wire import load
    from dyngen.services.generation import front_door as generation

    on = RetentionSettings(sweep=True, interval_s=60, always_s=HOUR_S)
    clock = FakeManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    services = await started(Settings(data_dir=tmp_path / "on", retention=on), clock)
    try:
        request = load(GenerateContentRequest, ambient("ambient-0"))
        made = []
        for _ in range(3):
            made.append(await generation.generate_content(request=request, ports=generation_ports(services)))
            clock.advance(1)
        clock.advance(2 * HOUR_S)
        assert "retention_sweep" in [run.__name__ for run in services.background]

        await services.start()  # as the API's lifespan does
        await until(lambda: clock.sleeping == 1, what="the sweep loop to wait for its first interval")

        async def gone() -> list[bool]:
            return [await services.repository.get(m.generation_id or "") is None for m in made]

        assert await gone() == [False, False, False], "nothing is swept before the interval has passed"
        before = len(services_files(tmp_path / "on"))
        clock.advance(60)

        async def swept() -> bool:
            return await gone() == [True, True, False]  # the newest stays: the cache serves it

        await until(swept, what="the periodic sweep to remove the expired records")
        await until(lambda: clock.sleeping == 1, what="the sweep's grace before deleting objects")
        assert len(services_files(tmp_path / "on")) == before, "objects are deleted only after the grace"
        clock.advance(on.object_grace_s)
        await until(lambda: len(services_files(tmp_path / "on")) == 1, what="the objects to be deleted")
        await until(lambda: clock.sleeping == 1, what="the sweep loop to wait for its next interval")
    finally:
        await services.aclose()

    off = await started(Settings(data_dir=tmp_path / "off", retention=RetentionSettings(sweep=False)), clock)
    try:
        assert "retention_sweep" not in [run.__name__ for run in off.background]
    finally:
        await off.aclose()


async def test_an_older_entry_in_any_tier_keeps_what_it_names(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    """A slower tier (here the durable tier in the database, as another process or a failed write may leave
    it) still serving an older generation keeps that generation, though it is not its key's newest."""
    answers = []
    old_entry = b""
    for n in range(3):
        answers.append(await generate(client, ambient("ambient-0")))
        if n == 0:
            key = (await services.repository.cache_keys(node_id="ambient-0"))[0]
            old_entry = (await services.cache.entries(key))[0]
        clock.advance(1)
    durable = services.cache.tiers[len(services.cache.fast)]
    assert durable.name == "database"
    await durable.set(key, old_entry)
    clock.advance(2 * HOUR_S)

    report = await sweep(services)

    assert report.generations == 1, "only the middle one: the first is named by a tier, the last is the newest"
    statuses = [await fetch(client, services, a["content"]["url"]) for a in answers]
    assert statuses == [200, 404, 200]


@pytest.mark.parametrize("clock", [FakeManualClock(datetime(2026, 5, 1, tzinfo=UTC))])
async def test_an_object_stored_again_during_the_grace_is_not_deleted(
    client: httpx.AsyncClient, services: Services, settings: Settings, clock: FakeManualClock
) -> None:
    """Artifacts are content-addressed: a generation that stores the same bytes as a removed record, and
    writes its own record while the sweep waits, keeps the object."""
    import asyncio

    old = await generate(client, ambient("ambient-0"))
    clock.advance(1)
    await generate(client, ambient("ambient-0"))  # the key's newest: kept
    clock.advance(2 * HOUR_S)
    record = await services.repository.get(old["generation_id"])
    assert record is not None
    stored = record.artifacts[0]

    running = asyncio.create_task(sweep(services))
    await until(lambda: clock.sleeping == 1, what="the sweep to wait its grace")
    assert await services.repository.get(old["generation_id"]) is None
    again = record.model_copy(
        update={"id": "f" * 32, "artifacts": [stored.model_copy(update={"id": "e" * 32, "generation_id": "f" * 32})]}
    )
    await services.repository.add(again)  # as a generation that made the same bytes would
    clock.advance(settings.retention.object_grace_s)
    report = await running

    assert (report.generations, report.objects) == (1, 0)
    assert await fetch(client, services, f"/api/artifacts/{'e' * 32}") == 200


async def test_the_memory_mode_sweeps_its_records_and_objects(tmp_path: Path) -> None:
    from dyngen.config import MEMORY_URL
    from dyngen.domain.contracts import GenerateContentRequest
    from dyngen.domain.wire import load
    from dyngen.services.generation import front_door as generation

    windows = RetentionSettings(sweep=True, always_s=HOUR_S, object_grace_s=0)
    memory = Settings(data_dir=tmp_path / "data", database_url=MEMORY_URL, retention=windows)
    clock = FakeManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    services = await started(memory, clock)
    try:
        assert "retention_sweep" in [run.__name__ for run in services.background]
        request = load(GenerateContentRequest, ambient("ambient-0"))
        made = []
        for _ in range(3):
            made.append(await generation.generate_content(request=request, ports=generation_ports(services)))
            clock.advance(1)
        clock.advance(2 * HOUR_S)

        report = await sweep(services)

        assert (report.generations, report.objects) == (2, 2)
        kept = [await services.repository.get(m.generation_id or "") is not None for m in made]
        assert kept == [False, False, True], "the newest stays: the cache serves it"
        assert not memory.data_dir.exists(), "the memory mode writes nothing to the data dir"
    finally:
        await services.aclose()
