"""Misses of a known body are served by the fast path (`entrypoints/api/fast_path.py`), answered exactly as
FastAPI's route answers them.

A game asks for a node with a new playthrough: a miss of a body of a known shape. The fast path serves it
itself (FastAPI's routing and dependency resolution cost a good share of a miss's CPU, bench/miss.py);
only the first body of a shape goes to the route. The same calls run against an app with the fast path
and one without, on fresh data: every answer (status, headers, body) must be the same, ids made per run
aside, the 429 of a miss over the player's rate limit included.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.bootstrap import build
from dyngen.domain.access import Scope
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import ProviderCall, ProviderResult
from tests.e2e.test_api import game_request
from tests.e2e.test_fast_path import GAME, compared_settings, normalised, routed_calls
from tests.fakes import FakeClock
from tests.support.keys import make_key

# One player, a new playthrough each call: every call a miss; the fifth is over the player's limit.
PLAYTHROUGHS = ("pt-a", "pt-b", "pt-c", "pt-d", "pt-e")


async def answers(tmp_path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, bool]]:
    """Each call's normalised answer, and whether the route's front door served it."""
    settings = compared_settings(tmp_path, fast=fast)
    services = await build(settings, clock=FakeClock())
    routed = routed_calls(monkeypatch)
    try:
        _, runtime = await make_key(services, "game", Scope.RUNTIME)
        app = create_app(settings, services=services)
        found = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            for playthrough in PLAYTHROUGHS:
                routed.clear()
                body = game_request(player_context={"playthroughId": playthrough, "playerId": "frank"})
                response = await http.post(
                    "/api/generate-content", json=body, headers={"X-API-Key": runtime, "Origin": GAME}
                )
                found.append((normalised(response), bool(routed)))
        return found
    finally:
        await services.aclose()


async def test_misses_of_a_known_shape_are_served_by_the_fast_path_as_the_route_serves_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = await answers(tmp_path, fast=True, monkeypatch=monkeypatch)
    slow = await answers(tmp_path, fast=False, monkeypatch=monkeypatch)

    assert [answer for answer, _ in fast] == [answer for answer, _ in slow]
    statuses = [answer[0] for answer, _ in slow]
    assert statuses == [200, 200, 200, 200, 429]
    assert all('"hit":false' in answer[2] for answer, _ in slow[:4]), "every call is a miss"
    assert ("retry-after", "60") in slow[4][0][1]
    assert [routed for _, routed in fast] == [True, False, False, False, False], "only the first body was routed"
    assert all(routed for _, routed in slow)


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "route"])
async def test_a_miss_runs_its_provider_in_the_requests_own_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """An HTTP answer's flight runs in place (`SingleFlight.run`'s `in_place`): not in a task of its own, which
    cost a miss two turns of the event loop. Over ASGITransport the app runs in the test's own task."""
    settings = compared_settings(tmp_path, fast=fast)
    services = await build(settings, clock=FakeClock())
    producing_in: list[asyncio.Task[Any] | None] = []
    original = BuiltinProvider.generate

    async def recorded(self: BuiltinProvider, call: ProviderCall) -> ProviderResult:
        producing_in.append(asyncio.current_task())
        return await original(self, call)

    monkeypatch.setattr(BuiltinProvider, "generate", recorded)
    try:
        _, runtime = await make_key(services, "game", Scope.RUNTIME)
        app = create_app(settings, services=services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            for playthrough in PLAYTHROUGHS[:2]:  # the first body of its shape, then a known one
                body = game_request(player_context={"playthroughId": playthrough, "playerId": "frank"})
                response = await http.post(
                    "/api/generate-content", json=body, headers={"X-API-Key": runtime, "Origin": GAME}
                )
                assert response.status_code == 200
                assert response.json()["cache"]["hit"] is False
    finally:
        await services.aclose()

    assert producing_in == [asyncio.current_task()] * 2
