"""Every dyngen.toml shown in the README or the docs passes `dyngen config check` (users copy them as they are)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from dyngen.bootstrap_providers import provider_problems
from dyngen.config_file import load

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [
    block for page in PAGES for block in re.findall(r"```toml\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
]


def test_the_docs_show_configuration_files() -> None:
    assert len(BLOCKS) >= 4


def test_the_readme_shows_a_local_model_comfyui_with_the_builtin_last_and_a_hosted_video_api() -> None:
    """Issue 16: the README itself shows a dyngen.toml for each (each is also checked below, as every block
    is)."""
    readme = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    documents = [tomllib.loads(block) for block in readme]
    kinds = [{s["kind"] for s in d.get("providers", {}).values()} for d in documents]
    assert kinds == [{"openai"}, {"comfyui"}, {"http_video"}]
    local, studio, hosted = documents
    assert local["providers"]["local"]["base_url"].startswith("http://127.0.0.1:11434")
    assert local["routing"]["by_type"]["dialogue"] == "local"
    chain = studio["routing"]["by_type"]["transition"]
    assert studio["chains"][chain][-1] == "builtin_video", "the built-in renderer is the chain's last member"
    assert hosted["providers"]["video"]["preset"] in ("replicate", "fal")


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_a_documented_configuration_passes_the_check(
    number: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.upper().startswith("DYNGEN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8-test")
    path = tmp_path / "dyngen.toml"
    path.write_text(BLOCKS[number])

    loaded = load(path)

    assert loaded.problems == []
    assert provider_problems(loaded.settings) == []
