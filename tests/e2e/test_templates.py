"""The template library as designers and tools use it: `GET /api/templates[/{id}]`, `dyngen templates
list|show`, a folder with broken files, and every shipped template played through the built-in provider."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig, PlayerContext, SceneRef
from dyngen.entrypoints.api.app import create_app
from tests.e2e.test_cli import Workdir
from tests.unit.test_templates import PATTERNS, SPEC_TEMPLATE, TEMPLATES

SPEC_ID = SPEC_TEMPLATE["id"]
# What each broken file in `library` should be reported as: (file, field).
BROKEN = {
    ("truncated.json", "(file)"),
    ("latin1.json", "(file)"),
    ("typo.json", "style.moodFro"),
    ("inverted.json", "duration.min"),
    ("a_copy.json", "id"),
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """As the shared fixture, with the shipped library wherever the tests run from."""
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1, templates_dir=TEMPLATES)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A templates folder with two good templates and one file for each way a template can be broken."""
    folder = tmp_path / "templates"
    folder.mkdir()
    for name in (f"{SPEC_ID}.json", "calm_to_tense_transition_v1.json"):
        shutil.copy(TEMPLATES / name, folder / name)
    (folder / "truncated.json").write_text('{"id": "half", "generationType": "transition",', encoding="utf-8")
    (folder / "latin1.json").write_bytes('{"id": "caf\xe9_v1"}'.encode("latin-1"))
    typo = {**SPEC_TEMPLATE, "id": "typo_v1", "style": {**SPEC_TEMPLATE["style"], "moodFro": "calm"}}
    (folder / "typo.json").write_text(json.dumps(typo), encoding="utf-8")
    inverted = {**SPEC_TEMPLATE, "id": "inverted_v1", "duration": {"min": 40, "max": 20, "target": 30}}
    (folder / "inverted.json").write_text(json.dumps(inverted), encoding="utf-8")
    (folder / "a_copy.json").write_text(json.dumps({**SPEC_TEMPLATE, "version": 2}), encoding="utf-8")
    (folder / "notes.txt").write_text("not a template", encoding="utf-8")
    return folder


@pytest.fixture
async def broken_client(settings: Settings, library: Path) -> AsyncIterator[httpx.AsyncClient]:
    custom = settings.model_copy(update={"templates_dir": library})
    built = await build(custom)
    app = create_app(custom, services=built)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        yield http
    await built.aclose()


# --- HTTP API --------------------------------------------------------------------------------------------


async def test_the_api_lists_the_shipped_library(client: httpx.AsyncClient):
    response = await client.get("/api/templates")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["problems"] == []
    assert {t["id"]: t["generationType"] for t in body["templates"]} == PATTERNS
    spec = next(t for t in body["templates"] if t["id"] == SPEC_ID)
    assert spec == {
        "id": SPEC_ID,
        "generationType": "transition",
        "purpose": "gap_fill",
        "version": 1,
        "status": "ok",
        "source": f"{SPEC_ID}.json",
    }


async def test_the_api_shows_one_template_in_the_spec_spelling(client: httpx.AsyncClient):
    response = await client.get(f"/api/templates/{SPEC_ID}")
    assert response.status_code == 200, response.text
    assert response.json() == {**SPEC_TEMPLATE, "purpose": "gap_fill"}, "as written, plus the default purpose"
    missing = await client.get("/api/templates/romantic_to_action_v1")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert f"did you mean '{SPEC_ID}'" in missing.json()["error"]["message"]
    assert (await client.get(f"/api/templates/{'x' * 201}")).status_code == 422


async def test_the_lexicon_offers_the_elements_and_rules_with_where_each_is_from(client: httpx.AsyncClient):
    body = (await client.get("/api/lexicon")).json()
    elements = {e["id"]: e for e in body["elements"]}
    rules = {r["id"]: r for r in body["contentRules"]}
    # A lexicon element the templates use too: its phrases, its words and both sources.
    phone = elements["phone_ring"]
    assert "incoming call" in phone["phrases"]
    assert phone["words"] == "phone ring"
    assert "lexicon" in phone["sources"]
    assert f"template:{SPEC_ID}" in phone["sources"]
    # A rule from the library, named with the templates that use it.
    assert "template:calm_to_tense_transition_v1" in rules["build_tension_gradually"]["sources"]
    assert [e["id"] for e in body["elements"]] == sorted(elements)


