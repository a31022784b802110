"""Cache misses through the real HTTP server: server CPU per generation, the tail at concurrency 32, and
the share of an upstream's limit dyngen reaches.

What is measured, each request a new generation (the load generator puts a number unique to the request
into the body's playthroughId, `strategy: per_playthrough`, so every request is a full miss: validate,
single flight, provider, artifacts, the generation's record, every cache tier filled):

1. `embedded`: the embedded default (SQLite, local object store, memory + database cache tiers) with the
   built-in text provider. Server CPU (from /proc) per generation at concurrency 32, p50, p99 and p99/p50.
2. `scaled`: the same with PostgreSQL and Redis (skipped when either is not running): budgets through
   Redis, records in PostgreSQL, cache in Redis and the folder tier.
3. `upstream`: the embedded default with the `openai` provider against an OpenAI-compatible fake upstream
   in a process of its own (`bench.fake_upstream`) that answers every call after 50 ms; a price per token
   is set, so every miss also settles its cost in the budget ledger. The upstream-limited rate is
   concurrency / latency = 640/s; the same load generator against the upstream directly (`direct`) is
   the in-run baseline of what this machine reaches through loopback at all.

Rounds alternate in ABBA order (embedded, scaled, scaled, embedded, ...; direct, upstream, upstream,
direct, ...), one load-generator process per round, and every figure is the median over its rounds.
Goals (issue 18): <= 1.5 ms server CPU per miss, p99 <= 3x p50 at concurrency 32, >= 0.9x the
upstream-limited rate. Warm-up efficiency (the same goal through `services/warmup`) is `python -m bench
warmup`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import BenchError, Row, percentile
from bench.cache_tiers import delete_redis_prefix
from bench.http_cache_hits import Server, _call
from bench.loadgen import PhaseResult

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/generate-content"
DIRECT_PATH = "/v1/chat/completions"
MARKER = '"status":"complete"'
PLACEHOLDER = "@N@"
CONCURRENCY = 32
ROUNDS = 4
SECONDS = 3.0
WARMUP_SECONDS = 1.5
LATENCY_MS = 50.0
UPSTREAM_LIMIT = CONCURRENCY / (LATENCY_MS / 1000)
GOAL_CPU_MS = 1.5
GOAL_TAIL = 3.0
GOAL_SHARE = 0.9
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_ASYNC_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"


def request_body(*, provider: str = "builtin") -> str:
    body: dict[str, Any] = {
        "type": "transition",
        "node_id": "bench_miss",
        "from_scene": {"id": "rooftop", "mood": "tense", "location": "rooftop_garden"},
        "to_scene": {"id": "night_train", "mood": "melancholic", "location": "train_station"},
        "style": {"moodFrom": "tense", "moodTo": "melancholic", "pacing": "slow"},
        "duration": {"min": 20, "max": 45, "target": 30},
        "constraints": {"rating": "PG-13", "avoidElements": ["kiss"]},
        "strategy": "per_playthrough",
        "fallback": {"mode": "placeholder", "timeoutMs": 10000},
        "version": 1,
        "player_context": {"playthroughId": f"bench-miss-{PLACEHOLDER}", "playerId": "player-1"},
    }
    body["provider"] = provider  # the text provider: a transition is routed to builtin_video by default
    return json.dumps(body, separators=(",", ":"))


# --- processes ---------------------------------------------------------------------------------------------


def serve(data_dir: Path, port_file: Path) -> None:
    """dyngen's app (settings from the environment) on a free loopback port, written to `port_file`."""
    import uvicorn

    from dyngen.config import Settings
    from dyngen.entrypoints.api.app import create_app
    from dyngen.entrypoints.api.http_server import CoalescingHttpToolsProtocol

    app = create_app(Settings(data_dir=data_dir))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(sock.getsockname()[1]))
    partial.rename(port_file)
    config = uvicorn.Config(  # the protocol `dyngen serve` runs
        app, loop="uvloop", http=CoalescingHttpToolsProtocol, access_log=False, log_level="warning"
    )
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def dyngen_server(workdir: Path, env: dict[str, str]) -> Iterator[Server]:
    """A server process with `env` over the current environment, up once /api/health answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, port_file, log = workdir / "data", workdir / "port", workdir / "server.log"
    full = {**os.environ, "DYNGEN_AUTH": "off", "DYNGEN_EXAMPLE_GRAPH": str(workdir / "none.json"), **env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.miss", "--serve", str(data_dir), str(port_file)],
            cwd=ROOT,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchError(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise BenchError(f"server did not start within 60 s:\n{log.read_text(errors='replace')}")
            if port_file.exists():
                port = int(port_file.read_text())
                try:
                    status, _ = _call(port, "GET", "/api/health")
                except OSError:
                    status = 0
                if status:
                    break
            time.sleep(0.05)
        yield Server(process, port, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fake_upstream() -> Iterator[tuple[int, int]]:
    """The 50 ms upstream process; yields its port and pid."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.fake_upstream", str(port), str(LATENCY_MS)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise BenchError("the fake upstream did not start") from None
                time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database on the machine's PostgreSQL (None when it does not answer), dropped afterwards."""
    try:
        import asyncpg
    except ImportError:
        yield None
        return
    name = f"dyngen_bench_miss_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError):
        yield None
        return
    try:
        yield f"{POSTGRES_ASYNC_BASE}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _forget_prefix(prefix: str) -> None:
    """Delete a run's Redis keys; a failure to is reported, not raised over the run's own outcome."""
    try:
        asyncio.run(delete_redis_prefix(prefix))
    except Exception as exc:  # the run's figures (or its error) matter more than its leftovers
        print(f"  could not delete the Redis keys under {prefix}: {exc}")


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.3).close()
    except OSError:
        return False
    return True


