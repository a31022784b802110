"""The clients' docs pages stay in step with the code: each page shows the example file the tests run,
verbatim, and its tables name every `Result` attribute and every Ren'Py setting; the README's compatibility
table names every client with the version its package carries."""

from __future__ import annotations

import json
import re
import tomllib

from dyngen_client import Result

from dyngen import __version__ as server_version
from tests.clients.conftest import EXAMPLES, ROOT
from tests.support.markdown import doc_table

DOCS = ROOT / "docs" / "clients"


def test_the_python_page_shows_the_example_the_tests_run():
    assert (EXAMPLES / "play_node.py").read_text() in (DOCS / "python.md").read_text()


def test_the_renpy_page_shows_the_example_the_tests_run():
    assert (EXAMPLES / "renpy" / "game" / "script.rpy").read_text() in (DOCS / "renpy.md").read_text()


def test_every_result_attribute_is_in_the_python_pages_table():
    public = {name for name in vars(Result) if not name.startswith("_")} | {"response", "source", "problems"}
    documented = {
        name.strip().strip("`").split("(")[0]
        for row in doc_table((DOCS / "python.md").read_text(), "## What a call answers")
        for name in row[0].split(",")
    }
    assert public == documented


def test_every_renpy_setting_is_in_the_renpy_pages_table():
    source = (ROOT / "clients" / "renpy" / "game" / "dyngen_renpy.py").read_text()
    init = source[source.index("class Settings") : source.index("settings = Settings()")]
    settings = set(re.findall(r"self\.(\w+)(?::[^=]+)? =", init))
    documented = {row[0] for row in doc_table((DOCS / "renpy.md").read_text(), "## Settings")}
    assert settings == documented


def _package_versions() -> dict[str, str]:
    """Each client folder's version, as its package (or the package it ships on) declares it."""
    python = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())["project"]["version"]
    godot = re.search(r'^version="([^"]+)"', (ROOT / "clients/godot/addons/dyngen/plugin.cfg").read_text(), re.M)
    assert godot is not None
    return {
        "clients/typescript": json.loads((ROOT / "clients" / "typescript" / "package.json").read_text())["version"],
        "clients/python": python,
        "clients/renpy": python,  # the drop-in runs on the Python client it ships with
        "clients/godot": godot.group(1),
    }


def test_the_readme_has_the_compatibility_table_of_every_client():
    text = (ROOT / "README.md").read_text()
    assert "## Game clients" in text, "the README has the clients' compatibility table"
    readme = doc_table(text, "## Game clients")
    index = doc_table((DOCS / "index.md").read_text(), "# Game clients")
    folders = {f"clients/{p.name}" for p in (ROOT / "clients").iterdir() if p.is_dir()}
    versions = _package_versions()
    api = ".".join(server_version.split(".")[:2])

    assert {row[1] for row in readme} == folders
    assert readme == [[client, where, *rest] for client, where, _page, *rest in index], "as docs/clients/index.md"
    for _client, where, version, server_api, bundle in readme:
        assert re.fullmatch(version.replace(".", r"\.").replace("x", r"\d+"), versions[where]), (where, version)
        assert (server_api, bundle) == (api, "dyngen-bundle/1"), where
