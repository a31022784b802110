"""`dyngen` speaks one vocabulary and says what to do: the same flags for the same things in every command
(old spellings still work for a release, with a note), `--version`, `generate --out`, errors that name the
fix, a quiet start, and defaults that come from the package whatever the working directory."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

import dyngen
from tests.e2e.test_cli import DYNGEN, REQUEST, TEMPLATE, Workdir, roomy_example
from tests.support.servers import free_port, http_ok
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(dyngen.__file__).resolve().parent


@pytest.fixture
def work(tmp_path: Path) -> Workdir:
    scratch = tmp_path / "scratch"  # a working directory outside the repository, with nothing in it
    scratch.mkdir()
    assert not scratch.resolve().is_relative_to(ROOT)
    return Workdir(scratch)


def test_version_prints_the_installed_version(work: Workdir) -> None:
    assert work.run("--version").stdout.strip() == f"dyngen {version('dyngen')}"


def test_the_ids_have_one_spelling_and_the_old_one_warns(work: Workdir) -> None:
    config = work.write("node.json", TEMPLATE)
    new = work.run("key", config, "--playthrough-id", "X", "--player-id", "U")
    old = work.run("key", config, "--playthrough", "X", "--player", "U")

    assert old.stdout == new.stdout
    assert new.stderr == ""
    assert "--playthrough is deprecated" in old.stderr
    assert "use --playthrough-id" in old.stderr
    assert "--player is deprecated" in old.stderr
    both = work.run("key", config, "--playthrough", "X", "--playthrough-id", "Y", expect=2)
    assert "give one of them" in both.stderr
    for command in ("key", "play", "warm", "export"):
        shown = work.run(command, "--help").stdout
        assert "--playthrough-id" in shown, command
        assert "--player-id" in shown, command
        assert "--playthrough " not in shown, f"{command}: the old spelling is hidden"
        assert "--player " not in shown, f"{command}: the old spelling is hidden"


def test_play_takes_the_same_id_flags_as_warm(work: Workdir) -> None:
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"  # text transitions: the test is about the flags
    example = roomy_example(work)
    new = work.run("play", example, "--playthrough-id", "p1")
    old = work.run("play", example, "--playthrough", "p1")
    assert [line for line in old.stdout.splitlines() if "▶" in line] == [
        line for line in new.stdout.splitlines() if "▶" in line
    ]
    assert "deprecated" in old.stderr


def test_warm_names_its_scene_list_path_and_keeps_the_old_spelling(work: Workdir) -> None:
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"  # text transitions: the test is about the flags
    graph = roomy_example(work)
    ids = ("--playthrough-id", "p1")
    path = json.loads(work.run("warm", graph, "--path", "cafe_date,rooftop_chase", *ids, "--json").stdout)
    old = work.run("warm", graph, "--playthrough", "cafe_date,rooftop_chase", *ids, "--json")

    assert path["total"] == json.loads(old.stdout)["total"] == 1
    assert "--playthrough is deprecated" in old.stderr
    assert "use --path" in old.stderr
    assert "--path" in work.run("warm", "--help").stdout


def test_generate_out_writes_the_content_files_and_prints_their_paths(work: Workdir) -> None:
    request = work.write("request.json", REQUEST)
    done = work.run("generate", request, "--out", "clip")

    folder = (work.path / "clip").resolve()
    paths = [Path(line) for line in done.stdout.splitlines()]
    assert paths, done.stderr
    assert all(p.is_absolute() and p.parent == folder and p.is_file() for p in paths), paths
    names = {p.name.split("-")[0]: p for p in paths}
    assert set(names) >= {"video", "poster", "captions", "response.json"}
    assert names["video"].suffix == ".mp4"
    assert names["video"].read_bytes()[4:8] == b"ftyp", "an MP4 file"
    assert names["poster"].read_bytes()[:3] == b"\xff\xd8\xff", "a JPEG file"
    assert names["captions"].read_text(encoding="utf-8").startswith("WEBVTT")
    response = json.loads((folder / "response.json").read_text(encoding="utf-8"))
    assert response["status"] == "complete"
    assert response["content"]["url"] == names["video"].name
    assert {a["url"] for a in response["artifacts"]} <= {p.name for p in paths}
    assert "/api/artifacts/" not in done.stdout


def test_an_unknown_provider_says_how_to_enable_it(work: Workdir) -> None:
    done = work.run("generate", work.write("request.json", {**REQUEST, "provider": "openai"}), expect=2)
    assert "unknown provider 'openai'" in done.stderr
    assert "[providers.openai]" in done.stderr
    assert "dyngen.toml" in done.stderr
    assert "DYNGEN_OPENAI_BASE_URL" in done.stderr


@pytest.mark.parametrize("command", ["play", "warm", "export"])
def test_a_node_config_given_for_a_graph_is_named(work: Workdir, command: str) -> None:
    node = work.write("node.json", TEMPLATE)
    extra = ["--out", "bundle"] if command == "export" else []
    done = work.run(command, node, *extra, expect=2)
    assert "this is a node config, not a graph" in done.stderr
    assert "dyngen validate" in done.stderr
    request = work.run(command, work.write("request.json", REQUEST), *extra, expect=2)
    assert "this is a generate request, not a graph" in request.stderr


def test_serve_starts_quietly_with_the_shipped_defaults(work: Workdir) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (work.path / "out.log").open("w") as out, (work.path / "err.log").open("w") as err:
        server = subprocess.Popen(
            [str(DYNGEN), "serve", "--port", str(port)], cwd=work.path, env=work.env, stdout=out, stderr=err
        )
        try:
            wait_until(lambda: http_ok(f"{base}/api/health/live"), what="dyngen serve")
            # The example graph is stored from the package, not from the working directory.
            assert "three_scenes" in {g["id"] for g in httpx.get(f"{base}/api/graphs", timeout=5).json()}
        finally:
            server.terminate()
            server.wait(timeout=30)
    stdout = (work.path / "out.log").read_text(encoding="utf-8")
    stderr = (work.path / "err.log").read_text(encoding="utf-8")
    assert "alembic" not in stderr, stderr
    assert "Running upgrade" not in stderr
    assert stdout.startswith(f"dyngen serving on {base}")
    assert "INFO" not in "".join(line for line in stderr.splitlines() if "migration" in line), stderr


def test_the_shipped_defaults_do_not_depend_on_the_working_directory(work: Workdir) -> None:
    # Forked from the zygote, which imported dyngen in an empty folder of its own: a default computed at
    # import from the working directory would point there. `config show` runs as a new interpreter too.
    for command in (["migrate"], ["keys", "list"], ["gc", "--dry-run"], ["config", "check"], ["dsl", "--help"]):
        work.run(*command)  # exit 0 from an empty folder: nothing they need is looked up in it
    listed = work.run("templates", "list").stdout
    assert "romantic_to_action_transition_v1" in listed
    shown = work.run("config", "show", fresh=True).stdout
    for key in ("templates_dir", "example_graph", "assets_dir"):
        line = next(line for line in shown.splitlines() if line.startswith(f"{key} ="))
        where = Path(json.loads(line.split("=", 1)[1].split("  #")[0].strip()))
        assert where.is_relative_to(PACKAGE), line
    played = work.run("play", roomy_example(work), "--playthrough-id", "p1").stdout
    assert "generated" in played, played
    assert "fallback" not in played, played
