"""The front door of generation: one call per generate request, raw (the HTTP API) or parsed (the CLI,
`play`, warm-ups).

`generate` takes the request as it arrived (body bytes, API key, `Prefer`, `Idempotency-Key`), reads the
body once into an `Envelope` (remembered per body, as is the prepared request), checks what the
key may ask for and the rate limits, resolves a flat request that names only a stored node's id to that
node (`authoring/runtime_graphs.py`), and answers with the response's bytes, or queues a job for
`Prefer: respond-async`. `generate_content` serves a parsed request the same way.

`answer_known` is the first look of the HTTP API's fast path (`entrypoints/api/fast_path.py`): a body
the front door has read before is counted against the same rate limits and answered in one step, a hit
in the nearest cache tier through the same hit path (`serving.answer`), anything else (a miss, a slower
tier) through `serving.respond`, as `generate` would; for anything else it returns None before counting
anything, and the request takes `generate`. Games send the same node with another player context on every
call, so besides the body it remembers a body's *shape* (the body with its `player_context` cut
out): a body of a known shape costs reading its player context, not reading and preparing the whole
request. A body read for the first time is handed on unless it is a hit (its shape learned and its
request prepared): `generate` looks the same way first, so it is not read and prepared twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from dyngen.domain.access import Scope, allows
from dyngen.domain.contracts import GenerateContentRequest, PlayerContext
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.records import GenerationRecord
from dyngen.domain.responses import GenerateContentResponse
from dyngen.domain.wire import load_json, parse_json
from dyngen.ports import ApiKey
from dyngen.services.access import rate_limits
from dyngen.services.generation.outcomes import Hit, Prepared
from dyngen.services.generation.ports import GenerationPorts
from dyngen.services.generation.request import Groundwork
from dyngen.services.generation.serving import answer, count, nearest_hit, respond, served
from dyngen.services.jobs.lifecycle import request_hash, submit_job
from dyngen.services.machinery.memo import body_key


@dataclass(slots=True)
class GenerateCall:
    """A generate request as it arrived: the body's bytes, the caller's API key (None while keys are not
    enforced), its `Prefer` and `Idempotency-Key` headers."""

    body: bytes
    key: ApiKey | None = None
    prefer: str | None = None
    idempotency_key: str | None = None

    @property
    def respond_async(self) -> bool:
        return self.prefer is not None and "respond-async" in self.prefer.lower()


@dataclass(frozen=True, slots=True)
class Warmed:
    """What a warm-up keeps of an item it served (`warm_content`): no answer is made for it.

    Attributes:
        hit: Served from a cache tier, or by a single flight another caller started.
        error_code: Why it failed (its fallback was served), else None.
    """

    hit: bool
    cache_key: str
    generation_id: str | None
    error_code: str | None


@dataclass(frozen=True, slots=True)
class Answered:
    """The response's JSON bytes (200)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Queued:
    """The job a `Prefer: respond-async` request was queued as (202), and whether this call created it
    (False: the same `Idempotency-Key` and body, or a running job for the same content joined)."""

    job: GenerationRecord
    created: bool


@dataclass(slots=True)
class Envelope:
    """A generate body read once: the request (or why the body is not one), what the front door checks
    before serving it (the player it counts against and whether it asks for `simulate`) and, once made,
    the prepared request (kept for a body that brings its node: one named by id only is resolved again)."""

    request: GenerateContentRequest | None
    problem: DyngenError | None
    player: str | None
    simulate: bool
    prepared: Prepared | None = None


def envelope_of(body: bytes) -> Envelope:
    """Read a raw generate body. A body that is not a valid request is read once more as plain JSON for
    its player and `simulate` (the checks come before its 422)."""
    try:
        request = load_json(GenerateContentRequest, body, prefix=("body",))
    except DyngenError as problem:
        try:
            data: Any = parse_json(body)
        except DyngenError:
            data = None
        simulate = isinstance(data, dict) and data.get("simulate") is not None
        return Envelope(request=None, problem=problem, player=rate_limits.player_in(data), simulate=simulate)
    context = request.player_context
    player = context.player_id if context is not None else None
    return Envelope(request=request, problem=None, player=player or None, simulate=request.simulate is not None)


async def remember(body: bytes, *, ports: GenerationPorts) -> None:
    """Read and prepare a body the server made itself (a by-reference call's flat request) ahead of its
    first call, so its hits take the known-body path, as a flat request's repeated body does, instead of
    reading its shape and player context again on every call. A body that is not a valid request, names
    a node by id only or cannot be prepared is left for `generate` to read (and refuse) as any body."""
    envelope = envelope_of(body)
    request = envelope.request
    if request is None or envelope.simulate or await ports.referenced(request=request) is not request:
        return
    try:
        envelope.prepared = ports.preparer.prepare(request)
    except DyngenError:
        return
    ports.memo.envelopes.put(body_key(body), envelope)


