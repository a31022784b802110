"""API keys: create, list, revoke, and authenticate a request (cheaply, through `KeyCache`).

Whether keys are enforced follows `AuthMode` (`domain/access.py`): in `auto` mode, from the moment one
active key exists. Every entry point authenticates through `authenticate`, before it looks anything up,
so that a 401 or 403 never says whether a job or generation exists.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from dyngen.domain.access import AuthMode, Scope, allows, enforced, generate_key, hash_key, is_loopback
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.wire import parse_json
from dyngen.ports import ApiKey, ApiKeyRepository
from dyngen.services.memo import LruMemo

if TYPE_CHECKING:
    from dyngen.services.container import Services

log = logging.getLogger("dyngen.access")

CREATE_HINT = "dyngen keys create --scope admin --name ops"
_UNKNOWN_KEYS_REMEMBERED = 1024
# How long the request that starts a key refresh waits for it before it is served from what is known.
REFRESH_WAIT_S = 0.25


class KeyCache:
    """What the hot path needs to know about keys, refreshed at most every `ttl_s` seconds.

    Holds whether any active key exists, the active keys seen since the last refresh (by hash) and a
    bounded set of hashes that matched no active key. A key created or revoked in this process takes
    effect at once (`forget`); one created or revoked by another process within `ttl_s`. Concurrent
    requests share one refresh and one lookup per key: a cold process hit by hundreds of requests at once
    asks the database once, not once per request (which would drain its connection pool).

    A refresh that does not answer at once (a hung database) does not hold requests: while what is known
    is at most `stale_s` past its `ttl_s`, the request that started the refresh waits `REFRESH_WAIT_S` at
    most, later ones not at all, and they are answered from what is known while the refresh goes on
    (stale-while-revalidate). Older than that, a request waits for the refresh (bounded by the database's
    own timeouts).

    Args:
        ttl_s: Seconds between refreshes (0 asks the repository on every request).
        stale_s: Seconds past `ttl_s` that known keys are served while a refresh is stuck.
    """

    def __init__(self, *, ttl_s: float = 5.0, stale_s: float = 0.0) -> None:
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self._refreshing: asyncio.Task[None] | None = None
        self._loaded_at: float | None = None
        self._any_active = False
        self._active: dict[str, ApiKey] = {}
        self._unknown: LruMemo[str, bool] = LruMemo(_UNKNOWN_KEYS_REMEMBERED)
        self._looking_up = asyncio.Lock()

    def forget(self) -> None:
        """Drop everything: the next request asks the repository again."""
        self._loaded_at = None

    async def any_active(self, repository: ApiKeyRepository, *, now: float) -> bool:
        await self._refresh(repository, now)
        return self._any_active

    async def active_key(self, repository: ApiKeyRepository, key_hash: str, *, now: float) -> ApiKey | None:
        """The active key with this hash, or None (unknown or revoked)."""
        await self._refresh(repository, now)
        if (known := self._active.get(key_hash)) is not None:
            return known
        if self._unknown.get(key_hash):
            return None
        async with self._looking_up:  # the requests that arrived with it wait for its answer
            if (known := self._active.get(key_hash)) is not None:
                return known
            if self._unknown.get(key_hash):
                return None
            found = await repository.key_by_hash(key_hash)
            if found is None or found.revoked_at is not None:
                self._unknown.put(key_hash, True)
                return None
            self._active[key_hash] = found
            return found

    def _fresh(self, now: float) -> bool:
        return self._loaded_at is not None and now - self._loaded_at < self.ttl_s

    async def _refresh(self, repository: ApiKeyRepository, now: float) -> None:
        if self._fresh(now):
            return
        task = self._refreshing
        started = task is None or task.done()
        if task is None or started:
            task = self._refreshing = asyncio.create_task(self._load(repository, now), name="dyngen-key-refresh")
            task.add_done_callback(_retrieve)  # a background failure is logged by `_load`, not at exit
        usable = self._loaded_at is not None and now - self._loaded_at < self.ttl_s + self.stale_s
        if not usable:
            await asyncio.shield(task)  # the requests that arrived with it share its answer
            return
        if started:
            await asyncio.wait({task}, timeout=REFRESH_WAIT_S)
            if not task.done():
                log.warning("access.refresh_stuck serving_cached_keys=%d", len(self._active))
        if task.done():
            task.result()

    async def _load(self, repository: ApiKeyRepository, now: float) -> None:
        try:
            count = await repository.count_active_keys()
        except DyngenError:
            if self._loaded_at is None:
                raise
            # The database is down: keep what we knew (keys seen before still work; new ones wait), and
            # ask again after another ttl rather than on every request.
            log.warning("access.refresh_failed keeping_cached_keys=%d", len(self._active))
            self._loaded_at = now
            return
        self._loaded_at = now
        self._any_active = count > 0
        self._active = {}
        self._unknown = LruMemo(_UNKNOWN_KEYS_REMEMBERED)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


async def create_key(*, name: str, scope: Scope, services: Services) -> tuple[ApiKey, str]:
    """Create a key. Returns the key's record and the key itself, which is not stored and never shown again."""
    plaintext = generate_key()
    key = ApiKey(id=uuid.uuid4().hex, name=name, scope=scope.value, created_at=services.clock.now())
    await services.keys.add_key(key, key_hash=hash_key(plaintext))
    services.key_cache.forget()
    log.info("access.key_created id=%s scope=%s", key.id, key.scope)
    return key, plaintext


