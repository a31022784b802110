"""`ChainProvider`: a provider that wraps others and answers with the first that succeeds.

A chain is configured like any provider (`DYNGEN_PROVIDER_CHAINS={"main": ["openai", "builtin"]}`) and
used wherever a provider name is, so the service never knows about chains. Members in cooldown (see
`dyngen.adapters.providers.breaker`) and members that cannot make the request's type are skipped.

Each member but the last runs under its own share of the call's deadline: a member that hangs is cut off
while time is left for the next ones, and its timeout counts towards its cooldown like any failure.

A call's stream (`ProviderCall.stream`, a video served while it renders) goes to each member in turn until
one writes to it: a member after that one runs without it (it would write after the first one's bytes).
When a member said its video is playable (a player was answered with it) and then fails, the chain fails
with it: no other member may answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import (
    CircuitBreaker,
    Clock,
    Cooldown,
    MediaStream,
    Provider,
    ProviderCall,
    ProviderInfo,
    ProviderResult,
)

log = logging.getLogger("dyngen.providers.chain")

FINGERPRINT_MAX = 200  # the record's provider_fingerprint column
DEFAULT_RESERVE = 0.3  # the share of the time left that a member leaves to the members after it


class ChainProvider:
    """Tries each member in order; the first success answers.

    A member's GEN_* failure (or any exception, as GEN_PROVIDER_UNAVAILABLE) is counted by the breaker
    and the next member is tried; when every member fails, the last error is raised. The result's
    fingerprint names the member that answered: `chain:main>builtin/builtin-text/2`.

    Args:
        name: The chain's registry name.
        providers: The members, in the order they are tried.
        breaker: Counts failures and says which members cool down.
        clock: Measures the time left of the call's deadline.
        reserve: The share (0..1) of the time left that each member leaves to the members after it; a
            member that has not answered by then fails with GEN_TIMEOUT and the next one is tried.
    """

    def __init__(
        self,
        name: str,
        providers: Sequence[Provider],
        breaker: CircuitBreaker,
        *,
        clock: Clock,
        reserve: float = DEFAULT_RESERVE,
    ) -> None:
        if not providers:
            raise ValueError(f"provider chain {name!r} has no members")
        if not 0.0 <= reserve < 1.0:
            raise ValueError(f"provider chain {name!r}: reserve must be in [0, 1), got {reserve}")
        self.members = list(providers)
        self._breaker = breaker
        self._clock = clock
        self._reserve = reserve
        self._cooling: set[str] = set()  # as last seen, for the synchronous `estimate_cost`
        self.info = ProviderInfo(
            name=name,
            generation_types=frozenset().union(*(p.info.generation_types for p in self.members)),
            media=frozenset().union(*(p.info.media for p in self.members)),
            deterministic=all(p.info.deterministic for p in self.members),
            uses_scene_images=any(p.info.uses_scene_images for p in self.members),
        )

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        """The highest estimate among the members that may answer (as far as this process last saw
        cooldowns): a budget holds enough whichever member ends up answering."""
        capable = [p for p in self.members if request.type in p.info.generation_types]
        available = [p for p in capable if p.info.name not in self._cooling] or capable
        return max((p.estimate_cost(request) for p in available), default=0.0)

    async def generate(self, call: ProviderCall) -> ProviderResult:
        error: DyngenError | None = None
        skipped: list[str] = []
        ends_at = self._clock.monotonic() + call.deadline_s
        capable = [m for m in self.members if call.request.type in m.info.generation_types]
        stream = call.stream
        for position, member in enumerate(capable):
            name = member.info.name
            cooldown = await self._breaker.cooldown(name)
            if cooldown is not None:
                self._cooling.add(name)
                skipped.append(f"{name} cooling down until {cooldown.until.isoformat()}: {cooldown.reason}")
                continue
            self._cooling.discard(name)
            left = max(ends_at - self._clock.monotonic(), 0.0)
            later = [m for m in capable[position + 1 :] if m.info.name not in self._cooling]
            share = left * (1.0 - self._reserve) if later else left
            streamed = _MemberStream(stream, name) if stream is not None else None
            try:
                result = await self._run_member(member, dataclasses.replace(call, deadline_s=share, stream=streamed))
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
                return dataclasses.replace(result, fingerprint=fingerprint, answered_by=result.answered_by or name)
            log.info("chain.member_failed chain=%s provider=%s code=%s", self.info.name, name, error.code.value)
            if await self._breaker.record_failure(name, code=error.code.value) is not None:
                self._cooling.add(name)
            if streamed is not None and streamed.said_playable:
                raise error  # a player holds this member's video: no other member may answer instead
            if streamed is not None and streamed.written:
                stream = None
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

    @staticmethod
    async def _run_member(member: Provider, call: ProviderCall) -> ProviderResult:
        """The member's answer within `call.deadline_s`, or GEN_TIMEOUT naming it."""
        try:
            async with asyncio.timeout(call.deadline_s):
                return await member.generate(call)
        except TimeoutError:
            raise DyngenError(
                ErrorCode.GEN_TIMEOUT,
                f"provider '{member.info.name}' did not answer within its {call.deadline_s * 1000:.0f} ms of the chain",
            ) from None

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
    providers: Mapping[str, Provider],
    chains: Mapping[str, Sequence[str]],
    breaker: CircuitBreaker,
    *,
    clock: Clock,
    reserve: float = DEFAULT_RESERVE,
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
        built[name] = ChainProvider(name, [providers[m] for m in members], breaker, clock=clock, reserve=reserve)
    return built


class _MemberStream:
    """The call's stream as one member writes it: what the member says is playable is that member's answer
    (`answered_by`, as its result will say); whether it wrote to it, and whether it said it is playable."""

    def __init__(self, stream: MediaStream, name: str) -> None:
        self._stream, self._name = stream, name
        self.written = self.said_playable = False

    async def write(self, data: bytes) -> None:
        self.written = True
        await self._stream.write(data)

    def playable(self, early: ProviderResult) -> None:
        self.said_playable = True
        self._stream.playable(dataclasses.replace(early, answered_by=early.answered_by or self._name))
