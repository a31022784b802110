"""The clients' docs pages stay in step with the code: each page shows the example file the tests run,
verbatim, and its tables name every `Result` attribute and every Ren'Py setting."""

from __future__ import annotations

import re

from dyngen_client import Result

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
