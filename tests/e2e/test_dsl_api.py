"""The rule DSL as users call it: `POST /api/dsl/compile`, `dyngen dsl compile` and `dyngen dsl check`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyngen.domain.access import Scope
from dyngen.services.machinery.container import Services
from tests.e2e.test_cli import Workdir
from tests.support.keys import make_key
from tests.unit.test_dsl import BOTH, SPEC

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "IF flags.a = 1 THEN\n  pacing = fast\n"
TYPO = "IF player_choice.quest_accept THEN pacng = fast, moodTo = determined\nDURATION 20-40s TARGET 50s\n"


async def compile_rules(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/api/dsl/compile", json=body, headers=headers)


# --- the API ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("accepted", "mood", "pacing"), [(True, "determined", "fast"), (False, "reflective", "slow")])
async def test_the_spec_example_over_http(client: httpx.AsyncClient, accepted: bool, mood: str, pacing: str):
    response = await compile_rules(client, {"source": SPEC, "player_context": {"choices": {"quest_accept": accepted}}})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "overrides": {"style": {"moodTo": mood, "pacing": pacing}, **BOTH},
        "warnings": [],
        "errors": [],
    }


async def test_without_a_player_context_the_answer_says_what_was_missing(client: httpx.AsyncClient):
    body = (await compile_rules(client, {"source": SPEC})).json()
    assert body["overrides"]["style"] == {"moodTo": "reflective", "pacing": "slow"}
    [warning] = body["warnings"]
    assert warning["code"] == "DSL_CONTEXT_MISSING"
    assert (warning["line"], warning["column"]) == (1, 4)


async def test_syntax_errors_are_answered_with_200_and_their_position(client: httpx.AsyncClient):
    response = await compile_rules(client, {"source": "\n\n" + BROKEN})
    assert response.status_code == 200
    body = response.json()
    assert body["overrides"] == {}
    [error] = body["errors"]
    assert (error["code"], error["line"], error["column"]) == ("DSL_SYNTAX", 3, 12)  # leading lines are kept
    assert error["excerpt"] == "IF flags.a = 1 THEN\n           ^"
    assert "compare with '=='" in error["message"]


async def test_warnings_come_with_the_closest_name(client: httpx.AsyncClient):
    body = (await compile_rules(client, {"source": TYPO, "playerContext": {"choices": {"quest_accept": True}}})).json()
    assert body["overrides"] == {
        "style": {"moodTo": "determined"},
        "duration": {"min": 20, "max": 40, "target": 50},
    }
    assert [(w["code"], w["line"], w.get("suggestion")) for w in body["warnings"]] == [
        ("DSL_UNKNOWN_FIELD", 1, "pacing"),
        ("DSL_TARGET_OUT_OF_RANGE", 2, None),
    ]


async def test_the_social_context_feeds_social_fields(client: httpx.AsyncClient):
    source = 'IF social.relationshipValues.affinity >= 60 and social.intimacyBand == "deep" THEN moodTo = "tender"'
    close = {"intimacyBand": "deep", "relationshipValues": {"affinity": 80}}
    body = (await compile_rules(client, {"source": source, "social_context": close})).json()
    assert body["overrides"] == {"style": {"moodTo": "tender"}}
    assert body["warnings"] == []
    distant = {"intimacyBand": "none", "relationshipValues": {"affinity": 80}}
    assert (await compile_rules(client, {"source": source, "social_context": distant})).json()["overrides"] == {}


@pytest.mark.parametrize(
    ("body", "field", "suggestion"),
    [
        ({}, "body.source", None),
        ({"sorce": SPEC}, "body.sorce", "source"),
        ({"source": SPEC, "player_context": {"choises": {}}}, "body.player_context.choises", "choices"),
        ({"source": 42}, "body.source", None),
        ({"source": "#" * 100_001}, "body.source", None),
    ],
)
async def test_a_body_of_another_shape_is_a_422(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, suggestion: str | None
):
    response = await compile_rules(client, body)
    assert response.status_code == 422, response.text
    details = response.json()["details"]
    assert field in [d["field"] for d in details]
    if suggestion:
        assert suggestion in [d.get("suggestion") for d in details]


async def test_it_needs_an_editor_key_once_keys_are_enforced(client: httpx.AsyncClient, services: Services):
    _, runtime = await make_key(services, "game", Scope.RUNTIME)
    _, editor = await make_key(services, "designer", Scope.EDITOR)
    body = {"source": SPEC}
    assert (await compile_rules(client, body)).status_code == 401
    assert (await compile_rules(client, body, authorization=f"Bearer {runtime}")).status_code == 403
    assert (await compile_rules(client, body, authorization=f"Bearer {editor}")).status_code == 200


async def test_the_route_is_documented(client: httpx.AsyncClient):
    operation = (await client.get("/openapi.json")).json()["paths"]["/api/dsl/compile"]["post"]
    assert {"200", "401", "403", "413", "422"} <= set(operation["responses"])


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def work(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path)


def write(work: Workdir, name: str, text: str) -> str:
    (work.path / name).write_text(text, encoding="utf-8")
    return name


async def test_dsl_compile_prints_what_the_api_answers(client: httpx.AsyncClient, work: Workdir):
    context = {"choices": {"quest_accept": True}}
    rules = write(work, "rules.dsl", SPEC)
    done = work.run("dsl", "compile", rules, "--context", work.write("context.json", context))
    api = (await compile_rules(client, {"source": SPEC, "player_context": context})).json()
    assert json.loads(done.stdout) == api
    assert api["overrides"]["style"] == {"moodTo": "determined", "pacing": "fast"}

    declined = work.run(
        "dsl", "compile", rules, "--context", work.write("no.json", {"choices": {"quest_accept": False}})
    )
    assert json.loads(declined.stdout)["overrides"]["style"] == {"moodTo": "reflective", "pacing": "slow"}


def test_dsl_compile_takes_a_player_and_social_context(work: Workdir):
    both = {"player_context": {"flags": {"met": True}}, "social_context": {"intimacyBand": "light"}}
    rules = write(work, "rules.dsl", 'IF flags.met and social.intimacyBand == "light" THEN moodTo = "shy"')
    done = work.run("dsl", "compile", rules, "--context", work.write("both.json", both))
    assert json.loads(done.stdout) == {"overrides": {"style": {"moodTo": "shy"}}, "warnings": [], "errors": []}


def test_dsl_compile_exits_1_with_the_errors_as_json(work: Workdir):
    done = work.run("dsl", "compile", write(work, "broken.dsl", BROKEN), expect=1)
    body = json.loads(done.stdout)
    assert body["overrides"] == {}
    assert [(e["code"], e["line"], e["column"]) for e in body["errors"]] == [("DSL_SYNTAX", 1, 12)]


def test_dsl_compile_refuses_unusable_files_with_exit_2(work: Workdir):
    rules = write(work, "rules.dsl", SPEC)
    assert "cannot read nowhere.dsl" in work.run("dsl", "compile", "nowhere.dsl", expect=2).stderr
    typo = work.run("dsl", "compile", rules, "--context", work.write("typo.json", {"choises": {}}), expect=2)
    assert "did you mean 'choices'" in typo.stderr
    (work.path / "bad.json").write_text("{", encoding="utf-8")
    assert "bad.json is not valid JSON" in work.run("dsl", "compile", rules, "--context", "bad.json", expect=2).stderr
    (work.path / "binary.dsl").write_bytes(b"\xff\xfe IF")
    assert "binary.dsl is not UTF-8" in work.run("dsl", "check", "binary.dsl", expect=2).stderr


def test_dsl_check_lists_errors_with_line_column_and_caret(work: Workdir):
    done = work.run("dsl", "check", write(work, "broken.dsl", BROKEN), expect=1)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("broken.dsl:1:12: error: unexpected '='")
    assert lines[0].endswith("[DSL_SYNTAX]")
    assert lines[1:3] == ["    IF flags.a = 1 THEN", "               ^"]
    assert lines[-1] == "broken.dsl: 1 error, 0 warnings"


def test_dsl_check_passes_with_warnings_unless_strict(work: Workdir):
    rules = write(work, "typo.dsl", TYPO)
    done = work.run("dsl", "check", rules)
    assert "typo.dsl:1:36: warning: unknown style field 'pacng'" in done.stdout
    assert "did you mean 'pacing'?" in done.stdout
    assert "typo.dsl:2:17: warning: target 50s is outside the range 20-40s" in done.stdout
    assert done.stdout.splitlines()[-1] == "typo.dsl: 0 errors, 2 warnings"
    work.run("dsl", "check", "--strict", rules, expect=1)


def test_the_shipped_example_rules_check_clean(work: Workdir):
    for example in sorted((ROOT / "examples" / "rules").glob("*.dsl")):
        done = work.run("dsl", "check", "--strict", str(example))
        assert done.stdout.strip().endswith(": ok"), done.stdout
