"""Provider calls per 1,000 concurrent identical misses (the stampede row of the spec; goal: 1).

What is measured, three ways, each for one uncached `per_playthrough` key (a new playthroughId per run):

1. In one process, embedded (no Redis: in-process single flight): `bootstrap.build(Settings(data_dir=tmp),
   providers={"builtin": <counting provider>})` and 1,000 concurrent `generate_content(...)` calls. The
   counting provider wraps `BuiltinProvider` behind a 50 ms delay (a fast real model) and counts its calls.
2. The same in one process with Redis (`redis_url`, a prefix of the run's own): what `dyngen serve` runs
   in scaled mode (Redis cache tier, Redis lease under the in-process flight).
3. Across processes: 4 `dyngen serve` processes sharing Redis and a PostgreSQL database created for the
   run (and dropped after), each with its own data dir (so its own artifact folder); 1,000 requests with
   `simulate.latency_ms` 300, spread round-robin, over connections all opened before the first request
   is sent (the raw client of `tests/support/rawhttp.py`, so the timer measures dyngen, not TCP
   handshakes or a client's connection pool). Provider calls are counted from the records
   (`GET /api/generations?cache_key=...`): one record per provider run, success or fallback.

Every response must be 200 / `complete` and all 1,000 must carry the same content.

Baselines: the provider's own time (50 ms in-process, the simulated 300 ms across processes) is what one
caller would wait with no crowd at all, so latency / provider time is what sharing one generation among
1,000 callers costs each of them: 1.0x would be free. In-process latencies run from the moment all 1,000
calls were launched; across processes, from when each request was written. For an in-process crowd it
also prints when, after launch, the one provider call ran: the time before it is the crowd's own work
(1,000 request preparations, fast-tier reads, the lease), the time after it is handing the result to
999 joiners. Redis or PostgreSQL missing prints SKIP for the rows that need it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import json
import os
import resource
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench import BenchError, Row, percentile
from bench.cache_tiers import REDIS_URL, delete_redis_prefix, new_redis_prefix, redis_missing, redis_prefix, run_async

if TYPE_CHECKING:
    from tests.support.rawhttp import RawResponse
    from tests.support.servers import Process

    from dyngen.domain.contracts import GenerateContentRequest
    from dyngen.domain.responses import GenerateContentResponse
    from dyngen.ports import ProviderCall, ProviderResult

CROWD = 1000
IN_PROCESS_DELAY_S = 0.050
SIMULATED_MS = 300
PROCESSES = 4
GOAL_CALLS = 1
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_ASYNC_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"


class CountingProvider:
    """`BuiltinProvider` behind a fixed delay, counting how often it is asked to generate."""

    def __init__(self, *, delay_s: float) -> None:
        from dyngen.adapters.providers.builtin import BuiltinProvider

        self._inner = BuiltinProvider()
        self.info = self._inner.info
        self.delay_s = delay_s
        self.calls = 0
        self.last_call: tuple[float, float] = (0.0, 0.0)  # perf_counter() at its start and its end

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return self._inner.estimate_cost(request)

    async def generate(self, call: ProviderCall) -> ProviderResult:
        self.calls += 1
        started = time.perf_counter()
        await asyncio.sleep(self.delay_s)
        result = await self._inner.generate(call)
        self.last_call = (started, time.perf_counter())
        return result


def _crowd_request(tag: str, *, latency_ms: int = 0) -> dict[str, object]:
    from tests.integration.scaled import transition_request

    return transition_request(f"bench-{tag}-{uuid.uuid4().hex[:12]}", latency_ms=latency_ms)


def _check_crowd(contents: list[str], statuses: Counter[str], label: str) -> None:
    if set(statuses) != {"complete"}:
        raise BenchError(f"{label}: expected every response complete, got {dict(statuses)}")
    if len(set(contents)) != 1:
        raise BenchError(f"{label}: the crowd saw {len(set(contents))} different contents, not one")


def _rows(label: str, calls: int, latencies_s: list[float], baseline_ms: float, baseline_name: str) -> list[Row]:
    ordered = sorted(latencies_s)
    p50, p99 = percentile(ordered, 50) * 1000, percentile(ordered, 99) * 1000
    return [
        Row(
            "stampede",
            f"{label}: provider calls / {CROWD} misses",
            str(calls),
            "",
            "",
            f"{GOAL_CALLS}",
            calls == GOAL_CALLS,
        ),
        Row(
            "stampede",
            f"{label}: latency p50",
            f"{p50:.0f} ms",
            f"{baseline_ms:.0f} ms {baseline_name}",
            f"{p50 / baseline_ms:.2f}x",
        ),
        Row(
            "stampede",
            f"{label}: latency p99",
            f"{p99:.0f} ms",
            f"{baseline_ms:.0f} ms {baseline_name}",
            f"{p99 / baseline_ms:.2f}x",
        ),
    ]


def _skipped(label: str, reason: str, detail: str = "") -> list[Row]:
    print(f"  SKIP {label}: {reason}{f' ({detail})' if detail else ''}")
    return [Row("stampede", f"{label}: provider calls / {CROWD} misses", "SKIP", reason, "", f"{GOAL_CALLS}")]


# --- 1 and 2: one process ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What the checks need of one response, taken as it arrives.

    Keeping 1,000 live response models instead grows the heap the cyclic GC walks while the rest of
    the crowd is still being answered: that cost the last caller 50-80 ms here, which is the harness's,
    not dyngen's (a server serialises each response and drops it).
    """

    status: str
    content: str
    served: str
    cache_key: str
    seconds: float

    @classmethod
    def of(cls, response: GenerateContentResponse, seconds: float) -> Answer:
        return cls(
            status=response.status.value,
            content=response.content.model_dump_json() if response.content else "",
            served=f"{'hit' if response.cache.hit else 'miss'}:{response.cache.tier}",
            cache_key=response.cache_key,
            seconds=seconds,
        )


