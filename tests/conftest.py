"""Shared fixtures: settings in a temporary data dir, services, and an HTTP client on the app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.services.container import Services

REQUIRE_SERVICES = os.environ.get("DYNGEN_REQUIRE_SERVICES") == "1"


def need_service(reason: str) -> None:
    """Skip the test because a real service is missing, or fail when DYNGEN_REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    built = await build(settings)
    yield built
    await built.aclose()


@pytest.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
        yield http
