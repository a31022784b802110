"""The Python client against a real `dyngen serve`: a stored node played by reference (a video whose file
is downloaded intact, a dialogue), advancing through the graph, a job, both fault shapes answered as the
fallback, an offline bundle played with the server gone and a tampered file refused; the package builds,
imports without any third-party package, and the docs' example runs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dyngen_client import Bundle, DyngenClient, DyngenHTTPError

from tests.clients.bundles import bundle_copy
from tests.clients.conftest import ROOT, STORY, StoryServer
from tests.support.cli_zygote import run_dyngen
from tests.support.servers import dyngen_server

CLIENT = ROOT / "clients" / "python"
EXAMPLE = ROOT / "docs" / "clients" / "examples" / "play_node.py"
PLAYER = {"playthroughId": "py-pt-1", "playerId": "py-player-1"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_video_transition_is_played_by_reference_and_its_video_downloads_intact(server: StoryServer, tmp_path):
    client = DyngenClient(server.base, timeout=120, retries=0)

    result = client.play_node("harbor_story", "harbor_to_storm", PLAYER)

    assert (result.status, result.kind, result.source) == ("complete", "video", "server"), result.response
    assert result.fallback is None
    video = result.artifact("video")
    assert video is not None, result.response
    assert video["url"].startswith(f"{server.base}/api/artifacts/"), "signed, and absolute"
    saved = Path(client.download(video, str(tmp_path / "harbor_to_storm.mp4")))
    size = saved.stat().st_size
    assert video.get("bytes") in (None, size), "its size, unless it was answered while it rendered"
    assert saved.read_bytes()[4:8] == b"ftyp", "an MP4"
    assert [line["text"] for line in result.lines] == result.content["dialogue"]

    again = client.play_node("harbor_story", "harbor_to_storm", PLAYER)
    assert again.response["cache"]["hit"] is True
    assert again.response["cache_key"] == result.response["cache_key"]
    again_video = again.artifact("video")
    assert again_video is not None
    assert again_video["bytes"] == size, "the whole video was downloaded, as the later answer sizes it"


def test_advance_answers_the_dialogue_on_the_way_and_the_next_scene(server: StoryServer):
    client = DyngenClient(server.base, timeout=60, retries=0)

    step = client.advance("harbor_story", from_scene="storm", player_context=PLAYER)
    chosen = client.advance("harbor_story", from_scene="storm", choice=0, player_context=PLAYER)
    named = client.advance("harbor_story", from_scene="harbor", to_scene="storm", player_context=PLAYER)

    assert step["node_id"] == "storm_to_shore"
    assert step["scene"]["id"] == "shore"
    assert (step["content"].status, step["content"].kind) == ("complete", "dialogue")
    assert all(line["speaker"] and line["text"] for line in step["content"].lines)
    assert chosen["content"].response["cache_key"] == step["content"].response["cache_key"]
    assert (named["node_id"], named["scene"]["id"]) == ("harbor_to_storm", "storm")


def test_an_unknown_node_raises_with_the_servers_suggestion(server: StoryServer):
    with pytest.raises(DyngenHTTPError) as raised:
        DyngenClient(server.base, retries=0).play_node("harbor_story", "storm_to_shor", PLAYER)
    assert raised.value.status == 404
    assert raised.value.details[0]["suggestion"] == "storm_to_shore"


def test_a_node_played_as_a_job_is_polled_to_its_content(server: StoryServer):
    client = DyngenClient(server.base, timeout=30, retries=0, poll_interval=0.1)

    result = client.play_node("harbor_story", "storm_to_shore", {"playthroughId": "py-job"}, respond_async=True)

    assert result.status == "complete", result.response
    assert result.job_id
    assert client.job(result.job_id).status == "complete"


def test_a_job_can_be_cancelled(server: StoryServer):
    client = DyngenClient(server.base, timeout=30, retries=0)
    request = {
        "type": "dialogue",
        "node_id": "slow_one",
        "strategy": "always",
        "fallback": {"mode": "skip", "timeoutMs": 120000},
        "simulate": {"latency_ms": 60000},
    }
    late = client.generate(request, respond_async=True, wait_timeout=0)

    assert (late.status, late.source) == ("failed", "unavailable"), "not done in time: cancelled, the fallback"
    assert "not done within 0s" in late.fallback["reason"]
    assert late.job_id
    cancelled = client.wait(late.job_id, timeout=60)
    assert (cancelled.status, cancelled.error["code"]) == ("failed", "GEN_CANCELLED"), cancelled.response


@pytest.mark.parametrize("shape", ["cut", "hang"])
def test_a_server_down_or_silent_answers_the_fallback_as_data(
    server: StoryServer, exported: Path, shape: str, tmp_path
):
    getattr(server.proxy, shape)()
    online = DyngenClient(server.proxied, timeout=0.5, retries=0)
    bundled = DyngenClient(
        server.proxied,
        timeout=0.5,
        retries=0,
        bundle=str(bundle_copy(exported, tmp_path / "bundle", items=False)),
    )

    alone = online.play_node("harbor_story", "harbor_to_storm", PLAYER)
    with_bundle = bundled.play_node("harbor_story", "harbor_to_storm", PLAYER)

    assert (alone.status, alone.source, alone.content) == ("failed", "unavailable", None)
    assert alone.fallback["reason"].startswith("unreachable" if shape == "cut" else "timeout")
    assert (with_bundle.status, with_bundle.source) == ("failed", "bundle_fallback")
    assert with_bundle.fallback["mode"] == "default_content"
    assert with_bundle.content["content_id"] == "storm_cut"


def test_a_bundle_plays_with_the_server_gone_and_a_tampered_file_is_refused(
    server: StoryServer, exported: Path, tmp_path
):
    bundle = bundle_copy(exported, tmp_path / "bundle")
    server.proxy.cut()
    client = DyngenClient(server.proxied, timeout=0.5, retries=0, bundle=str(bundle))

    video = client.play_node("harbor_story", "harbor_to_storm", PLAYER)
    dialogue = client.play_node("harbor_story", "storm_to_shore", PLAYER)
    other_player = client.play_node("harbor_story", "storm_to_shore", {"playthroughId": "someone-else"})
    offline = DyngenClient(bundle=str(bundle)).advance(
        "harbor_story", from_scene="storm", to_scene="shore", player_context=PLAYER
    )

    assert (video.status, video.source, video.kind) == ("complete", "bundle", "video")
    local = Path(video.artifact("video")["url"])
    assert local.is_file()
    assert local.parent == bundle / "files"
    copied = Path(client.download(video.artifact("video"), str(tmp_path / "copy.mp4")))
    assert sha256(copied) == sha256(local)
    assert (dialogue.source, dialogue.kind) == ("bundle", "dialogue")
    assert other_player.source == "bundle_fallback", "a per-playthrough item is for its playthrough only"
    assert (offline["node_id"], offline["content"].source) == ("storm_to_shore", "bundle")

    with local.open("r+b") as handle:  # one byte changed, same size
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    tampered = DyngenClient(bundle=str(bundle)).play_node("harbor_story", "harbor_to_storm", PLAYER)

    assert (tampered.status, tampered.source) == ("failed", "bundle_fallback")
    assert any("tampered" in problem and "sha256" in problem for problem in tampered.problems), tampered.problems


def test_a_bundle_item_is_preferred_to_the_server_and_the_server_is_asked_for_what_it_lacks(
    server: StoryServer, exported: Path
):
    client = DyngenClient(server.base, timeout=60, retries=0, bundle=Bundle(str(exported)))
    another = {"playthroughId": "py-pt-2"}  # the bundle has storm_to_shore for py-pt-1 only

    assert client.play_node("harbor_story", "harbor_to_storm", another).source == "bundle"
    assert client.play_node("harbor_story", "storm_to_shore", another).source == "server"


def test_the_package_imports_with_the_standard_library_alone():
    # -S: no site-packages at all, so any import beyond the standard library fails.
    code = (
        f"import sys; sys.path.insert(0, {str(CLIENT / 'src')!r}); import dyngen_client; print(dyngen_client.__all__)"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-E", "-s", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "DyngenClient" in done.stdout


def test_python_m_build_makes_a_wheel_and_an_sdist(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(CLIENT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dyngen_client-0.1.0-py3-none-any.whl",
        "dyngen_client-0.1.0.tar.gz",
    ]


def test_the_docs_example_runs(server: StoryServer, tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env={**os.environ, "DYNGEN_URL": server.base, "PYTHONPATH": str(CLIENT / "src")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "video saved to harbor_to_storm.mp4" in done.stdout, done.stdout
    assert (tmp_path / "harbor_to_storm.mp4").stat().st_size > 0


def test_with_keys_enforced_the_clients_key_is_sent_and_a_missing_key_raises(tmp_path):
    env = {"DYNGEN_DATA_DIR": str(tmp_path / "data")}

    def create(scope: str) -> str:
        done = run_dyngen(["keys", "create", "--scope", scope], env={**os.environ, **env}, timeout=120, check=True)
        return done.stdout.strip()

    runtime, editor = create("runtime"), create("editor")
    process, base = dyngen_server(tmp_path, env, name="keys")
    try:
        stored = httpx.post(f"{base}/api/graphs", json=STORY, headers={"X-API-Key": editor}, timeout=30)
        assert stored.status_code == 201, stored.text

        played = DyngenClient(base, api_key=runtime, timeout=60).play_node("harbor_story", "storm_to_shore", PLAYER)
        with pytest.raises(DyngenHTTPError) as refused:
            DyngenClient(base, timeout=60).play_node("harbor_story", "storm_to_shore", PLAYER)
    finally:
        process.stop()

    assert (played.status, played.kind) == ("complete", "dialogue")
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
