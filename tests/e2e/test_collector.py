"""The API process's garbage collector: what startup made is frozen, young objects are collected less often
while the API serves, and a process that serves again (tests) gets its own settings back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest

from dyngen.config import Settings
from dyngen.entrypoints.api.app import SERVING_GC_THRESHOLDS, create_app
from dyngen.services.machinery.container import Services

MISS = {"type": "dialogue", "node_id": "gc", "strategy": "per_playthrough", "provider": "builtin"}


@pytest.fixture
def restored() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


async def test_a_serving_api_collects_young_objects_less_often_then_gives_the_process_its_settings_back(
    settings: Settings, restored: tuple[int, int, int]
) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == SERVING_GC_THRESHOLDS
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyngen.test") as http:
            body = MISS | {"player_context": {"playthroughId": "pt-1"}}
            answer = await http.post("/api/generate-content", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "complete"
    assert gc.get_threshold() == restored


async def test_an_app_handed_its_services_leaves_the_collector_alone(
    settings: Settings, services: Services, restored: tuple[int, int, int]
) -> None:
    app = create_app(settings, services=services)
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == restored
