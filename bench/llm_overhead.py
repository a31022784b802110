"""What the `openai` provider adds on top of the HTTP call it makes.

A small OpenAI-protocol server (tests/support/openai_server.py, the one the provider's tests use) runs
in a child process on loopback, so it does not share this process's interpreter. Then, alternating one
of each so both see the same machine at the same moment:

1. Provider: `OpenAIProvider.generate(call)`: builds the prompt from the node config, scenes and
   contexts, posts it, parses the model's JSON into beats/choices and the payload, counts tokens.
2. Baseline: the same client posting the very bytes the provider sent (captured from its first call)
   to the same server and decoding the JSON answer: the HTTP round trip alone.

Figures: p50 and p95 of each, and the provider's overhead (p50 difference). Goal: under 1 ms at p50,
i.e. the prompt and parsing are noise next to any real model's latency.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench import BenchError, Row, percentile

ROUNDS = 600
WARMUP = 50
GOAL_OVERHEAD_MS = 1.0


def _request() -> object:
    from dyngen.domain.contracts import GenerateContentRequest

    return GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "node_id": "cafe_to_rooftops",
            "from_scene": {
                "id": "cafe",
                "mood": "romantic",
                "summary": "Mara finally kisses Theo.",
                "location": "cafe",
            },
            "to_scene": {"id": "roof", "mood": "intense", "summary": "A call sends her running.", "location": "roof"},
            "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium", "transitionType": "gradual"},
            "duration": {"min": 10, "max": 45, "target": 30},
            "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring"], "avoidElements": ["violence"]},
            "player_context": {"playthrough_id": "p1", "player_id": "u1", "flags": {"met_courier": True}},
        }
    )


async def _measure(base_url: str) -> list[Row]:
    import httpx

    from dyngen.adapters.providers.openai import OpenAIProvider
    from dyngen.ports import ProviderCall

    sent: list[bytes] = []

    async def capture(request: httpx.Request) -> None:
        if not sent:
            sent.append(request.read())

    async with httpx.AsyncClient(event_hooks={"request": [capture]}) as client:
        provider = OpenAIProvider(base_url=base_url, model="test-model", client=client)
        call = ProviderCall(request=_request(), seed=7, attempt=1, deadline_s=10.0)  # type: ignore[arg-type]
        url = base_url + "/chat/completions"

        async def raw() -> None:
            response = await client.post(url, content=sent[0], headers={"content-type": "application/json"})
            if response.status_code != 200 or not response.json()["choices"]:
                raise BenchError(f"the peer answered {response.status_code}")

        async def full() -> None:
            result = await provider.generate(call)
            if not result.payload.beats:
                raise BenchError("the provider returned no beats")

        for _ in range(WARMUP):
            await full()
            await raw()
        provider_ms: list[float] = []
        raw_ms: list[float] = []
        for i in range(ROUNDS):
            pair = ((full, provider_ms), (raw, raw_ms)) if i % 2 else ((raw, raw_ms), (full, provider_ms))
            for step, times in pair:
                began = time.perf_counter()
                await step()
                times.append((time.perf_counter() - began) * 1000)
    provider_ms.sort()
    raw_ms.sort()
    p50, p95 = percentile(provider_ms, 50), percentile(provider_ms, 95)
    b50, b95 = percentile(raw_ms, 50), percentile(raw_ms, 95)
    overhead = p50 - b50
    print(f"  provider p50 {p50:.2f} ms p95 {p95:.2f} ms; raw HTTP p50 {b50:.2f} ms p95 {b95:.2f} ms")
    return [
        Row(
            "llm",
            "openai provider call, p50",
            f"{p50:.2f} ms",
            f"raw HTTP {b50:.2f} ms",
            f"+{overhead:.2f} ms ({p50 / b50:.2f}x)",
            f"< +{GOAL_OVERHEAD_MS:g} ms",
            overhead < GOAL_OVERHEAD_MS,
        ),
        Row(
            "llm", "openai provider call, p95", f"{p95:.2f} ms", f"raw HTTP {b95:.2f} ms", f"{p95 / b95:.2f}x", "", None
        ),
    ]


def run() -> list[Row]:
    from tests.support.servers import Process, free_port, port_open, wait_until

    port = free_port()
    code = (
        "import uvicorn\n"
        "from tests.support.openai_server import Script, app_for\n"
        f"uvicorn.run(app_for(Script()), host='127.0.0.1', port={port}, log_level='error', access_log=False)\n"
    )
    peer = Process([sys.executable, "-c", code])
    try:
        wait_until(lambda: port_open("127.0.0.1", port), what="the OpenAI-protocol peer")
        return asyncio.run(_measure(f"http://127.0.0.1:{port}/v1"))
    finally:
        peer.stop()
