"""`dyngen export` as a user runs it: warm a graph, write the offline bundle (docs/bundle.md), and play it
with nothing left of the process that made it (the data folder removed), through the reference reader
of docs/examples/bundle_reader.py. On a terminal it shows its progress, and Ctrl-C ends it with 130."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dyngen.defaults import example_graph
from tests.e2e.test_cli import DYNGEN, Workdir
from tests.e2e.test_warmup import chain, store_graph, story
from tests.support.waiting import HANG_GUARD_S

READER = Path(__file__).resolve().parents[2] / "docs" / "examples" / "bundle_reader.py"
EXTENSIONS = {
    "video/mp4": ".mp4",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "text/vtt": ".vtt",
    "application/json": ".json",
}


def read(bundle: Path, node_id: str, *context: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(READER), str(bundle), node_id, *context],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    found["stderr"] = done.stderr
    return found


def check_files(bundle: Path, manifest: dict[str, Any]) -> set[str]:
    """Every item's files exist with the manifest's sha256, size and the media type's extension; returns
    the set of paths (every file in files/ is named by some item)."""
    named: set[str] = set()
    for item in manifest["items"]:
        response = item["response"]
        for entry in item["files"]:
            data = (bundle / entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry
            assert len(data) == entry["bytes"], entry
            assert entry["path"] == f"files/{entry['sha256'][:16]}{EXTENSIONS[entry['media_type']]}", entry
            named.add(entry["path"])
        urls = [a["url"] for a in response.get("artifacts") or []]
        assert sorted(urls) == sorted(f["path"] for f in item["files"]), "artifact URLs name the bundle's files"
        if (url := (response.get("content") or {}).get("url")) is not None:
            assert url in urls, url
    on_disk = (
        {str(p.relative_to(bundle)) for p in (bundle / "files").iterdir()} if (bundle / "files").exists() else set()
    )
    assert on_disk == named, on_disk ^ named
    return named


def test_the_example_graph_exports_its_video_and_plays_offline(tmp_path: Path) -> None:
    work = Workdir(tmp_path)
    graph = json.loads(example_graph().read_text(encoding="utf-8"))
    # The shipped node falls back after 4 s; a loaded test machine may render slower than that.
    graph["nodes"][0]["config"]["fallback"]["timeoutMs"] = 120_000
    source = work.write("three_scenes.json", graph)
    bundle = tmp_path / "bundle"

    done = work.run("export", source, "--out", str(bundle), "--playthrough-id", "pt-1")

    assert "bundle of graph three_scenes: complete" in done.stdout, done.stdout
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "dyngen-bundle/1"
    assert manifest["graph"] == {"id": "three_scenes", "version": None, "start_scene": "cafe_date"}
    assert manifest["scopes"] == {"playthrough_ids": ["pt-1"], "player_ids": []}
    [item] = manifest["items"]
    assert (item["node_id"], item["strategy"], item["scope"], item["kind"]) == (
        "cafe_to_rooftops",
        "per_playthrough",
        {"playthrough_id": "pt-1"},
        "video",
    )
    assert (item["from_scene"], item["to_scene"]) == ("cafe_date", "rooftop_chase")
    assert item["cache_key"] == item["response"]["cache_key"]
    assert "pt-1" in item["cache_key"]
    assert {f["role"]: Path(f["path"]).suffix for f in item["files"]} == {
        "video": ".mp4",
        "poster": ".jpg",
        "captions": ".vtt",
        "script": ".json",
    }
    check_files(bundle, manifest)
    assert (bundle / item["files"][0]["path"]).read_bytes()[4:8] == b"ftyp", "an MP4 file"
    fallback = manifest["fallbacks"]["cafe_to_rooftops"]
    assert (fallback["status"], fallback["fallback"]["reason"]) == ("failed", "offline")
    assert fallback["content"]["content_id"] == "transition_01", "default_content: the author's content"

    shutil.rmtree(work.data)  # nothing of the process that made it is left: the bundle alone plays
    played = read(bundle, "cafe_to_rooftops", "--playthrough-id", "pt-1")
    assert played["source"] == "bundle"
    assert Path(played["response"]["content"]["url"]).read_bytes()[4:8] == b"ftyp"
    other = read(bundle, "cafe_to_rooftops", "--playthrough-id", "someone-else")
    assert (other["source"], other["response"]["content"]["content_id"]) == ("fallback", "transition_01")

    video = next(f for f in item["files"] if f["role"] == "video")
    with (bundle / video["path"]).open("r+b") as file:  # one byte changed, the size kept
        file.seek(100)
        byte = file.read(1)
        file.seek(100)
        file.write(bytes([byte[0] ^ 0xFF]))
    tampered = read(bundle, "cafe_to_rooftops", "--playthrough-id", "pt-1")
    assert tampered["source"] == "fallback"
    assert "tampered" in tampered["stderr"]


def on_a_terminal(work: Workdir, *args: str, interrupt_on: bytes | None = None) -> tuple[int, str, str]:
    """`dyngen ARGS` with its stderr on a terminal (a pty) and its stdout piped, as a user's shell runs
    `dyngen export ... > report.txt`; with `interrupt_on`, SIGINT (Ctrl-C) once the terminal shows those
    bytes. Returns the exit code, what the terminal showed and stdout."""
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(DYNGEN), *args],
        cwd=work.path,
        env={**work.env, "TERM": "xterm-256color", "COLUMNS": "120"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    guard = time.monotonic() + HANG_GUARD_S
    try:
        while True:
            assert time.monotonic() < guard, f"the terminal still open after the hang guard: {shown[-500:]!r}"
            ready, _, _ = select.select([main], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the process closed the terminal (it ended)
                break
            if not chunk:
                break
            if interrupt_on is not None and interrupt_on in shown + chunk and interrupt_on not in shown:
                process.send_signal(signal.SIGINT)
            shown += chunk
        assert process.stdout is not None
        out = process.stdout.read().decode()
        code = process.wait(timeout=HANG_GUARD_S)
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    return code, shown.decode(errors="replace"), out


def test_on_a_terminal_export_shows_its_progress_and_piped_it_prints_only_the_report(tmp_path: Path) -> None:
    work = Workdir(tmp_path)
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"  # text transitions: the bars, not a render, are under test
    args = ("export", str(example_graph()), "--playthrough-id", "pt-1")

    code, shown, out = on_a_terminal(work, *args, "--out", str(tmp_path / "shown"))
    piped = work.run(*args, "--out", str(tmp_path / "piped"))

    assert code == 0, shown + out
    assert "warming" in shown, shown
    assert "writing" in shown, shown
    assert "1/1" in shown, "each bar counts done of total"
    assert "bundle of graph three_scenes: complete" in out, out
    assert piped.stderr == "", "no bar on a pipe"
    assert "bundle of graph three_scenes: complete" in piped.stdout


@pytest.fixture
def silent_upstream() -> Iterator[str]:
    """An OpenAI-compatible URL whose server accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def test_ctrl_c_during_the_warm_up_exits_130_and_writes_no_bundle(tmp_path: Path, silent_upstream: str) -> None:
    work = Workdir(tmp_path)
    # The transition's provider never answers, within a deadline longer than the test: still warming.
    work.env["DYNGEN_OPENAI_BASE_URL"] = silent_upstream
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = '{"transition": "openai"}'
    graph = json.loads(example_graph().read_text(encoding="utf-8"))
    graph["nodes"][0]["config"]["fallback"]["timeoutMs"] = 600_000
    bundle = tmp_path / "bundle"

    code, shown, out = on_a_terminal(
        work,
        "export",
        work.write("slow.json", graph),
        "--out",
        str(bundle),
        "--playthrough-id",
        "pt-1",
        interrupt_on=b"warming",
    )

    assert code == 130, shown + out
    assert "interrupted: the bundle is incomplete; what was warmed stays cached" in shown, shown
    assert "Traceback" not in shown, shown
    assert not (bundle / "manifest.json").exists()


