"""The whole service on a `Settings` of its own, behind an in-process HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A service built on `settings` (its own database, caches and app), closed on the way out as a server
    process closes it: one such block per process "start"."""
    services = await build(settings)
    try:
        app = create_app(settings, services=services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            yield http
    finally:
        await services.aclose()
