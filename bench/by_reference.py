"""By-reference cache hits against the flat request's cache hits, through the real HTTP server.

What is measured: requests/s and server CPU per request of `POST /api/graphs/{graph}/nodes/{node}/content`
(the game names a stored node and sends its player) when every call is a memory-tier hit, against
`POST /api/generate-content` with the flat request for the same node and player: the same content, the
same cache entry (the benchmark checks both answers carry the same key and generation id), the same run.

Why it is fair: both go through the same server process, app and cache entry; the by-reference route
does everything the flat one does plus resolving the graph, which is parsed once per version and kept in
process (`services/authoring/runtime_graphs.py`), so what the ratio shows is the cost of that resolution per call.
Issue 14's goal: >= 0.9x the flat throughput.

How: the server and load generator of `bench.http_cache_hits` (one uvicorn worker; a separate client
process); a graph with one node holding that benchmark's request's config between its two scenes is
stored, the flat request warms the entry, then rounds of flat and by-reference alternate in ABBA order
with 16 connections.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import BenchError, Row
from bench.http_cache_hits import (
    HIT_MARKER,
    HIT_PATH,
    LOADED_CONNECTIONS,
    LOADED_SECONDS,
    ROOT,
    WARMUP_SECONDS,
    _call,
    _memory_hit,
    check,
    pooled,
    running_server,
    warm,
)
from bench.http_cache_hits import REQUEST as FLAT_REQUEST
from bench.loadgen import PhaseResult

# The HTTP benchmark's request, with time for the one generation that fills the entry on a busy machine.
REQUEST: dict[str, Any] = {**FLAT_REQUEST, "fallback": {"mode": "placeholder", "timeoutMs": 120_000}}
GRAPH_ID = "bench-graph"
ROUNDS = 4
GOAL_RATIO = 0.9


def graph() -> dict[str, Any]:
    """A stored graph whose one node is the flat benchmark request's node between its two scenes."""
    node_config = {
        "id": REQUEST["node_id"],
        "generationType": REQUEST["type"],
        "purpose": REQUEST["purpose"],
        **{k: REQUEST[k] for k in ("style", "duration", "constraints", "strategy", "fallback", "version")},
    }
    return {
        "id": GRAPH_ID,
        "scenes": [REQUEST["from_scene"], REQUEST["to_scene"]],
        "nodes": [
            {
                "id": REQUEST["node_id"],
                "fromScene": REQUEST["from_scene"]["id"],
                "toScene": REQUEST["to_scene"]["id"],
                "config": node_config,
            }
        ],
    }


def by_reference_path() -> str:
    return f"/api/graphs/{GRAPH_ID}/nodes/{REQUEST['node_id']}/content"


def by_reference_body() -> bytes:
    body = {"player_context": REQUEST["player_context"], "social_context": REQUEST["social_context"]}
    return json.dumps(body, separators=(",", ":")).encode()


def _phases(flat: str, by_ref: str) -> list[dict[str, Any]]:
    targets = {"flat": (HIT_PATH, flat), "byref": (by_reference_path(), by_ref)}

    def phase(label: str, target: str, seconds: float) -> dict[str, Any]:
        path, body = targets[target]
        return {
            "label": label,
            "path": path,
            "body": body,
            "connections": LOADED_CONNECTIONS,
            "duration_s": seconds,
            "marker": HIT_MARKER,
        }

    plan = [phase("warmup flat", "flat", WARMUP_SECONDS), phase("warmup byref", "byref", WARMUP_SECONDS)]
    for r in range(ROUNDS):
        order = ("flat", "byref") if r % 2 == 0 else ("byref", "flat")  # ABBA...: linear drift cancels
        plan.extend(phase(f"loaded {t} hit r{r + 1}", t, LOADED_SECONDS) for t in order)
    return plan


def run() -> list[Row]:
    flat = json.dumps(REQUEST, separators=(",", ":"))
    by_ref = by_reference_body()
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-byref-") as tmp, running_server(Path(tmp)) as server:
        status, saved = _call(server.port, "POST", "/api/graphs", json.dumps(graph()).encode())
        if status != 201:
            raise BenchError(f"storing the graph: {status} {saved[:500]!r}")
        flat_hit = json.loads(warm(server.port, flat.encode()))
        status, answer = _call(server.port, "POST", by_reference_path(), by_ref)
        ref_hit = json.loads(answer)
        if status != 200 or not _memory_hit(ref_hit):
            raise BenchError(
                f"by reference: expected a memory hit after the flat warm-up, got {status}: {answer[:500]!r}"
            )
        if (ref_hit["cache_key"], ref_hit["generation_id"]) != (flat_hit["cache_key"], flat_hit["generation_id"]):
            raise BenchError(f"not the same content: {ref_hit['cache_key']} vs {flat_hit['cache_key']}")
        plan = {
            "host": "127.0.0.1",
            "port": server.port,
            "server_pid": server.process.pid,
            "phases": _phases(flat, by_ref.decode()),
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench.loadgen"],
            cwd=ROOT,
            input=json.dumps(plan).encode(),
            capture_output=True,
            timeout=sum(p["duration_s"] for p in plan["phases"]) + 60,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"load generator failed ({done.returncode}):\n{done.stderr.decode(errors='replace')}")
    phases = [PhaseResult(**p) for p in json.loads(done.stdout)["phases"]]
    check(phases)
    measured = [p for p in phases if not p.label.startswith("warmup")]
    for p in measured:
        print(f"  {p.label:<20} {p.requests:>6} req in {p.elapsed_s:4.2f} s = {p.rps:6.0f} req/s")
    flat_f = pooled([p for p in measured if p.label.startswith("loaded flat ")])
    ref_f = pooled([p for p in measured if p.label.startswith("loaded byref ")])
    ratio = ref_f.rps / flat_f.rps
    pairs = ", ".join(f"{r / f:.2f}" for r, f in zip(ref_f.rounds_rps, flat_f.rounds_rps, strict=True))
    print(f"  throughput by-reference/flat {ratio:.3f}x (per round pair: {pairs})")
    rows = [
        Row(
            "byref",
            f"by-reference hit throughput, {LOADED_CONNECTIONS} conns",
            f"{ref_f.rps:.0f} req/s",
            f"{flat_f.rps:.0f} req/s (flat hit)",
            f"{ratio:.2f}x",
            f">= {GOAL_RATIO}x",
            ratio >= GOAL_RATIO,
        )
    ]
    if ref_f.server_us is not None and flat_f.server_us is not None:
        capacity = flat_f.server_us / ref_f.server_us
        print(f"  server CPU per request: by reference adds {ref_f.server_us - flat_f.server_us:.0f} us to a hit")
        rows.append(
            Row(
                "byref",
                "by-reference server CPU/req (capacity)",
                f"{ref_f.server_us:.0f} us",
                f"{flat_f.server_us:.0f} us (flat hit)",
                f"{capacity:.2f}x",
                f">= {GOAL_RATIO}x",
                capacity >= GOAL_RATIO,
            )
        )
    return rows


if __name__ == "__main__":
    from bench import table

    print(table(run()))
