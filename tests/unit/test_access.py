"""Access control: the rules (scopes, key format, enforcement, loopback) and the key service over a real
SQLite repository, with a FakeClock driving the key cache."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
from dyngen.config import MEMORY_URL, Settings
from dyngen.domain.access import (
    AuthMode,
    Scope,
    allows,
    enforced,
    generate_key,
    hash_key,
    is_loopback,
)
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ApiKey, ApiKeyRepository
from dyngen.services.access import keys as access
from dyngen.services.generation.front_door import GenerateCall, generate
from dyngen.services.machinery.container import Services
from tests.fakes import FakeClock, FakeCountingKeys

RUNTIME, EDITOR, ADMIN = Scope.RUNTIME, Scope.EDITOR, Scope.ADMIN

# --- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "required", "allowed"),
    [
        (RUNTIME, RUNTIME, True),
        (RUNTIME, EDITOR, False),
        (RUNTIME, ADMIN, False),
        (EDITOR, RUNTIME, True),
        (EDITOR, EDITOR, True),
        (EDITOR, ADMIN, False),
        (ADMIN, RUNTIME, True),
        (ADMIN, EDITOR, True),
        (ADMIN, ADMIN, True),
        ("admin", ADMIN, True),  # as stored: a plain string
        ("root", RUNTIME, False),  # a scope this version does not know allows nothing
        ("", RUNTIME, False),
    ],
)
def test_a_higher_scope_includes_the_lower_ones(granted: Scope | str, required: Scope, allowed: bool):
    assert allows(granted, required) is allowed


def test_a_key_is_stored_as_the_sha256_hex_of_the_key_string():
    assert hash_key("dyngen_abc") == hashlib.sha256(b"dyngen_abc").hexdigest()
    assert hash_key("dyngen_abc") != hash_key("dyngen_abd")


def test_a_key_is_the_prefix_and_32_random_bytes_from_the_given_source():
    asked: list[int] = []

    def token(n: int) -> str:
        asked.append(n)
        return "pinned"

    assert generate_key(token=token) == "dyngen_pinned"
    assert asked == [32]
    fresh = {generate_key() for _ in range(50)}
    assert len(fresh) == 50, "keys are random"
    assert all(k.startswith("dyngen_") and len(k) == len("dyngen_") + 43 for k in fresh), fresh


@pytest.mark.parametrize(
    ("mode", "active_keys", "expected"),
    [
        (AuthMode.AUTO, False, False),
        (AuthMode.AUTO, True, True),
        (AuthMode.REQUIRED, False, True),
        (AuthMode.REQUIRED, True, True),
        (AuthMode.OFF, False, False),
        (AuthMode.OFF, True, False),
    ],
)
def test_keys_are_enforced_by_mode(mode: AuthMode, active_keys: bool, expected: bool):
    assert enforced(mode, active_keys=active_keys) is expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_only_loopback_addresses_count_as_local(host: str, loopback: bool):
    assert is_loopback(host) is loopback


# --- the service ---------------------------------------------------------------------------------

Make = Callable[..., Awaitable[Services]]


@pytest.fixture
def database() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
async def make(database: MemoryDatabase) -> AsyncIterator[Make]:
    """Services on one memory database (each call: another process on the same database), with a FakeClock."""
    built: list[Services] = []

    async def _make(**settings: Any) -> Services:
        services = await build(
            Settings(database_url=MEMORY_URL, **settings), memory_database=database, clock=FakeClock()
        )
        built.append(services)
        return services

    yield _make
    for services in built:
        await services.aclose()


async def auth(
    services: Services, presented: str | None, required: Scope = RUNTIME, *, keys: ApiKeyRepository | None = None
) -> ApiKey | None:
    """Authenticate with the process's key cache and clock; `keys` stands in for its repository."""
    return await access.authenticate(
        presented=presented,
        required=required,
        keys=keys or services.keys,
        cache=services.key_cache,
        clock=services.clock,
        mode=services.options.auth,
    )


async def refused(
    services: Services, presented: str | None, required: Scope = RUNTIME, *, keys: ApiKeyRepository | None = None
) -> ErrorCode:
    with pytest.raises(DyngenError) as caught:
        await auth(services, presented, required, keys=keys)
    return caught.value.code


async def create(services: Services, name: str, scope: Scope) -> tuple[ApiKey, str]:
    return await access.create_key(
        name=name, scope=scope, keys=services.keys, cache=services.key_cache, clock=services.clock
    )


async def revoke(services: Services, key_id: str) -> ApiKey:
    return await access.revoke_key(
        key_id=key_id, keys=services.keys, cache=services.key_cache, clock=services.clock, mode=services.options.auth
    )


async def test_without_keys_the_service_is_open_and_ignores_what_is_presented(make: Make):
    services = await make()
    assert await auth(services, None, ADMIN) is None
    assert await auth(services, "dyngen_whatever", ADMIN) is None


