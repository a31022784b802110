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

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dyngen.domain.access import Scope
from dyngen.entrypoints.api.wire import services_of
from dyngen.ports import ApiKey
from dyngen.services import access

# auto_error=False: a missing key is the service's decision (keys may not be enforced), answered in the
# error format of every other error.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dyngen_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, as `X-API-Key: dyngen_...`")

Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
HeaderKey = Annotated[str | None, Security(_header)]


def require(scope: Scope) -> Any:
    """A FastAPI dependency that lets the request through only with a key of `scope` (or higher).

    Returns:
        `Depends(...)`, for a route's `dependencies=[...]` or a parameter's `Annotated[...]`.
    """

    async def authenticated(request: Request, bearer: Bearer = None, header: HeaderKey = None) -> ApiKey | None:
        presented = bearer.credentials if bearer is not None else header
        key = await access.authenticate(presented=presented, required=scope, services=services_of(request))
        request.state.api_key = key
        return key

    authenticated.__name__ = f"require_{scope.value}"
    return Depends(authenticated)