async def in_process(data_dir: Path, *, label: str, prefix: str | None) -> list[Row]:
    """1,000 concurrent `generate_content` calls for one uncached key through services `build` made."""
    from dyngen.bootstrap import build
    from dyngen.bootstrap_ports import generation_ports
    from dyngen.config import Settings
    from dyngen.domain.contracts import GenerateContentRequest
    from dyngen.ports import GenerationFilter
    from dyngen.services.generation.front_door import generate_content
    from dyngen.services.reporting.records import list_generations

    provider = CountingProvider(delay_s=IN_PROCESS_DELAY_S)
    settings = (
        Settings(data_dir=data_dir, redis_url=REDIS_URL, redis_prefix=prefix, providers_by_type={})
        if prefix is not None
        else Settings(data_dir=data_dir, providers_by_type={})
    )  # every type to the counting provider, transitions too (by default they go to builtin_video)
    services = await build(settings, providers={"builtin": provider})
    try:
        # Warm the process on another key first (first-call costs are not what a stampede measures).
        await generate_content(
            request=GenerateContentRequest.model_validate(_crowd_request("warm")), ports=generation_ports(services)
        )
        warm_calls = provider.calls
        request = GenerateContentRequest.model_validate(_crowd_request("crowd"))
        gc.collect()  # start from a clean heap, whatever ran before in this process
        launched = time.perf_counter()

        async def one() -> Answer:
            response = await generate_content(request=request, ports=generation_ports(services))
            return Answer.of(response, time.perf_counter() - launched)

        answers = await asyncio.gather(*(one() for _ in range(CROWD)))
        calls = provider.calls - warm_calls
        key = answers[0].cache_key
        records = await list_generations(
            query=GenerationFilter(cache_key=key, limit=1000), repository=services.repository
        )
    finally:
        await services.aclose()
    _check_crowd([a.content for a in answers], Counter(a.status for a in answers), label)
    if len(records) != calls:
        raise BenchError(f"{label}: the provider counted {calls} calls but {len(records)} generations were recorded")
    served = Counter(a.served for a in answers)
    latencies = [a.seconds for a in answers]
    began, ended = ((t - launched) * 1000 for t in provider.last_call)
    print(
        f"  {label}: {calls} provider call(s) for {CROWD} calls; served as {dict(served)}; after launch, the"
        f" provider ran from {began:.0f} to {ended:.0f} ms, the last caller had its answer at"
        f" {max(latencies) * 1000:.0f} ms"
    )
    return _rows(label, calls, latencies, IN_PROCESS_DELAY_S * 1000, "provider")


async def one_process(workdir: Path) -> list[Row]:
    rows = await in_process(workdir / "embedded", label="1 process, embedded", prefix=None)
    label = "1 process, Redis"
    reason = await redis_missing()
    if reason is not None:
        return rows + _skipped(label, reason)
    async with redis_prefix() as prefix:
        rows += await in_process(workdir / "redis", label=label, prefix=prefix)
    return rows


# --- 3: across processes ----------------------------------------------------------------------------------


