"""API key routes (admin): list, create (the key is in the answer once), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dyngen.domain.access import Scope
from dyngen.domain.ids import IdChars
from dyngen.entrypoints.api.auth import require
from dyngen.entrypoints.api.errors import ErrorBody, documented
from dyngen.entrypoints.api.wire import services_of, wire_response
from dyngen.ports import ApiKey
from dyngen.services.access import keys as access

router = APIRouter(prefix="/api", tags=["keys"], dependencies=[require(Scope.ADMIN)])

KeyId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


class KeyInfo(BaseModel):
    """An API key as it is listed: never the key, never its hash."""

    id: str
    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, key: ApiKey) -> KeyInfo:
        return cls(
            id=key.id, name=key.name, scope=Scope(key.scope), created_at=key.created_at, revoked_at=key.revoked_at
        )


class CreatedKey(KeyInfo):
    key: str = Field(description="The key itself. It is shown only in this answer: store it now.")


class KeyList(BaseModel):
    keys: list[KeyInfo]
    count: int


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[
        str, Field(min_length=1, max_length=access.KEY_NAME_MAX, description="Who or what uses the key."), IdChars
    ]
    scope: Scope


@router.get("/keys", response_model=KeyList, responses=documented(401, 403))
async def list_keys(request: Request) -> Response:
    """Every API key, revoked ones included, oldest first."""
    found = [KeyInfo.of(key) for key in await access.list_keys(keys=services_of(request).keys)]
    return wire_response(KeyList(keys=found, count=len(found)))


@router.post("/keys", response_model=CreatedKey, status_code=201, responses=documented(401, 403, 413, 422))
async def create_key(payload: CreateKeyRequest, request: Request) -> Response:
    """Create a key of a scope. The answer holds the key; it is not stored and cannot be shown again."""
    services = services_of(request)
    key, plaintext = await access.create_key(
        name=payload.name, scope=payload.scope, keys=services.keys, cache=services.key_cache, clock=services.clock
    )
    return wire_response(CreatedKey(**KeyInfo.of(key).model_dump(), key=plaintext), status_code=201)


LAST_KEY: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The last active key while DYNGEN_AUTH=auto"}
}


@router.post("/keys/{key_id}/revoke", response_model=KeyInfo, responses={**documented(401, 403, 404, 422), **LAST_KEY})
async def revoke_key(key_id: KeyId, request: Request) -> Response:
    """Revoke a key (at once in this process, within `DYNGEN_AUTH_CACHE_S` in others).

    409 for the last active key while `DYNGEN_AUTH=auto`: revoking it would switch access control off.
    """
    services = services_of(request)
    revoked = await access.revoke_key(
        key_id=key_id, keys=services.keys, cache=services.key_cache, clock=services.clock, mode=services.options.auth
    )
    return wire_response(KeyInfo.of(revoked))
