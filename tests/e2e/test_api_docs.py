"""The interactive API docs work offline: `/docs` (Swagger UI) and `/redoc` name no other host, and every
script, style and icon they load is served by dyngen itself, without an API key."""

from __future__ import annotations

import gc
import re
import weakref
from pathlib import Path

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.access import AuthMode
from dyngen.entrypoints.api.app import create_app

ASSET = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*'([^']+)'""")
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_page_loads_everything_from_dyngen_without_a_key(page: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", auth=AuthMode.REQUIRED)
    services = await build(settings)
    try:
        app = create_app(settings, services=services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            assert (await http.get("/api/graphs")).status_code == 401  # keys are enforced
            answer = await http.get(page)
            assert answer.status_code == 200
            html = answer.text
            assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, flags=re.IGNORECASE), html
            assets = [a or b for a, b in ASSET.findall(html)]
            assert len(assets) >= 3, html  # a script, an icon, the schema (and Swagger UI's stylesheet)
            for asset in assets:
                assert asset.startswith("/"), asset
                loaded = await http.get(asset)
                assert loaded.status_code == 200, asset
                assert loaded.headers["content-type"].startswith(TYPES[Path(asset).suffix]), asset
                assert len(loaded.content) > 1000, asset
    finally:
        await services.aclose()


async def test_swagger_ui_is_a_version_that_reads_openapi_3_1(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    script = (await client.get("/docs/static/swagger-ui-bundle.js")).text
    # Swagger UI reads OpenAPI 3.1 from version 5 on; version 4 shows "Unable to render this definition".
    assert re.search(r'"5\.\d+\.\d+"', script)


async def test_an_app_whose_docs_were_served_is_collected_once_dropped(tmp_path: Path) -> None:
    """FastAPI remembers endpoint functions in module-level caches: a docs page that held its app in a
    closure kept every app built in a process alive, with its services (a test process builds thousands)."""
    settings = Settings(data_dir=tmp_path / "data")
    services = await build(settings)
    try:
        app = create_app(settings, services=services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
                assert (await http.get(page)).status_code == 200
        dropped = weakref.ref(app)
        del app, http
        gc.collect()
        assert dropped() is None, [type(r).__name__ for r in gc.get_referrers(dropped())]
    finally:
        await services.aclose()