async def list_keys(*, services: Services) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first (without hashes: the repository never returns them)."""
    return await services.keys.list_keys()


async def revoke_key(*, key_id: str, services: Services) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing.

    Raises:
        DyngenError: NOT_FOUND for an unknown id; CONFLICT when it is the last active key in `auto` mode
            (revoking it would switch access control off; create another key first).
    """
    keys = {key.id: key for key in await services.keys.list_keys()}
    key = keys.get(key_id)
    if key is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no API key {key_id!r}")
    if key.revoked_at is not None:
        return key
    others = sum(1 for k in keys.values() if k.revoked_at is None and k.id != key_id)
    if services.options.auth == AuthMode.AUTO and others == 0:
        raise DyngenError(
            ErrorCode.CONFLICT,
            "this is the last active API key: revoking it would switch access control off (DYNGEN_AUTH=auto); "
            "create another key first, or set DYNGEN_AUTH=required",
        )
    at = services.clock.now()
    revoked_now = await services.keys.revoke_key(key_id, at=at)
    services.key_cache.forget()
    log.info("access.key_revoked id=%s", key_id)
    if revoked_now:
        return replace(key, revoked_at=at)
    # Revoked meanwhile by someone else (or by a retried attempt whose answer was lost): read what is stored.
    return next(k for k in await services.keys.list_keys() if k.id == key_id)


async def authenticate(*, presented: str | None, required: Scope, services: Services) -> ApiKey | None:
    """Check the key a request presented.

    Returns:
        The key, or None when keys are not enforced (`DYNGEN_AUTH=off`, or `auto` with no active key).

    Raises:
        DyngenError: UNAUTHORIZED (401) for a missing, unknown or revoked key; FORBIDDEN (403) for a key
            whose scope is below `required`.
    """
    cache, repository, now = services.key_cache, services.keys, services.clock.monotonic()
    mode = services.options.auth
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


def check_generate_body(*, key: ApiKey | None, body: bytes) -> None:
    """`simulate` in a generate request needs an editor key; everything else there needs runtime.

    Cheap on the hot path: the body is only parsed when a key below editor sent bytes that can spell
    `"simulate"` (literally, or through a `\\u` escape). A body that is not JSON is left to the service.

    Raises:
        DyngenError: FORBIDDEN (403) for a non-null `simulate` with a key below editor.
    """
    if key is None or allows(key.scope, Scope.EDITOR):
        return
    if b'"simulate"' not in body and b"\\u" not in body:
        return
    try:
        parsed = parse_json(body)
    except DyngenError:
        return
    if isinstance(parsed, dict) and parsed.get("simulate") is not None:
        raise DyngenError(
            ErrorCode.FORBIDDEN, f"`simulate` needs a key of scope {Scope.EDITOR.value} (this key is {key.scope})"
        )


async def check_bind(*, host: str, services: Services) -> None:
    """Serving on an address other machines can reach needs an active key (unless `DYNGEN_AUTH=off`).

    Raises:
        DyngenError: FORBIDDEN with what to do, when the address is not loopback and no active key exists.
    """
    if is_loopback(host) or services.options.auth == AuthMode.OFF:
        return
    if await services.keys.count_active_keys() == 0:
        raise DyngenError(
            ErrorCode.FORBIDDEN,
            f"refusing to serve on {host}: anyone who can reach it could use the API, and no API key exists. "
            f"Create one with `{CREATE_HINT}` (it is printed once; store it), then start again. "
            "To serve without keys anyway (never on a shared network), set DYNGEN_AUTH=off.",
        )
