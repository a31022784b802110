"""`bench/report.md`: every figure of a `make bench` run as a chart, against its baseline and the previous run.

A figure read as a number in a table is easy to miss; a bar that grew is not. For each summary row whose
value is a number (`Row.value`, e.g. `5300 req/s`, `161 us`, `1.8 ms`), one SVG chart under
`bench/report/` shows three bars in the row's unit: the baseline measured in the same run (when it has
the same unit), this run, and the previous run of the same figure (from `bench/last_run.json`). The
report's table says, per row, the change against the previous run, and whether the goal was met.

`bench/last_run.json` keeps the newest value of every figure, by benchmark and figure name; running a
subset (`python -m bench http`) updates only its own figures, so each figure's previous run stays the
one before. The three outputs are made by this machine's runs and are not committed (.gitignore): figures
from another machine are not comparable.

matplotlib comes with the dev extras; without it the report is written without charts and says why.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import Row

BENCH_DIR = Path(__file__).resolve().parent
REPORT = BENCH_DIR / "report.md"
CHARTS = BENCH_DIR / "report"
LAST_RUN = BENCH_DIR / "last_run.json"

# An optional label ("LiteLLM 12 ms", "raw HTTP 1.2 ms"), the number, then its unit.
_NUMBER = re.compile(r"^\s*(?:([A-Za-z][A-Za-z ]*?)\s+)?([-+]?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Reading:
    """A formatted figure read back as a number and its unit (`"5,300 req/s"` -> 5300.0, `"req/s"`)."""

    number: float
    unit: str
    label: str = ""


def reading(text: str) -> Reading | None:
    """The number a row's formatted value starts with, and the unit after it; None when it has none."""
    found = _NUMBER.match(text)
    if found is None:
        return None
    label, number, unit = found.group(1) or "", found.group(2), found.group(3)
    # Only a plain unit: "3 of 4 (75%)" or "1.2 ms (p99 3 ms)" say more than one number.
    if any(c in unit for c in "()=;,") or len(unit) > 16:
        return None
    return Reading(float(number.replace(",", "")), unit, label)


def slug(row: Row) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{row.bench} {row.figure}".lower()).strip("-")[:80]


def _key(row: Row) -> str:
    return f"{row.bench} | {row.figure}"


def load_last(path: Path = LAST_RUN) -> dict[str, Any]:
    """The previous run's figures by `bench | figure` (empty when there is none or it is unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    figures = data.get("figures") if isinstance(data, dict) else None
    return figures if isinstance(figures, dict) else {}


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _chart(row: Row, now: Reading, base: Reading | None, previous: Reading | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    bars: list[tuple[str, float, str]] = []
    if base is not None:
        bars.append((f"{base.label or 'baseline'} (this run)", base.number, "#9e9e9e"))
    bars.append(("this run", now.number, "#1f77b4" if row.passed is not False else "#d62728"))
    if previous is not None:
        bars.append(("previous run", previous.number, "#aec7e8"))
    figure, axes = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(bars)))
    labels = [b[0] for b in bars]
    values = [b[1] for b in bars]
    axes.barh(labels, values, color=[b[2] for b in bars])
    axes.invert_yaxis()
    for y, value in enumerate(values):
        axes.text(value, y, f" {value:g}", va="center", fontsize=8)
    verdict = f" [{row.verdict}: {row.goal}]" if row.verdict else ""
    axes.set_title(f"{row.bench}: {row.figure}{verdict}", fontsize=9)
    axes.set_xlabel(now.unit)
    low, high = min(0.0, *values) * 1.25, max(0.0, *values) * 1.25  # a delta may be negative
    axes.set_xlim(low, high if high > low else low + 1)
    figure.tight_layout()
    figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)


def _change(now: Reading, previous: Reading | None) -> str:
    if previous is None or previous.unit != now.unit:
        return "first run"
    if previous.number == 0:
        return f"was {previous.number:g}"
    return f"{(now.number - previous.number) / abs(previous.number):+.0%} (was {previous.number:g})"


def write(rows: Sequence[Row], *, last_run: Path = LAST_RUN, report: Path = REPORT, charts: Path = CHARTS) -> Path:
    """Write the report and its charts for `rows`, then record them as the previous run. Returns the report."""
    previous = load_last(last_run)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        can_draw = False
        print("  report: matplotlib is not installed (pip install -e '.[dev]'): the report has no charts")
    else:
        can_draw = True
        charts.mkdir(parents=True, exist_ok=True)
        for old in charts.glob("*.svg"):  # the report shows this run's figures only
            old.unlink()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    lines = [
        "# Benchmark report",
        "",
        f"`make bench` at {stamp}, commit {_commit()}. Every ratio is against a baseline measured in the same run;",
        "each chart shows that baseline, this run and the previous run of the same figure on this machine",
        "(`bench/last_run.json`). A red bar missed its goal.",
        "",
        "| bench | figure | value | baseline | ratio/delta | vs previous run | goal | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    pictures: list[str] = []
    recorded = dict(previous)
    for row in rows:
        now = reading(row.value)
        before_data = previous.get(_key(row))
        before = reading(before_data["value"]) if isinstance(before_data, dict) and "value" in before_data else None
        change = "" if now is None else _change(now, before)
        cells = (row.bench, row.figure, row.value, row.baseline, row.ratio, change, row.goal, row.verdict)
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        recorded[_key(row)] = {"value": row.value, "baseline": row.baseline, "ratio": row.ratio, "at": stamp}
        if now is None or not can_draw:
            continue
        base = reading(row.baseline)
        if base is not None and base.unit != now.unit:
            base = None
        if before is not None and before.unit != now.unit:
            before = None
        path = charts / f"{slug(row)}.svg"
        _chart(row, now, base, before, path)
        pictures.append(f"![{row.bench}: {row.figure}]({path.relative_to(report.parent).as_posix()})")
    lines += ["", "## Charts", "", *(f"{p}\n" for p in pictures)]
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    last_run.write_text(json.dumps({"figures": recorded}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return report