def load(port: int, pid: int | None, label: str, body: str, *, path: str = PATH, marker: str = MARKER) -> PhaseResult:
    """One round: a load-generator process keeping `CONCURRENCY` connections busy for `SECONDS`."""
    phases = [
        {"label": label, "path": path, "body": body, "connections": CONCURRENCY, "duration_s": SECONDS}
        | {"marker": marker, "vary": PLACEHOLDER}
    ]
    plan = {"host": "127.0.0.1", "port": port, "server_pid": pid, "phases": phases}
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        cwd=ROOT,
        input=json.dumps(plan).encode(),
        capture_output=True,
        timeout=SECONDS + 90,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"load generator failed ({done.returncode}):\n{done.stderr.decode(errors='replace')}")
    [result] = [PhaseResult(**p) for p in json.loads(done.stdout)["phases"]]
    bad = {s: n for s, n in result.statuses.items() if s != "200"}
    if bad or result.marker_misses or not result.requests:
        raise BenchError(
            f"{label}: statuses {result.statuses}, {result.marker_misses} responses without {marker};"
            f" sample: {result.sample_body[-400:]}"
        )
    return result


# --- figures -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float | None  # server CPU per request

    @classmethod
    def of(cls, phase: PhaseResult) -> Round:
        ordered = sorted(v / 1000 for v in phase.latencies_us)
        us = phase.server_us_per_request
        return cls(phase.rps, percentile(ordered, 50), percentile(ordered, 99), None if us is None else us / 1000)

    def line(self, label: str) -> str:
        cpu = "n/a" if self.cpu_ms is None else f"{self.cpu_ms:.2f} ms"
        return (
            f"  {label:<14} {self.rps:6.0f} req/s  p50 {self.p50_ms:7.1f} ms  p99 {self.p99_ms:7.1f} ms"
            f"  (p99/p50 {self.p99_ms / self.p50_ms:4.1f})  server CPU {cpu}/req"
        )


@dataclass(frozen=True, slots=True)
class Medians:
    rps: float
    p50_ms: float
    p99_ms: float
    tail: float
    cpu_ms: float | None

    @classmethod
    def of(cls, rounds: list[Round]) -> Medians:
        cpus = [r.cpu_ms for r in rounds if r.cpu_ms is not None]
        return cls(
            statistics.median(r.rps for r in rounds),
            statistics.median(r.p50_ms for r in rounds),
            statistics.median(r.p99_ms for r in rounds),
            statistics.median(r.p99_ms / r.p50_ms for r in rounds),
            statistics.median(cpus) if len(cpus) == len(rounds) else None,
        )


def _abba(a: str, b: str, rounds: int) -> list[str]:
    order: list[str] = []
    for r in range(rounds):
        order += [a, b] if r % 2 == 0 else [b, a]
    return order


