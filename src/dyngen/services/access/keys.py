"""API keys: create, list, revoke, and authenticate a request (cheaply, through `KeyCache`).

Whether keys are enforced follows `AuthMode` (`domain/access.py`): in `auto` mode, from the moment one
active key exists. Every entry point authenticates through `authenticate`, before it looks anything up,
so that a 401 or 403 never says whether a job or generation exists.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from dyngen.domain.access import AuthMode, Scope, allows, enforced, generate_key, hash_key, is_loopback
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.ids import id_problem
from dyngen.ports import ApiKey, ApiKeyRepository, Clock

if TYPE_CHECKING:
    from dyngen.services.machinery.key_cache import KeyCache

log = logging.getLogger("dyngen.access")

CREATE_HINT = "dyngen keys create --scope admin --name ops"
KEY_NAME_MAX = 200  # as the HTTP contract (`CreateKeyRequest.name`)


async def create_key(
    *, name: str, scope: Scope, keys: ApiKeyRepository, cache: KeyCache, clock: Clock
) -> tuple[ApiKey, str]:
    """Create a key. Returns the key's record and the key itself, which is not stored and never shown again.

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a name the id rule refuses (`domain/ids.py`: control characters
            end up in logs and listings) or that is empty or over `KEY_NAME_MAX` characters; the HTTP
            contract checks the same before, the CLI relies on this.
    """
    problem = id_problem(name) or (None if 0 < len(name) <= KEY_NAME_MAX else f"must be 1 to {KEY_NAME_MAX} characters")
    if problem is not None:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"invalid key name: {problem}",
            details=[{"field": "name", "message": problem}],
        )
    plaintext = generate_key()
    key = ApiKey(id=uuid.uuid4().hex, name=name, scope=scope.value, created_at=clock.now())
    await keys.add_key(key, key_hash=hash_key(plaintext))
    cache.forget()
    log.info("access.key_created id=%s scope=%s", key.id, key.scope)
    return key, plaintext


async def list_keys(*, keys: ApiKeyRepository) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first (without hashes: the repository never returns them)."""
    return await keys.list_keys()


async def revoke_key(*, key_id: str, keys: ApiKeyRepository, cache: KeyCache, clock: Clock, mode: AuthMode) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing.

    Raises:
        DyngenError: NOT_FOUND for an unknown id; CONFLICT when it is the last active key in `auto` mode
            (revoking it would switch access control off; create another key first).
    """
    listed = {key.id: key for key in await keys.list_keys()}
    key = listed.get(key_id)
    if key is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no API key {key_id!r}")
    if key.revoked_at is not None:
        return key
    others = sum(1 for k in listed.values() if k.revoked_at is None and k.id != key_id)
    if mode == AuthMode.AUTO and others == 0:
        raise DyngenError(
            ErrorCode.CONFLICT,
            "this is the last active API key: revoking it would switch access control off (DYNGEN_AUTH=auto); "
            "create another key first, or set DYNGEN_AUTH=required",
        )
    at = clock.now()
    revoked_now = await keys.revoke_key(key_id, at=at)
    cache.forget()
    log.info("access.key_revoked id=%s", key_id)
    if revoked_now:
        return replace(key, revoked_at=at)
    # Revoked meanwhile by someone else (or by a retried attempt whose answer was lost): read what is stored.
    return next(k for k in await keys.list_keys() if k.id == key_id)


async def authenticate(
    *, presented: str | None, required: Scope, keys: ApiKeyRepository, cache: KeyCache, clock: Clock, mode: AuthMode
) -> ApiKey | None:
    """Check the key a request presented.

    Returns:
        The key, or None when keys are not enforced (`DYNGEN_AUTH=off`, or `auto` with no active key).

    Raises:
        DyngenError: UNAUTHORIZED (401) for a missing, unknown or revoked key; FORBIDDEN (403) for a key
            whose scope is below `required`.
    """
    repository, now = keys, clock.monotonic()
    if mode == AuthMode.OFF or not enforced(mode, active_keys=await cache.any_active(repository, now=now)):
        return None
    if not presented:
        raise DyngenError(
            ErrorCode.UNAUTHORIZED, "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
        )
    key = await cache.active_key(repository, hash_key(presented), now=now)
    if key is None:
        raise DyngenError(ErrorCode.UNAUTHORIZED, "unknown or revoked API key")
    if not allows(key.scope, required):
        raise DyngenError(ErrorCode.FORBIDDEN, f"this needs a key of scope {required.value} (this key is {key.scope})")
    return key


async def check_bind(*, host: str, keys: ApiKeyRepository, mode: AuthMode) -> None:
    """Serving on an address other machines can reach needs an active key (unless `DYNGEN_AUTH=off`).

    Raises:
        DyngenError: FORBIDDEN with what to do, when the address is not loopback and no active key exists.
    """
    if is_loopback(host) or mode == AuthMode.OFF:
        return
    if await keys.count_active_keys() == 0:
        raise DyngenError(
            ErrorCode.FORBIDDEN,
            f"refusing to serve on {host}: anyone who can reach it could use the API, and no API key exists. "
            f"Create one with `{CREATE_HINT}` (it is printed once; store it), then start again. "
            "To serve without keys anyway (never on a shared network), set DYNGEN_AUTH=off.",
        )
