"""The hit fast path (`entrypoints/api/fast_path.py`) answers exactly as FastAPI's routes do.

One script of calls a browser game makes (misses, hits with the same and with other player contexts, a
by-reference node, keys missing, wrong or valid, another origin, `Prefer: respond-async`, a bad body,
over the player's rate limit) runs against two apps on fresh data: one with the fast path, one without.
Every answer (status, headers, body) must be the same, ids made per run aside; and the fast one must
really have answered the hits itself (the route's front door was not called for them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.access import Scope
from dyngen.entrypoints.api.app import create_app
from dyngen.entrypoints.api.routes import generation as generation_routes
from dyngen.ports import providers
from dyngen.services.generation import front_door
from dyngen.services.machinery.memo import BODY_KEY_MAX
from tests.e2e.test_adaptive import SPEC_RULES
from tests.e2e.test_adaptive import request as adaptive_request
from tests.e2e.test_api import game_request
from tests.e2e.test_warmup import story
from tests.fakes import FakeClock
from tests.support.keys import make_key

GAME = "http://game.test:5173"
OTHER_ORIGIN = "http://elsewhere.test"
BY_REFERENCE = "/api/graphs/story/nodes/n_de/content"
# Ids made per run (generations, artifacts, jobs) and the signatures of URLs that name them.
PER_RUN = re.compile(r"[0-9a-f]{32}|sig=[A-Za-z0-9_\-]+")


def context(player: str, **choices: Any) -> dict[str, Any]:
    return {"playthroughId": "pt-1", "playerId": player, "choices": choices}


Step = tuple[str, str, dict[str, Any] | bytes, dict[str, str]]


def script(keys: dict[str, str]) -> list[Step]:
    """(label, path, body, headers): a label that starts with `hit` must be answered from the cache."""
    runtime = {"X-API-Key": keys["runtime"], "Origin": GAME}
    bearer = {"Authorization": f"Bearer {keys['runtime']}"}
    first = game_request(player_context=context("alice", door="left"))
    return [
        ("miss", "/api/generate-content", first, runtime),
        ("hit same body", "/api/generate-content", first, runtime),
        (
            "hit other choices",
            "/api/generate-content",
            game_request(player_context=context("alice", door="right")),
            bearer,
        ),
        (
            "hit other origin",
            "/api/generate-content",
            game_request(player_context=context("alice", x=1)),
            {
                **bearer,
                "Origin": OTHER_ORIGIN,
            },
        ),
        ("over the player's limit", "/api/generate-content", first, runtime),
        ("no key", "/api/generate-content", first, {"Origin": GAME}),
        ("wrong key", "/api/generate-content", first, {"X-API-Key": "dyngen_wrong", "Origin": GAME}),
        (
            "editor scope needed for simulate",
            "/api/generate-content",
            {**first, "simulate": {"latency_ms": 1}},
            runtime,
        ),
        (
            "bad body",
            "/api/generate-content",
            game_request(player_context=context("erin"), strategy="sometimes"),
            runtime,
        ),
        ("not json", "/api/generate-content", b"{", runtime),
        (
            "async",
            "/api/generate-content",
            game_request(player_context=context("bob")),
            {
                **runtime,
                "Prefer": "respond-async",
            },
        ),
        ("by reference miss", BY_REFERENCE, {"player_context": context("carol")}, runtime),
        ("hit by reference", BY_REFERENCE, {"player_context": context("carol")}, runtime),
        (
            "by reference unknown node",
            "/api/graphs/story/nodes/n_zz/content",
            {"player_context": context("carol")},
            runtime,
        ),
        ("by reference no key", BY_REFERENCE, {"player_context": context("carol")}, {}),
        (
            "another playthrough misses",
            "/api/generate-content",
            game_request(player_context=context("dave") | {"playthroughId": "pt-2"}),
            runtime,
        ),
        # Ids that cannot be ids: the route refuses them (404), as it does without the fast path.
        (
            "by reference bad node id",
            "/api/graphs/story/nodes/n%20de/content",
            {"player_context": context("ivy")},
            runtime,
        ),
        (
            "by reference bad graph id",
            "/api/graphs/st%3Cry/nodes/n_de/content",
            {"player_context": context("ivy")},
            runtime,
        ),
        # A body longer than its own memo key may be (`memo.BODY_KEY_MAX`), once read and then again.
        ("long body first", "/api/generate-content", game_request(player_context=long_context("hank")), runtime),
        ("hit long body", "/api/generate-content", game_request(player_context=long_context("hank")), runtime),
        # A node named by an id that names none: refused (422) once counted, so the fifth is over the limit.
        *[(f"unknown node {i}", "/api/generate-content", unknown_node("frank"), runtime) for i in range(5)],
    ]


def long_context(player: str) -> dict[str, Any]:
    choices = {f"choice_{i:03d}_{'x' * 24}": i for i in range(150)}  # ~6 KB: longer than BODY_KEY_MAX
    return context(player, **choices) | {"playthroughId": "pt-3"}


def unknown_node(player: str) -> dict[str, Any]:
    return {"type": "transition", "node_id": "no_such_node", "player_context": context(player)}


def compared_settings(tmp_path: Path, *, fast: bool) -> Settings:
    """One side of a comparison, with or without the fast path, on data of its own: the same URL secret
    (signed URLs compare equal), a player rate limit a script can exceed, text transitions."""
    return Settings(
        data_dir=tmp_path / ("fast" if fast else "slow"),
        hit_fast_path=fast,
        cors_origins=[GAME],
        rate_limit_player={"rate": 1, "per": "minute", "burst": 4},  # type: ignore[arg-type]
        url_secret="fixed-for-comparison",  # type: ignore[arg-type]
        example_graph=None,
        retry_backoff_ms=1,
        providers_by_type={},
    )


def routed_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """A list that gets an entry for each call that reaches the routes' front door (`front_door.generate`),
    that is, each call the fast path did not answer itself."""
    routed: list[bool] = []
    original: Callable[..., Any] = front_door.generate

    async def counted(*args: Any, **kwargs: Any) -> Any:
        routed.append(True)
        return await original(*args, **kwargs)

    monkeypatch.setattr(generation_routes.front_door, "generate", counted)
    return routed


def normalised(response: httpx.Response) -> tuple[int, list[tuple[str, str]], str]:
    headers = sorted((k, PER_RUN.sub("*", v)) for k, v in response.headers.items())
    return response.status_code, headers, PER_RUN.sub("*", response.text)


async def run(
    tmp_path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch, root_path: str = ""
) -> list[tuple[str, Any, bool]]:
    """The script's answers, and for each whether the route's front door served it; `root_path`: served
    as `dyngen serve --root-path` does behind a proxy's prefix (each path starts with it)."""
    settings = compared_settings(tmp_path, fast=fast)
    # Not started: the job runner's loops would move the fake clock (it sleeps by advancing), which the
    # answers' timings and URL expiries read; a queued job's 202 is all the script looks at.
    services = await build(settings, clock=FakeClock())
    routed = routed_calls(monkeypatch)
    try:
        _, runtime = await make_key(services, "game", Scope.RUNTIME)
        _, editor = await make_key(services, "editor", Scope.EDITOR)
        app = create_app(settings, services=services)
        answers = []
        transport = httpx.ASGITransport(app=app, root_path=root_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://dyngen.test") as http:
            created = await http.post(f"{root_path}/api/graphs", json=story(), headers={"X-API-Key": editor})
            assert created.status_code == 201, created.text
            for label, path, body, headers in script({"runtime": runtime}):
                routed.clear()
                content = body if isinstance(body, bytes) else None
                response = await http.post(
                    root_path + path,
                    content=content,
                    json=None if content is not None else body,
                    headers={"Content-Type": "application/json", **headers},
                )
                answers.append((label, normalised(response), bool(routed)))
        return answers
    finally:
        await services.aclose()


@pytest.mark.parametrize("root_path", ["", "/dyngen"], ids=["at the root", "behind a proxy's prefix"])
async def test_the_fast_path_answers_every_call_as_the_routes_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root_path: str
) -> None:
    fast = await run(tmp_path, fast=True, monkeypatch=monkeypatch, root_path=root_path)
    slow = await run(tmp_path, fast=False, monkeypatch=monkeypatch, root_path=root_path)

    for (label, answer, _), (_, expected, _) in zip(fast, slow, strict=True):
        assert answer == expected, label
    statuses = {label: answer[0] for label, answer, _ in slow}
    assert statuses["over the player's limit"] == 429
    assert (statuses["no key"], statuses["wrong key"], statuses["by reference no key"]) == (401, 401, 401)
    assert (statuses["editor scope needed for simulate"], statuses["bad body"], statuses["async"]) == (403, 422, 202)
    assert [statuses[f"unknown node {i}"] for i in range(5)] == [422, 422, 422, 422, 429]
    assert (statuses["by reference bad node id"], statuses["by reference bad graph id"]) == (404, 404)
    assert len(httpx.Request("POST", "/", json=game_request(player_context=long_context("hank"))).read()) > BODY_KEY_MAX
    hits = {label for label, answer, _ in slow if '"hit":true' in answer[2]}
    assert hits == {label for label, _, _ in slow if label.startswith("hit")}
    assert all(routed for label, _, routed in slow if label.startswith("hit"))
    assert not any(routed for label, _, routed in fast if label.startswith("hit")), "the fast path served the hits"
    assert all(routed for label, _, routed in fast if label.endswith("miss") and "reference" not in label)
    cors = dict(next(answer for label, answer, _ in fast if label == "hit same body")[1])
    assert cors["access-control-allow-origin"] == GAME
    other = dict(next(answer for label, answer, _ in fast if label == "hit other origin")[1])
    assert "access-control-allow-origin" not in other


