"""The garbage collector of a long-running process (the API, `dyngen warm`, `dyngen worker`): what startup
made is frozen, young objects are collected less often while it serves, and a process that serves again
(tests) gets its own settings back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest

from dyngen.config import Settings
from dyngen.entrypoints import cli_warm, worker
from dyngen.entrypoints.api.app import create_app
from dyngen.entrypoints.collector import SERVING_GC_THRESHOLDS
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


def test_a_warm_up_from_the_cli_runs_as_the_api_serves_then_gives_the_settings_back(
    settings: Settings, restored: tuple[int, int, int]
) -> None:
    seen = []

    async def use(services: Services) -> str:
        seen.append(gc.get_threshold())
        return "report"

    assert cli_warm._run(settings, use, []) == "report"

    assert seen == [SERVING_GC_THRESHOLDS]
    assert gc.get_threshold() == restored


async def test_a_job_worker_runs_as_the_api_serves_then_gives_the_settings_back(
    settings: Settings,
    redis_url: str,
    redis_prefix: str,
    restored: tuple[int, int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []

    async def jobs_until_stopped(_settings: Settings, _services: Services) -> None:
        seen.append(gc.get_threshold())

    monkeypatch.setattr(worker, "run_job_worker", jobs_until_stopped)
    await worker.run_worker(settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix}))

    assert seen == [SERVING_GC_THRESHOLDS]
    assert gc.get_threshold() == restored