def test_each_strategy_exports_the_scopes_named_and_always_exports_its_fallback(tmp_path: Path) -> None:
    work = Workdir(tmp_path)
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"  # text transitions: no render needed to count items
    source = work.write("story.json", story())
    bundle = tmp_path / "bundle"

    report = json.loads(
        work.run(
            "export",
            source,
            "--out",
            str(bundle),
            "--playthrough-id",
            "p1",
            "--playthrough-id",
            "p2",
            "--player-id",
            "u1",
            "--json",
        ).stdout
    )

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    items = sorted((i["node_id"], i["strategy"], json.dumps(i["scope"])) for i in manifest["items"])
    assert items == [
        ("edge:b->c", "once", "{}"),
        ("n_ab", "once", "{}"),
        ("n_de", "per_playthrough", '{"playthrough_id": "p1"}'),
        ("n_de", "per_playthrough", '{"playthrough_id": "p2"}'),
        ("n_ef", "per_player", '{"player_id": "u1"}'),
    ]
    assert manifest["always_nodes"] == ["n_cd"]
    assert set(manifest["fallbacks"]) == {"n_ab", "edge:b->c", "n_cd", "n_de", "n_ef"}
    assert all(f["fallback"]["reason"] == "offline" for f in manifest["fallbacks"].values())
    assert manifest["fallbacks"]["n_cd"]["content"]["placeholder"] is True, "placeholder mode: its content"
    check_files(bundle, manifest)
    assert (report["status"], report["items"], report["always_nodes"]) == ("complete", 5, ["n_cd"])
    keys = {i["cache_key"] for i in manifest["items"] if i["node_id"] == "n_de"}
    assert len(keys) == 2, "each playthrough has its own content"

    asyncio.run(store_graph(work.data, chain(1, "stored")))
    stored = tmp_path / "stored"
    work.run("export", "stored", "--graph-version", "1", "--out", str(stored))
    assert json.loads((stored / "manifest.json").read_text(encoding="utf-8"))["graph"]["version"] == 1
    refused = work.run("export", "stored", "--graph-version", "7", "--out", str(tmp_path / "b3"), expect=2)
    assert "no graph 'stored' version 7" in refused.stderr
    assert not (tmp_path / "b3").exists(), "nothing written for a graph that cannot be read"

    shutil.rmtree(work.data)
    assert read(bundle, "n_de", "--playthrough-id", "p2")["source"] == "bundle"
    assert read(bundle, "n_ef", "--player-id", "u2")["source"] == "fallback"
    always = read(bundle, "n_cd", "--player-id", "u1")
    assert (always["source"], always["response"]["status"]) == ("fallback", "failed")

    again = work.run("export", source, "--out", str(bundle), expect=2)
    assert "not an empty folder" in again.stderr
    assert "no graph 'nosuch'" in work.run("export", "nosuch", "--out", str(tmp_path / "b2"), expect=2).stderr


