"""A loopback OpenAI-compatible upstream for the gateway benchmarks: `python -m bench.upstream PORT_FILE [DELAY_MS]`.

A pure ASGI app (no framework, so its own cost per call is small next to a gateway's) answering
`POST /v1/chat/completions` with a complete ChatCompletion whose message is the JSON of a transition
(beats and choices, as dyngen's `openai` provider asks for), after `DELAY_MS` (default 0) of simulated
model time; `GET /v1/models` lists the one model. Served like every bench server (`serve_app`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

MODEL = "bench-model"
CONTENT = json.dumps(
    {
        "beats": [
            {"kind": "narration", "text": "Rain beads on the cafe window; the phone rings twice."},
            {"kind": "dialogue", "speaker": "Mara", "text": "I have to take this. Remember the kiss?"},
            {"kind": "narration", "text": "She is already running for the rooftops."},
        ],
        "choices": [{"id": "c1", "text": "Follow her"}, {"id": "c2", "text": "Stay"}],
    }
)


def completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": CONTENT}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }
    ).encode()


def app_for(delay_s: float) -> Any:
    models = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        if scope["method"] == "POST" and scope["path"].endswith("/chat/completions"):
            if delay_s:
                await asyncio.sleep(delay_s)
            body, status = completion(), 200
        elif scope["path"].endswith("/models"):
            body, status = models, 200
        else:
            body, status = b'{"error":{"message":"not found"}}', 404
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    from bench.http_cache_hits import serve_app

    serve_app(app_for(float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0), Path(sys.argv[1]))
