"""`ChainProvider`: a provider that wraps others and answers with the first that succeeds.

A chain is configured like any provider (`DYNGEN_PROVIDER_CHAINS={"main": ["openai", "builtin"]}`) and
used wherever a provider name is, so the service never knows about chains. Members in cooldown (see
`dyngen.adapters.providers.breaker`) and members that cannot make the request's type are skipped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import CircuitBreaker, Cooldown, Provider, ProviderCall, ProviderInfo, ProviderResult

log = logging.getLogger("dyngen.providers.chain")

FINGERPRINT_MAX = 200  # the record's provider_fingerprint column


class ChainProvider:
    """Tries each member in order; the first success answers.

    A member's GEN_* failure (or any exception, as GEN_PROVIDER_UNAVAILABLE) is counted by the breaker
    and the next member is tried; when every member fails, the last error is raised. The result's
    fingerprint names the member that answered: `chain:main>builtin/builtin-text/1`.

    Args:
        name: The chain's registry name.
        providers: The members, in the order they are tried.
        breaker: Counts failures and says which members cool down.
    """

    def __init__(self, name: str, providers: Sequence[Provider], breaker: CircuitBreaker) -> None:
        if not providers:
            raise ValueError(f"provider chain {name!r} has no members")
        self.members = list(providers)
        self._breaker = breaker
        self._cooling: set[str] = set()  # as last seen, for the synchronous `estimate_cost`
        self.info = ProviderInfo(
            name=name,
            generation_types=frozenset().union(*(p.info.generation_types for p in self.members)),
            media=frozenset().union(*(p.info.media for p in self.members)),
            deterministic=all(p.info.deterministic for p in self.members),
        )

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        """The cost of the member that would be tried first (as far as this process last saw cooldowns)."""
        capable = [p for p in self.members if request.type in p.info.generation_types]
        available = [p for p in capable if p.info.name not in self._cooling] or capable
        return available[0].estimate_cost(request) if available else 0.0

    async def generate(self, call: ProviderCall) -> ProviderResult:
        error: DyngenError | None = None
        skipped: list[str] = []
        for member in self.members:
            name = member.info.name
            if call.request.type not in member.info.generation_types:
                continue
            cooldown = await self._breaker.cooldown(name)
            if cooldown is not None:
                self._cooling.add(name)
                skipped.append(f"{name} cooling down until {cooldown.until.isoformat()}: {cooldown.reason}")
                continue
            self._cooling.discard(name)
            try:
                result = await member.generate(call)
            except DyngenError as exc:
                if not exc.code.is_generation_failure:
                    raise
                error = exc
            except Exception as exc:  # a member's bug is a failure of that member, and the next one answers
                log.exception("chain.member_crashed chain=%s provider=%s", self.info.name, name)
                message = f"provider '{name}' failed: {type(exc).__name__}"
                error = DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, message)
            else:
                fingerprint = f"chain:{self.info.name}>{name}/{result.fingerprint or '-'}"[:FINGERPRINT_MAX]
                return dataclasses.replace(result, fingerprint=fingerprint)
            log.info("chain.member_failed chain=%s provider=%s code=%s", self.info.name, name, error.code.value)
            if await self._breaker.record_failure(name, code=error.code.value) is not None:
                self._cooling.add(name)
        if error is not None:
            raise error
        if skipped:
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE,
                f"every provider of chain '{self.info.name}' is unavailable: {'; '.join(skipped)}",
            )
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"no provider of chain '{self.info.name}' can generate {call.request.type.value}",
        )

    async def cooldowns(self) -> dict[str, Cooldown]:
        """The members in cooldown now, by name (each with its expiry and reason)."""
        found = await self._breaker.cooldowns(p.info.name for p in self.members)
        self._cooling = set(found)
        return found

    async def health(self) -> str | None:
        """Fine while at least one member is usable; the detail lists the members in cooldown.

        Raises:
            RuntimeError: Every member is cooling down or reports itself down.
        """
        cooling = await self.cooldowns()
        notes = [
            f"{name} cooling down until {c.until.isoformat(timespec='seconds')}: {c.reason}"
            for name, c in cooling.items()
        ]
        usable = 0
        for member in self.members:
            if member.info.name in cooling:
                continue
            check = getattr(member, "health", None)
            if check is None:
                usable += 1
                continue
            try:
                await check()
            except Exception as exc:  # a member's health failure is reported, never raised
                notes.append(f"{member.info.name} is down: {type(exc).__name__}: {exc}"[:200])
            else:
                usable += 1
        if not usable:
            raise RuntimeError("no member is usable: " + "; ".join(notes))
        return "; ".join(notes) or None


def build_chains(
    providers: Mapping[str, Provider], chains: Mapping[str, Sequence[str]], breaker: CircuitBreaker
) -> dict[str, Provider]:
    """The providers with every configured chain added under its own name.

    Raises:
        ValueError: A chain names an unknown member, has no members, or takes an installed provider's name.
    """
    built: dict[str, Provider] = dict(providers)
    for name, members in chains.items():
        if name in providers:
            raise ValueError(f"provider chain {name!r} has the name of an installed provider; rename the chain")
        if not members:
            raise ValueError(f"provider chain {name!r} has no members")
        unknown = [m for m in members if m not in providers]
        if unknown:
            raise ValueError(
                f"provider chain {name!r} names unknown provider(s) {', '.join(map(repr, unknown))} "
                f"(installed: {', '.join(sorted(providers))})"
            )
        built[name] = ChainProvider(name, [providers[m] for m in members], breaker)
    return built
