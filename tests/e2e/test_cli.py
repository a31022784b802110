"""The `dyngen` command as a user runs it: a process of its own, a temporary working and data directory.

`Workdir.run` forks each command from a zygote that imported dyngen once (`tests/support/cli_zygote.py`);
`fresh=True` runs the installed `dyngen` executable in a new interpreter, for what only that shows.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_zygote import ZYGOTE
from tests.support.examples import SPEC_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
DYNGEN = ROOT / ".venv" / "bin" / "dyngen"
EXAMPLE = ROOT / "examples" / "three_scenes.json"

TEMPLATE: dict[str, Any] = SPEC_TEMPLATE
REQUEST: dict[str, Any] = {
    "type": "transition",
    "node_id": TEMPLATE["id"],
    "from_scene": {"id": "cafe_date", "mood": "romantic", "location": "corner_cafe"},
    "to_scene": {"id": "rooftop_chase", "mood": "intense", "location": "city_rooftops"},
    **{k: TEMPLATE[k] for k in ("style", "duration", "constraints", "strategy", "fallback", "version")},
    "player_context": {"playthroughId": "p1"},
}
# A deadline that only guards against hanging: a real video render on a busy 2-core machine can take longer
# than the example's 4 s, and these tests are about what the CLI prints, not how fast it renders.
ROOMY_TIMEOUT_MS = 60_000
REQUEST["fallback"] = {**REQUEST["fallback"], "timeoutMs": ROOMY_TIMEOUT_MS}


def roomy_example(work: Workdir) -> str:
    """The three-scene example with a node deadline that only guards against hanging."""
    graph = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for node in graph["nodes"]:
        fallback = node.get("config", {}).get("fallback")
        if fallback is not None:
            fallback["timeoutMs"] = ROOMY_TIMEOUT_MS
    return work.write("three_scenes.json", graph)


class Workdir:
    """A user's working directory with its own DYNGEN_DATA_DIR."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = path / "data"
        # Only this run's settings: a developer's own DYNGEN_* (a database URL, Redis) must not leak in.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("DYNGEN_")}
        self.env = {**inherited, "DYNGEN_DATA_DIR": str(self.data), "NO_COLOR": "1"}

    def write(self, name: str, data: Any) -> str:
        (self.path / name).write_text(json.dumps(data), encoding="utf-8")
        return name

    def run(self, *args: str, expect: int = 0, fresh: bool = False) -> subprocess.CompletedProcess[str]:
        """`dyngen *args` in this directory; `fresh`: in a new interpreter (its own hash seed, its own imports)."""
        if fresh:
            done = subprocess.run(
                [str(DYNGEN), *args],
                cwd=self.path,
                env=self.env,
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=60,
                check=False,
            )
        else:
            done = ZYGOTE.run(list(args), cwd=self.path, env=self.env, timeout=60)
        assert done.returncode == expect, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done


@pytest.fixture
def work(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path)


def contradictory() -> dict[str, Any]:
    config = copy.deepcopy(TEMPLATE)
    config["constraints"]["avoidElements"].append("kiss_callback")
    config["duration"] = {"min": 45, "max": 15, "target": 30}
    config["fallback"] = {"mode": "default_content"}
    return config


CONTRADICTIONS = {"ELEMENT_REQUIRED_AND_AVOIDED", "DURATION_RANGE_INVERTED", "FALLBACK_DEFAULT_CONTENT_MISSING"}


def test_validate_the_spec_template_is_ok(work: Workdir):
    done = work.run("validate", work.write("template.json", TEMPLATE))
    assert re.search(r"template\.json: ok\b", done.stdout), done.stdout


def test_validate_a_contradictory_config_exits_1_listing_each_finding(work: Workdir):
    done = work.run("validate", work.write("broken.json", contradictory()), expect=1)
    assert "errors" in done.stdout
    for code in CONTRADICTIONS:
        assert code in done.stdout


def test_validate_json_output_is_parseable(work: Workdir):
    ok = json.loads(work.run("validate", "--json", work.write("template.json", TEMPLATE)).stdout)
    assert ok["status"] == "ok"
    assert ok["complexity"] == pytest.approx(7.0)

    broken = json.loads(work.run("validate", "--json", work.write("broken.json", contradictory()), expect=1).stdout)
    assert broken["status"] == "errors"
    assert {f["code"] for f in broken["findings"]} >= CONTRADICTIONS


def test_validate_a_typo_exits_2_naming_the_suggestion(work: Workdir):
    config = copy.deepcopy(TEMPLATE)
    config["style"]["moodFro"] = config["style"].pop("moodFrom")
    done = work.run("validate", work.write("typo.json", config), expect=2)
    assert "style.moodFro" in done.stderr
    assert "moodFrom" in done.stderr


def test_validate_a_missing_or_unreadable_file_exits_2(work: Workdir):
    missing = work.run("validate", "nowhere.json", expect=2)
    assert "cannot read nowhere.json" in missing.stderr
    (work.path / "a_directory.json").mkdir()
    directory = work.run("validate", "a_directory.json", expect=2)
    assert "cannot read a_directory.json" in directory.stderr


def test_validate_malformed_json_exits_2_saying_where(work: Workdir):
    (work.path / "bad.json").write_text('{\n  "generationType": "transition",\n}', encoding="utf-8")
    done = work.run("validate", "bad.json", expect=2)
    assert "bad.json is not valid JSON" in done.stderr
    assert "line 3" in done.stderr


def test_validate_a_file_that_is_not_text_exits_2(work: Workdir):
    (work.path / "binary.json").write_bytes(b"\xff\xfe\x00\x01 not text")
    done = work.run("validate", "binary.json", expect=2)
    assert "binary.json" in done.stderr


