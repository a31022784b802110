"""Disk growth under a sustained `always` load, with and without the retention sweep.

    .venv/bin/python -m bench.retention_growth [--seconds 60] [--concurrency 8] [--window 10] [--video]

Runs the service in process (SQLite + local artifact folder, the embedded default) behind its HTTP app,
sends `always` text requests from `concurrency` clients for `seconds`, and samples the data directory's
bytes on disk (database file with its WAL, artifact objects). Once with the periodic sweep on (a
`window`-second retention for `always` and failed records, a sweep every window/2 s), once with it off.
Prints bytes per minute over the second half of each run (the steady state, past the window).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx

from dyngen.adapters.storage.pack import FILE_NAME as PACK_FILE
from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.config_sections import RetentionSettings
from dyngen.entrypoints.api.app import create_app


def live_bytes(path: Path) -> int:
    """The bytes of an SQLite file's pages in use (the WAL included); 0 when there is no such file."""
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        pages, free, size = (
            db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size")
        )
    return int((pages - free) * size)


def data_bytes(data_dir: Path) -> tuple[int, int, int]:
    """(database file bytes (main file, the WAL aside), live database bytes (pages in use, the WAL
    included), artifact object bytes: files, and the pages in use of the folder's pack of small objects)."""
    path = data_dir / "dyngen.db"
    files = sum(p.stat().st_size for p in (data_dir / "objects" / "artifacts").rglob("*") if p.is_file())
    return path.stat().st_size, live_bytes(path), files + live_bytes(data_dir / "objects" / PACK_FILE)


def slope_per_min(points: list[tuple[float, int]]) -> float:
    """Least-squares growth of the sampled bytes, per minute."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_b = sum(b for _, b in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 60.0 * sum((t - mean_t) * (b - mean_b) for t, b in points) / var if var else 0.0


async def run(*, sweep: bool, seconds: float, concurrency: int, window: float, video: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dyngen-retention-") as tmp:
        data = Path(tmp) / "data"
        kept = RetentionSettings(
            sweep=sweep, interval_s=window / 2, always_s=window, failed_s=window, object_grace_s=window / 4
        )
        by_type = {"transition": "builtin_video"} if video else {}
        settings = Settings(
            data_dir=data, retention=kept, example_graph=None, log_level="warning", providers_by_type=by_type
        )
        services = await build(settings)
        await services.start()
        app = create_app(settings, services=services)
        requests = 0
        samples: list[tuple[float, int, int, int]] = []
        start = time.monotonic()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:

                async def client(n: int) -> None:
                    nonlocal requests
                    body = {
                        "type": "transition" if video else "environment",
                        "purpose": "gap_fill" if video else "ambient",
                        "node_id": f"ambient-{n % 4}",
                        "from_scene": {"id": "market", "mood": "busy"},
                        "strategy": "always",
                    }
                    if video:
                        body |= {
                            "to_scene": {"id": "docks", "mood": "tense"},
                            "duration": {"min": 2, "max": 4, "target": 3},
                        }
                    while time.monotonic() - start < seconds:
                        response = await http.post("/api/generate-content", json=body)
                        response.raise_for_status()
                        requests += 1

                async def sampler() -> None:
                    while time.monotonic() - start < seconds:
                        samples.append((time.monotonic() - start, *data_bytes(data)))
                        await asyncio.sleep(1.0)

                await asyncio.gather(sampler(), *(client(n) for n in range(concurrency)))
        finally:
            await services.aclose()
        samples.append((time.monotonic() - start, *data_bytes(data)))
    half = [s for s in samples if s[0] >= seconds / 2]
    _, file_end, live_end, objects_end = samples[-1]
    return {
        "requests_per_s": requests / samples[-1][0],
        "file_per_min": slope_per_min([(s[0], s[1]) for s in half]),
        "live_per_min": slope_per_min([(s[0], s[2]) for s in half]),
        "objects_per_min": slope_per_min([(s[0], s[3]) for s in half]),
        "file_end": file_end,
        "live_end": live_end,
        "objects_end": objects_end,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retention_growth", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--video", action="store_true", help="transitions rendered by builtin_video, not text")
    args = parser.parse_args()
    for sweep in (False, True):
        result = asyncio.run(
            run(sweep=sweep, seconds=args.seconds, concurrency=args.concurrency, window=args.window, video=args.video)
        )
        label = "with sweep   " if sweep else "without sweep"
        mb = {k: v / 1e6 for k, v in result.items()}
        print(
            f"{label}: {result['requests_per_s']:.0f} req/s; growth over the second half, MB/min: "
            f"db file {mb['file_per_min']:+.2f}, db live {mb['live_per_min']:+.2f}, artifacts "
            f"{mb['objects_per_min']:+.2f}; at the end, MB: db file {mb['file_end']:.2f}, db live "
            f"{mb['live_end']:.2f}, artifacts {mb['objects_end']:.2f}"
        )


if __name__ == "__main__":
    main()
