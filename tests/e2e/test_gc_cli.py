"""`dyngen gc` as a user runs it: a real process on a data directory other commands filled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import Workdir
from tests.support.objects import stored

ALWAYS: dict[str, Any] = {
    "type": "environment",
    "purpose": "ambient",
    "node_id": "ambient",
    "from_scene": {"id": "market", "mood": "busy"},
    "strategy": "always",
}


@pytest.fixture
def work(tmp_path: Path) -> Workdir:
    workdir = Workdir(tmp_path)
    # Every `always` record is past its window at once (each key's newest is still kept).
    workdir.env["DYNGEN_RETENTION__ALWAYS_S"] = "0.001"
    workdir.env["DYNGEN_RETENTION__OBJECT_GRACE_S"] = "0"  # nothing else writes to this data directory
    return workdir


def artifact_files(work: Workdir) -> list[str]:
    return list(stored(work.data / "objects", "artifacts/"))


def test_gc_dry_run_reports_then_gc_removes_what_is_past_its_window(work: Workdir) -> None:
    request = work.write("ambient.json", ALWAYS)
    urls: list[str] = []
    # Artifacts are stored by content: two fresh seeds give the same text about once in a thousand
    # draws, so generate until two distinct artifacts exist (each extra generation is one more to remove).
    while len(urls) < 2 or len(artifact_files(work)) < 2:
        assert len(urls) < 6, "six fresh generations gave fewer than two distinct artifacts"
        urls.append(json.loads(work.run("generate", request).stdout)["content"]["url"])
    assert len(set(urls)) == len(urls)
    assert len(artifact_files(work)) == 2
    past = len(urls) - 1

    dry = work.run("gc", "--dry-run")
    assert f"gc would remove: {past} generations (always {past}; 0 failed)" in dry.stdout, dry.stdout
    assert len(artifact_files(work)) == 2, "a dry run removes nothing"

    done = json.loads(work.run("gc", "--json").stdout)
    assert (done["dry_run"], done["generations"], done["objects"]) == (False, past, 1)
    assert done["bytes"] > 0
    assert done["kept"] == 1, "the node's newest content stays: its cache entry serves it"
    assert len(artifact_files(work)) == 1


def test_gc_refuses_to_run_while_a_dependency_is_down(work: Workdir) -> None:
    work.env["DYNGEN_REDIS_URL"] = "redis://127.0.0.1:9/0"  # nothing listens on the discard port

    done = work.run("gc", expect=2)

    assert "retention sweep skipped: redis is unreachable" in done.stderr