async def generate(call: GenerateCall, *, ports: GenerationPorts) -> Answered | Queued:
    """Serve a raw generate request: from cache, generated, or the node's fallback; or queue it as a job.
    Its caller answers an HTTP request, which nothing cancels but the server's shutdown, so a flight it
    starts runs in the request's own task (`serving.serve`'s `in_place`), as in `answer_known`.

    Raises:
        DyngenError: FORBIDDEN (403) for `simulate` with a key below editor, or while dev tools are off;
            GEN_RATE_LIMITED (429) over the API key's or the player's rate limit; GEN_INVALID_CONFIG (422)
            for a body that is not a valid request (every problem listed) or a config with errors;
            CONFLICT (409) for a reused `Idempotency-Key` with another body.
    """
    started = ports.clock.monotonic()
    known = body_key(call.body)
    envelope: Envelope | None = ports.memo.envelopes.get(known)
    if (
        envelope is None
        and not call.respond_async
        and (looked := await _shape_look(call.body, ports=ports, learn=False))
    ):
        # A body of a known shape: the fast path's first look prepared it already (the first miss of a
        # shape comes here after it), so it is neither read whole nor prepared again. A shape is a valid
        # body without `simulate` (`_shaped`): only the rate limits are left to check. Only the first
        # look learns shapes: a body that has none (a node named by id only) would be read twice here.
        await rate_limits.admit_request(
            api_key_id=call.key.id if call.key else None,
            player=looked.player,
            limiter=ports.rate_limiter,
            limits=ports.options.rate_limits,
        )
        return Answered(await respond(ports.serving, looked.prepared, started=started, in_place=True))
    if envelope is None:
        envelope = envelope_of(call.body)
        if envelope.request is not None:  # a problem is raised afresh each time, never remembered
            ports.memo.envelopes.put(known, envelope)
    if envelope.simulate and call.key is not None and not allows(call.key.scope, Scope.EDITOR):
        raise DyngenError(
            ErrorCode.FORBIDDEN,
            f"`simulate` needs a key of scope {Scope.EDITOR.value} (this key is {call.key.scope})",
        )
    await rate_limits.admit_request(
        api_key_id=call.key.id if call.key else None,
        player=envelope.player,
        limiter=ports.rate_limiter,
        limits=ports.options.rate_limits,
    )
    request = envelope.request
    if request is None:
        assert envelope.problem is not None
        raise envelope.problem
    if call.respond_async:
        request = await ports.referenced(request=request)
        submitted = await submit_job(
            request=request,
            request_hash=request_hash(request),
            idempotency_key=call.idempotency_key,
            preparer=ports.preparer,
            ports=ports.jobs,
        )
        return Queued(job=submitted.job, created=submitted.created)
    prepared = envelope.prepared
    if prepared is None:
        resolved = await ports.referenced(request=request)
        prepared = ports.preparer.prepare(resolved)
        if resolved is request:  # a body resolved by its node id is resolved again (the graph may change)
            envelope.prepared = prepared
    return Answered(await respond(ports.serving, prepared, started=started, in_place=True))


_CONTEXT_KEY = b'"player_context"'
_CONTEXT = re.compile(r'"player_context"\s*:\s*')
_JSON = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Shape:
    """A body's shape read once: its request (with the player context it first came with) and, when its
    preparation reads only the player context's playthrough and player ids (cache key, seed), the
    groundwork every player context of it shares; None when it reads the whole context (rules or a
    template: `resolution.py`)."""

    request: GenerateContentRequest
    groundwork: Groundwork | None


def split_context(body: bytes) -> tuple[str, bytes] | None:
    """A body's shape (the body with its `player_context` value cut out, a NUL where it was) and that
    value's bytes; None unless the body names `player_context` exactly once (a shape then always cuts
    the same top-level field: the other parts of a request hold no free-form objects outside `arms`,
    which `shaped` leaves to the whole way)."""
    if body.count(_CONTEXT_KEY) != 1 or b'"playerContext"' in body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found = _CONTEXT.search(text)
    if found is None:
        return None
    start = found.end()
    try:
        value, end = _JSON.raw_decode(text, start)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return f"{text[:start]}\0{text[end:]}", text[start:end].encode()


@dataclass(frozen=True, slots=True)
class Look:
    """What the first look made of a body: its prepared request, the player it counts against, and
    whether the body was read before (the same body, or another body of its shape)."""

    prepared: Prepared
    player: str | None
    known: bool = True


async def _first_look(body: bytes, *, ports: GenerationPorts) -> Look | None:
    """The prepared request of a body already prepared whole (the same bytes) or of a known shape (or of a new
    shape, learned now); None for anything else (then `generate` reads it, and remembers what it read)."""
    known = body_key(body)
    envelope: Envelope | None = ports.memo.envelopes.get(known)
    if envelope is not None:
        if envelope.prepared is None or envelope.simulate:
            return None
        return Look(envelope.prepared, envelope.player)
    seen: Look | None = ports.memo.looks.get(known)
    if seen is not None:
        return seen
    look = await _shape_look(body, ports=ports, learn=True)
    if look is not None and look.known:  # a shape's look depends on the body's bytes alone
        ports.memo.looks.put(known, look)
    return look


