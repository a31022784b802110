"""The interactive API docs, served from installed files so they work offline: Swagger UI at `/docs`,
ReDoc at `/redoc`, their scripts and styles under `/docs/static` (no CDN, no web font).

The files are the `swagger-ui-dist` and `redoc` builds that the `fastapi-offline` distribution ships as
package data; FastAPI's own page builders point at them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.requests import Request
from starlette.staticfiles import StaticFiles

STATIC_URL = "/docs/static"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"


def static_dir() -> Path:
    """The folder of the installed Swagger UI and ReDoc files."""
    return Path(str(files("fastapi_offline") / "static"))  # installed as files (a wheel is unpacked)


def install(app: FastAPI) -> None:
    """Serve Swagger UI at `/docs` and ReDoc at `/redoc` (both outside the OpenAPI schema, no key needed)."""
    title = f"{app.title} API"
    # The pages read their app from the request, not from this closure: FastAPI remembers each endpoint
    # function in a module-level cache, which would otherwise keep every app built in a process alive
    # (with its services: a test process builds thousands).
    oauth2_redirect = "/docs/oauth2-redirect"

    def url(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{STATIC_URL}/{name}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        app = request.app
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=title,
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_js_url=url(request, SWAGGER_JS),
            swagger_css_url=url(request, SWAGGER_CSS),
            swagger_favicon_url=url(request, FAVICON),
            # validatorUrl: the spec is not sent to swagger.io's validator (the page stays offline).
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=title,
            redoc_js_url=url(request, REDOC_JS),
            redoc_favicon_url=url(request, FAVICON),
            with_google_fonts=False,
        )

    app.mount(STATIC_URL, StaticFiles(directory=static_dir()), name="api-docs-static")
