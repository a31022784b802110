"""dyngen side by side with LiteLLM's proxy, both in front of the same loopback OpenAI-compatible upstream.

What is measured, in one run, every figure of both gateways next to each other:

- misses (every request new: dyngen a new playthrough of a `per_playthrough` node through its `openai`
  provider, LiteLLM a new message): the latency each adds over calling the upstream directly (p50 minus
  the upstream's own p50) at concurrency 1 and 32, the p99, and the server CPU per request;
- hits (the same request again: dyngen's memory tier, LiteLLM's local in-memory cache): requests/s at
  concurrency 32 and 64, the p99, and the server CPU per request.

Issue 18's goals: dyngen adds <= 0.5x LiteLLM's latency and CPU per miss, and has the better p99 at every
concurrency.

How: the upstream (`bench/upstream.py`, 50 ms of simulated model time per call), dyngen (`bench.http_cache_hits`'
server, `DYNGEN_OPENAI_BASE_URL` at the upstream) and LiteLLM (`litellm --config`, one worker, in a venv
of its own) each run in their own process; the load comes from `bench.loadgen`. Each figure's targets run
in ABBA order (upstream, dyngen, LiteLLM, then the reverse), rounds pooled. Server CPU is each gateway
process's own (from /proc).

LiteLLM is never a dependency of dyngen: the first run creates `.venv-bench-litellm` beside the repo's
`.venv` and installs `litellm[proxy]` into it with pip; when that fails (no network, no wheel for this
Python), the benchmark prints why and reports itself skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import BenchError, Row
from bench.http_cache_hits import ROOT, _call, pooled, running_server, stop
from bench.loadgen import PhaseResult
from bench.upstream import MODEL

VENV = ROOT / ".venv-bench-litellm"
DELAY_MS = 50
ROUNDS = 2  # x2 targets each way: ABBA
SECONDS = 2.0
WARMUP_SECONDS = 1.0
MISS_CONCURRENCY = (1, 32)
HIT_CONCURRENCY = (32, 64)
GOAL_SHARE = 0.5
GENERATE = "/api/generate-content"
CHAT = "/v1/chat/completions"


def dyngen_body(playthrough: str) -> str:
    return json.dumps(
        {
            "type": "transition",
            "node_id": "cafe_to_rooftops",
            "provider": "openai",
            "from_scene": {"id": "cafe", "mood": "romantic", "summary": "Mara kisses Theo.", "location": "cafe"},
            "to_scene": {"id": "roof", "mood": "intense", "summary": "A call sends her running.", "location": "roof"},
            "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium", "transitionType": "gradual"},
            "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring"]},
            "strategy": "per_playthrough",
            "fallback": {"mode": "placeholder", "timeoutMs": 30000},
            "player_context": {"playthroughId": playthrough, "playerId": "bench"},
        },
        separators=(",", ":"),
    )


def chat_body(text: str) -> str:
    return json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": f"Write the transition for {text}."}]},
        separators=(",", ":"),
    )


# --- the LiteLLM venv and processes -----------------------------------------------------------------


def litellm_bin() -> Path | None:
    """The `litellm` command of the bench venv, installing it on first use; None (reason printed) when
    it cannot be installed."""
    command = VENV / "bin" / "litellm"
    if command.exists():
        return command
    print(f"  installing litellm[proxy] into {VENV.name} (bench only, never a dyngen dependency)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
        subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "litellm[proxy]"],
            check=True,
            capture_output=True,
            timeout=1200,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        print(f"  SKIPPED: could not install litellm[proxy]: {exc}\n{detail.decode(errors='replace')[-800:]}")
        return None
    return command if command.exists() else None


def _wait_port(port_file: Path | None, port: int | None, process: subprocess.Popen[bytes], log: Path, path: str) -> int:
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"a server did not start:\n{log.read_text(errors='replace')[-3000:]}")
        if port is None and port_file is not None and port_file.exists():
            port = int(port_file.read_text())
        if port is not None:
            try:
                status, _ = _call(port, "GET", path)
            except OSError:
                status = 0
            if status == 200:
                return port
        time.sleep(0.2)


@contextmanager
def running(
    command: list[str], workdir: Path, name: str, *, port: int | None = None, health: str
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A server process (`{port_file}` in `command` names where it writes its port, unless `port` is
    given), once `health` answers 200; stopped on exit."""
    port_file = workdir / f"{name}.port"
    log = workdir / f"{name}.log"
    args = [a.replace("{port_file}", str(port_file)) for a in command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"},
        )
    try:
        yield process, _wait_port(None if port else port_file, port, process, log, health)
    finally:
        stop(process)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _litellm_config(workdir: Path, upstream: int) -> Path:
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{upstream}/v1\n"
        "      api_key: bench\n"
        "litellm_settings:\n"
        "  cache: true\n"
        "  cache_params:\n"
        "    type: local\n"
        "  set_verbose: false\n"
        "  telemetry: false\n"
        # No keys on either side: dyngen's server runs with none (auth `auto` and no key), so LiteLLM's
        # proxy is started without a master key too, which it allows only when told to.
        "general_settings:\n"
        "  dangerously_permit_weak_or_unset_master_key: true\n",
        encoding="utf-8",
    )
    return config


