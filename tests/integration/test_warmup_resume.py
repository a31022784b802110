"""`dyngen warm` killed mid-run (SIGKILL: nothing is flushed on the way out) resumes from its stored
progress: the transitions it had finished are not generated again, and the final report is complete.

The provider is the `openai` provider against a loopback OpenAI-protocol server that counts the calls,
answers the first `ANSWERED` of them and holds the rest until the test releases it, so the run is killed
mid-way on any machine; the database is the embedded default (a SQLite file in the data dir).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import Request, Response

from tests.support.examples import transition_chain
from tests.support.openai_server import Script, app_for
from tests.support.procfs import run_or_dump
from tests.support.servers import VENV_BIN, free_port, port_open
from tests.support.waiting import wait_until

ANSWERED = 10
TRANSITIONS = 40
CONCURRENCY = 4


class HoldingOpenAIServer:
    """The scripted OpenAI-protocol server: it answers `ANSWERED` calls, then holds every later one until
    `release()`; a held call is then refused unanswered (the run that made it was killed meanwhile), and
    calls after the release are answered. `script.requests` counts the answered calls."""

    def __init__(self) -> None:
        self.script = Script()
        self.port = free_port()
        self.received = 0
        self.released = threading.Event()
        app = app_for(self.script)

        @app.middleware("http")
        async def holding(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            self.received += 1
            if self.received > ANSWERED and not self.released.is_set():
                await asyncio.to_thread(self.released.wait)
                return Response(status_code=503)
            return await call_next(request)

        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: port_open("127.0.0.1", self.port), what="the OpenAI test server")

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self._server.should_exit = True
        self._thread.join(5)


@pytest.fixture
def provider() -> Iterator[HoldingOpenAIServer]:
    server = HoldingOpenAIServer()
    server.start()
    yield server
    server.stop()


def graph() -> dict[str, Any]:
    return transition_chain(TRANSITIONS, "long_story")


def stored(database: Path, sql: str) -> list[tuple[Any, ...]]:
    if not database.exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def test_a_killed_warm_up_resumes_without_generating_finished_transitions_again(
    tmp_path: Path, provider: HoldingOpenAIServer
) -> None:
    data = tmp_path / "data"
    database = data / "dyngen.db"
    (tmp_path / "graph.json").write_text(json.dumps(graph()), encoding="utf-8")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DYNGEN_")}
    env = {
        **inherited,
        "DYNGEN_DATA_DIR": str(data),
        "DYNGEN_DEFAULT_PROVIDER": "openai",
        "DYNGEN_PROVIDERS_BY_TYPE": "{}",
        "DYNGEN_OPENAI_BASE_URL": f"http://127.0.0.1:{provider.port}/v1",
        "DYNGEN_JOB_LEASE_S": "1",  # the killed run's lease runs out soon after it dies
        "NO_COLOR": "1",
    }
    dyngen = str(VENV_BIN / "dyngen")
    first = subprocess.Popen(
        [dyngen, "warm", "graph.json", "--concurrency", str(CONCURRENCY), "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        done_sql = "SELECT count(*) FROM warmup_items WHERE status != 'pending'"

        def answered_done() -> bool:
            assert first.poll() is None, f"dyngen warm ended early: {first.stderr.read() if first.stderr else ''!r}"
            return (stored(database, done_sql) or [(0,)])[0][0] >= ANSWERED

        wait_until(answered_done, what=f"the warm-up to store {ANSWERED} finished transitions")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        provider.release()  # for the resumed run
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
        if first.stderr:
            first.stderr.close()

    ((warmup_id, status),) = stored(database, "SELECT id, status FROM warmups")
    assert status == "running", "killed mid-run: nobody recorded an end"
    done_before = stored(database, done_sql)[0][0]
    assert ANSWERED <= done_before < TRANSITIONS
    calls_before = len(provider.script.requests)

    resumed = run_or_dump([dyngen, "warm", "--resume", warmup_id, "--json"], cwd=tmp_path, env=env, timeout_s=60)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert (report["warmup_id"], report["status"], report["total"], report["pending"], report["failed"]) == (
        warmup_id,
        "complete",
        TRANSITIONS,
        0,
        {},
    )
    assert report["generated"] + report["cached"] == TRANSITIONS
    # Stored progress was used: each transition has one outcome event (the resumed run attempted only the
    # items still pending), and only the calls in flight at the kill (at most one per worker) ran twice.
    items = stored(database, f"SELECT count(*) FROM warmup_events WHERE warmup_id = '{warmup_id}' AND type = 'item'")
    assert items[0][0] == TRANSITIONS
    assert report["cached"] <= CONCURRENCY
    assert len(provider.script.requests) - calls_before <= TRANSITIONS - done_before
    assert len(provider.script.requests) <= TRANSITIONS + CONCURRENCY
    generated_per_node = stored(
        database, "SELECT node_id, count(*) FROM generations WHERE status = 'complete' GROUP BY node_id"
    )
    # A kill between filling the cache and writing the generation record leaves content without a record
    # (the service's order, at most one per worker); such an item is a cache hit on resume.
    assert len(generated_per_node) >= TRANSITIONS - CONCURRENCY
    assert max(n for _, n in generated_per_node) == 1, "no finished transition was generated again"
