"""Faults of the scaled deployment: each dependency (PostgreSQL, Redis, S3) in each failure shape (refused,
accepted and silent), under load (issue 12).

Set-up: one `dyngen serve` on PostgreSQL (a database created for the run), Redis (the machine's, a prefix
of the run's own) and S3 (moto's server), all with their default timeouts, and the dependency under test
behind a `TcpProxy` (tests/support/proxy.py) that refuses (`cut`) or accepts and swallows every byte
(`hang`). Transitions from the built-in text provider (each stores a script artifact).

Each scenario: 8 keys are generated first (the hits); then the fault, and for `--duration` seconds
`--concurrency` keep-alive connections send generate-content requests in a closed loop, cycling miss (a
new playthrough), hit, always-fresh, hit; every node's `timeoutMs` is 3000. Then the dependency is
restored and the load stops.

Figures per scenario:

- within deadline: requests answered 200 within their node's `timeoutMs`, measured at the client from
  the request's first byte to the answer's last (a request with no answer after 20 s counts as missed);
  goal 100 %. The `none` scenario (no fault) is the baseline of the same run: what the machine manages
  at that load without any fault.
- 5xx: answers with a 5xx status; goal 0.
- dead URLs: content URLs answered during the scenario that do not load (200) once the dependency is
  back and the service has recovered; goal 0.
- recovery: seconds from the restore until every dependency answers in `/api/health`, the artifact
  spool is empty and a new miss is `complete` (informational).

`python -m bench.faults --scenario redis:hung --duration 5` runs one scenario, briefly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import BenchError, Row, percentile, table
from bench.cache_tiers import REDIS_URL, delete_redis_prefix, redis_missing, run_async
from bench.stampede import POSTGRES_ASYNC_BASE, _admin_sql

DEPENDENCIES = ("postgres", "redis", "s3")
SHAPES = ("refused", "hung")
SCENARIOS = ("none", *(f"{d}:{s}" for d in DEPENDENCIES for s in SHAPES))
DURATION_S = 15.0
CONCURRENCY = 32
TIMEOUT_MS = 3000
CLIENT_TIMEOUT_S = 20.0
HITS = 8
JSON = {"Content-Type": "application/json"}  # generate-content takes JSON only as JSON (issue 12)


@dataclass
class Seen:
    """What the load saw in one scenario."""

    latencies_s: list[float] = field(default_factory=list)
    within: int = 0
    sent: int = 0
    server_errors: int = 0
    no_answer: int = 0
    fallbacks: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    urls: set[str] = field(default_factory=set)
    late: dict[str, int] = field(default_factory=dict)  # answers past the deadline, by kind of request


def _body(playthrough: str, *, always: bool = False) -> bytes:
    from tests.integration.scaled import transition_request

    body = transition_request(playthrough, timeout_ms=TIMEOUT_MS)
    if always:
        body["strategy"] = "always"
    return json.dumps(body).encode()


async def _post(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], port: int, body: bytes
) -> tuple[int, bytes]:
    reader, writer = streams
    writer.write(
        b"POST /api/generate-content HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (port, len(body), body)
    )
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _load(port: int, *, duration_s: float, concurrency: int, seen: Seen) -> None:
    stop_at = time.monotonic() + duration_s
    tag = uuid.uuid4().hex[:6]

    async def worker(index: int) -> None:
        streams = await asyncio.open_connection("127.0.0.1", port)
        n = 0
        while time.monotonic() < stop_at:
            kind = n % 4
            body = (
                _body(f"miss-{tag}-{index}-{n}")
                if kind == 0
                else _body(f"always-{index}", always=True)
                if kind == 2
                else _body(f"hit-{(index + n) % HITS}")
            )
            n += 1
            seen.sent += 1
            started = time.monotonic()
            try:
                status, data = await asyncio.wait_for(_post(streams, port, body), CLIENT_TIMEOUT_S)
            except (TimeoutError, OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                seen.no_answer += 1
                seen.errors[type(exc).__name__] = seen.errors.get(type(exc).__name__, 0) + 1
                streams[1].close()
                streams = await asyncio.open_connection("127.0.0.1", port)
                continue
            elapsed = time.monotonic() - started
            seen.latencies_s.append(elapsed)
            seen.statuses[status] = seen.statuses.get(status, 0) + 1
            if status >= 500:
                seen.server_errors += 1
            if status != 200:
                continue
            if elapsed <= TIMEOUT_MS / 1000:
                seen.within += 1
            else:
                what = ("miss", "hit", "always", "hit")[kind]
                seen.late[what] = seen.late.get(what, 0) + 1
            answer = json.loads(data)
            if answer.get("fallback", {}).get("applied") and answer["status"] != "complete":
                seen.fallbacks += 1
            if answer["status"] == "complete" and (url := (answer.get("content") or {}).get("url")):
                seen.urls.add(url)
        streams[1].close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))


def _recovered(base: str, playthrough: str) -> bool:
    try:
        report = httpx.get(f"{base}/api/health", timeout=10).json()
        if not all(d["status"] == "ok" for d in report["dependencies"].values()) or report["spooled_artifacts"]:
            return False
        answer = httpx.post(f"{base}/api/generate-content", content=_body(playthrough), headers=JSON, timeout=10).json()
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return bool(answer.get("status") == "complete" and not answer.get("fallback"))


def _dead(base: str, urls: set[str]) -> int:
    """How many of `urls` do not load (200); each one that does not is printed with what it answered."""
    dead = 0
    with httpx.Client(base_url=base, timeout=10) as client:
        for url in urls:
            try:
                status = client.get(url).status_code
            except httpx.HTTPError as exc:
                status, what = 0, type(exc).__name__
            else:
                what = str(status)
            if status != 200:
                dead += 1
                print(f"  dead URL {url}: {what}", flush=True)
    return dead


def scenario(name: str, workdir: Path, *, postgres_url: str, s3: Any, duration_s: float, concurrency: int) -> list[Row]:
    from tests.faults.deployment import fault, scaled_deployment

    dependency, _, shape = name.partition(":")
    with scaled_deployment(
        workdir / name.replace(":", "-"),
        postgres_url=postgres_url,
        redis_url=REDIS_URL,
        s3=s3,
        proxied=dependency if dependency != "none" else "redis",  # type: ignore[arg-type]
        small_timeouts=False,
        extra_env={"DYNGEN_PROVIDERS_BY_TYPE": "{}"},  # text transitions: a video per miss would measure ffmpeg
    ) as (dyngen, proxy):
        port = int(dyngen.base.rsplit(":", 1)[1])
        seen = Seen()
        for k in range(HITS):
            warm = httpx.post(
                f"{dyngen.base}/api/generate-content", content=_body(f"hit-{k}"), headers=JSON, timeout=30
            )
            if warm.status_code != 200 or warm.json()["status"] != "complete":
                raise BenchError(f"warm-up: {warm.status_code} {warm.text[:300]}")
            seen.urls.add(warm.json()["content"]["url"])
        if shape:
            fault(proxy, shape)  # type: ignore[arg-type]
        run_async(_load(port, duration_s=duration_s, concurrency=concurrency, seen=seen))
        proxy.restore()
        restored = time.monotonic()
        recovery_s: float | None = None
        while time.monotonic() - restored < 60:
            if _recovered(dyngen.base, f"recovery-{uuid.uuid4().hex[:8]}"):
                recovery_s = time.monotonic() - restored
                break
            time.sleep(0.1)
        dead = _dead(dyngen.base, seen.urls)
        if os.environ.get("DYNGEN_BENCH_SERVER_LOG"):  # the server's log, to see where late answers went
            Path(os.environ["DYNGEN_BENCH_SERVER_LOG"]).write_text(dyngen.server.output())
        with contextlib.suppress(Exception):
            run_async(delete_redis_prefix(dyngen.redis_prefix))
    ordered = sorted(seen.latencies_s)
    share = seen.within / seen.sent if seen.sent else 0.0
    print(
        f"  {name}: {seen.sent} requests, {share:.1%} within {TIMEOUT_MS} ms, statuses {seen.statuses},"
        f" no answer {seen.no_answer} {seen.errors or ''}, fallbacks {seen.fallbacks},"
        f" late by kind {seen.late or 'none'};"
        f" p50 {percentile(ordered, 50) * 1000:.0f} ms,"
        f" p99 {percentile(ordered, 99) * 1000:.0f} ms, max {max(ordered, default=0) * 1000:.0f} ms;"
        f" {dead} of {len(seen.urls)} URLs dead after recovery;"
        f" recovery {'not within 60 s' if recovery_s is None else f'{recovery_s:.1f} s'}",
        flush=True,
    )
    label = f"{name} {concurrency}x{duration_s:.0f}s"
    return [
        Row(
            "faults",
            f"{label}: answered within timeoutMs",
            f"{share:.1%} of {seen.sent}",
            goal="100%",
            passed=share == 1.0,
        ),
        Row("faults", f"{label}: 5xx", str(seen.server_errors), goal="0", passed=seen.server_errors == 0),
        Row("faults", f"{label}: dead URLs after recovery", f"{dead} of {len(seen.urls)}", goal="0", passed=dead == 0),
        Row("faults", f"{label}: recovery", "none in 60 s" if recovery_s is None else f"{recovery_s:.1f} s"),
    ]


@contextlib.contextmanager
def _services(workdir: Path) -> Iterator[tuple[str, Any]]:
    """A PostgreSQL database and a moto S3 server for the run."""
    from tests.support.servers import MotoS3Server

    reason = run_async(redis_missing())
    if reason is not None:
        raise BenchError(f"Redis: {reason}")
    database = f"bench_faults_{uuid.uuid4().hex[:10]}"
    run_async(_admin_sql(f'CREATE DATABASE "{database}"'))
    s3 = MotoS3Server(workdir)
    try:
        s3.start()
        yield f"{POSTGRES_ASYNC_BASE}/{database}", s3
    finally:
        s3.stop()
        run_async(_admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def run(
    scenarios: tuple[str, ...] = SCENARIOS, *, duration_s: float = DURATION_S, concurrency: int = CONCURRENCY
) -> list[Row]:
    """Every scenario (or those given); prints what each saw and returns the summary rows."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-faults-") as tmp, _services(Path(tmp)) as (pg, s3):
        for name in scenarios:
            rows += scenario(name, Path(tmp), postgres_url=pg, s3=s3, duration_s=duration_s, concurrency=concurrency)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these (repeatable)")
    parser.add_argument("--duration", type=float, default=DURATION_S, help="seconds of load per scenario")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="connections sending requests")
    args = parser.parse_args(argv)
    rows = run(tuple(args.scenario or SCENARIOS), duration_s=args.duration, concurrency=args.concurrency)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
