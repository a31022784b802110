"""Composition through the API: a pipeline's script stage (a real `OpenAIProvider` asking a scripted model on
loopback) and its render stage (`builtin_video`, or a fake video provider), each cached, budgeted and
recorded on its own; the element check on the model's natural lines, a judge, and video reported
`unverified`."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.adapters.providers.openai import OpenAIProvider
from dyngen.adapters.providers.video.provider import BuiltinVideoProvider
from dyngen.bootstrap import build
from dyngen.config import MEMORY_URL, Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import Provider
from dyngen.services.machinery.container import Services
from tests.fakes import FakeVideoProvider
from tests.support.element_corpus import NATURAL, NaturalWriter, Plan
from tests.support.scripted_model import ScriptedModel

PIPELINES = {
    "story_video": {"script": "story", "render": "builtin_video"},
    "story_fake": {"script": "story", "render": "fake_video"},
}


@pytest.fixture
def writer() -> NaturalWriter:
    return NaturalWriter(random.Random(7))


@pytest.fixture
def model(writer: NaturalWriter) -> Iterator[ScriptedModel]:
    with ScriptedModel(writer, tokens=1000) as scripted:
        yield scripted


@asynccontextmanager
async def api(
    model: ScriptedModel, video: FakeVideoProvider, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    http = httpx.AsyncClient()
    providers: dict[str, Provider] = {
        "builtin": BuiltinProvider(),
        "builtin_video": BuiltinVideoProvider(),
        "fake_video": video,
        # 1000 tokens a call at 0.1 per 1k: each script costs 0.1
        "story": OpenAIProvider(base_url=model.base_url, model="m", client=http, price_per_1k_tokens=0.1),
        "critic": OpenAIProvider(base_url=model.base_url, model="judge", client=http),
    }
    for name, provider in providers.items():  # as `load_instances` names them: by their instance
        provider.info = dataclasses.replace(provider.info, name=name)
    config = Settings(database_url=MEMORY_URL, retry_backoff_ms=1, provider_pipelines=PIPELINES, **settings)
    services = await build(config, providers=providers)
    await services.start()
    app = create_app(config, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as client:
            yield client, services
    finally:
        await services.aclose()
        await http.aclose()


def transition(provider: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "transition",
        "node_id": "cafe_to_rooftop",
        "provider": provider,
        "from_scene": {"id": "cafe_date", "mood": "romantic"},
        "to_scene": {"id": "rooftop_chase", "mood": "intense"},
        "duration": {"min": 1, "max": 10, "target": 2},
        "constraints": {"requiredElements": ["phone_ring"], "avoidElements": ["violence"]},
        "fallback": {"mode": "placeholder", "timeoutMs": 30_000},
    } | changes


async def generate(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def natural_line(beats: list[dict[str, Any]]) -> str:
    return next(b["text"] for b in beats if any(p in b["text"] for p in NATURAL["phone_ring"]))


async def test_builtin_video_renders_the_models_own_beats(model: ScriptedModel) -> None:
    async with api(model, FakeVideoProvider()) as (client, _):
        answer = await generate(client, transition("story_video"))
        assert answer["status"] == "complete", answer
        assert [s["stage"] for s in answer["stages"]] == ["script", "render"]
        assert [s["provider"] for s in answer["stages"]] == ["story", "builtin_video"]
        assert answer["content"]["type"] == "video"
        line = natural_line(answer["content"]["beats"])  # the model's line is the caption, not the phrasebook's
        roles = {a["role"] for a in answer["artifacts"]}
        assert {"video", "captions"} <= roles
        captions = next(a for a in answer["artifacts"] if a["role"] == "captions")
        vtt = (await client.get(captions["url"])).text
        assert line in vtt
        by = {e["element"]: e["verified_by"] for e in answer["elements"]}
        assert by["phone_ring"] in ("model_report", "lexicon")
        assert by["violence"] == "absent"


async def test_rendering_again_with_another_video_provider_does_not_pay_for_the_script(model: ScriptedModel) -> None:
    video = FakeVideoProvider()
    async with api(model, video) as (client, _):
        first = await generate(client, transition("story_video"))
        second = await generate(client, transition("story_fake"))
        assert first["status"] == second["status"] == "complete"
        assert len(model.content_calls()) == 1, "the script stage ran once for both renders"
        script_first, script_second = first["stages"][0], second["stages"][0]
        assert script_first["cache_hit"] is False
        assert script_second["cache_hit"] is True
        assert script_second["generation_id"] == script_first["generation_id"]
        assert second["cost"]["tokens"] == 0, "a cached script costs this response nothing"
        # The fake video got the script to render; what it shows cannot be verified.
        (call,) = video.calls
        assert call.script is not None
        assert natural_line([b.model_dump() for b in call.script.beats or []])
        assert {e["verified_by"] for e in second["elements"]} == {"unverified"}
        assert not (second["content"].get("metadata") or {}).get("tags")
        # The same pipeline again: the whole answer is a cache hit.
        third = await generate(client, transition("story_fake"))
        assert third["cache"]["hit"] is True
        assert len(model.content_calls()) == 1
        assert len(video.calls) == 1


async def test_each_stage_is_its_own_record(model: ScriptedModel) -> None:
    async with api(model, FakeVideoProvider()) as (client, _):
        answer = await generate(client, transition("story_fake"))
        script_id, render_id = (s["generation_id"] for s in answer["stages"])
        assert render_id == answer["generation_id"]
        script = (await client.get(f"/api/generations/{script_id}")).json()
        render = (await client.get(f"/api/generations/{render_id}")).json()
        assert script["provider"] == "story"
        assert script["cost"] == pytest.approx(0.1)
        assert script["cache_key"] == f"{render['cache_key']}#script=story"
        assert [e["verified_by"] for e in script["elements"] if e["element"] == "phone_ring"] == ["model_report"]
        assert render["provider"] == "story_fake"
        assert render["cost"] == pytest.approx(0.5)
        assert [s["stage"] for s in render["stages"]] == ["script", "render"]
        assert render["elements"][0]["verified_by"] == "unverified"


async def test_each_stage_is_budgeted_on_its_own(model: ScriptedModel) -> None:
    # The node may spend 0.55: the script (0.1) fits, the render (0.5) after it does not.
    async with api(model, FakeVideoProvider(), budget_nodes={"cafe_to_rooftop": 0.55}) as (client, _):
        answer = await generate(client, transition("story_fake"))
        assert answer["status"] == "failed"
        assert answer["error"]["code"] == "GEN_BUDGET_EXCEEDED"
        (script,) = answer["stages"]  # the script was written (and is kept for the next try); the render refused
        assert (script["stage"], script["provider"], script["cost"]) == ("script", "story", pytest.approx(0.1))
        budgets = (await client.get("/api/budgets")).json()
        spent = {p["provider"]: p["cost"] for p in budgets["history"]}
        assert spent == {"story": pytest.approx(0.1)}, "the script was paid for and charged under its provider"
        (node,) = budgets["nodes"]
        assert node["spent"] == pytest.approx(0.1)


async def test_natural_lines_pass_and_a_missing_element_is_refused(model: ScriptedModel, writer: NaturalWriter) -> None:
    async with api(model, FakeVideoProvider()) as (client, _):
        writer.plan = Plan(omit="phone_ring", report="invented")
        refused = await generate(client, transition("story", type="dialogue", node_id="n1"))
        assert refused["error"]["code"] == "GEN_CONSTRAINT_FAIL"
        assert "required element 'phone_ring' is missing" in refused["error"]["message"]
        # The fallback's answer and record say which element was not found (the model's quote was not in the text).
        assert {e["element"]: e["verified_by"] for e in refused["elements"]} == {
            "phone_ring": "absent",
            "violence": "absent",
        }
        record = (await client.get(f"/api/generations/{refused['generation_id']}")).json()
        assert record["elements"] == refused["elements"]
        writer.plan = Plan()
        passed = await generate(client, transition("story", type="dialogue", node_id="n2"))
        assert passed["status"] == "complete", passed
        (check,) = [e for e in passed["elements"] if e["element"] == "phone_ring"]
        assert check["verified_by"] in ("model_report", "lexicon")
        assert check["quote"]


async def test_a_judge_catches_a_report_that_quotes_the_wrong_line(model: ScriptedModel, writer: NaturalWriter) -> None:
    async with api(model, FakeVideoProvider(), element_judge="critic") as (client, _):
        writer.plan = Plan(omit="phone_ring", report="lying")
        lied = await generate(client, transition("story", type="dialogue", node_id="n1"))
        assert lied["error"]["code"] == "GEN_CONSTRAINT_FAIL", lied
        writer.plan = Plan()
        honest = await generate(client, transition("story", type="dialogue", node_id="n2"))
        (check,) = [e for e in honest["elements"] if e["element"] == "phone_ring"]
        # The judge is asked what the lexicon did not find, and confirms it with the model's own words.
        assert check["verified_by"] in ("judge", "lexicon")
        assert check["quote"].lower() in natural_line(honest["content"]["beats"]).lower()
        judged = [c for c in model.calls if c["model"] == "judge"]
        assert judged, "the judge was asked"
