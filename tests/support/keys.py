"""An API key made through the use case, with a built service's repository, key cache and clock."""

from __future__ import annotations

from dyngen.domain.access import Scope
from dyngen.ports import ApiKey
from dyngen.services.access import keys as access
from dyngen.services.machinery.container import Services


async def make_key(services: Services, name: str, scope: Scope) -> tuple[ApiKey, str]:
    """The key's record and its plaintext (shown once)."""
    return await access.create_key(
        name=name, scope=scope, keys=services.keys, cache=services.key_cache, clock=services.clock
    )