def _warm(port: int, body: str) -> None:
    """One miss answered complete, or the benchmark is broken."""
    status, answer = _call(port, "POST", PATH, body.replace(PLACEHOLDER, f"first-{uuid.uuid4().hex}").encode())
    if status != 200 or json.loads(answer).get("status") != "complete":
        raise BenchError(f"the first miss answered {status}: {answer[:300]!r}")


def _builtin_rows(found: dict[str, list[Round]]) -> list[Row]:
    rows: list[Row] = []
    for name, rounds in found.items():
        m = Medians.of(rounds)
        print(
            f"  {name} medians: {m.rps:.0f} req/s  p50 {m.p50_ms:.1f} ms  p99 {m.p99_ms:.1f} ms"
            f"  p99/p50 {m.tail:.1f}  CPU {m.cpu_ms if m.cpu_ms is None else round(m.cpu_ms, 2)} ms/miss"
        )
        if m.cpu_ms is not None:
            rows.append(
                Row(
                    "miss",
                    f"{name}: server CPU per miss, builtin, c={CONCURRENCY}",
                    f"{m.cpu_ms:.2f} ms",
                    f"{GOAL_CPU_MS} ms goal",
                    f"{m.cpu_ms / GOAL_CPU_MS:.2f}x",
                    f"<= {GOAL_CPU_MS} ms",
                    m.cpu_ms <= GOAL_CPU_MS,
                )
            )
        rows.append(
            Row(
                "miss",
                f"{name}: p99 / p50, c={CONCURRENCY}",
                f"{m.p99_ms:.0f} ms",
                f"p50 {m.p50_ms:.0f} ms",
                f"{m.tail:.1f}x",
                f"<= {GOAL_TAIL:g}x",
                m.tail <= GOAL_TAIL,
            )
        )
        rows.append(Row("miss", f"{name}: misses/s, c={CONCURRENCY}", f"{m.rps:.0f}/s"))
    return rows


def run_builtin(tmp: Path, *, rounds: int = ROUNDS) -> list[Row]:
    """Embedded and (when PostgreSQL and Redis run) scaled, builtin text, rounds in ABBA order."""
    body = request_body()
    with ExitStack() as stack:
        servers: dict[str, Server] = {"embedded": stack.enter_context(dyngen_server(tmp / "embedded", {}))}
        database = stack.enter_context(postgres_database())
        if database is not None and _redis_up():
            env = {"DYNGEN_DATABASE_URL": database, "DYNGEN_REDIS_URL": REDIS_URL}
            env["DYNGEN_REDIS_PREFIX"] = prefix = f"dyngen-bench-miss-{uuid.uuid4().hex[:8]}"
            stack.callback(_forget_prefix, prefix)  # once its server stopped: ~100k keys
            subprocess.run(
                [str(Path(sys.executable).parent / "dyngen"), "migrate"],
                cwd=ROOT,
                env={**os.environ, **env, "DYNGEN_DATA_DIR": str(tmp / "scaled" / "data")},
                check=True,
                capture_output=True,
                timeout=60,
            )
            servers["scaled"] = stack.enter_context(dyngen_server(tmp / "scaled", env))
        else:
            print("  scaled: skipped (PostgreSQL or Redis is not running on 127.0.0.1)")
        broken: list[Row] = []
        for name, server in list(servers.items()):
            _warm(server.port, body)
            try:
                load(server.port, server.process.pid, f"{name} warm-up", body)
            except BenchError as exc:
                if name == "embedded":
                    raise BenchError(f"{exc}\n{name} server log:\n{server.tail()}") from exc
                # Scaled misses that stall (seen before issue 18's group commit) are a finding, not a crash.
                print(f"  {name}: misses at c={CONCURRENCY} did not all complete: {str(exc)[-300:]}")
                broken.append(Row("miss", f"{name}: misses at c={CONCURRENCY}", "BROKEN", "", "", "complete", False))
                del servers[name]
        found: dict[str, list[Round]] = {name: [] for name in servers}
        names = list(servers)
        order = _abba(names[0], names[-1], rounds) if len(names) > 1 else names * rounds
        for name in order:
            server = servers[name]
            label = f"{name} r{len(found[name]) + 1}"
            try:
                measured = Round.of(load(server.port, server.process.pid, label, body))
            except BenchError as exc:
                raise BenchError(f"{exc}\n{name} server log:\n{server.tail()}") from exc
            found[name].append(measured)
            print(measured.line(label), flush=True)
    return _builtin_rows(found) + broken