def test_key_is_printed_and_stable_across_processes(work: Workdir):
    config = work.write("template.json", TEMPLATE)
    first = work.run("key", config, "--playthrough-id", "X", fresh=True).stdout.strip()
    second = work.run("key", config, "--playthrough-id", "X", fresh=True).stdout.strip()
    other = work.run("key", config, "--playthrough-id", "Y").stdout.strip()

    assert first == second == "transition|gap_fill|||per_playthrough|X|1;c=4374d0e4e0f7"
    assert other != first
    scenes = work.run("key", config, "--playthrough-id", "X", "--from", "cafe_date", "--to", "rooftop_chase")
    assert scenes.stdout.strip() == "transition|gap_fill|cafe_date|rooftop_chase|per_playthrough|X|1;c=3ec7861edf42"


def test_key_per_playthrough_without_a_playthrough_exits_2_naming_it(work: Workdir):
    done = work.run("key", work.write("template.json", TEMPLATE), expect=2)
    assert "playthroughId" in done.stderr
    assert done.stdout == ""


def test_generate_prints_the_response_and_is_deterministic_across_runs(work: Workdir):
    request = work.write("request.json", REQUEST)
    first = json.loads(work.run("generate", request, fresh=True).stdout)
    second = json.loads(work.run("generate", request, fresh=True).stdout)

    assert first["status"] == second["status"] == "complete"
    assert first["provider"] == "builtin_video", "a transition is rendered to video by default"
    assert first["content"]["type"] == "video"
    assert first["deterministic"] is True
    assert first["seed"] == second["seed"]
    assert first["cache_key"] == second["cache_key"]
    assert {k: v for k, v in first["content"].items() if k != "url"} == {
        k: v for k, v in second["content"].items() if k != "url"
    }
    assert (work.data / "dyngen.db").exists()
    # `dyngen key` on the same request agrees with the key generation used.
    assert work.run("key", request).stdout.strip() == first["cache_key"]


def test_generate_answers_a_video_once_it_is_whole_and_kept(work: Workdir):
    # No elements to check: a server would answer this video while it renders; `dyngen generate` ends with
    # its answer, so it waits for the whole video (a render still running at exit would be cut off).
    request = work.write("request.json", {**REQUEST, "constraints": {}})
    first = json.loads(work.run("generate", request).stdout)
    second = json.loads(work.run("generate", request).stdout)

    assert first["status"] == "complete", first
    assert [a["role"] for a in first["artifacts"]] == ["video", "poster", "captions", "script"]
    assert all("bytes" in a for a in first["artifacts"]), "answered once whole"
    assert second["cache"]["hit"] is True, "the first run's video was recorded and kept before it exited"


def test_generate_refuses_a_request_with_errors(work: Workdir):
    request = copy.deepcopy(REQUEST)
    request["constraints"]["avoidElements"] = ["phone_ring"]
    done = work.run("generate", work.write("request.json", request), expect=2)
    assert "requiredElements" in done.stderr
    assert done.stdout == ""


def scene_titles(stdout: str) -> list[str]:
    return [line.removeprefix("▶").split("(")[0].strip() for line in stdout.splitlines() if line.startswith("▶")]


def has_line(stdout: str, *stems: str) -> bool:
    return any(all(s in line.lower() for s in stems) for line in stdout.splitlines())


def story(stdout: str) -> list[str]:
    """What the player sees: scene headers and the transition's timed lines (not timings or cache stats)."""
    return [line for line in stdout.splitlines() if line.startswith("▶") or re.match(r"\s+\d+\.\d+s ", line)]


def test_play_walks_three_scenes_and_shows_the_transition(work: Workdir):
    example = roomy_example(work)
    done = work.run("play", example, "--playthrough-id", "p1")

    assert scene_titles(done.stdout) == ["Late coffee", "Rooftops", "Dawn"]
    assert has_line(done.stdout, "phone", "ring"), done.stdout
    assert has_line(done.stdout, "kiss"), done.stdout
    assert "fallback" not in done.stdout
    assert len(story(done.stdout)) >= 3 + 3, "three scenes and a transition of several timed lines"
    again = work.run("play", example, "--playthrough-id", "p1")
    assert story(again.stdout) == story(done.stdout), "same playthrough, same story (cached or not)"


def test_play_with_a_forced_timeout_shows_the_fallback(work: Workdir):
    done = work.run("play", str(EXAMPLE), "--playthrough-id", "p1", "--fail", "GEN_TIMEOUT")

    assert scene_titles(done.stdout) == ["Late coffee", "Rooftops", "Dawn"]
    assert "fallback default_content" in done.stdout
    assert "GEN_TIMEOUT" in done.stdout
    assert "transition_01" in done.stdout
    assert not has_line(done.stdout, "phone", "ring"), "no generated lines when generation failed"


@pytest.mark.parametrize("code", ["NOPE", "GEN_INVALID_CONFIG"])
def test_play_with_an_unusable_failure_code_exits_2(work: Workdir, code: str):
    done = work.run("play", str(EXAMPLE), "--fail", code, expect=2)
    assert code in done.stderr
    assert "▶" not in done.stdout


def test_migrate_prints_the_revision(work: Workdir):
    first = work.run("migrate")
    revision = re.search(r"revision (\S+)", first.stdout)
    assert revision is not None, first.stdout
    assert revision.group(1) != "None"
    assert (work.data / "dyngen.db").exists()
    assert work.run("migrate").stdout == first.stdout, "migrating twice changes nothing"
