"""The web editor: the page Vite builds from `web/` into `static/`, served at `/`.

`index.html` is answered with `Cache-Control: no-cache` (a new build shows on the next load); the files
under `/assets` carry a content hash in their names, so they are cached for a year as immutable. When
the editor has not been built, `/` answers a short page that says how to build it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"

INDEX_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dyngen: the editor is not built</title></head>
<body>
<h1>The dyngen editor has not been built</h1>
<p>Build it with <code>make run</code> (it installs the web dependencies with npm, builds the editor and
serves it here), or by hand: <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload this page.</p>
<p>The API works without it: see the <a href="/docs">interactive API docs</a>.</p>
</body></html>
"""


class ImmutableAssets(StaticFiles):
    """Hashed build assets: every file answer may be cached for a year without asking again."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = ASSET_CACHE
        return response

    async def check_config(self) -> None:
        # Before the first build there is no folder: a 404 (asked again next time), not a server error.
        if self.directory is not None and not await asyncio.to_thread(os.path.isdir, self.directory):
            raise HTTPException(status_code=404)
        await super().check_config()


def install(app: FastAPI, static_dir: Path | None = None) -> None:
    """Serve the built editor at `/` and its assets under `/assets` (both outside the OpenAPI schema)."""
    root = static_dir or STATIC_DIR
    index_file = root / "index.html"

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False, response_model=None)
    async def index() -> Response:
        if not await asyncio.to_thread(index_file.is_file):
            return HTMLResponse(NOT_BUILT, headers={"Cache-Control": INDEX_CACHE})
        return FileResponse(index_file, media_type="text/html", headers={"Cache-Control": INDEX_CACHE})

    # check_dir=False: the server may start before the editor is built; a missing file is then a 404.
    app.mount("/assets", ImmutableAssets(directory=root / "assets", check_dir=False), name="editor-assets")
