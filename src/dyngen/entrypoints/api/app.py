"""The FastAPI application: routes, error mapping, body limit, and the lifespan that builds `Services`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from dyngen import __version__
from dyngen.bootstrap import build
from dyngen.bootstrap_ports import authoring_ports
from dyngen.config import Settings
from dyngen.entrypoints import interpreter
from dyngen.entrypoints.api import api_docs, editor, errors
from dyngen.entrypoints.api.auth import SECURITY, SECURITY_SCHEMES
from dyngen.entrypoints.api.cors import Cors
from dyngen.entrypoints.api.fast_path import HitFastPath
from dyngen.entrypoints.api.middleware import BodyLimit
from dyngen.entrypoints.api.routes import budgets as budget_routes
from dyngen.entrypoints.api.routes import dsl as dsl_routes
from dyngen.entrypoints.api.routes import generation, graphs, jobs, keys, nodes, records, system, telemetry, templates
from dyngen.entrypoints.api.routes import reviews as review_routes
from dyngen.entrypoints.api.routes import runtime as runtime_routes
from dyngen.entrypoints.api.routes import warmups as warmup_routes
from dyngen.entrypoints.api.wire import body_schemas
from dyngen.entrypoints.logs import configure_logging
from dyngen.services.authoring import graphs as graphs_service
from dyngen.services.machinery.container import Services


@functools.cache
def _api_routes() -> tuple[BaseRoute, ...]:
    """The API's routes, made once per process and shared by every app it creates.

    FastAPI builds an included route's machinery (parameter and response models, ~5 ms of CPU a route)
    the first time a request reaches it, once per `include_router`: an app of its own per test paid for
    that again each time. Nothing in a route belongs to one app (a handler reaches the services through
    `request.app.state`), so the routes are included once, here, into a router of their own, and each app
    takes them. (One thing does not follow: `app.dependency_overrides`, which dyngen does not use.)

    Routes are matched in order, each miss costing a few microseconds: the two hot routes of a game (a
    node by reference, the flat request) come first (bench/by_reference.py, bench/http_cache_hits.py).
    """
    shared = APIRouter()
    for router in (
        runtime_routes.router,
        generation.router,
        runtime_routes.advance_router,
        records.router,
        system.router,
        keys.router,
        jobs.router,
        telemetry.router,
        graphs.router,
        nodes.router,
        templates.router,
        dsl_routes.router,
        budget_routes.router,
        warmup_routes.router,
        review_routes.router,
    ):
        shared.include_router(router)
    return tuple(shared.routes)


class DyngenApp(FastAPI):
    """FastAPI behind a front of dyngen's own pure ASGI middleware (`front`: CORS, the body limit and the hit
    fast path, in that order), run before FastAPI's own stack rather than inside it: a cache hit answered by
    the fast path skips FastAPI's and Starlette's entry, their error and telemetry middleware and their
    body limit, ~9 % of a hit's CPU (bench/http_cache_hits.py). Whatever the front hands on reaches
    FastAPI's whole stack (`framework`), as it would without the front."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await self.front(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own entry: what the front hands on."""
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> DyngenApp:
    """Build the app. `services` may be given (tests); otherwise the lifespan builds them from settings."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services if services is not None else await build(settings)
        try:
            if own:
                await app.state.services.start()  # the job runner, the reaper
                example = settings.example_graph
                if example is not None and await asyncio.to_thread(example.is_file):
                    data = json.loads(await asyncio.to_thread(example.read_text, encoding="utf-8"))
                    await graphs_service.load_example(data=data, ports=authoring_ports(app.state.services))
            # Serving its own services, the app runs as a long-running process (entrypoints/interpreter.py).
            with interpreter.long_running() if own else contextlib.nullcontext():
                yield
        finally:
            if own:
                await app.state.services.aclose()

    app = DyngenApp(
        title="dyngen",
        version=__version__,
        summary="Dynamic content generation for narrative games: Generation Nodes, caching, fallbacks.",
        lifespan=lifespan,
        docs_url=None,  # api_docs serves them from the package, not from a CDN
        redoc_url=None,
    )
    if services is not None:
        app.state.services = services
    front: ASGIApp = app.framework
    if settings.hit_fast_path:  # innermost: the body limit and CORS apply to what it answers too
        front = HitFastPath(front, unavailable_retry_after_s=settings.unavailable_retry_after_s)
    front = BodyLimit(front, max_bytes=settings.max_body_bytes, uploads={"/api/artifacts": settings.upload_max_bytes})
    if settings.cors_origins:  # outermost, so that refusals (413, 401, 500, ...) carry the CORS headers too
        front = Cors(
            front,
            origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            max_age_s=settings.cors_max_age_s,
        )
    app.front = front
    errors.install(app, unavailable_retry_after_s=settings.unavailable_retry_after_s)
    app.router.routes.extend(_api_routes())
    app.router._mark_routes_changed()  # FastAPI's own step after adding routes (see `_api_routes`)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    # Health and liveness are public; every other route takes a key when keys are enforced.
                    operation.setdefault(
                        "security", [] if path.startswith("/api/health") and path != "/api/health/graph" else SECURITY
                    )
            components = schema["components"].setdefault("schemas", {})
            for name, body_schema in body_schemas().items():
                components.setdefault(name, body_schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    api_docs.install(app)  # Swagger UI at /docs, ReDoc at /redoc, their files from the package
    editor.install(app)  # the built web editor at `/`, its assets under /assets

    return app
