"""The Godot client (clients/godot), Godot 3 build, headless against a real `dyngen serve`: Debian's
godot3-server runs clients/godot/godot3/test.gd, which plays the cases this test hands it through the
`Dyngen` autoload and writes every `node_played` result to a file this test reads.

What is not tested here: the Godot 4 addon (clients/godot/addons/dyngen), for want of a Godot 4 on the
machine (clients/godot/README.md says so)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dyngen.defaults import example_graph
from tests.conftest import need_service
from tests.e2e.test_cli import Workdir
from tests.support.proxy import TcpProxy
from tests.support.servers import Process, dyngen_server, free_port

PROJECT = Path(__file__).resolve().parents[2] / "clients" / "godot" / "godot3"
GODOT = "godot3-server"
GRAPH, NODE = "three_scenes", "cafe_to_rooftops"


@pytest.fixture
def godot() -> str:
    found = shutil.which(GODOT)
    if found is None:
        need_service(f"{GODOT} is not installed (apt-get install godot3-server)")
    assert found is not None
    return found


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Workdir, str, str, Path]]:
    """A key-protected `dyngen serve` of the example graph (text transitions), its runtime key, and an
    offline bundle of the same graph exported for playthrough `pt-bundle`."""
    work = Workdir(tmp_path)
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"
    key = work.run("keys", "create", "--scope", "runtime", "--name", "game").stdout.strip()
    bundle = tmp_path / "bundle"
    work.run("export", str(example_graph()), "--out", str(bundle), "--playthrough-id", "pt-bundle")
    process: Process
    process, base = dyngen_server(tmp_path, work.env)
    try:
        yield work, base, key, bundle
    finally:
        process.stop()


def run_godot(godot: str, tmp_path: Path, env: dict[str, str]) -> Any:
    """Run test.gd headless with `env`; what it wrote."""
    out = tmp_path / "godot-out.json"
    out.unlink(missing_ok=True)
    env = env | {"DYNGEN_GODOT_OUT": str(out), "HOME": str(tmp_path)}
    done = subprocess.run(
        [godot, "--path", str(PROJECT), "-s", "test.gd"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert out.exists(), f"no results written\n{done.stdout}\n{done.stderr}"
    return json.loads(out.read_text(encoding="utf-8"))


def play(godot: str, tmp_path: Path, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each case played through the `Dyngen` autoload: the `node_played` results, in order."""
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases), encoding="utf-8")
    results: list[dict[str, Any]] = run_godot(godot, tmp_path, {"DYNGEN_GODOT_CASES": str(cases_file)})
    assert len(results) == len(cases), results
    return results


def test_godot_plays_a_node_from_the_server_the_bundle_or_its_fallback(
    godot: str, served: tuple[Workdir, str, str, Path], tmp_path: Path
) -> None:
    _work, base, key, bundle = served
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    [script] = json.loads((tampered / "manifest.json").read_text(encoding="utf-8"))["items"][0]["files"]
    data = bytearray((tampered / script["path"]).read_bytes())
    data[0] ^= 0x20  # one byte changed, the size kept
    (tampered / script["path"]).write_bytes(bytes(data))
    port = int(base.rsplit(":", 1)[1])
    hanging = TcpProxy("127.0.0.1", port)
    hanging.hang()  # accepts, never answers
    try:
        player = {"playthrough_id": "pt-1", "player_id": "u-1"}
        case = {"graph": GRAPH, "node": NODE, "player_context": player}
        results = play(
            godot,
            tmp_path,
            [
                case | {"base_url": base, "api_key": key},
                case | {"base_url": base},  # no key: 401
                case | {"base_url": f"http://127.0.0.1:{hanging.port}", "api_key": key, "timeout_s": 1.0},
                case | {"base_url": f"http://127.0.0.1:{free_port()}", "api_key": key},  # refused
                case | {"bundle_dir": str(bundle), "player_context": {"playthrough_id": "pt-bundle"}},
                case | {"bundle_dir": str(bundle)},  # not in the bundle, no server: the bundle's fallback
                case | {"bundle_dir": str(bundle), "base_url": base, "api_key": key},  # not in it: the server
                case | {"bundle_dir": str(tampered), "player_context": {"playthrough_id": "pt-bundle"}},
                case | {"base_url": base, "api_key": key, "player_context": {"playthrough_id": "pt-bundle"}},
            ],
        )
    finally:
        hanging.close()

    server, no_key, hung, refused, in_bundle, offline, asked, refused_file, online = results
    assert (server["source"], server["response"]["status"], server["error"]) == ("server", "complete", "")
    assert server["response"]["content"]["type"] == "video" or server["response"]["content"]["dialogue"]
    assert "pt-1" in server["response"]["cache_key"], "the server made the key; the client sent the ids"

    assert (no_key["source"], no_key["response"]["status"]) == ("fallback", "failed")
    assert no_key["error"].startswith("HTTP 401"), no_key["error"]
    assert no_key["response"]["fallback"]["mode"] == "skip"
    assert no_key["response"]["content"] is None
    assert (hung["source"], hung["error"]) == ("fallback", "timed out after 1.0 s")
    assert refused["source"] == "fallback", refused
    assert refused["error"].startswith("no answer from the server"), refused

    assert in_bundle["source"] == "bundle", in_bundle
    exported = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))["items"][0]["response"]
    assert in_bundle["response"]["cache_key"] == exported["cache_key"]
    assert in_bundle["response"]["content"] == exported["content"] | {
        "url": in_bundle["response"]["content"].get("url")
    }
    assert offline["source"] == "fallback"
    assert (offline["response"]["fallback"]["reason"], offline["response"]["content"]["content_id"]) == (
        "offline",
        "transition_01",
    )
    assert (asked["source"], asked["response"]["status"]) == ("server", "complete")
    assert refused_file["source"] == "fallback", "a file that does not match its sha256 is not played"
    assert refused_file["response"]["fallback"]["reason"] == "offline"
    # The server answers the same player with the content the bundle holds: one request, one key.
    assert (online["source"], online["response"]["cache_key"]) == ("server", exported["cache_key"])
    assert online["response"]["cache"]["hit"] is True

    example = run_godot(godot, tmp_path, {"DYNGEN_GODOT_EXAMPLE": json.dumps({"base_url": base, "api_key": key})})
    assert example["autoloaded"], "the project's autoload, as a game gets it"
    assert len(example["lines"]) > 1, example
    assert not example["lines"][0].startswith("(the author's own content"), "the server's dialogue, not the fallback"
    offline_example = run_godot(
        godot, tmp_path, {"DYNGEN_GODOT_EXAMPLE": json.dumps({"base_url": "", "bundle_dir": str(bundle)})}
    )
    assert offline_example["lines"] == ["(the author's own content: transition_01)"]


def code_blocks(markdown: str, language: str) -> list[str]:
    return [block.split("\n", 1)[1] for block in markdown.split("```")[1::2] if block.startswith(language + "\n")]


def test_the_godot_page_shows_the_examples_the_tests_run() -> None:
    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "clients" / "godot.md").read_text(encoding="utf-8")
    blocks = code_blocks(page, "gdscript")
    assert blocks == [
        (PROJECT / "example.gd").read_text(encoding="utf-8"),
        (root / "clients" / "godot" / "examples" / "transition.gd").read_text(encoding="utf-8"),
    ]
    bundle_page = (root / "docs" / "bundle.md").read_text(encoding="utf-8")
    assert code_blocks(bundle_page, "python") == [
        (root / "docs" / "examples" / "bundle_reader.py").read_text(encoding="utf-8")
    ]