async def _admin_sql(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def dyngen_processes(workdir: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """`PROCESSES` `dyngen serve` processes, started side by side and stopped after; yields their base URLs."""
    from tests.support.servers import dyngen_server

    started: list[Process] = []
    bases: list[str] = []
    failures: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(PROCESSES) as pool:
        futures = [
            pool.submit(dyngen_server, workdir, {**env, "DYNGEN_DATA_DIR": str(workdir / f"data{i}")}, name=f"api{i}")
            for i in range(PROCESSES)
        ]
        for future in futures:
            try:
                proc, base = future.result()
            except (AssertionError, OSError) as exc:
                failures.append(str(exc)[-1500:])
            else:
                started.append(proc)
                bases.append(base)
    try:
        if failures:
            raise BenchError(f"{len(failures)} dyngen serve process(es) did not start:\n" + "\n".join(failures))
        yield bases
    finally:
        for proc in started:
            proc.stop()


def _raise_open_files_limit(needed: int) -> None:
    """The crowd holds 1,000 sockets at once; lift the soft limit towards the hard one when it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard)
        )


async def _fire(bases: list[str], body: dict[str, object]) -> list[RawResponse]:
    """Open all connections, then send every request at once; returns the responses."""
    from tests.support import rawhttp

    urls = [f"{bases[i % len(bases)]}/api/generate-content" for i in range(CROWD)]
    streams = await asyncio.gather(*(rawhttp.connect(url) for url in urls))
    try:
        return await asyncio.gather(*(rawhttp.post_json(s, url, body) for s, url in zip(streams, urls, strict=True)))
    finally:
        for _, writer in streams:
            writer.close()


def _migrate(env: dict[str, str]) -> None:
    from tests.support.servers import VENV_BIN

    done = subprocess.run(
        [str(VENV_BIN / "dyngen"), "migrate"], env={**os.environ, **env}, capture_output=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"dyngen migrate failed:\n{done.stderr.decode(errors='replace')[-2000:]}")


def _crowd_over_http(workdir: Path, env: dict[str, str], label: str) -> list[Row]:
    _migrate(env)
    began = time.monotonic()
    with dyngen_processes(workdir, env) as bases, httpx.Client(timeout=30) as client:
        print(f"  {PROCESSES} dyngen serve processes up in {time.monotonic() - began:.1f} s")
        for base in bases:  # first-request costs (lazy imports, pools) are not what a stampede measures
            warm = client.post(f"{base}/api/generate-content", json=_crowd_request("warm"))
            if warm.status_code != 200 or warm.json().get("status") != "complete":
                raise BenchError(f"warm-up on {base}: {warm.status_code} {warm.text[:300]}")
        _raise_open_files_limit(CROWD + 256)
        results = run_async(_fire(bases, _crowd_request("crowd", latency_ms=SIMULATED_MS)))
        failed = [r for r in results if r.status != 200]
        if failed:
            raise BenchError(
                f"{label}: {len(failed)} non-200 responses, e.g. {failed[0].status} {failed[0].body[:300]!r}"
            )
        payloads = [r.json() for r in results]
        _check_crowd(
            [json.dumps(p.get("content"), sort_keys=True) for p in payloads],
            Counter(str(p.get("status")) for p in payloads),
            label,
        )
        keys = {p["cache_key"] for p in payloads}
        if len(keys) != 1:
            raise BenchError(f"{label}: the responses name {len(keys)} cache keys")
        listed = client.get(f"{bases[0]}/api/generations", params={"cache_key": keys.pop(), "limit": 1000})
        if listed.status_code != 200:
            raise BenchError(f"GET /api/generations: {listed.status_code} {listed.text[:300]}")
        calls = int(listed.json()["count"])
    served = Counter(f"{'hit' if p['cache']['hit'] else 'miss'}:{p['cache'].get('tier')}" for p in payloads)
    latencies = [r.seconds for r in results]
    print(
        f"  {label}: {calls} generation record(s) for {CROWD} requests; served as {dict(served)};"
        f" slowest {max(latencies) * 1000:.0f} ms"
    )
    return _rows(label, calls, latencies, SIMULATED_MS, "simulated")


def across_processes(workdir: Path) -> list[Row]:
    """1,000 identical misses spread over `PROCESSES` servers sharing Redis and a PostgreSQL database."""
    label = f"{PROCESSES} processes, Redis+PG"
    reason = run_async(redis_missing())
    if reason is not None:
        return _skipped(label, reason)
    database = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        run_async(_admin_sql(f'CREATE DATABASE "{database}"'))
    except Exception as exc:  # asyncpg's errors, OSError, a timeout: all mean "no usable PostgreSQL here"
        return _skipped(label, "no PostgreSQL database", f"creating one failed: {type(exc).__name__}: {exc}")
    prefix = new_redis_prefix()
    env = {
        "DYNGEN_DATA_DIR": str(workdir / "migrate"),
        "DYNGEN_DATABASE_URL": f"{POSTGRES_ASYNC_BASE}/{database}",
        "DYNGEN_REDIS_URL": REDIS_URL,
        "DYNGEN_REDIS_PREFIX": prefix,
        "DYNGEN_DEV_TOOLS": "true",  # `simulate` is a dev tool
        # One secret for every process, as a deployment sets it: each signs the artifact URLs it answers
        # with, and the crowd must see one content (each data dir would otherwise make a secret of its own).
        "DYNGEN_URL_SECRET": uuid.uuid4().hex,
    }
    try:
        return _crowd_over_http(workdir, env, label)
    finally:
        run_async(delete_redis_prefix(prefix))
        run_async(_admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def run() -> list[Row]:
    """All three crowds; prints what each saw and returns the summary rows."""
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-stampede-") as tmp:
        workdir = Path(tmp)
        rows = run_async(one_process(workdir))
        rows += across_processes(workdir)
    return rows


if __name__ == "__main__":
    from bench import table

    print(table(run()))
