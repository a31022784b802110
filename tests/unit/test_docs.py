"""The documentation stays in step with the code: every route is described in the HTTP API guide, every
setting has a described row in the generated configuration reference, the README stays a quickstart whose
links resolve, and nothing links outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.entrypoints.cli import app as cli_app
from dyngen.entrypoints.reference_docs import cli_markdown, openapi_markdown, settings_rows

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
HTTP_GUIDE = (ROOT / "docs" / "reference" / "http.md").read_text(encoding="utf-8")


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"DYNGEN_{field.upper()}"


ROWS = {variable: (key, default, description) for variable, key, default, description in settings_rows()}


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_has_a_described_row_in_the_configuration_reference(field: str) -> None:
    _key, _default, description = ROWS[_env_name(field)]
    assert len(description.split()) >= 2, f"{field}: its Field(description=...) is the reference's text"


def _routes() -> list[str]:
    paths = create_app(Settings()).openapi()["paths"]
    return sorted(f"{method.upper()} {path}" for path, operations in paths.items() for method in operations)


@pytest.mark.parametrize("route", _routes())
def test_every_route_is_in_the_api_guide(route: str) -> None:
    method, path = route.split(" ", 1)
    documented = re.findall(r"^\| `([A-Z]+) ([^`?]+)", HTTP_GUIDE, flags=re.MULTILINE)
    assert (method, path) in documented


def test_the_generated_api_reference_has_every_route_and_schema() -> None:
    schema = create_app(Settings()).openapi()
    page = openapi_markdown(schema)
    for route in _routes():
        assert f"## `{route}`" in page, route
    for name in schema["components"]["schemas"]:
        assert f"### {name} " in page, name


def test_the_generated_cli_reference_uses_one_vocabulary() -> None:
    page = cli_markdown(cli_app)
    for command in ("serve", "generate", "play", "warm", "export", "keys create", "config check", "gc"):
        assert f"## `dyngen {command}`" in page, command
    assert "`--playthrough-id`" in page
    assert "`--path`" in page
    assert "| `--playthrough` |" not in page, "old spellings are not in the tables"
    assert "| `--player` |" not in page
    assert "| `--version` | `" not in page, "export's --version is --graph-version"


def test_the_readme_is_a_quickstart_with_the_two_setup_commands() -> None:
    # 150 lines for the quickstart, plus the three short dyngen.toml of "Plug in real generators" (issue 16
    # asks the README itself to show them).
    assert len(README.splitlines()) <= 180
    setup = README.split("## Set-up", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in setup.strip().splitlines()]
    assert commands == ["make run", "make test"]
    assert "](docs/img/editor.png)" in README
    assert (ROOT / "docs" / "img" / "editor.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_readme_links_resolve_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links to the docs"
    for link in local:
        assert (ROOT / link).exists(), link


def test_nothing_links_outside_the_repository() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        assert "../shared" not in page.read_text(encoding="utf-8"), page
