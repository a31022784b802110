"""The README's tables stay in step with the code: every setting and every route is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"DYNGEN_{field.upper()}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_configuration_table(field: str) -> None:
    assert f"`{_env_name(field)}`" in README


def _routes() -> list[str]:
    paths = create_app(Settings()).openapi()["paths"]
    return sorted(f"{method.upper()} {path}" for path, operations in paths.items() for method in operations)


@pytest.mark.parametrize("route", _routes())
def test_every_route_is_in_the_api_table(route: str) -> None:
    method, path = route.split(" ", 1)
    documented = re.findall(r"^\| `([A-Z]+) ([^`?]+)", README, flags=re.MULTILINE)
    assert (method, path) in documented
