"""API keys on routes: `require(scope)` authenticates a request before the route runs.

Apply it to every route that is not public (only health and liveness are), and document the two
statuses it can answer:

    from dyngen.domain.access import Scope
    from dyngen.entrypoints.api.auth import require
    from dyngen.entrypoints.api.errors import documented

    @router.get("/api/generation-jobs/{job_id}", dependencies=[require(Scope.RUNTIME)],
                responses=documented(401, 403, 404))
    async def get_job(job_id: str, request: Request) -> Response: ...

A route that needs the key itself takes it as a parameter instead:
`key: Annotated[ApiKey | None, require(Scope.RUNTIME)]` (None when keys are not enforced). Either way the
key is on `request.state.api_key` afterwards.

The dependency runs before the route looks anything up, so a 401 or 403 says nothing about whether the
job or generation asked for exists. Clients send `Authorization: Bearer <key>` or `X-API-Key: <key>`.
Which scope a route needs: see `dyngen.domain.access` (and add the route to the table in
`tests/e2e/test_auth.py`, which fails for a route it does not know).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from dyngen.domain.access import Scope
from dyngen.entrypoints.api.wire import services_of
from dyngen.ports import ApiKey
from dyngen.services.access import keys as access

# The OpenAPI document declares both ways of sending a key (see `SECURITY_SCHEMES`); the dependency reads
# the headers itself, because it runs on every request, cache hits included, and sub-dependencies cost.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer dyngen_...`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key"},
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def presented_key(request: Request) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    return key_in(request.headers.get("authorization"), request.headers.get("x-api-key"))


def key_in(authorization: str | None, x_api_key: str | None) -> str | None:
    """`presented_key` from the two headers' values (each the first of its name, as Starlette reads it)."""
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return x_api_key or None


async def authenticate(request: Request, scope: Scope) -> ApiKey | None:
    """`access.authenticate` for the key this request presented."""
    services = services_of(request)
    return await access.authenticate(
        presented=presented_key(request),
        required=scope,
        keys=services.keys,
        cache=services.key_cache,
        clock=services.clock,
        mode=services.options.auth,
    )


def require(scope: Scope) -> Any:
    """A FastAPI dependency that lets the request through only with a key of `scope` (or higher).

    Returns:
        `Depends(...)`, for a route's `dependencies=[...]` or a parameter's `Annotated[...]`.
    """

    async def authenticated(request: Request) -> ApiKey | None:
        key = await authenticate(request, scope)
        request.state.api_key = key
        return key

    authenticated.__name__ = f"require_{scope.value}"
    return Depends(authenticated)


def require_unless_signed(scope: Scope) -> Any:
    """`require(scope)` for the artifact route, where a signed URL (`?exp=&sig=`) stands in for the key.

    A media element (`<video>`, `<img>`, `<track>`) cannot send a key header, so responses hand out signed
    URLs (`services/media.py`). Without a key header, a request carrying `exp` or `sig` is let through by
    a valid signature of this artifact and refused with 403 for a changed or expired one. A key header, when
    present, decides as on every other route. A key in the query string (`?key=`) is never read.
    """

    async def authenticated(
        request: Request,
        exp: Annotated[str | None, Query(max_length=20, description="A signed URL's expiry (unix seconds)")] = None,
        sig: Annotated[str | None, Query(max_length=100, description="A signed URL's signature")] = None,
    ) -> ApiKey | None:
        if presented_key(request) is None and (exp is not None or sig is not None):
            services = services_of(request)
            services.media.check(
                artifact_id=request.path_params.get("artifact_id", ""), exp=exp, sig=sig, now=services.clock.now()
            )
            request.state.api_key = None
            return None
        key = await authenticate(request, scope)
        request.state.api_key = key
        return key

    authenticated.__name__ = f"require_{scope.value}_unless_signed"
    return Depends(authenticated)