async def test_the_first_key_switches_enforcement_on_at_once(make: Make):
    services = await make()
    assert await auth(services, None) is None  # cached: open
    key, plaintext = await create(services, "game", RUNTIME)
    assert await refused(services, None) is ErrorCode.UNAUTHORIZED
    assert await refused(services, "dyngen_wrong") is ErrorCode.UNAUTHORIZED
    assert await refused(services, "") is ErrorCode.UNAUTHORIZED
    assert await auth(services, plaintext) == key
    assert await refused(services, plaintext, EDITOR) is ErrorCode.FORBIDDEN
    assert await refused(services, plaintext, ADMIN) is ErrorCode.FORBIDDEN


async def test_each_scope_reaches_what_it_includes(make: Make):
    services = await make()
    made = {scope: await create(services, scope.value, scope) for scope in Scope}
    for granted, (key, plaintext) in made.items():
        for required in Scope:
            if allows(granted, required):
                assert await auth(services, plaintext, required) == key
            else:
                assert await refused(services, plaintext, required) is ErrorCode.FORBIDDEN


async def test_only_the_hash_is_stored(make: Make, database: MemoryDatabase):
    services = await make()
    key, plaintext = await create(services, "ops", ADMIN)
    assert plaintext.startswith("dyngen_")
    assert (key.name, key.scope, key.revoked_at) == ("ops", "admin", None)
    assert await services.keys.key_by_hash(hash_key(plaintext)) == key
    await services.aclose()
    stored = repr(database).encode()
    assert hash_key(plaintext).encode() in stored
    assert plaintext.encode() not in stored, "a copy of the database must not hold usable keys"
    assert plaintext.removeprefix("dyngen_").encode() not in stored


async def test_a_revoked_key_is_refused_at_once_and_revoking_again_changes_nothing(make: Make):
    services = await make()
    _keep, _ = await create(services, "ops", ADMIN)
    game, plaintext = await create(services, "game", RUNTIME)
    assert await auth(services, plaintext) == game
    services.clock.advance(1)  # type: ignore[attr-defined]
    revoked = await revoke(services, game.id)
    assert revoked.revoked_at == services.clock.now()
    assert await refused(services, plaintext) is ErrorCode.UNAUTHORIZED
    services.clock.advance(1)  # type: ignore[attr-defined]
    assert await revoke(services, game.id) == revoked
    listed = {k.id: k for k in await access.list_keys(keys=services.keys)}
    assert listed[game.id].revoked_at == revoked.revoked_at
    assert listed[_keep.id].revoked_at is None


async def test_revoking_an_unknown_key_is_not_found(make: Make):
    services = await make()
    await create(services, "ops", ADMIN)
    with pytest.raises(DyngenError) as caught:
        await revoke(services, "nosuchkey")
    assert caught.value.code is ErrorCode.NOT_FOUND


async def test_the_last_active_key_cannot_be_revoked_in_auto_mode_which_would_open_the_api(make: Make):
    services = await make()
    only, plaintext = await create(services, "ops", ADMIN)
    with pytest.raises(DyngenError) as caught:
        await revoke(services, only.id)
    assert caught.value.code is ErrorCode.CONFLICT
    assert "create another key" in caught.value.message
    assert await auth(services, plaintext, ADMIN) == only

    required = await make(auth=AuthMode.REQUIRED)
    assert (await revoke(required, only.id)).revoked_at is not None
    assert await refused(required, plaintext) is ErrorCode.UNAUTHORIZED
    assert await refused(required, None) is ErrorCode.UNAUTHORIZED, "required: no key, no entry"


async def test_auth_off_lets_everything_through(make: Make):
    services = await make(auth=AuthMode.OFF)
    await create(services, "game", RUNTIME)
    assert await auth(services, None, ADMIN) is None
    assert await auth(services, "dyngen_wrong", ADMIN) is None


async def test_another_process_sees_new_and_revoked_keys_within_the_cache_time(make: Make):
    api = await make(auth_cache_s=5)
    cli = await make()
    assert await auth(api, None) is None

    _ops, _ = await create(cli, "ops", ADMIN)
    game, plaintext = await create(cli, "game", RUNTIME)
    api.clock.advance(4.9)  # type: ignore[attr-defined]
    assert await auth(api, None) is None, "within the cache time the API process still knows no key"
    api.clock.advance(0.2)  # type: ignore[attr-defined]
    assert await refused(api, None) is ErrorCode.UNAUTHORIZED
    assert await auth(api, plaintext) == game

    await revoke(cli, game.id)
    assert await auth(api, plaintext) == game, "the API process learns of the revocation at its next refresh"
    api.clock.advance(5)  # type: ignore[attr-defined]
    assert await refused(api, plaintext) is ErrorCode.UNAUTHORIZED


async def test_the_request_path_asks_the_database_once_per_key_per_refresh(make: Make):
    services = await make(auth_cache_s=5)
    counting = FakeCountingKeys(services.keys)
    for _ in range(100):
        assert await auth(services, None, keys=counting) is None
    assert counting.calls == ["count_active_keys"], "an open install costs one count per refresh"

    _, plaintext = await create(services, "game", RUNTIME)
    counting.calls.clear()
    for _ in range(100):
        await auth(services, plaintext, keys=counting)
        await refused(services, "dyngen_wrong", keys=counting)
    assert sorted(counting.calls) == ["count_active_keys", "key_by_hash", "key_by_hash"]

    services.clock.advance(5)  # type: ignore[attr-defined]
    counting.calls.clear()
    await auth(services, plaintext, keys=counting)
    assert counting.calls == ["count_active_keys", "key_by_hash"]


