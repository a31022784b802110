"""Cache hits through the real HTTP server, against a separate bare FastAPI app returning the same bytes.

What is measured: requests/s, p50/p99 latency and server CPU per request of `POST /api/generate-content`
when every request is a memory-tier cache hit (a transition, strategy `per_playthrough`, one fixed
playthroughId, a ~1.3 KB body), two ways: the same body every time, and 6,000 bodies that differ in the
player context a game sends as it plays (other choices and stats; the same playthrough, player and so
cache key), which a per-body memo cannot serve.

Why the baseline is fair: the baseline is what a user would write instead: a minimal FastAPI app in a
process of its own (`bench/bare_app.py`: one `POST` route that receives the body and answers with the
exact bytes of a cached generate-content response), served the same way (uvicorn, one worker, httptools,
uvloop when installed, no access log). So hit/bare says whether serving a hit through dyngen, with API
keys, rate limits and CORS in place, costs less than FastAPI's own routing of a fixed answer (issue 18's
goal: >= 1.0x), and the CPU per request says the same in the unit other tenants of the machine barely move.

How: the dyngen server and the bare app each run in their own process on a tmp data dir; the load comes
from a third process (`bench.loadgen`: raw asyncio keep-alive HTTP/1.1). After a warm-up, rounds of bare,
hit and varied alternate in ABBA order (bare, hit, varied, varied, hit, bare, ...) so a drift in the
machine's speed falls on all alike. Throughput is measured with 16 connections (the server saturated;
latency then includes queueing); unloaded latency with 1 connection. Every response must be 200 and carry
`"hit":true`; one hit response per round is parsed to be sure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import BenchError, Row, percentile
from bench.bare_app import BARE_PATH, running_bare
from bench.loadgen import PhaseResult

ROOT = Path(__file__).resolve().parent.parent
HIT_PATH = "/api/generate-content"
HIT_MARKER = '"hit":true'

LOADED_CONNECTIONS = 16
ROUNDS = 4
LOADED_SECONDS = 3.0
SERIAL_SECONDS = 1.5
WARMUP_SECONDS = 1.0
GOAL_RATIO = 1.0
GOAL_VARIED_US = 200.0  # server CPU per hit when the bodies differ
# More bodies than the per-body memo keeps (4,096), sent in turn: none of them is served from it.
VARIED_BODIES = 6000
GOAL_ADDED_MS = 1.0
BUSY_MACHINE = 0.8  # a saturated server below this share of a core was starved by other processes

REQUEST: dict[str, Any] = {
    "type": "transition",
    "purpose": "gap_fill",
    "node_id": "ch2-rooftop-to-station",
    "from_scene": {
        "id": "ch2_rooftop_confession",
        "mood": "tense",
        "summary": "Mara finally admits she read the letter, and Jonah walks to the edge of the roof.",
        "location": "rooftop_garden",
        "emotionalState": "guarded",
    },
    "to_scene": {
        "id": "ch2_night_train",
        "mood": "melancholic",
        "summary": "Both of them on the last train out of the city, not talking.",
        "location": "train_station",
        "emotionalState": "numb",
    },
    "style": {"moodFrom": "tense", "moodTo": "melancholic", "pacing": "slow", "transitionType": "gradual"},
    "duration": {"min": 20, "max": 45, "target": 30},
    "constraints": {
        "rating": "PG-13",
        "requiredElements": ["rain", "train_whistle", "letter"],
        "avoidElements": ["kiss", "phone"],
        "contentRules": ["no_profanity"],
    },
    "strategy": "per_playthrough",
    # Time for the one generation that fills the entry (a 30 s video) on a busy machine.
    "fallback": {"mode": "placeholder", "timeoutMs": 120_000},
    "version": 3,
    "player_context": {
        "playthroughId": "pt-7f3c2a9e-bench",
        "playerId": "player-0042",
        "choices": {"ch1_forgave_jonah": True, "ch2_opened_letter": "read_aloud"},
        "flags": {"met_petra": True, "route": "city"},
        "stats": {"courage": 7, "empathy": 12.5},
    },
    "social_context": {
        "relationshipTierId": "close_friend",
        "intimacyBand": "light",
        "contentRating": "sfw",
        "npcIds": ["mara", "jonah"],
        "relationshipValues": {"affinity": 64, "trust": 41, "chemistry": 30, "tension": 55},
    },
}


# --- the server process -------------------------------------------------------------------------------


def serve(data_dir: Path, port_file: Path) -> None:
    """Run dyngen's app in this process, on a free loopback port (written to `port_file` once bound;
    the parent then polls /api/health)."""
    from dyngen.config import Settings
    from dyngen.entrypoints.api.app import create_app
    from dyngen.entrypoints.api.http_server import CoalescingHttpToolsProtocol

    serve_app(create_app(Settings(data_dir=data_dir)), port_file, http=CoalescingHttpToolsProtocol)


def serve_app(app: Any, port_file: Path, *, http: Any = "httptools") -> None:
    """Serve `app` as every benchmark server is served: uvicorn, one worker, httptools, uvloop when
    installed, no access log, on a free loopback port written to `port_file` once bound. dyngen's own
    server passes the protocol `dyngen serve` runs (`http`); a baseline keeps uvicorn's."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(sock.getsockname()[1]))
    partial.rename(port_file)
    try:
        import uvloop  # noqa: F401
    except ImportError:
        loop = "asyncio"
    else:
        loop = "uvloop"
    # Keep-alive longer than the phases of other targets that leave a pool's connections idle meanwhile.
    config = uvicorn.Config(
        app,
        loop=loop,
        http=http,
        access_log=False,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=600,
    )
    uvicorn.Server(config).run(sockets=[sock])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn shuts down gracefully: the lifespan closes the engine), then kill after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(slots=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextmanager
def running_server(workdir: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Start the server process (with `env` added to its environment: `DYNGEN_*` settings) and wait
    (with a deadline) until /api/health answers."""
    data_dir, port_file, log = workdir / "data", workdir / "port", workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.http_cache_hits", "--serve", str(data_dir), str(port_file)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    server: Server | None = None
    try:
        deadline = time.monotonic() + 60
        while server is None:
            if process.poll() is not None:
                raise BenchError(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise BenchError(f"server did not start within 60 s:\n{log.read_text(errors='replace')}")
            if port_file.exists():
                candidate = Server(process, int(port_file.read_text()), log)
                try:
                    status, _ = _call(candidate.port, "GET", "/api/health")
                except OSError:
                    status = 0
                if status:  # any answer means it serves; `warm` then checks what it serves
                    server = candidate
                    break
            time.sleep(0.05)
        yield server
    finally:
        stop(process)


def _call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


call = _call


# --- the parent: warm, load, judge ----------------------------------------------------------------------


def _memory_hit(response: dict[str, Any]) -> bool:
    cache = response.get("cache") or {}
    return response.get("status") == "complete" and cache.get("hit") is True and cache.get("tier") == "memory"


def warm(port: int, body: bytes) -> bytes:
    """Fill the cache with one generation, then return the bytes of a cache-hit response.

    Raises:
        BenchError: when the first call is not a complete miss or the second not a memory hit.
    """
    status, first = _call(port, "POST", HIT_PATH, body)
    miss = json.loads(first)
    if status != 200 or miss.get("status") != "complete" or miss["cache"]["hit"]:
        raise BenchError(f"warming call: expected a complete miss, got {status}: {first[:500]!r}")
    status, second = _call(port, "POST", HIT_PATH, body)
    hit = json.loads(second)
    if status != 200 or not _memory_hit(hit):
        raise BenchError(f"second call: expected a memory-tier hit, got {status}: {second[:500]!r}")
    if hit["generation_id"] != miss["generation_id"]:
        raise BenchError("the hit served another generation than the one the miss produced")
    return second


def varied_bodies(count: int) -> list[str]:
    """`count` bodies of the benchmark's request that differ in the player context a game sends as it
    plays (choices and stats), with the same playthrough and player: one cache key, `count` bodies."""
    bodies = []
    for i in range(count):
        request = json.loads(json.dumps(REQUEST))
        context = request["player_context"]
        context["choices"]["ch2_last_line"] = f"line-{i}"
        context["stats"]["courage"] = i % 100
        context["flags"]["visits"] = i
        bodies.append(json.dumps(request, separators=(",", ":")))
    return bodies


@dataclass(frozen=True, slots=True)
class Targets:
    """Where each target is served: the bare app in its own process, dyngen in another."""

    bare_port: int
    bare_pid: int


def _phases(body: str, bodies: list[str], targets: Targets) -> list[dict[str, Any]]:
    def phase(label: str, target: str, connections: int, seconds: float) -> dict[str, Any]:
        # The bare app returns hit bytes too, so the same marker check applies to every target.
        planned: dict[str, Any] = {
            "label": label,
            "path": HIT_PATH,
            "body": body,
            "connections": connections,
            "duration_s": seconds,
            "marker": HIT_MARKER,
        }
        if target == "bare":
            planned |= {"path": BARE_PATH, "port": targets.bare_port, "server_pid": targets.bare_pid}
        elif target == "varied":
            planned["bodies_ref"] = "varied"
        return planned

    plan = [phase(f"warmup {t}", t, LOADED_CONNECTIONS, WARMUP_SECONDS) for t in ("bare", "hit", "varied")]
    for connections, seconds, kind in ((LOADED_CONNECTIONS, LOADED_SECONDS, "loaded"), (1, SERIAL_SECONDS, "serial")):
        for r in range(ROUNDS):
            order = ("bare", "hit", "varied") if r % 2 == 0 else ("varied", "hit", "bare")  # ABBA: drift cancels
            plan.extend(phase(f"{kind} {t} r{r + 1}", t, connections, seconds) for t in order)
    return plan


def drive(port: int, server_pid: int, body: str, bodies: list[str], targets: Targets) -> list[PhaseResult]:
    """Run the load generator process over the plan and return its phases."""
    phases = _phases(body, bodies, targets)
    plan = {"host": "127.0.0.1", "port": port, "server_pid": server_pid, "phases": phases, "bodies": {"varied": bodies}}
    budget = sum(p["duration_s"] for p in phases) + 60
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        cwd=ROOT,
        input=json.dumps(plan).encode(),
        capture_output=True,
        timeout=budget,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"load generator failed ({done.returncode}):\n{done.stderr.decode(errors='replace')}")
    return [PhaseResult(**p) for p in json.loads(done.stdout)["phases"]]


@dataclass(frozen=True, slots=True)
class Figures:
    """One target's figures pooled over its rounds of one kind (loaded or serial)."""

    rps: float
    p50_ms: float
    p99_ms: float
    rounds_rps: list[float]
    server_us: float | None  # server CPU microseconds per request
    server_cpu: float | None  # share of a core the server used
    client_cpu: float  # share of a core the load generator used


def pooled(phases: list[PhaseResult]) -> Figures:
    latencies = sorted(v / 1000 for p in phases for v in p.latencies_us)
    requests = sum(p.requests for p in phases)
    elapsed = sum(p.elapsed_s for p in phases)
    server_s = [p.server_cpu_s for p in phases if p.server_cpu_s is not None]
    complete = len(server_s) == len(phases)
    return Figures(
        rps=requests / elapsed,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        rounds_rps=[p.rps for p in phases],
        server_us=sum(server_s) / requests * 1e6 if complete else None,
        server_cpu=sum(server_s) / elapsed if complete else None,
        client_cpu=sum(p.client_cpu_s for p in phases) / elapsed,
    )


def check(phases: list[PhaseResult]) -> None:
    """Every response 200 and carrying `"hit":true`; one hit response per phase parsed to be sure.

    Raises:
        BenchError: naming the phase that saw anything else.
    """
    for p in phases:
        bad = {s: n for s, n in p.statuses.items() if s != "200"}
        if bad or p.marker_misses or p.requests == 0:
            raise BenchError(
                f"{p.label}: statuses {p.statuses}, {p.marker_misses} responses without {HIT_MARKER}; "
                f"sample: {p.sample_body[:300]}"
            )
        if " hit " in f" {p.label} " or " varied " in f" {p.label} ":
            sample = json.loads(p.sample_body)
            if not _memory_hit(sample):
                raise BenchError(f"{p.label}: sample response is not a complete memory hit: {p.sample_body[:300]}")


def _select(phases: list[PhaseResult], kind: str, target: str) -> list[PhaseResult]:
    return [p for p in phases if p.label.startswith(f"{kind} {target} ")]


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} us"


def report(phases: list[PhaseResult], *, request_size: int, response_size: int) -> list[Row]:
    """Print the raw figures per round and pooled; return the summary rows."""
    print(f"  request {request_size} B, response {response_size} B (hit and bare return the same bytes)")
    for p in phases:
        lat = sorted(p.latencies_us)
        print(
            f"  {p.label:<19} {p.requests:>6} req in {p.elapsed_s:4.2f} s = {p.rps:6.0f} req/s"
            f"  p50 {percentile(lat, 50) / 1000:6.3f} ms  p99 {percentile(lat, 99) / 1000:6.3f} ms"
            f"  server {_us(p.server_us_per_request)}/req, cpu {_share(p.server_cpu)}"
            f"  client cpu {_share(p.client_cpu)}"
        )
    figures: dict[tuple[str, str], Figures] = {}
    for kind in ("loaded", "serial"):
        for target in ("bare", "hit", "varied"):
            figures[kind, target] = f = pooled(_select(phases, kind, target))
            print(
                f"  {kind} {target:<6} pooled: {f.rps:6.0f} req/s  p50 {f.p50_ms:.3f} ms  p99 {f.p99_ms:.3f} ms"
                f"  server {_us(f.server_us)}/req, cpu {_share(f.server_cpu)}  client cpu {_share(f.client_cpu)}"
            )
    bare = figures["loaded", "bare"]
    shares = [f.server_cpu for (kind, _), f in figures.items() if kind == "loaded" and f.server_cpu is not None]
    if shares and min(shares) < BUSY_MACHINE:
        print(
            f"  note: saturated, a server still used only {min(shares):.0%} of a core (other load on this"
            " machine took the rest): req/s and latencies are noisy, the CPU-per-request ratio much less so"
        )
    rows: list[Row] = []
    for target, name in (("hit", "hit"), ("varied", "hit, other player contexts")):
        hit = figures["loaded", target]
        ratio = statistics.median(h / b for h, b in zip(hit.rounds_rps, bare.rounds_rps, strict=True))
        pair_ratios = ", ".join(f"{h / b:.2f}" for h, b in zip(hit.rounds_rps, bare.rounds_rps, strict=True))
        print(f"  throughput {target}/bare: median of round pairs {ratio:.3f}x ({pair_ratios})")
        # Issue 18's goals: a hit at least the bare app's throughput; with differing bodies, its CPU.
        varied = target == "varied"
        rows.append(
            Row(
                "http",
                f"{name} throughput, {LOADED_CONNECTIONS} conns",
                f"{hit.rps:.0f} req/s",
                f"{bare.rps:.0f} req/s",
                f"{ratio:.2f}x",
                "" if varied else f">= {GOAL_RATIO}x bare app",
                None if varied else ratio >= GOAL_RATIO,
            )
        )
        if hit.server_us is not None and bare.server_us is not None:
            capacity = bare.server_us / hit.server_us
            rows.append(
                Row(
                    "http",
                    f"{name} server CPU/req",
                    f"{hit.server_us:.0f} us",
                    f"{bare.server_us:.0f} us",
                    f"{capacity:.2f}x",
                    f"< {GOAL_VARIED_US:.0f} us" if varied else f">= {GOAL_RATIO}x bare app",
                    hit.server_us < GOAL_VARIED_US if varied else capacity >= GOAL_RATIO,
                )
            )
        rows.append(
            Row(
                "http",
                f"{name} p99, {LOADED_CONNECTIONS} conns",
                f"{hit.p99_ms:.2f} ms",
                f"{bare.p99_ms:.2f} ms",
                f"{hit.p99_ms - bare.p99_ms:+.2f} ms",
            )
        )
    sbare, shit = figures["serial", "bare"], figures["serial", "hit"]
    added_serial = shit.p50_ms - sbare.p50_ms
    rows.append(
        Row(
            "http",
            "hit p50, 1 conn (unloaded)",
            f"{shit.p50_ms:.3f} ms",
            f"{sbare.p50_ms:.3f} ms",
            f"{added_serial:+.3f} ms",
            f"< {GOAL_ADDED_MS:g} ms added",
            added_serial < GOAL_ADDED_MS,
        )
    )
    rows.append(
        Row(
            "http",
            "hit p99, 1 conn (unloaded)",
            f"{shit.p99_ms:.3f} ms",
            f"{sbare.p99_ms:.3f} ms",
            f"{shit.p99_ms - sbare.p99_ms:+.3f} ms",
        )
    )
    return rows


def run() -> list[Row]:
    """The whole benchmark: start dyngen, warm its cache, start the bare app with the hit's bytes, drive
    load, check, report."""
    body = json.dumps(REQUEST, separators=(",", ":"))
    bodies = varied_bodies(VARIED_BODIES)
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-http-") as tmp, running_server(Path(tmp)) as server:
        hit_bytes = warm(server.port, body.encode())
        status, varied = _call(server.port, "POST", HIT_PATH, bodies[0].encode())
        if status != 200 or not _memory_hit(json.loads(varied)):
            raise BenchError(f"another player context of the same node is not a memory hit: {varied[:300]!r}")
        with running_bare(Path(tmp), hit_bytes) as (bare, bare_port):
            phases = drive(server.port, server.process.pid, body, bodies, Targets(bare_port, bare.pid))
        if server.process.poll() is not None:
            raise BenchError(f"server died during the run:\n{server.tail()}")
    measured = [p for p in phases if not p.label.startswith("warmup")]
    check(phases)
    return report(measured, request_size=len(body), response_size=len(hit_bytes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT_FILE"), help="run the server (internal)")
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return
    from bench import table

    print(table(run()))


if __name__ == "__main__":
    main()
