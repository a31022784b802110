"""A fake OpenAI-compatible model on loopback that writes its answer from the prompt it received.

It is a real HTTP server (uvicorn in a thread) answering `/v1/chat/completions` and `/v1/models`, like
Ollama or a llama.cpp server would. Its "model" reads the chat it was sent: the characters listed in the
system prompt (`- Name: ...` lines), the lore (`- fact` lines under "What is true in this world") and the
elements the user prompt asks to work in, and writes natural lines from them (a character speaks, the
narration recalls a lore fact in passing). So a test can see, in the content, what reached the model.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.servers import free_port, port_open
from tests.support.waiting import wait_until

_CHARACTER = re.compile(r"^- ([^:\n]+): ", re.MULTILINE)
_REQUIRED = re.compile(r"Work these in, in your own words: (.+)\.$", re.MULTILINE)


def _lore(system: str) -> list[str]:
    _, found, rest = system.partition("What is true in this world:\n")
    if not found:
        return []
    facts: list[str] = []
    for line in rest.splitlines():
        if not line.startswith("- "):
            break
        facts.append(line[2:].strip())
    return facts


def answer_for(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The beats the fake model writes for a chat: from the names, facts and elements it was given."""
    system = next((str(m["content"]) for m in messages if m.get("role") == "system"), "")
    user = next((str(m["content"]) for m in messages if m.get("role") == "user"), "")
    names = [n.strip() for n in _CHARACTER.findall(system.partition("What is true in this world:")[0])]
    facts = _lore(system)
    wanted = _REQUIRED.search(user)
    elements = [e.strip() for e in wanted.group(1).split(",")] if wanted else []
    beats: list[dict[str, Any]] = [{"kind": "narration", "text": "The evening tilts towards something new."}]
    for fact in facts:
        beats.append({"kind": "narration", "text": f"Everyone here knows it: {fact[:1].lower()}{fact[1:]}"})
    speaker = names[0] if names else None
    for element in elements:
        line = f"Did you hear the {element} just now?"
        beats.append(
            {"kind": "dialogue", "speaker": speaker, "text": line} if speaker else {"kind": "narration", "text": line}
        )
    for name in names[1:]:
        beats.append({"kind": "dialogue", "speaker": name, "text": f"{names[0]}, wait for me."})
    return {"beats": beats}


@dataclass
class EchoLog:
    """Every chat the server received, in order."""

    chats: list[dict[str, Any]] = field(default_factory=list)


def app_for(log: EchoLog) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"data": [{"id": "echo"}]}

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> JSONResponse:
        body = await request.json()
        log.chats.append(body)
        content = json.dumps(answer_for(body.get("messages") or []))
        return JSONResponse(
            {
                "choices": [{"message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120},
            }
        )

    return app


class EchoModelServer:
    """The fake model, served by uvicorn in a thread of its own on a free loopback port."""

    def __init__(self) -> None:
        self.log = EchoLog()
        self.port = free_port()
        config = uvicorn.Config(app_for(self.log), host="127.0.0.1", port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: port_open("127.0.0.1", self.port), what="the echo model server")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
