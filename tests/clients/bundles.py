"""Offline bundles for the clients' tests: `dyngen export` of the example graph file, run as a user runs
it (no server: it warms in-process), and copies of it a test may change."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.clients.conftest import EXAMPLES, VIDEO_TRANSITIONS
from tests.support.cli_zygote import run_dyngen

# The playthrough whose per-playthrough items the bundle holds (the Python tests' player); every other
# player gets the `once` items and the per-playthrough nodes' fallbacks.
EXPORTED_PLAYTHROUGH = "py-pt-1"


def export(workdir: Path) -> Path:
    """`dyngen export docs/clients/examples/harbor_story.json --out BUNDLE --playthrough-id py-pt-1`."""
    out = workdir / "bundle"
    done = run_dyngen(
        ["export", str(EXAMPLES / "harbor_story.json"), "--out", str(out), "--playthrough-id", EXPORTED_PLAYTHROUGH],
        env={**os.environ, "DYNGEN_DATA_DIR": str(workdir / "data"), "DYNGEN_PROVIDERS_BY_TYPE": VIDEO_TRANSITIONS},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def bundle_copy(exported: Path, to: Path, *, items: bool = True) -> Path:
    """A copy of the exported bundle; `items=False` keeps only its fallbacks (as if nothing was warmed)."""
    shutil.copytree(exported, to)
    if not items:
        manifest = json.loads((to / "manifest.json").read_text(encoding="utf-8"))
        manifest["items"] = []
        (to / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return to