async def test_broken_files_are_reported_with_file_and_field_and_the_rest_still_load(
    broken_client: httpx.AsyncClient,
):
    body = (await broken_client.get("/api/templates")).json()
    assert sorted(t["id"] for t in body["templates"]) == ["calm_to_tense_transition_v1", SPEC_ID]
    assert {(p["file"], p["field"]) for p in body["problems"]} == BROKEN
    problems = {p["file"]: p for p in body["problems"]}
    assert problems["typo.json"]["suggestion"] == "moodFrom"
    assert "did you mean 'moodFrom'" in problems["typo.json"]["message"]
    assert "line 1" in problems["truncated.json"]["message"]
    assert "UTF-8" in problems["latin1.json"]["message"]
    assert problems["inverted.json"]["message"].startswith("DURATION_RANGE_INVERTED")
    assert f"{SPEC_ID}.json already defines it" in problems["a_copy.json"]["message"]
    # The original keeps its id (and its version): the copy did not displace it.
    assert (await broken_client.get(f"/api/templates/{SPEC_ID}")).json()["version"] == 1
    assert (await broken_client.get("/api/templates/typo_v1")).status_code == 404


@pytest.mark.parametrize("template_id", sorted(PATTERNS))
async def test_every_shipped_template_plays_through_the_builtin_provider(client: httpx.AsyncClient, template_id: str):
    config = GenerationNodeConfig.model_validate((await client.get(f"/api/templates/{template_id}")).json())
    request = GenerateContentRequest.for_node(
        config,
        from_scene=SceneRef(id="harbour", mood=config.style.mood_from, location="old_harbour"),
        to_scene=SceneRef(id="lighthouse", mood=config.style.mood_to, location="lighthouse"),
        player_context=PlayerContext(playthrough_id="pt-1", player_id="player-1"),
    )
    response = await client.post("/api/generate-content", json=request.model_dump(mode="json", exclude_none=True))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "complete", body.get("error")
    assert "fallback" not in body, "the template's constraints can be met: no fallback"
    content = body["content"]
    assert content.get("beats") or content.get("dialogue"), content
    if template_id == "choice_point_dialogue_v1":
        assert len(content["choices"]) >= 2, "a choice point offers choices"
    if template_id == "npc_greeting_variations_v1":
        assert body["variant"]["pool_size"] == 6


# --- CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def work(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path / "work")


def test_cli_lists_and_shows_the_library(work: Workdir):
    work.path.mkdir()
    work.env["DYNGEN_TEMPLATES_DIR"] = str(TEMPLATES)
    listed = work.run("templates", "list")
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "TYPE", "VERSION"]
    assert {tuple(r.split()) for r in rows} == {(i, t, "1") for i, t in PATTERNS.items()}
    assert listed.stderr == ""
    shown = work.run("templates", "show", SPEC_ID)
    assert json.loads(shown.stdout) == {**SPEC_TEMPLATE, "purpose": "gap_fill"}
    as_json = json.loads(work.run("templates", "list", "--json").stdout)
    assert len(as_json["templates"]) == len(PATTERNS)
    assert not work.data.exists(), "reading the library needs no database"


def test_cli_reports_broken_files_after_the_list_and_still_exits_0(work: Workdir, library: Path):
    work.path.mkdir()
    work.env["DYNGEN_TEMPLATES_DIR"] = str(library)
    listed = work.run("templates", "list")
    table, _, rest = listed.stdout.partition("\n\n")
    assert [row.split()[0] for row in table.splitlines()[1:]] == ["calm_to_tense_transition_v1", SPEC_ID]
    heading, *lines = rest.strip().splitlines()
    assert heading == "5 files not loaded:"
    assert {(line.split()[0], line.split()[1].rstrip(":")) for line in lines} == BROKEN
    assert any("typo.json  style.moodFro: unknown field 'moodFro'; did you mean 'moodFrom'?" in line for line in lines)


def test_cli_show_of_an_unknown_template_exits_2_and_names_the_closest(work: Workdir):
    work.path.mkdir()
    work.env["DYNGEN_TEMPLATES_DIR"] = str(TEMPLATES)
    refused = work.run("templates", "show", "reunion_v1", expect=2)
    assert refused.stdout == ""
    assert "no template 'reunion_v1'; did you mean 'reunion_transition_v1'?" in refused.stderr


def test_cli_without_a_templates_folder_says_where_it_looked(work: Workdir):
    work.path.mkdir()
    work.env["DYNGEN_TEMPLATES_DIR"] = "my/templates"
    assert work.run("templates", "list").stdout.strip() == "no templates in my/templates"
    work.run("templates", "show", SPEC_ID, expect=2)