async def test_a_cold_process_hit_by_many_requests_at_once_asks_the_database_once(make: Make):
    services = await make(auth_cache_s=5)
    _, plaintext = await create(services, "game", RUNTIME)
    counting = FakeCountingKeys(services.keys)
    services.key_cache.forget()  # as a process that just started

    answers = await asyncio.gather(*(auth(services, plaintext, keys=counting) for _ in range(125)))

    assert all(a is not None and a.name == "game" for a in answers)
    assert sorted(counting.calls) == ["count_active_keys", "key_by_hash"], "one refresh and one lookup, shared"


async def test_keys_seen_before_keep_working_while_the_database_is_down(make: Make):
    services = await make(auth_cache_s=5)
    counting = FakeCountingKeys(services.keys)
    game, plaintext = await create(services, "game", RUNTIME)
    assert await auth(services, plaintext, keys=counting) == game

    counting.down = True
    services.clock.advance(6)  # type: ignore[attr-defined]
    assert await auth(services, plaintext, keys=counting) == game
    assert await refused(services, None, keys=counting) is ErrorCode.UNAUTHORIZED
    calls = len(counting.calls)
    assert await auth(services, plaintext, keys=counting) == game
    assert len(counting.calls) == calls, "a failed refresh is not retried on every request"
    assert await refused(services, "dyngen_unseen", keys=counting) is ErrorCode.DEPENDENCY_UNAVAILABLE


async def test_a_fresh_process_with_the_database_down_answers_503_not_open(make: Make):
    services = await make()
    counting = FakeCountingKeys(services.keys)
    counting.down = True
    assert await refused(services, None, keys=counting) is ErrorCode.DEPENDENCY_UNAVAILABLE


# --- simulate needs editor -----------------------------------------------------------------------

KEY = ApiKey(id="k", name="game", scope="runtime", created_at=datetime(2026, 1, 1))


async def check_body(*, key: ApiKey | None, body: bytes) -> None:
    """What the front door checks of a body's `simulate` for a key (a valid or invalid body's 422 comes
    after it; a runtime key is never rate limited here)."""
    services = await build(Settings(database_url=MEMORY_URL))
    try:
        await generate(GenerateCall(body=body, key=key), ports=generation_ports(services))
    except DyngenError as error:
        if error.code is not ErrorCode.GEN_INVALID_CONFIG:
            raise
    finally:
        await services.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "dialogue", "simulate": {"fail_with": "GEN_TIMEOUT"}}',
        b'{"type": "dialogue", "simulate": {}}',
        b'{"type": "dialogue", "simul\\u0061te": {"latency_ms": 10}}',
        b'{"type": "dialogue", "\\u0073\\u0069mulate": {}}',
    ],
)
async def test_simulate_with_a_runtime_key_is_forbidden(body: bytes):
    with pytest.raises(DyngenError) as caught:
        await check_body(key=KEY, body=body)
    assert caught.value.code is ErrorCode.FORBIDDEN
    assert "editor" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "dialogue"}',
        b'{"type": "dialogue", "simulate": null}',
        b'{"type": "dialogue", "node_id": "simulate", "to_scene": {"id": "x", "summary": "\\"simulate\\""}}',
        b'{"type": "dialogue", "simulate": ',  # malformed: the service reports it (422)
        b"[1, 2]",
    ],
)
async def test_a_runtime_key_may_generate_without_simulate(body: bytes):
    await check_body(key=KEY, body=body)


async def test_simulate_is_left_to_dev_tools_for_editors_and_when_keys_are_not_enforced():
    body = b'{"type": "dialogue", "simulate": {"fail_with": "GEN_TIMEOUT"}}'
    await check_body(key=None, body=body)
    for scope in (EDITOR, ADMIN):
        await check_body(key=ApiKey(id="k", name="n", scope=scope, created_at=KEY.created_at), body=body)


# --- serving on a reachable address --------------------------------------------------------------


async def test_serving_beyond_loopback_needs_a_key(make: Make):
    services = await make()
    for host in ("127.0.0.1", "::1", "localhost"):
        await access.check_bind(host=host, keys=services.keys, mode=services.options.auth)
    with pytest.raises(DyngenError) as caught:
        await access.check_bind(host="0.0.0.0", keys=services.keys, mode=services.options.auth)
    assert "dyngen keys create --scope admin --name ops" in caught.value.message

    off = await make(auth=AuthMode.OFF)
    await access.check_bind(host="0.0.0.0", keys=off.keys, mode=off.options.auth)

    await create(services, "ops", ADMIN)
    await access.check_bind(host="0.0.0.0", keys=services.keys, mode=services.options.auth)
