"""`HitFastPath`: the generate routes' calls of a known body answered in one step, in front of FastAPI.

A game's hot call is a cache hit; FastAPI's routing, dependency resolution and request and response
objects cost more than the hit itself (bench/http_cache_hits.py), and a good share of a miss's CPU
(bench/miss.py). This pure ASGI middleware sits inside `Cors` and `BodyLimit` (so their answers and
headers are the same either way) and takes `POST /api/generate-content` and
`POST /api/graphs/{graph}/nodes/{node}/content` only:

1. the API key is checked by `services/access/keys.authenticate`, as the routes' `require(RUNTIME)` does;
2. `front_door.answer_known` answers, after the same rate limits, a hit in the nearest cache tier and
   any call of a body the front door has read before (the same body, or another player context of a
   known shape): a miss is served here as the route would serve it;
3. anything else goes on to FastAPI untouched, body replayed: a refused key (the route refuses it again,
   with the same answer), `Prefer: respond-async`, a body the front door has not read before, a
   by-reference call the route would refuse. Nothing is counted before that hand-over, so the
   rate limits count every request once; an error met after counting (a 429, or one serving the call
   raised) is answered here, as the route's error mapping would (`errors.error_response`).

`DYNGEN_HIT_FAST_PATH=false` leaves every request to FastAPI (tests/e2e/test_fast_path.py compares both).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dyngen.bootstrap_ports import generation_ports, play_ports
from dyngen.domain.access import Scope as KeyScope
from dyngen.domain.errors import DyngenError
from dyngen.domain.ids import id_problem
from dyngen.entrypoints.api.auth import key_in
from dyngen.entrypoints.api.errors import error_response, unexpected_response
from dyngen.entrypoints.api.middleware import route_path
from dyngen.services.access import keys as access
from dyngen.services.generation import front_door
from dyngen.services.generation.front_door import GenerateCall
from dyngen.services.machinery.container import Services
from dyngen.services.play import by_reference

GENERATE_PATH = "/api/generate-content"
_JSON = b"application/json"


def _node_of(path: str) -> tuple[str, str] | None:
    """`(graph_id, node_id)` of a by-reference path, as the route's `{graph_id}` and `{node_id}` match
    (`_valid` checks the ids, once a call of them is not remembered)."""
    parts = path.split("/")
    if len(parts) != 7 or parts[:3] != ["", "api", "graphs"] or parts[4] != "nodes" or parts[6] != "content":
        return None
    graph_id, node_id = parts[3], parts[5]
    return (graph_id, node_id) if graph_id and node_id else None


def _valid(node: tuple[str, str]) -> bool:
    """Whether both ids can be ids: the route refuses the others (404) before looking anything up."""
    return id_problem(node[0]) is None and id_problem(node[1]) is None


class HitFastPath:
    """Answers cache hits of the generate routes before FastAPI (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, unavailable_retry_after_s: float) -> None:
        self.app = app
        self.unavailable_retry_after_s = unavailable_retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        node = None
        if path != GENERATE_PATH and (not path.endswith("/content") or (node := _node_of(path)) is None):
            await self.app(scope, receive, send)
            return
        authorization = api_key = prefer = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = authorization if authorization is not None else value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = api_key if api_key is not None else value.decode("latin-1")
            elif name == b"prefer":
                prefer = prefer if prefer is not None else value.decode("latin-1")
        if prefer is not None and "respond-async" in prefer.lower():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            answer = await self._answer(scope["app"].state.services, node, body, key_in(authorization, api_key))
        except Exception as exc:  # what FastAPI's handler of the unexpected answers behind this front
            answer = unexpected_response(exc)
        if answer is None:
            await self.app(scope, replay, send)
        elif isinstance(answer, bytes):
            headers = [(b"content-length", str(len(answer)).encode()), (b"content-type", _JSON)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
        else:
            await answer(scope, replay, send)

    async def _answer(
        self, services: Services, node: tuple[str, str] | None, body: bytes, presented: str | None
    ) -> bytes | Response | None:
        """The answer's bytes, an error's answer, or None: FastAPI's to answer (see the module docstring)."""
        ports = generation_ports(services)  # built once per `Services`: a dictionary lookup here
        try:
            key = await access.authenticate(
                presented=presented,
                required=KeyScope.RUNTIME,
                keys=services.keys,
                cache=services.key_cache,
                clock=services.clock,
                mode=services.options.auth,
            )
            if node is not None:
                play = play_ports(services)
                call = by_reference.known_call(graph_id=node[0], node_id=node[1], body=body, ports=play)
                if call is None:
                    if not _valid(node):
                        return None
                    call = await by_reference.node_call(graph_id=node[0], node_id=node[1], body=body, ports=play)
                if call.body is None:
                    return None
                body = call.body
        except DyngenError:
            return None
        try:
            answered = await front_door.answer_known(GenerateCall(body=body, key=key), ports=ports)
        except DyngenError as exc:  # over a rate limit, or from serving it: counted, so answered here
            return error_response(exc, unavailable_retry_after_s=self.unavailable_retry_after_s)
        return None if answered is None else answered.data
