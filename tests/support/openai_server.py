"""A small OpenAI-protocol chat completions server on loopback, scripted per test."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from tests.support.servers import free_port, port_open
from tests.support.waiting import wait_until


def _answering() -> threading.Event:
    answering = threading.Event()
    answering.set()
    return answering


@dataclass
class Script:
    """What the next answers are: each entry is a status code, "slow", "bad-json", "ok", "big" (a padded
    answer of `big_bytes` with its Content-Length), "big-stream" (the same, chunked, no length), or
    "redirect:<url>" (a 307 to that URL), "gzip" (the good answer compressed, as hosted APIs send it to a
    client that accepts gzip), or "wrapped" (the good answer after a reasoning model's `<think>` block, in a
    Markdown code fence), "parts" (the good answer as a thinking part and a text part, as Mistral's reasoning
    models give it), "refusal" (no content and OpenAI's `refusal`), "refusal-empty" (the same with an empty
    one), or a 400 of one of three kinds: "400-format" (its message names `response_format`), "400-echo" (a
    validation error that repeats the request's body) and "400-deep" (a body nested deeper than a parser goes).

    `refused_formats` are the `response_format` types the server answers 400 to, as DeepSeek's API does to
    `json_schema` ("This response_format type is unavailable now").

    `refused_parameters` are the request's keys the model answers 400 to, as OpenAI's reasoning models do
    to a temperature other than 1 (the error's `param` names it).

    `hang()` holds every call (counted in `requests` as it arrives) until `release()`, as FakeProvider's
    `hang` does: a provider still working whenever the test acts, on any machine.
    """

    answers: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    big_bytes: int = 64 * 1024
    refused_formats: set[str] = field(default_factory=set)
    refused_parameters: set[str] = field(default_factory=set)
    answering: threading.Event = field(default_factory=_answering)

    def next(self) -> str:
        return self.answers.pop(0) if self.answers else "ok"

    def hang(self) -> None:
        self.answering.clear()

    def release(self) -> None:
        self.answering.set()


GOOD = {
    "beats": [
        {"kind": "narration", "text": "Rain beads on the cafe window; the phone rings twice."},
        {"kind": "dialogue", "speaker": "Mara", "text": "I have to take this. Remember the kiss?"},
        {"kind": "narration", "text": "She is already running for the rooftops."},
    ],
    "choices": [{"id": "c1", "text": "Follow her"}, {"id": "c2", "text": "Stay"}],
}


def app_for(script: Script) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"data": [{"id": "test-model"}]}

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> Response:
        body = await request.json()
        script.requests.append(
            {"body": body, "authorization": request.headers.get("authorization"), "host": request.headers["host"]}
        )
        if not script.answering.is_set():
            await asyncio.to_thread(script.answering.wait)
        for name in sorted(script.refused_parameters & set(body)):
            message = f"Unsupported value: '{name}' does not support {body[name]} with this model."
            refusal = {"message": message, "type": "invalid_request_error", "param": name, "code": "unsupported_value"}
            return JSONResponse({"error": refusal}, status_code=400)
        if (body.get("response_format") or {}).get("type") in script.refused_formats:
            refusal = {"message": "This response_format type is unavailable now", "type": "invalid_request_error"}
            return JSONResponse({"error": refusal}, status_code=400)
        answer = script.next()
        if answer == "400-format":
            refusal = {"message": "response_format is too large for this request", "type": "invalid_request_error"}
            return JSONResponse({"error": refusal}, status_code=400)
        if answer == "400-echo":  # "not supported" and every parameter we sent, in the input it repeats
            problem = {"msg": "role 'developer' is not supported", "input": body, "loc": ["body", "messages"]}
            return JSONResponse({"detail": [problem], "sent": json.dumps(body)}, status_code=400)
        if answer == "400-deep":
            return Response("[" * 100_000 + "]" * 100_000, status_code=400, media_type="application/json")
        if answer.startswith("redirect:"):
            return RedirectResponse(answer.removeprefix("redirect:"), status_code=307)
        if answer in ("big", "big-stream"):
            padded = json.dumps({"choices": [{"message": {"content": json.dumps(GOOD)}}], "pad": ""})
            data = padded[:-2].encode() + b"x" * max(script.big_bytes - len(padded), 0) + b'"}'
            if answer == "big":
                return Response(data, media_type="application/json")

            async def parts() -> Any:
                for start in range(0, len(data), 4096):
                    yield data[start : start + 4096]

            return StreamingResponse(parts(), media_type="application/json")
        if answer.isdigit():
            return JSONResponse({"error": {"message": "scripted"}}, status_code=int(answer))
        if answer == "slow":
            await asyncio.sleep(5)
        content = "this is not json" if answer == "bad-json" else json.dumps(GOOD)
        if answer == "wrapped":
            content = f"<think>\nThe player chose {{kiss}}; keep it light.\n</think>\n\n```json\n{content}\n```"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if answer == "parts":
            thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "A {draft} first."}]}
            message["content"] = [thinking, {"type": "text", "text": content}]
        elif answer in ("refusal", "refusal-empty"):
            message.update(content=None, refusal="I can't help with that scene." if answer == "refusal" else "")
        completion = {
            "choices": [{"message": message}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }
        if answer == "gzip":
            packed = gzip.compress(json.dumps(completion).encode())
            return Response(packed, media_type="application/json", headers={"Content-Encoding": "gzip"})
        return JSONResponse(completion)

    return app


class OpenAIServer:
    """Runs the scripted server with uvicorn in a thread of its own."""

    def __init__(self) -> None:
        self.script = Script()
        self.port = free_port()
        config = uvicorn.Config(app_for(self.script), host="127.0.0.1", port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: port_open("127.0.0.1", self.port), what="the OpenAI test server")

    def stop(self) -> None:
        self.script.release()  # a held call ends, so the server's threads do
        self._server.should_exit = True
        self._thread.join(5)
