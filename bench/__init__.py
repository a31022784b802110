"""dyngen's benchmarks, run by `make bench` (never by `make test`).

The machines are shared and noisy, so no figure stands alone: each benchmark measures a baseline in
the same run, under the same conditions, and reports its figure as a ratio or a difference against it,
next to the raw numbers. A goal that is missed prints MISS; only a benchmark that could not measure
(a crash, a wrong response) makes `python -m bench` exit non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


class BenchError(RuntimeError):
    """The benchmark could not measure what it claims to (server did not start, wrong responses, ...)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary table.

    Attributes:
        bench: Which benchmark produced it.
        figure: What was measured.
        value: The measured figure, formatted with its unit.
        baseline: The in-run baseline it is compared with, formatted, or "" when it has none.
        ratio: The comparison (ratio or difference), formatted, or "".
        goal: The goal, in words, or "" for an informational row.
        passed: Whether the goal was met; None for an informational row.
    """

    bench: str
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.passed is None else ("PASS" if self.passed else "MISS")


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating between neighbours."""
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def table(rows: Sequence[Row]) -> str:
    """The rows as an aligned plain-text table."""
    header = ("bench", "figure", "value", "baseline", "ratio/delta", "goal", "")
    cells = [header, *((r.bench, r.figure, r.value, r.baseline, r.ratio, r.goal, r.verdict) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)
