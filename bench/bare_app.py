"""The baseline of the cache-hit benchmarks: a separate, minimal FastAPI app returning fixed bytes.

What a user would write instead of dyngen for a fixed answer: one `POST` route that receives the body and
returns the bytes of a cached generate-content response, in a process of its own, served exactly like
dyngen's (uvicorn, one worker, httptools, uvloop when installed, no access log). `python -m bench.bare_app
BODY_FILE PORT_FILE` serves it; `running_bare` starts it and waits until it answers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# At module level: FastAPI resolves the route's string annotations in this module's globals.
from fastapi import FastAPI, Request, Response

from bench import BenchError

BARE_PATH = "/bare"


def serve(body_file: Path, port_file: Path) -> None:
    """Serve the bare app on a free loopback port, written to `port_file` once bound."""
    from bench.http_cache_hits import serve_app

    body = body_file.read_bytes()
    app = FastAPI()

    @app.post(BARE_PATH)
    async def bare(request: Request) -> Response:
        await request.body()  # receive the body like any POST route; it is not parsed
        return Response(content=body, media_type="application/json")

    serve_app(app, port_file)


@contextmanager
def running_bare(workdir: Path, body: bytes) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The bare app's process and port, stopped on exit."""
    from bench.http_cache_hits import ROOT, call, stop

    body_file, port_file, log = workdir / "bare-body", workdir / "bare-port", workdir / "bare.log"
    body_file.write_bytes(body)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_app", str(body_file), str(port_file)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the bare app did not start:\n{log.read_text(errors='replace')}")
            if port_file.exists():
                port = int(port_file.read_text())
                try:
                    status, echoed = call(port, "POST", BARE_PATH, b"{}")
                except OSError:
                    status, echoed = 0, b""
                if status:
                    if status != 200 or echoed != body:
                        raise BenchError(f"the bare app answers {status}, not the hit's bytes")
                    break
            time.sleep(0.05)
        yield process, port
    finally:
        stop(process)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]))