async def test_hits_of_a_node_with_rules_follow_each_players_choices(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rules read the whole player context: a known shape with other choices is another outcome and key."""
    routed = routed_calls(monkeypatch)

    def body(accept: bool, turn: int) -> dict[str, Any]:
        choices = {"quest_accept": accept, "turn": turn}
        return adaptive_request(rules=SPEC_RULES, player_context={"playthroughId": "p1", "choices": choices})

    keys = {}
    for accept in (True, False):
        made = await client.post("/api/generate-content", json=body(accept, 0))
        assert made.json()["cache"]["hit"] is False
        keys[accept] = made.json()["cache_key"]
    assert keys[True] != keys[False]
    routed.clear()
    for turn in range(1, 4):
        for accept in (False, True):
            answer = (await client.post("/api/generate-content", json=body(accept, turn))).json()
            assert (answer["cache"]["hit"], answer["cache_key"]) == (True, keys[accept]), (accept, turn)
    assert not routed, "the fast path served the hits"


async def test_a_player_with_other_choices_has_them_reach_the_provider_on_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A known shape is prepared once per player; each call's choices still reach the provider (an `always`
    node generates on every call, and the prompts print the player's choices)."""
    seen: list[dict[str, Any]] = []
    original = providers.ProviderCall.__init__

    def spied(self: providers.ProviderCall, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        context = self.request.player_context
        seen.append(dict(context.choices) if context is not None and context.choices else {})

    monkeypatch.setattr(providers.ProviderCall, "__init__", spied)
    for fast in (True, False):
        settings = compared_settings(tmp_path / str(fast), fast=fast).model_copy(update={"rate_limit_player": None})
        services = await build(settings, clock=FakeClock())
        try:
            _, runtime = await make_key(services, "game", Scope.RUNTIME)
            app = create_app(settings, services=services)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
                seen.clear()
                for door in ("left", "right", "middle"):
                    body = game_request(player_context=context("alice", door=door), strategy="always")
                    answer = await http.post("/api/generate-content", json=body, headers={"X-API-Key": runtime})
                    assert answer.status_code == 200, answer.text
            assert seen == [{"door": "left"}, {"door": "right"}, {"door": "middle"}], f"fast path {fast}"
        finally:
            await services.aclose()


async def test_an_unexpected_failure_is_answered_as_the_routes_answer_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure nothing expected, met by the fast path or by the route behind it: the same logged 500,
    with the CORS headers of an allowed origin either way (the front runs outside FastAPI's own stack)."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(front_door, "answer_known", broken)
    monkeypatch.setattr(generation_routes.front_door, "generate", broken)
    answers = []
    for fast in (True, False):
        settings = compared_settings(tmp_path, fast=fast)
        services = await build(settings, clock=FakeClock())
        try:
            _, runtime = await make_key(services, "game", Scope.RUNTIME)
            transport = httpx.ASGITransport(app=create_app(settings, services=services), raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://dyngen.test") as http:
                caplog.clear()
                response = await http.post(
                    "/api/generate-content", json=game_request(), headers={"X-API-Key": runtime, "Origin": GAME}
                )
        finally:
            await services.aclose()
        assert [r.exc_info[1] for r in caplog.records if r.exc_info and r.name == "dyngen.api"] != []
        answers.append(normalised(response))
    assert answers[0] == answers[1]
    status, headers, text = answers[0]
    assert (status, dict(headers)["access-control-allow-origin"]) == (500, GAME)
    assert '"message":"internal error; the failure was logged"' in text
