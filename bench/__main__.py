"""`python -m bench [NAME ...]`: run the benchmarks in order, then print one summary table.

It also writes bench/report.md: a chart per figure against its baseline and the previous run
(`bench/report.py`).

Exit status 0 when every benchmark measured (missed goals print MISS and still exit 0); 1 when a
benchmark broke (it could not start, crashed, or saw wrong responses), after running the others.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable

from bench import (
    Row,
    cache_tiers,
    gateways,
    http_cache_hits,
    jobs,
    llm_overhead,
    machine,
    miss,
    provider_speed,
    stampede,
    table,
    video_first_frame,
    video_render,
)
from bench import budgets as budgets_bench
from bench import by_reference as by_reference_bench
from bench import faults as faults_bench
from bench import report as report_file
from bench import warmup as warmup_bench

BENCHMARKS: dict[str, tuple[str, Callable[[], list[Row]]]] = {
    "machine": ("this machine's Python speed now, to read the absolute figures by", machine.run),
    "http": ("cache hits through the HTTP server vs a separate bare FastAPI app", http_cache_hits.run),
    "provider": ("built-in provider and service miss path vs payload serialisation", provider_speed.run),
    "miss": (
        "misses over HTTP: server CPU per generation and p99/p50 at concurrency 32 (embedded, scaled), and the"
        " share of a 50 ms upstream's limit",
        miss.run,
    ),
    "tiers": ("hit latency at each cache tier vs the raw client operation on the same backend", cache_tiers.run),
    "stampede": ("provider calls per 1,000 concurrent identical misses, in one process and across 4", stampede.run),
    "jobs": ("async job overhead, zero-latency provider: embedded and arq workers vs a bare arq no-op job", jobs.run),
    "video": ("builtin_video render speed vs real time, and vs encoding solid frames", video_render.run),
    "firstframe": (
        "time to first frame of a 30 s transition over HTTP, streamed while it renders vs answered once whole",
        video_first_frame.run,
    ),
    "warmup": ("1,000 transitions warmed via a 50 ms provider at concurrency 32 vs the ideal rate", warmup_bench.run),
    "llm": ("the openai provider's own overhead vs a raw HTTP call to the same local server", llm_overhead.run),
    "byref": (
        "by-reference cache hits vs the flat request's hits for the same node and player",
        by_reference_bench.run,
    ),
    "budgets": ("a budget reservation + commit and a rate-limit check vs a bare Redis round trip", budgets_bench.run),
    "litellm": ("misses and hits side by side with LiteLLM's proxy on the same loopback upstream", gateways.run),
    "faults": ("PostgreSQL, Redis, S3 refused and silent for 15 s at concurrency 32 vs no fault", faults_bench.run),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args(argv)
    names: list[str] = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    rows: list[Row] = []
    broken: list[str] = []
    started = time.monotonic()
    for name in names:
        title, run = BENCHMARKS[name]
        print(f"== {name}: {title}", flush=True)
        began = time.monotonic()
        try:
            rows.extend(run())
        except Exception:
            traceback.print_exc()
            broken.append(name)
            print(f"== {name}: BROKEN after {time.monotonic() - began:.1f} s", flush=True)
        else:
            print(f"== {name}: done in {time.monotonic() - began:.1f} s", flush=True)
    print()
    print(f"Summary ({time.monotonic() - started:.0f} s; ratios are against baselines measured in this run)")
    if rows:
        print(table(rows))
    if rows:
        print(f"Report with a chart per figure: {report_file.write(rows)}")
    missed = [r for r in rows if r.passed is False]
    if broken:
        print(f"BROKEN: {', '.join(broken)}")
    print(f"{sum(r.passed is True for r in rows)} goals met, {len(missed)} missed, {len(broken)} benchmarks broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