async def _shape_look(body: bytes, *, ports: GenerationPorts, learn: bool) -> Look | None:
    """The prepared request of a body of a known shape (or, when `learn`, of a new one, read now: not
    `known`) and its player; None for a body without a shape (`split_context`, `_shaped`), of a shape not
    known (unless `learn`) or that its shape's request cannot be prepared as."""
    memo = ports.memo
    split = split_context(body)
    if split is None:
        return None
    shape_key, context_bytes = split
    shape: Shape | None = memo.shapes.get(shape_key)
    if shape is None and not learn:
        return None
    try:
        context = PlayerContext.model_validate_json(context_bytes)
    except ValidationError:
        return None
    known = shape is not None
    if shape is None:
        shape = await _shaped(body, context, ports=ports)
        if shape is None:
            return None
        memo.shapes.put(shape_key, shape)
    ground = shape.groundwork
    by: tuple[Any, ...] = (
        (shape_key, context_bytes) if ground is None else (shape_key, context.playthrough_id, context.player_id)
    )
    prepared: Prepared | None = None
    if (remembered := memo.shaped.get(by)) is not None:
        made_for, prepared = remembered
        if made_for != context_bytes:  # the same player with other choices, flags or stats: the provider and
            # the record get this call's (its key and seed depend on the ids alone: `groundwork`)
            prepared = replace(prepared, request=prepared.request.model_copy(update={"player_context": context}))
    if prepared is None:
        try:
            prepared = (
                ports.preparer.prepare(shape.request.model_copy(update={"player_context": context}))
                if ground is None
                else ports.preparer.for_context(ground, context)
            )
        except DyngenError:
            return None
        memo.shaped.put(by, (context_bytes, prepared))
    return Look(prepared, context.player_id or None, known=known)


async def _shaped(body: bytes, context: PlayerContext, *, ports: GenerationPorts) -> Shape | None:
    """The shape of a valid body that brings its node (not one named by id only, which is resolved on
    every call), whose cut-out value is its player context and, unless its preparation reads the whole
    context, whose groundwork can be laid (a node with errors has no shape)."""
    envelope = envelope_of(body)
    request = envelope.request
    if request is None or envelope.simulate or request.arms or request.player_context != context:
        return None
    try:
        if await ports.referenced(request=request) is not request:
            return None
    except DyngenError:  # a node id that names no node: the route refuses it, once it counted it
        return None
    if request.rules or request.template_id:
        return Shape(request=request, groundwork=None)
    try:
        return Shape(request=request, groundwork=ports.preparer.groundwork(request))
    except DyngenError:
        return None


async def answer_known(call: GenerateCall, *, ports: GenerationPorts) -> Answered | None:
    """Answer a raw generate request in one step when its body was read before (or it is a hit in the
    nearest cache tier): the hit, or what `generate` would serve. Else None, with nothing counted (the
    caller then serves it through `generate`): `Prefer: respond-async`, a body read for the first time, a
    body without a shape (`split_context`, `_shaped`).

    Raises:
        DyngenError: GEN_RATE_LIMITED (429) over the API key's or the player's rate limit, as `generate`;
            and whatever serving the request raises there.
    """
    if call.respond_async:
        return None
    started = ports.clock.monotonic()
    looked = await _first_look(call.body, ports=ports)
    if looked is None:
        return None
    prepared = looked.prepared
    hit = await nearest_hit(ports.serving, prepared)
    if hit is None and not looked.known:
        return None
    await rate_limits.admit_request(
        api_key_id=call.key.id if call.key else None,
        player=looked.player,
        limiter=ports.rate_limiter,
        limits=ports.options.rate_limits,
    )
    if hit is None:
        return Answered(await respond(ports.serving, prepared, started=started, in_place=True))
    return Answered(answer(ports.serving, prepared, hit, started=started))


async def generate_content(*, request: GenerateContentRequest, ports: GenerationPorts) -> GenerateContentResponse:
    """Serve content for a parsed Generation Node request (the CLI, `play`, warm-ups).

    Returns:
        `complete` with content, or `failed` with the node's fallback applied and the error that caused it.

    Raises:
        DyngenError: as `generation.request.prepare`.
    """
    started = ports.clock.monotonic()
    prepared = ports.preparer.prepare(await ports.referenced(request=request))
    data = await respond(ports.serving, prepared, started=started)
    return GenerateContentResponse.model_validate_json(data)


async def warm_content(*, request: GenerateContentRequest, ports: GenerationPorts) -> Warmed:
    """Serve a parsed request as `generate_content` does (the same cache key, flight, provider, record and
    cache entry, counted the same), for a warm-up, which answers nobody: no response is made, no URL signed
    (issue 18: about a tenth of a warm-up's work per transition).

    Raises:
        DyngenError: as `generation.request.prepare`.
    """
    prepared = ports.preparer.prepare(await ports.referenced(request=request))
    prepared, made = await served(ports.serving, prepared)
    count(ports.serving, prepared, made)
    outcome = made.outcome
    return Warmed(
        hit=True if isinstance(made, Hit) else made.cache.hit,
        cache_key=prepared.key,
        generation_id=outcome.generation_id,
        error_code=outcome.error.code.value if outcome.error is not None else None,
    )
