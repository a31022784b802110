"""Instructions per cache miss, counted by callgrind: the figure to compare two versions of the miss path by,
on machines too noisy to tell a 5 % change in CPU time (the same code read 1.2 to 1.9 ms of CPU per miss in
one hour here). Not part of `make bench` (its figures are ratios against in-run baselines); needs valgrind.

`python -m bench.instructions [--only embedded|scaled|upstream] [--misses N] [--runs R]` counts the
instructions of N misses (default 200, after 100 not counted) through `generate_content` at c=32, in one
process on uvloop with the built-in text provider, each miss a new playthrough's key: the service path of
`bench.miss` without HTTP. `scaled` adds a PostgreSQL database of the run's own and Redis (skipped when either
is not running), with a single-flight lease long enough that no extension falls inside a flight slowed down
by valgrind. `upstream` (not run unless named) is the embedded default with the `openai` provider against
`bench.miss`'s 50 ms fake upstream in a process of its own (not counted), a price per token set: the
provider's HTTP client, its prompt and its answer's parsing, and the budget settlements.

Counts are repeatable to ~0.3 % for the same code when nothing waits on time. The scaled path reads two
levels ~9 % apart from run to run (the same code: how the group-commit writer's batches fall under
valgrind's slowdown), so compare runs of the same level: `--runs 3` or more. callgrind counts every thread
of the process (the SQLite writer's too), not Redis's or PostgreSQL's own work.

To compare with another checkout, run it from there (`PYTHONPATH=<checkout>/src:<checkout>`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench import BenchError
from bench.cache_tiers import delete_redis_prefix
from bench.miss import REDIS_URL, ROOT, _redis_up, fake_upstream, postgres_database, request_body

CONCURRENCY = 32
WARM = 100
PROVIDER_VARIABLE = "DYNGEN_BENCH_PROVIDER"  # the counted process's provider: `upstream` sets "openai"


async def _misses(count: int, *, database_url: str | None, provider: str = "builtin") -> None:
    """`WARM` misses, then `count` misses with callgrind collecting (this process runs under valgrind)."""
    from dyngen.bootstrap import build
    from dyngen.bootstrap_ports import generation_ports
    from dyngen.config import Settings
    from dyngen.domain.contracts import GenerateContentRequest
    from dyngen.services.generation.front_door import generate_content

    body = request_body(provider=provider)
    scaled = {}
    if database_url is not None:
        prefix = f"dyngen-bench-instr-{uuid.uuid4().hex[:8]}"
        scaled = {"database_url": database_url, "redis_url": REDIS_URL, "redis_prefix": prefix}
        scaled["flight_lease_ms"] = 600_000
    with tempfile.TemporaryDirectory() as folder:
        services = await build(Settings(data_dir=Path(folder), **scaled))
        try:
            ports = generation_ports(services)

            async def run(requests: list[GenerateContentRequest]) -> None:
                queue = iter(requests)

                async def caller() -> None:
                    for request in queue:
                        response = await generate_content(request=request, ports=ports)
                        if response.error is not None:
                            raise BenchError(f"a miss failed: {response.error}")

                await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))

            def requests(label: str, n: int) -> list[GenerateContentRequest]:
                bodies = (body.replace("@N@", f"{label}-{i}") for i in range(n))
                return [GenerateContentRequest.model_validate_json(b) for b in bodies]

            await run(requests("warm", WARM))
            counted = requests("counted", count)
            _collect("on")
            await run(counted)
            _collect("off")
        finally:
            try:
                await services.aclose()
            finally:
                if database_url is not None:
                    await delete_redis_prefix(prefix)


def _collect(state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True, timeout=60)


def _count(mode: str, misses: int, database_url: str | None, env: dict[str, str] | None = None) -> float:
    """Instructions per miss of one run under callgrind (`env` over this process's environment)."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={Path(folder) / 'callgrind.out'}",
            sys.executable,
            "-m",
            "bench.instructions",
            "--harness",
            str(misses),
            *([database_url] if database_url else []),
        ]
        environment = {**os.environ, **(env or {})}
        done = subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1800, check=False
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise BenchError(f"{mode}: callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1)) / misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", choices=("embedded", "scaled", "upstream"))
    parser.add_argument("--misses", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--harness", nargs="+", help=argparse.SUPPRESS)  # internal: the counted process
    args = parser.parse_args()
    if args.harness:
        database_url = args.harness[1] if len(args.harness) > 1 else None
        import uvloop  # the server's loop (`dyngen serve`, `bench.miss`)

        provider = os.environ.get(PROVIDER_VARIABLE, "builtin")
        uvloop.run(_misses(int(args.harness[0]), database_url=database_url, provider=provider))
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    for mode in [args.only] if args.only else ["embedded", "scaled"]:
        with ExitStack() as stack:
            database_url = None
            env: dict[str, str] = {}
            if mode == "upstream":
                port, _pid = stack.enter_context(fake_upstream())
                env = {
                    "DYNGEN_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                    "DYNGEN_OPENAI_MODEL": "bench-model",
                    "DYNGEN_OPENAI_PRICE_PER_1K_TOKENS": "0.01",
                    PROVIDER_VARIABLE: "openai",
                }
            if mode == "scaled":
                database_url = stack.enter_context(postgres_database())
                if database_url is None or not _redis_up():
                    print("scaled: skipped (PostgreSQL or Redis is not running on 127.0.0.1)")
                    continue
                env = {**os.environ, "DYNGEN_DATABASE_URL": database_url, "DYNGEN_DATA_DIR": tempfile.gettempdir()}
                migrate = [str(Path(sys.executable).parent / "dyngen"), "migrate"]
                subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=120)
            counts = [_count(mode, args.misses, database_url, env) for _ in range(args.runs)]
        runs = ", ".join(f"{c / 1e6:.2f} M" for c in counts)
        print(f"{mode}: {min(counts) / 1e6:.2f} M instructions per miss (runs: {runs})", flush=True)


if __name__ == "__main__":
    main()