def _check_litellm_caches(port: int) -> None:
    """LiteLLM's hits must be hits: its second answer to the hit body names its cache key.

    Raises:
        BenchError: when it does not.
    """
    import http.client

    for attempt in range(2):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"}
            connection.request("POST", CHAT, body=chat_body("the hit").encode(), headers=headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise BenchError(f"LiteLLM answered {response.status}")
        if attempt and response.getheader("x-litellm-cache-key") is None:
            raise BenchError("LiteLLM's second answer to the same request was not from its cache")


# --- load --------------------------------------------------------------------------------------------


def _plan(targets: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = []
    serial = 0

    def unique(kind: str, count: int) -> list[str]:
        nonlocal serial
        serial += 1
        if kind == "dyngen":
            return [dyngen_body(f"pt-{serial}-{i}") for i in range(count)]
        return [chat_body(f"player {serial}-{i}") for i in range(count)]

    def phase(label: str, target: str, connections: int, seconds: float, *, miss: bool) -> dict[str, Any]:
        port, pid = targets[target]
        # Enough new bodies for the upstream-limited rate (one call per DELAY_MS per connection), twice over.
        count = int(connections * seconds * 1000 / DELAY_MS * 2) + 50
        dyngen = target == "dyngen"
        planned: dict[str, Any] = {
            "label": label,
            "path": GENERATE if dyngen else CHAT,
            "body": dyngen_body("pt-hit") if dyngen else chat_body("the hit"),
            "connections": connections,
            "duration_s": seconds,
            "marker": ('"hit":false' if miss else '"hit":true') if dyngen else '"choices"',
            "port": port,
            "server_pid": pid,
        }
        if miss:
            planned["bodies"] = unique("dyngen" if dyngen else "chat", count)
        return planned

    order = ("upstream", "dyngen", "litellm")
    for c in MISS_CONCURRENCY:
        phases += [phase(f"warmup miss {t} c{c}", t, c, WARMUP_SECONDS, miss=True) for t in order]
        for r in range(ROUNDS * 2):
            ts = order if r % 2 == 0 else order[::-1]
            phases += [phase(f"miss {t} c{c} r{r + 1}", t, c, SECONDS, miss=True) for t in ts]
    hits = ("dyngen", "litellm")
    for c in HIT_CONCURRENCY:
        phases += [phase(f"warmup hit {t} c{c}", t, c, WARMUP_SECONDS, miss=False) for t in hits]
        for r in range(ROUNDS * 2):
            ts = hits if r % 2 == 0 else hits[::-1]
            phases += [phase(f"hit {t} c{c} r{r + 1}", t, c, SECONDS, miss=False) for t in ts]
    return phases


def _drive(phases: list[dict[str, Any]]) -> list[PhaseResult]:
    plan = {"host": "127.0.0.1", "port": phases[0]["port"], "phases": phases}
    budget = sum(p["duration_s"] for p in phases) + 120
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


def _check(phases: list[PhaseResult]) -> None:
    for p in phases:
        bad = {s: n for s, n in p.statuses.items() if s != "200"}
        if bad or p.marker_misses or p.requests == 0:
            raise BenchError(
                f"{p.label}: statuses {p.statuses}, {p.marker_misses} unexpected answers; sample: {p.sample_body[:300]}"
            )


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} us"


def report(phases: list[PhaseResult]) -> list[Row]:
    def figures(kind: str, target: str, c: int) -> Any:
        return pooled([p for p in phases if p.label.startswith(f"{kind} {target} c{c} ")])

    rows: list[Row] = []
    for c in MISS_CONCURRENCY:
        up, dy, li = (figures("miss", t, c) for t in ("upstream", "dyngen", "litellm"))
        for name, f in (("upstream", up), ("dyngen", dy), ("litellm", li)):
            print(
                f"  miss c{c:<3} {name:<8} {f.rps:7.0f} req/s  p50 {f.p50_ms:7.2f} ms  p99 {f.p99_ms:7.2f} ms"
                f"  server {_us(f.server_us)}/req"
            )
        added_dy, added_li = dy.p50_ms - up.p50_ms, li.p50_ms - up.p50_ms
        share = added_dy / added_li if added_li > 0 else float("inf")
        rows.append(
            Row(
                "litellm",
                f"miss added p50 over upstream, c{c}",
                f"{added_dy:+.2f} ms",
                f"LiteLLM {added_li:+.2f} ms",
                f"{share:.2f}x",
                f"<= {GOAL_SHARE}x LiteLLM",
                share <= GOAL_SHARE,
            )
        )
        rows.append(
            Row(
                "litellm",
                f"miss p99, c{c}",
                f"{dy.p99_ms:.1f} ms",
                f"LiteLLM {li.p99_ms:.1f} ms",
                f"{dy.p99_ms / li.p99_ms:.2f}x",
                "< LiteLLM",
                dy.p99_ms < li.p99_ms,
            )
        )
        if dy.server_us is not None and li.server_us is not None:
            cpu = dy.server_us / li.server_us
            rows.append(
                Row(
                    "litellm",
                    f"miss server CPU/req, c{c}",
                    f"{dy.server_us:.0f} us",
                    f"LiteLLM {li.server_us:.0f} us",
                    f"{cpu:.2f}x",
                    f"<= {GOAL_SHARE}x LiteLLM",
                    cpu <= GOAL_SHARE,
                )
            )
        rows.append(Row("litellm", f"miss throughput, c{c}", f"{dy.rps:.0f} req/s", f"LiteLLM {li.rps:.0f} req/s"))
    for c in HIT_CONCURRENCY:
        dy, li = figures("hit", "dyngen", c), figures("hit", "litellm", c)
        for name, f in (("dyngen", dy), ("litellm", li)):
            print(
                f"  hit  c{c:<3} {name:<8} {f.rps:7.0f} req/s  p50 {f.p50_ms:7.2f} ms  p99 {f.p99_ms:7.2f} ms"
                f"  server {_us(f.server_us)}/req"
            )
        rows.append(
            Row(
                "litellm",
                f"hit throughput, c{c}",
                f"{dy.rps:.0f} req/s",
                f"LiteLLM {li.rps:.0f} req/s",
                f"{dy.rps / li.rps:.1f}x",
            )
        )
        rows.append(
            Row(
                "litellm",
                f"hit p99, c{c}",
                f"{dy.p99_ms:.2f} ms",
                f"LiteLLM {li.p99_ms:.2f} ms",
                f"{dy.p99_ms / li.p99_ms:.2f}x",
                "< LiteLLM",
                dy.p99_ms < li.p99_ms,
            )
        )
        if dy.server_us is not None and li.server_us is not None:
            rows.append(
                Row(
                    "litellm",
                    f"hit server CPU/req, c{c}",
                    f"{dy.server_us:.0f} us",
                    f"LiteLLM {li.server_us:.0f} us",
                    f"{dy.server_us / li.server_us:.2f}x",
                )
            )
    return rows


def run() -> list[Row]:
    """Install LiteLLM into its venv when needed, start the upstream and both gateways, drive, report."""
    command = litellm_bin()
    if command is None:
        return [Row("litellm", "side by side with LiteLLM", "skipped", goal="litellm[proxy] installed")]
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-gateways-") as tmp:
        workdir = Path(tmp)
        upstream_cmd = [sys.executable, "-m", "bench.upstream", "{port_file}", str(DELAY_MS)]
        with running(upstream_cmd, workdir, "upstream", health="/v1/models") as (upstream, up_port):
            settings = {
                "DYNGEN_OPENAI_BASE_URL": f"http://127.0.0.1:{up_port}/v1",
                "DYNGEN_OPENAI_MODEL": MODEL,
                "DYNGEN_OPENAI_API_KEY": "bench",
            }
            lite_port = _free_port()
            lite_cmd = [str(command), "--config", str(_litellm_config(workdir, up_port)), "--port", str(lite_port)]
            with (
                running_server(workdir, settings) as server,
                running(lite_cmd, workdir, "litellm", port=lite_port, health="/health/liveliness") as (lite, _),
            ):
                status, first = _call(server.port, "POST", GENERATE, dyngen_body("pt-hit").encode())
                if status != 200 or b'"provider":"openai"' not in first or b'"status":"complete"' not in first:
                    raise BenchError(f"dyngen's first call did not complete through openai: {first[:400]!r}")
                _check_litellm_caches(lite_port)
                targets = {
                    "upstream": (up_port, upstream.pid),
                    "dyngen": (server.port, server.process.pid),
                    "litellm": (lite_port, lite.pid),
                }
                phases = _drive(_plan(targets))
    _check(phases)
    return report([p for p in phases if not p.label.startswith("warmup")])