def test_a_node_that_cannot_be_warmed_is_exported_as_its_fallback_and_exits_1(tmp_path: Path) -> None:
    work = Workdir(tmp_path)
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"
    graph = story("broken")
    graph["nodes"][0]["config"]["templateId"] = "no_such_template"  # n_ab fails: GEN_INVALID_CONFIG
    bundle = tmp_path / "bundle"

    done = work.run("export", work.write("broken.json", graph), "--out", str(bundle), expect=1)

    assert "bundle of graph broken: failed" in done.stdout, done.stdout
    assert "GEN_INVALID_CONFIG 1" in done.stdout
    assert "fallback only n_ab: its warm-up failed" in done.stdout
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert [i["node_id"] for i in manifest["items"]] == ["edge:b->c"], "the other nodes are exported"
    assert manifest["fallbacks"]["n_ab"]["content"]["placeholder"] is True


def test_a_pool_warmed_under_made_up_ids_is_not_exported_for_them(tmp_path: Path) -> None:
    """A per-playthrough node with a pool of variants is warmed without ids (one made-up playthrough per
    variant); a bundle holds only the scopes named, since a client matches ids exactly."""
    work = Workdir(tmp_path)
    work.env["DYNGEN_PROVIDERS_BY_TYPE"] = "{}"
    graph = story("pool")
    graph["nodes"][2]["config"]["variants"] = 2  # n_de, per_playthrough

    report = json.loads(
        work.run("export", work.write("pool.json", graph), "--out", str(tmp_path / "b"), "--json").stdout
    )

    assert report["warmups"][0]["total"] == 4, "n_ab, edge:b->c and both variants of n_de were warmed"
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(i["node_id"] for i in manifest["items"]) == ["edge:b->c", "n_ab"]
    reasons = {n["node_id"]: n["reason"] for n in report["not_exported"]}
    assert reasons["n_de"].startswith("strategy per_playthrough: name a playthrough id")

    named = json.loads(
        work.run("export", "pool.json", "--out", str(tmp_path / "b2"), "--playthrough-id", "p9", "--json").stdout
    )
    assert named["items"] == 3
    manifest = json.loads((tmp_path / "b2" / "manifest.json").read_text(encoding="utf-8"))
    [pooled] = [i for i in manifest["items"] if i["node_id"] == "n_de"]
    assert pooled["scope"] == {"playthrough_id": "p9"}
    assert pooled["response"]["variant"]["pool_size"] == 2