def run_upstream(tmp: Path, *, rounds: int = ROUNDS) -> list[Row]:
    """The openai provider against the 50 ms upstream, against the upstream directly, ABBA."""
    with fake_upstream() as (upstream_port, upstream_pid):
        env = {
            "DYNGEN_OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
            "DYNGEN_OPENAI_MODEL": "bench-model",
            "DYNGEN_OPENAI_PRICE_PER_1K_TOKENS": "0.01",
        }
        body = request_body(provider="openai")
        direct_body = json.dumps({"model": "bench-model", "messages": [{"role": "user", "content": PLACEHOLDER}]})
        with dyngen_server(tmp / "upstream", env) as server:
            _warm(server.port, body)
            load(server.port, server.process.pid, "warm-up", body)
            found: dict[str, list[Round]] = {"direct": [], "upstream": []}
            for i, name in enumerate(_abba("direct", "upstream", rounds)):
                label = f"{name} r{i // 2 + 1}"
                if name == "direct":
                    phase = load(
                        upstream_port, upstream_pid, label, direct_body, path="/v1/chat/completions", marker=""
                    )
                else:
                    phase = load(server.port, server.process.pid, label, body)
                found[name].append(Round.of(phase))
                print(found[name][-1].line(label), flush=True)
    direct, dyngen = Medians.of(found["direct"]), Medians.of(found["upstream"])
    share = dyngen.rps / UPSTREAM_LIMIT
    print(
        f"  upstream-limited rate {UPSTREAM_LIMIT:.0f}/s; direct medians {direct.rps:.0f}/s p50 {direct.p50_ms:.1f} ms;"
        f" through dyngen {dyngen.rps:.0f}/s p50 {dyngen.p50_ms:.1f} ms p99 {dyngen.p99_ms:.1f} ms"
        f" CPU {dyngen.cpu_ms} ms/miss"
    )
    rows = [
        Row(
            "miss",
            f"{LATENCY_MS:.0f} ms upstream, c={CONCURRENCY}: misses/s",
            f"{dyngen.rps:.0f}/s",
            f"{UPSTREAM_LIMIT:.0f}/s limit",
            f"{share:.2f}x",
            f">= {GOAL_SHARE}x",
            share >= GOAL_SHARE,
        ),
        Row(
            "miss",
            "same, vs the upstream called directly",
            f"{dyngen.rps:.0f}/s",
            f"{direct.rps:.0f}/s",
            f"{dyngen.rps / direct.rps:.2f}x",
        ),
        Row(
            "miss",
            f"{LATENCY_MS:.0f} ms upstream: p99 / p50",
            f"{dyngen.p99_ms:.0f} ms",
            f"p50 {dyngen.p50_ms:.0f} ms",
            f"{dyngen.tail:.1f}x",
            f"<= {GOAL_TAIL:g}x",
            dyngen.tail <= GOAL_TAIL,
        ),
    ]
    if dyngen.cpu_ms is not None:
        rows.append(Row("miss", f"{LATENCY_MS:.0f} ms upstream: server CPU per miss", f"{dyngen.cpu_ms:.2f} ms"))
    return rows


def run(*, parts: tuple[str, ...] = ("builtin", "upstream"), rounds: int = ROUNDS) -> list[Row]:
    runs = {"builtin": run_builtin, "upstream": run_upstream}
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-miss-") as tmp:
        return [row for part in parts for row in runs[part](Path(tmp), rounds=rounds)]


def main() -> None:
    """`python -m bench.miss [--only builtin|upstream] [--rounds N]`: a shorter run while working on the
    miss path (`python -m bench miss` runs the whole of it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT_FILE"), help="run the server (internal)")
    parser.add_argument("--only", choices=("builtin", "upstream"), help="only the built-in's rounds or the upstream's")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of each figure (default {ROUNDS})")
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return
    from bench import table

    print(table(run(parts=(args.only,) if args.only else ("builtin", "upstream"), rounds=args.rounds)))


if __name__ == "__main__":
    main()
