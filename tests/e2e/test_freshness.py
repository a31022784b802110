"""Always-fresh and hybrid nodes (spec phase 5): an `always` node generates fresh content within its rate
limit and serves its newest content over it; a `hybrid` node serves its cached content at once and
refreshes it in the background (stale-while-revalidate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.config import Settings
from dyngen.config_sections import RateLimitSetting
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.services.machinery.container import Services
from tests.support.waiting import hang_guard, until


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    limits = {
        "ambient": RateLimitSetting(rate=2, per="hour", burst=2),
        "ambient_hybrid": RateLimitSetting(rate=2, per="hour", burst=2),
        "ambient_empty": RateLimitSetting(rate=1, per="hour", burst=1),
    }
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1, rate_limit_nodes=limits)


def ambient(node: str = "ambient", **changes: Any) -> dict[str, Any]:
    return {
        "type": "environment",
        "purpose": "ambient",
        "node_id": node,
        "from_scene": {"id": "market", "mood": "busy"},
        "strategy": "always",
        **changes,
    }


def hybrid(**changes: Any) -> dict[str, Any]:
    return {
        "type": "dialogue",
        "node_id": "barkeep",
        "from_scene": {"id": "tavern", "mood": "warm"},
        "to_scene": {"id": "street", "mood": "tense"},
        "strategy": "once",
        "hybrid": True,
        **changes,
    }


async def generate(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def generation_ids(client: httpx.AsyncClient, node: str) -> list[str]:
    found = (await client.get("/api/generations", params={"node_id": node})).json()
    return [g["id"] for g in found["generations"]]


async def test_an_always_node_generates_fresh_each_call_then_serves_its_newest_over_its_limit(
    client: httpx.AsyncClient,
) -> None:
    first = await generate(client, ambient())
    second = await generate(client, ambient())

    assert first["cache"] == {"hit": False}
    assert second["cache"] == {"hit": False}
    assert first["generation_id"] != second["generation_id"]
    assert first["seed"] != second["seed"]  # a fresh timestamp seed each call
    assert first["deterministic"] is False

    over = await generate(client, ambient())

    assert over["status"] == "complete"
    assert over["cache"]["hit"] is True
    assert over["cache"]["stale"] is True
    assert over["generation_id"] == second["generation_id"]  # the newest, not the first
    assert over["content"] == second["content"]
    assert "error" not in over
    assert len(await generation_ids(client, "ambient")) == 2  # no provider run over the limit


async def test_an_always_node_over_its_limit_with_nothing_cached_falls_back_rate_limited(
    client: httpx.AsyncClient,
) -> None:
    failed = await generate(client, ambient("ambient_empty", simulate={"fail_with": "GEN_TIMEOUT"}))
    assert failed["error"]["code"] == "GEN_TIMEOUT"  # spent the node's one generation, kept nothing

    limited = await generate(client, ambient("ambient_empty", fallback={"mode": "placeholder"}))

    assert limited["status"] == "failed"
    assert limited["error"]["code"] == "GEN_RATE_LIMITED"
    assert limited["fallback"]["mode"] == "placeholder"
    assert limited["content"]["placeholder"] is True


async def test_an_always_node_without_a_limit_generates_every_time(client: httpx.AsyncClient) -> None:
    answers = [await generate(client, ambient("ambient_unlimited")) for _ in range(4)]

    assert [a["cache"]["hit"] for a in answers] == [False] * 4
    assert len({a["generation_id"] for a in answers}) == 4


async def test_a_hybrid_always_node_serves_its_newest_at_once_and_refreshes_behind(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = await generate(client, ambient("ambient_hybrid", hybrid=True))
    assert first["cache"] == {"hit": False}  # nothing to serve yet: generated in the foreground

    served = await generate(client, ambient("ambient_hybrid", hybrid=True))

    assert served["cache"]["hit"] is True
    assert served["cache"]["stale"] is True
    assert served["generation_id"] == first["generation_id"]
    ids = await until(
        lambda: _more_than(client, "ambient_hybrid", 1), what="the background refresh records a second generation"
    )
    newest = ids[0]
    await until(lambda: _idle(services), what="the refresh finishes")
    after = await generate(client, ambient("ambient_hybrid", hybrid=True))
    assert after["generation_id"] == newest  # the refresh replaced the newest content
    await until(lambda: _idle(services), what="the next refresh finishes")
    # The node's limit is 2 per hour: the third refresh was refused, so no third generation.
    assert len(await generation_ids(client, "ambient_hybrid")) == 2


async def _more_than(client: httpx.AsyncClient, node: str, n: int) -> list[str] | None:
    ids = await generation_ids(client, node)
    return ids if len(ids) > n else None


async def _idle(services: Services) -> bool:
    return len(services.refreshes) == 0


async def test_a_hybrid_node_serves_stale_content_at_once_and_a_refresh_lands(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = await generate(client, hybrid())
    assert first["cache"] == {"hit": False}

    stale = await generate(client, hybrid())

    assert stale["cache"]["hit"] is True
    assert stale["cache"]["stale"] is True
    assert stale["generation_id"] == first["generation_id"]
    assert stale["content"] == first["content"]
    ids = await until(lambda: _more_than(client, "barkeep", 1), what="the background refresh records a generation")
    await until(lambda: _idle(services), what="the refresh finishes")
    refreshed = await generate(client, hybrid())
    assert refreshed["generation_id"] == ids[0]  # the refreshed entry is what is served now
    assert refreshed["cache"]["hit"] is True
    await until(lambda: _idle(services), what="the next refresh finishes")


async def test_a_hybrid_node_within_its_refresh_window_serves_fresh_without_refreshing(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = await generate(client, hybrid(refreshAfterS=3600))

    again = await generate(client, hybrid(refreshAfterS=3600))

    assert again["cache"] == {"hit": True, "tier": "memory"}  # not stale: no refresh started
    assert len(services.refreshes) == 0
    assert await generation_ids(client, "barkeep") == [first["generation_id"]]


async def test_a_changed_hybrid_node_is_regenerated_in_the_foreground_not_served_stale(
    client: httpx.AsyncClient,
) -> None:
    await generate(client, hybrid())

    changed = await generate(client, hybrid(constraints={"rating": "G"}))

    assert changed["cache"] == {"hit": False}
    assert changed["status"] == "complete"


async def test_closing_the_service_cancels_running_refreshes(client: httpx.AsyncClient, services: Services) -> None:
    # A refresh that would take 30 s (simulated provider latency, within a 60 s timeout); `simulate` is
    # not part of the key or the config fingerprint, so the quick first call fills the same entry.
    slow = hybrid(simulate={"latency_ms": 30_000}, fallback={"mode": "skip", "timeoutMs": 60_000})
    await generate(client, {**slow, "simulate": {"latency_ms": 0}})
    answered = await generate(client, slow)
    assert answered["cache"].get("stale") is True
    assert len(services.refreshes) == 1

    async with hang_guard("closing to cancel the refresh"):
        await services.refreshes.aclose(grace_s=0.1)

    assert len(services.refreshes) == 0
    # Cancelled, not waited for: a refresh let run to its end would have recorded a second generation.
    assert len(await generation_ids(client, "barkeep")) == 1


async def test_a_failing_refresh_is_not_retried_on_every_serve_but_backs_off(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await generate(client, hybrid())
    provider = services.providers.get("builtin")
    assert provider is not None
    calls: list[int] = []

    async def down(call: Any) -> Any:
        calls.append(call.attempt)
        raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "the provider is down")

    monkeypatch.setattr(provider, "generate", down)
    for _ in range(20):
        served = await generate(client, hybrid())
        assert served["cache"]["hit"] is True, "the player still gets the cached content"
        await until(lambda: _idle(services), what="the refresh finishes")

    assert len(calls) == 1, "one refresh, then it waits: not one provider call per serve"
    real = services.clock.monotonic
    for skipped_s, expected_calls in ((11, 2), (11 + 11, 2), (11 + 21, 3)):
        monkeypatch.setattr(services.clock, "monotonic", lambda skipped_s=skipped_s: real() + skipped_s)
        await generate(client, hybrid())
        await until(lambda: _idle(services), what="the refresh finishes")
        assert len(calls) == expected_calls, f"{skipped_s} s later: the wait doubles after each failure"
