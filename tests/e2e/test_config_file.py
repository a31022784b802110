"""dyngen.toml as a user runs it: `dyngen config check` / `show` in a scratch directory, a broken file that
stops `dyngen serve` with the report, and a server with two OpenAI-compatible instances (routed per node)
and a chain, against the fake OpenAI server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli_zygote import run_dyngen
from tests.support.openai_server import OpenAIServer
from tests.support.servers import dyngen_server, free_port

STUDIO = """\
[server]
env = "development"

[storage]
database_url = "memory://"

[jobs]
lease_s = 20

[providers.story]
kind = "openai"
base_url = "{base}"
model = "story-model"
api_key = "env:STORY_KEY"
concurrency = 2

[providers.local]
kind = "openai"
base_url = "{base}"
model = "local-model"

[providers.down]
kind = "openai"
base_url = "http://127.0.0.1:{closed}/v1"
model = "never"
health_check = false

[chains]
main = ["down", "local"]

[routing]
by_type = {{ dialogue = "main", transition = "builtin_video" }}
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DYNGEN_")}
    return env | extra


def dyngen(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_dyngen(args, cwd=cwd, env=clean_env(**env))


@pytest.fixture(scope="module")
def openai() -> Iterator[OpenAIServer]:
    running = OpenAIServer()
    running.start()
    yield running
    running.stop()


def test_check_reports_every_problem_with_its_line_from_a_scratch_directory(tmp_path: Path) -> None:
    (tmp_path / "dyngen.toml").write_text(
        '[server]\nlog_levle = "debug"\n\n[redis]\ntimeout_s = -1\n\n'
        '[providers.story]\nkind = "openai"\nmodel = "m"\napi_key = "env:STORY_KEY"\n\n'
        '[chains]\nmain = ["story", "nobody"]\n'
    )

    done = dyngen(["config", "check"], tmp_path, STORY_KEY="sk-never-echoed")

    assert done.returncode == 2, done.stderr
    out = done.stdout
    assert "dyngen.toml:2: server.log_levle: unknown key (did you mean `server.log_level`?)" in out
    assert "dyngen.toml:5: redis.timeout_s: Input should be greater than 0" in out
    assert "dyngen.toml:7: providers.story.base_url: Field required" in out
    assert "dyngen.toml:13: chains.main: unknown provider 'nobody'" in out
    assert "sk-never-echoed" not in out + done.stderr


def test_show_prints_the_effective_configuration_with_sources_and_masked_secrets(tmp_path: Path) -> None:
    (tmp_path / "dyngen.toml").write_text(STUDIO.format(base="http://127.0.0.1:9/v1", closed=free_port()))

    done = dyngen(
        ["config", "show"],
        tmp_path,
        STORY_KEY="sk-never-echoed",
        DYNGEN_REDIS__PREFIX="studio",
        DYNGEN_JOB_LEASE_S="40",
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert 'model = "story-model"  # file ' + str(tmp_path / "dyngen.toml") + ":13" in lines
    assert 'api_key = "********"  # file ' + str(tmp_path / "dyngen.toml") + ":14" in lines
    assert 'prefix = "studio"  # environment DYNGEN_REDIS__PREFIX' in lines
    assert "lease_s = 40.0  # environment DYNGEN_JOB_LEASE_S" in lines, "the flat variable beats the file"
    assert "max_attempts = 3  # default" in lines
    assert "sk-never-echoed" not in done.stdout + done.stderr
    assert dyngen(["config", "check"], tmp_path, STORY_KEY="k").returncode == 0


def test_config_names_the_file_and_no_file_is_fine(tmp_path: Path) -> None:
    elsewhere = tmp_path / "conf" / "studio.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('[redis]\nprefix = "studio"\n')
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    shown = dyngen(["--config", str(elsewhere), "config", "show"], scratch)
    assert f'prefix = "studio"  # file {elsewhere}:2' in shown.stdout.splitlines(), shown.stderr

    bare = dyngen(["config", "check"], scratch)
    assert bare.returncode == 0
    assert "no configuration file (defaults and the environment): ok" in bare.stdout


def test_relative_paths_in_the_file_are_relative_to_its_folder_not_the_working_directory(tmp_path: Path) -> None:
    """`--config conf/dyngen.toml` run from a scratch directory elsewhere: a relative ComfyUI workflow (and
    the input map beside it) and a relative `[storage] data_dir` are found beside the file; `example:` still
    names the shipped workflows."""
    shipped = Path(__file__).resolve().parents[2] / "src" / "dyngen" / "defaults" / "comfyui"
    conf = tmp_path / "conf"
    (conf / "flows").mkdir(parents=True)
    (conf / "flows" / "mine.json").write_text((shipped / "transition.json").read_text())
    (conf / "flows" / "mine.inputs.json").write_text((shipped / "transition.inputs.json").read_text())
    (conf / "dyngen.toml").write_text(
        '[storage]\ndata_dir = "state"\n\n'
        '[providers.studio]\nkind = "comfyui"\nworkflow = "flows/mine.json"\nprivate_hosts = ["127.0.0.1"]\n\n'
        '[providers.stills]\nkind = "comfyui"\nworkflow = "example:scene_still"\n'
        'generation_types = ["environment"]\n'
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    checked = dyngen(["--config", str(conf / "dyngen.toml"), "config", "check"], scratch)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    shown = dyngen(["--config", str(conf / "dyngen.toml"), "config", "show"], scratch)
    assert shown.returncode == 0, shown.stderr
    assert f'workflow = "{conf / "flows" / "mine.json"}"' in shown.stdout
    assert 'workflow = "example:scene_still"' in shown.stdout
    assert f'data_dir = "{conf / "state"}"' in shown.stdout
    assert not (scratch / "state").exists()


def test_the_deprecated_allow_private_hosts_is_a_warning_not_a_problem(tmp_path: Path) -> None:
    (tmp_path / "dyngen.toml").write_text(
        '[providers.video]\nkind = "http_video"\nsubmit_url = "http://127.0.0.1:8000/jobs"\n'
        'status_url = "http://127.0.0.1:8000/jobs/{id}"\nallow_private_hosts = true\n'
    )

    done = dyngen(["config", "check"], tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok (1 warning(s))" in done.stdout
    assert f"warning: {tmp_path / 'dyngen.toml'}:5: providers.video.allow_private_hosts: deprecated" in done.stderr
    assert "private_hosts = [" in done.stderr

    flat = dyngen(
        ["config", "check"],
        tmp_path / "..",
        DYNGEN_HTTP_VIDEO_SUBMIT_URL="http://127.0.0.1:8000/jobs",
        DYNGEN_HTTP_VIDEO_STATUS_URL="http://127.0.0.1:8000/jobs/{id}",
        DYNGEN_HTTP_VIDEO_ALLOW_PRIVATE_HOSTS="true",
    )
    assert flat.returncode == 0, flat.stdout + flat.stderr
    assert "providers.http_video.allow_private_hosts: deprecated" in flat.stderr


def test_a_broken_file_stops_serve_with_the_report_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "dyngen.toml").write_text('[server]\nenv = "production"\nport = 8000\n')

    done = dyngen(["serve", "--port", str(free_port())], tmp_path)

    assert done.returncode == 2
    assert "dyngen.toml:3: server.port: unknown key" in done.stderr
    assert "Traceback" not in done.stderr


BROKEN_STUDIO = """\
[server]
log_levle = "debug"

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"
modle = "llama3.1:8b"
concurency = 2

[providers.studio]
kind = "comfyui"
private_hosts = ["127.0.0.1"]
workflow = "example:transiton"

[routing]
by_type = { dialogue = "local", transition = "studio" }
"""


def test_serve_stops_with_the_whole_report_that_check_gives(tmp_path: Path) -> None:
    (tmp_path / "dyngen.toml").write_text(BROKEN_STUDIO)
    path = tmp_path / "dyngen.toml"

    checked = dyngen(["config", "check"], tmp_path)
    served = dyngen(["serve", "--port", str(free_port())], tmp_path)

    assert (checked.returncode, served.returncode) == (2, 2)
    expected = [
        f"{path}:2: server.log_levle: unknown key (did you mean `server.log_level`?)",
        f"{path}:7: providers.local.modle: unknown key (did you mean `providers.local.model`?)",
        f"{path}:8: providers.local.concurency: unknown key (did you mean `providers.local.concurrency`?)",
        f"{path}:13: providers.studio.workflow: ",
    ]
    for line in expected:
        assert line in checked.stdout, checked.stdout
        assert line in served.stderr, served.stderr
    assert "transiton.json cannot be read" in checked.stdout
    assert "Traceback" not in served.stderr


@pytest.mark.parametrize(
    ("command", "text", "problem"),
    [
        (
            ["worker"],
            '[providers.studio]\nkind = "comfyui"\nworkflow = "mine.json"\n',
            ":3: providers.studio.workflow: ",
        ),
        (["migrate"], "[redis]\ntimeout_s = -1\n", ":2: redis.timeout_s: Input should be greater than 0"),
    ],
)
def test_every_command_stops_with_the_report_not_a_traceback(
    tmp_path: Path, command: list[str], text: str, problem: str
) -> None:
    (tmp_path / "dyngen.toml").write_text(text)

    done = dyngen(command, tmp_path, DYNGEN_REDIS_URL="redis://127.0.0.1:9")

    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'dyngen.toml'}{problem}" in done.stderr
    assert "Traceback" not in done.stderr


def generate(base: str, **changes: Any) -> dict[str, Any]:
    body = {
        "type": "dialogue",
        "node_id": "cafe_to_rooftop",
        "from_scene": {"id": "cafe_date", "mood": "romantic"},
        "to_scene": {"id": "rooftop_chase", "mood": "intense"},
        "strategy": "always",
        "fallback": {"mode": "skip", "timeoutMs": 10_000},
    } | changes
    response = httpx.post(f"{base}/api/generate-content", json=body, timeout=30)
    assert response.status_code == 200, response.text
    generated: dict[str, Any] = response.json()
    assert generated["status"] == "complete", generated
    return generated


def test_two_openai_instances_routed_per_node_and_a_chain(tmp_path: Path, openai: OpenAIServer) -> None:
    config = tmp_path / "studio.toml"
    config.write_text(STUDIO.format(base=openai.base_url, closed=free_port()))
    server, base = dyngen_server(
        tmp_path, {"DYNGEN_CONFIG": str(config), "STORY_KEY": "sk-story", "DYNGEN_DATA_DIR": str(tmp_path / "d")}
    )
    try:
        openai.script.requests.clear()
        assert generate(base, provider="story")["provider"] == "story"
        assert generate(base, provider="local")["provider"] == "local"
        assert generate(base)["provider"] == "local", "the chain's first member is down: the second answers"
        sent = [(r["body"]["model"], r["authorization"]) for r in openai.script.requests]
        assert sent == [("story-model", "Bearer sk-story"), ("local-model", None), ("local-model", None)]

        health = httpx.get(f"{base}/api/health", timeout=10).json()
        assert {"story", "local", "down", "main", "builtin", "builtin_video"} <= set(health["providers"])
        assert health["providers"]["local"]["latency_ms"] is not None, "an instance is probed"
        down = health["providers"]["down"]
        assert (down["status"], down.get("latency_ms")) == ("unchecked", None), "health_check = false: never probed"
    finally:
        server.stop()
