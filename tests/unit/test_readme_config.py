"""Every dyngen.toml shown in the README or the docs passes `dyngen config check` (users copy them as they are)."""

from __future__ import annotations

import os
import re
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
