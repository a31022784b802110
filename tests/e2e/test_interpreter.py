"""The interpreter settings of a long-running process (the API, `dyngen warm`, `dyngen worker`): what startup
made is frozen, young objects are collected less often and threads take turns sooner while it serves, and a
process that serves again (tests) gets its own settings back."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvloop
from typer.testing import CliRunner

from dyngen.config import Settings
from dyngen.entrypoints import cli, cli_warm, worker
from dyngen.entrypoints.api.app import create_app
from dyngen.entrypoints.interpreter import SERVING_GC_THRESHOLDS, SERVING_SWITCH_INTERVAL_S
from dyngen.services.machinery.container import Services

MISS = {"type": "dialogue", "node_id": "gc", "strategy": "per_playthrough", "provider": "builtin"}


InterpreterSettings = tuple[tuple[int, int, int], float]
SERVING = (SERVING_GC_THRESHOLDS, SERVING_SWITCH_INTERVAL_S)


def current() -> InterpreterSettings:
    return gc.get_threshold(), sys.getswitchinterval()


@pytest.fixture
def restored() -> Iterator[InterpreterSettings]:
    before = current()
    yield before
    gc.set_threshold(*before[0])
    sys.setswitchinterval(before[1])


async def test_a_serving_api_collects_young_objects_less_often_then_gives_the_process_its_settings_back(
    settings: Settings, restored: InterpreterSettings
) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert current() == SERVING
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyngen.test") as http:
            body = MISS | {"player_context": {"playthroughId": "pt-1"}}
            answer = await http.post("/api/generate-content", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "complete"
    assert current() == restored


async def test_an_app_handed_its_services_leaves_the_interpreter_alone(
    settings: Settings, services: Services, restored: InterpreterSettings
) -> None:
    app = create_app(settings, services=services)
    async with app.router.lifespan_context(app):
        assert current() == restored


def test_a_warm_up_from_the_cli_runs_as_the_api_serves_then_gives_the_settings_back(
    settings: Settings, restored: InterpreterSettings
) -> None:
    seen = []

    async def use(services: Services) -> str:
        seen.append((*current(), type(asyncio.get_running_loop())))
        return "report"

    assert cli_warm._run(settings, use, []) == "report"

    assert seen == [(*SERVING, uvloop.Loop)], "on the loop the API serves on"
    assert current() == restored


def test_the_job_worker_command_runs_on_the_loop_the_api_serves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loops = []

    async def run_worker(_settings: Settings) -> None:
        loops.append(type(asyncio.get_running_loop()))

    monkeypatch.setattr(worker, "run_worker", run_worker)
    monkeypatch.setenv("DYNGEN_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli.app, ["worker"])

    assert result.exit_code == 0, result.output
    assert loops == [uvloop.Loop]


async def test_a_job_worker_runs_as_the_api_serves_then_gives_the_settings_back(
    settings: Settings,
    redis_url: str,
    redis_prefix: str,
    restored: InterpreterSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []

    async def jobs_until_stopped(_settings: Settings, _services: Services) -> None:
        seen.append(current())

    monkeypatch.setattr(worker, "run_job_worker", jobs_until_stopped)
    await worker.run_worker(settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix}))

    assert seen == [SERVING]
    assert current() == restored


async def test_two_apps_serving_at_once_give_the_process_its_settings_back_once_both_stop(
    settings: Settings, tmp_path: Path, restored: InterpreterSettings
) -> None:
    first = create_app(settings)
    second = create_app(settings.model_copy(update={"data_dir": tmp_path / "second"}))
    first_running = first.router.lifespan_context(first)
    second_running = second.router.lifespan_context(second)
    await first_running.__aenter__()
    await second_running.__aenter__()
    await first_running.__aexit__(None, None, None)  # the first one stops before the second

    assert current() == SERVING, "the second app still serves"
    await second_running.__aexit__(None, None, None)
    assert current() == restored


def test_a_freeze_made_before_is_kept_as_it_is(settings: Settings, restored: InterpreterSettings) -> None:
    ours = gc.get_freeze_count() == 0  # under the suite, its own freeze (tests/conftest.py) is there already
    if ours:
        gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        seen = []

        async def use(services: Services) -> str:
            seen.append(current())
            return "report"

        cli_warm._run(settings, use, [])

        assert seen == [SERVING]
        assert gc.get_freeze_count() == frozen, "neither undone nor grown"
        assert current() == restored
    finally:
        if ours:
            gc.unfreeze()
