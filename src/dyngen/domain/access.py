"""Access control rules: scopes, API keys, when keys are enforced, and where dyngen may serve without one.

Scopes are ordered; a higher scope includes every lower one:

- `runtime`: what a game needs: generate content, read jobs and artifacts.
- `editor`: + validate node configs, invalidate the cache, `simulate` in generate requests, scene graphs,
  generation records, node stats, reviews, A/B arms, budgets.
- `admin`: + metrics, API keys.

A key is `dyngen_` followed by 32 random bytes (URL-safe base64); only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Callable
from enum import StrEnum

KEY_PREFIX = "dyngen_"
KEY_BYTES = 32


class Scope(StrEnum):
    """What a key may do, lowest first (the order is the definition order)."""

    RUNTIME = "runtime"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {scope: rank for rank, scope in enumerate(Scope)}


class AuthMode(StrEnum):
    """When keys are checked.

    - `auto`: once at least one active key exists (a fresh embedded install is open until then).
    - `required`: always; with no key every protected route answers 401.
    - `off`: never (tests and local development only).
    """

    AUTO = "auto"
    REQUIRED = "required"
    OFF = "off"


def allows(granted: Scope | str, required: Scope) -> bool:
    """True when a key of scope `granted` may do what needs `required`. An unknown scope allows nothing."""
    try:
        return Scope(granted).rank >= required.rank
    except ValueError:
        return False


def hash_key(key: str) -> str:
    """The stored form of a key: the hex SHA-256 of the key string."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key(*, token: Callable[[int], str] = secrets.token_urlsafe) -> str:
    """A new key: `dyngen_` + `token(32)`.

    Args:
        token: Source of randomness, `secrets.token_urlsafe` unless a test pins it.
    """
    return KEY_PREFIX + token(KEY_BYTES)


def enforced(mode: AuthMode, *, active_keys: bool) -> bool:
    """Whether a request must present a key, given the mode and whether any active key exists."""
    if mode == AuthMode.OFF:
        return False
    return mode == AuthMode.REQUIRED or active_keys


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1 and `localhost`."""
    name = host.strip().removeprefix("[").removesuffix("]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        # A host name (or an empty host, which binds every address): assume others can reach it.
        return False
