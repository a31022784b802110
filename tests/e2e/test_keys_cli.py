"""`dyngen keys` and the start-up rule of `dyngen serve`, as an operator runs them: real processes."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_cli import DYNGEN, Workdir
from tests.support.servers import answers, free_port
from tests.support.waiting import HANG_GUARD_S, wait_until

HINT = "dyngen keys create"


@pytest.fixture
def work(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path)


def test_create_prints_the_key_alone_once_and_list_never_shows_it(work: Workdir):
    created = work.run("keys", "create", "--scope", "editor", "--name", "studio tools")
    key = created.stdout.strip()
    assert created.stdout == key + "\n", "the key alone on stdout, so a script can capture it"
    assert key.startswith("dyngen_")
    assert "store it" in created.stderr.lower()
    assert "not be shown again" in created.stderr or "cannot be shown again" in created.stderr

    listed = work.run("keys", "list")
    assert key not in listed.stdout
    (line,) = listed.stdout.splitlines()
    assert line.split()[1:3] == ["editor", "active"]
    assert line.endswith("studio tools")

    (entry,) = json.loads(work.run("keys", "list", "--json").stdout)
    assert (entry["scope"], entry["name"], entry["revoked_at"]) == ("editor", "studio tools", None)
    assert key not in json.dumps(entry)
    assert entry["id"] in line


def test_create_without_a_name_names_the_key_by_its_scope(work: Workdir):
    work.run("keys", "create", "--scope", "runtime")
    (entry,) = json.loads(work.run("keys", "list", "--json").stdout)
    assert (entry["scope"], entry["name"]) == ("runtime", "runtime key")


def test_create_refuses_an_unknown_scope(work: Workdir):
    refused = work.run("keys", "create", "--scope", "root", expect=2)
    said = " ".join(refused.stderr.replace("│", " ").split())  # the error box wraps lines
    assert "'runtime', 'editor', 'admin'" in said, refused.stderr
    assert "no API keys" in work.run("keys", "list").stdout


def test_revoke_marks_the_key_revoked_and_keeps_the_last_one(work: Workdir):
    work.run("keys", "create", "--scope", "admin", "--name", "ops")
    work.run("keys", "create", "--scope", "runtime", "--name", "game")
    ids = {e["name"]: e["id"] for e in json.loads(work.run("keys", "list", "--json").stdout)}

    revoked = work.run("keys", "revoke", ids["game"])
    assert f"revoked runtime key {ids['game']} (game)" in revoked.stdout
    states = {e["name"]: e["revoked_at"] for e in json.loads(work.run("keys", "list", "--json").stdout)}
    assert states["game"] is not None
    assert states["ops"] is None
    assert "revoked" in next(line for line in work.run("keys", "list").stdout.splitlines() if "game" in line)

    last = work.run("keys", "revoke", ids["ops"], expect=2)
    assert "last active API key" in last.stderr
    assert "create another key first" in last.stderr
    unknown = work.run("keys", "revoke", "nosuchkey", expect=2)
    assert "nosuchkey" in unknown.stderr


def test_serve_refuses_a_reachable_address_without_a_key(work: Workdir):
    done = subprocess.run(
        [str(DYNGEN), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=work.path,
        env=work.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert f"{HINT} --scope admin --name ops" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "serving on" not in done.stdout


def test_serve_starts_on_a_reachable_address_once_a_key_exists(work: Workdir):
    key = work.run("keys", "create", "--scope", "admin", "--name", "ops").stdout.strip()
    port = free_port()
    log = (work.path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(DYNGEN), "serve", "--host", "0.0.0.0", "--port", str(port), "--log-level", "warning"],
        cwd=work.path,
        env=work.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:

            def live() -> bool:
                assert server.poll() is None, (work.path / "serve.log").read_text()
                return answers(http, "/api/health/live")

            wait_until(live, what="serve to answer /api/health/live")
            assert http.get("/api/generations").status_code == 401
            assert http.get("/api/generations", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=HANG_GUARD_S)  # a guard against a hang: how long it takes is not the test
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()


@pytest.mark.parametrize(("name", "said"), [("ops\x1b[31m", "U+001B at position 3"), ("a\nb", "U+000A at position 1")])
def test_create_refuses_a_name_with_control_characters_as_the_api_does(work: Workdir, name: str, said: str):
    refused = work.run("keys", "create", "--scope", "admin", "--name", name, expect=2)
    assert "invalid key name: must not contain control characters" in refused.stderr, refused.stderr
    assert said in refused.stderr
    assert "no API keys" in work.run("keys", "list").stdout
