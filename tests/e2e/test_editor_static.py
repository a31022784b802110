"""The web editor at `/`, as a browser fetches it: the built page without caching, hashed assets cached
for good, a page that says how to build the editor when it is not built, and the API left as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.access import AuthMode
from dyngen.entrypoints.api import editor
from dyngen.entrypoints.api.app import create_app
from dyngen.services.machinery.container import Services

INDEX = '<!doctype html><html><body><div id="root"></div><script src="/assets/index-3f2a9c.js"></script></body></html>'
SCRIPT = "console.log('editor')"

Client = Callable[[Path], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_for(settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch) -> Client:
    """An HTTP client on an app that serves the editor from the given folder."""

    @asynccontextmanager
    async def open_client(static: Path) -> AsyncIterator[httpx.AsyncClient]:
        monkeypatch.setattr(editor, "STATIC_DIR", static)
        app = create_app(settings, services=services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            yield http

    return open_client


@pytest.fixture
def built(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text(INDEX, encoding="utf-8")
    (static / "assets" / "index-3f2a9c.js").write_text(SCRIPT, encoding="utf-8")
    return static


async def test_the_built_editor_is_served_at_the_root(client_for: Client, built: Path) -> None:
    async with client_for(built) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.text == INDEX
        assert page.headers["cache-control"] == "no-cache"
        head = await http.head("/")
        assert head.status_code == 200
        assert head.headers["cache-control"] == "no-cache"
        assert head.content == b""

        script = await http.get("/assets/index-3f2a9c.js")
        assert script.status_code == 200
        assert script.text == SCRIPT
        assert "javascript" in script.headers["content-type"]
        assert script.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_missing_assets_and_paths_outside_the_assets_folder_are_not_served(
    client_for: Client, built: Path
) -> None:
    (built.parent / "secret.txt").write_text("not for the web", encoding="utf-8")
    async with client_for(built) as http:
        assert (await http.get("/assets/index-000000.js")).status_code == 404
        for sneaky in ("/assets/../index.html", "/assets/%2e%2e/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
            response = await http.get(sneaky)
            assert response.status_code == 404, sneaky
            assert "not for the web" not in response.text


async def test_an_unbuilt_editor_answers_how_to_build_it(client_for: Client, tmp_path: Path) -> None:
    async with client_for(tmp_path / "nothing-built-here") as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "has not been built" in page.text
        assert "make run" in page.text
        assert "npm run build" in page.text
        assert (await http.get("/assets/index-3f2a9c.js")).status_code == 404


async def test_a_build_made_while_the_server_runs_is_served_on_the_next_load(
    client_for: Client, tmp_path: Path
) -> None:
    static = tmp_path / "later"
    async with client_for(static) as http:
        assert "has not been built" in (await http.get("/")).text
        (static / "assets").mkdir(parents=True)
        (static / "index.html").write_text(INDEX, encoding="utf-8")
        (static / "assets" / "index-3f2a9c.js").write_text(SCRIPT, encoding="utf-8")
        assert (await http.get("/")).text == INDEX
        assert (await http.get("/assets/index-3f2a9c.js")).text == SCRIPT


async def test_the_api_docs_schema_and_metrics_are_unchanged(client_for: Client, built: Path) -> None:
    async with client_for(built) as http:
        assert (await http.get("/docs")).status_code == 200
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert "/" not in paths
        assert not any(path.startswith("/assets") for path in paths)
        assert "/api/graphs" in paths
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/api/health/live")).json() == {"status": "alive"}


async def test_the_editor_page_needs_no_key_where_the_api_does(
    built: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(editor, "STATIC_DIR", built)
    settings = Settings(data_dir=tmp_path / "keyed", auth=AuthMode.REQUIRED)
    services = await build(settings)
    try:
        app = create_app(settings, services=services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            assert (await http.get("/api/graphs")).status_code == 401
            assert (await http.get("/")).text == INDEX
            assert (await http.get("/assets/index-3f2a9c.js")).status_code == 200
    finally:
        await services.aclose()
