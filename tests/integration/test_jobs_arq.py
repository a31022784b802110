"""Async jobs in a scaled deployment: `dyngen serve` enqueues on Redis, `dyngen worker` processes run the
jobs through arq, job state lives in PostgreSQL. A worker killed with SIGKILL mid-job must not leave its
job "processing"; a cancel sent to the API must reach the worker that runs the job."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.scaled import transition_request
from tests.support.cli_zygote import run_dyngen
from tests.support.databases import empty_postgres
from tests.support.openai_server import OpenAIServer
from tests.support.servers import VENV_BIN, Process, dyngen_server
from tests.support.waiting import HANG_GUARD_S, wait_until

pytestmark = pytest.mark.services

ASYNC = {"Prefer": "respond-async"}
TERMINAL = ("complete", "failed")


@pytest.fixture
def env(tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str) -> dict[str, str]:
    """A scaled deployment without S3 (artifacts in a local folder): PostgreSQL, Redis, a short lease."""
    asyncio.run(empty_postgres(postgres_url))  # no job of an earlier test in this session is queued here
    values = {
        "DYNGEN_DATA_DIR": str(tmp_path / "data"),
        "DYNGEN_DATABASE_URL": postgres_url,
        "DYNGEN_REDIS_URL": redis_url,
        "DYNGEN_REDIS_PREFIX": redis_prefix,
        "DYNGEN_JOB_LEASE_S": "1.5",
        "DYNGEN_JOB_RETRY_BASE_S": "0.05",
        "DYNGEN_LOG_LEVEL": "info",
    }
    migrated = run_dyngen(["migrate"], env={**os.environ, **values})
    assert migrated.returncode == 0, migrated.stderr
    return values


@pytest.fixture
def vendor() -> Iterator[OpenAIServer]:
    """An OpenAI-protocol server that holds every call until the test releases it (`script.release()`):
    a job still running whenever the test acts on it, however busy the machine."""
    server = OpenAIServer()
    server.script.hang()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def held_env(env: dict[str, str], vendor: OpenAIServer) -> dict[str, str]:
    """The deployment with `vendor` as its provider."""
    return {**env, "DYNGEN_DEFAULT_PROVIDER": "openai", "DYNGEN_OPENAI_BASE_URL": vendor.base_url}


def held_request(playthrough: str) -> dict[str, object]:
    """A transition whose node timeout lies past the hang guard: only the test ends its held run."""
    return transition_request(playthrough, timeout_ms=120_000)


@dataclass
class Deployment:
    """One `dyngen serve` and the `dyngen worker` processes a test starts; all stopped at the end."""

    tmp: Path
    env: dict[str, str]
    base: str = ""
    processes: list[Process] = field(default_factory=list)

    def worker(self) -> Process:
        n = len(self.processes)
        proc = Process([str(VENV_BIN / "dyngen"), "worker"], env=self.env, log=self.tmp / f"worker-{n}.log")
        self.processes.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.args[1:]} ---\n{p.output()[-2000:]}" for p in self.processes)


@contextmanager
def deployment(tmp: Path, env: dict[str, str]) -> Iterator[Deployment]:
    deployed = Deployment(tmp, env)
    try:
        api, deployed.base = dyngen_server(tmp, env, name="api")
        deployed.processes.append(api)
        yield deployed
    except BaseException:
        print(deployed.logs())
        raise
    finally:
        for proc in deployed.processes:
            proc.stop()


def submit(base: str, body: dict[str, Any]) -> str:
    response = httpx.post(f"{base}/api/generate-content", json=body, headers=ASYNC, timeout=10)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def get_job(base: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/generation-jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def wait_for(base: str, job_id: str, *, seen: list[str] | None = None) -> dict[str, Any]:
    """Poll until the job is complete or failed (every status seen goes into `seen`)."""

    def ended() -> dict[str, Any] | None:
        job = get_job(base, job_id)
        if seen is not None and (not seen or seen[-1] != job["status"]):
            seen.append(job["status"])
        return job if job["status"] in TERMINAL else None

    return wait_until(ended, what=f"job {job_id} to end (seen: {seen})")


def events(
    base: str, job_id: str, *, until: tuple[str, ...] = ("completed", "failed"), times: int = 1
) -> list[tuple[str, dict[str, Any]]]:
    """The job's Server-Sent Events from the API, read until the `times`-th event of `until` (or the end)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    guard = time.monotonic() + HANG_GUARD_S
    fields: dict[str, str] = {}
    url = f"{base}/api/generation-jobs/{job_id}/events"
    with httpx.stream("GET", url, timeout=httpx.Timeout(10)) as response:
        assert response.status_code == 200
        for line in response.iter_lines():  # a keep-alive comment comes at least every second
            assert time.monotonic() < guard, f"no {until} event within the hang guard: {seen}"
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "event" in fields:
                seen.append((fields["event"], json.loads(fields["data"])))
                if sum(name in until for name, _ in seen) == times:
                    break
            fields = {}
    return seen


def names(stream: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in stream]


def test_jobs_run_on_workers_and_each_runs_once(tmp_path: Path, env: dict[str, str]) -> None:
    # A lease no heartbeat misses on a busy machine: a lapsed one rightly hands its job on (the tests below),
    # which is not what this test is about.
    env = {**env, "DYNGEN_JOB_LEASE_S": "60"}
    with deployment(tmp_path, env) as dep:
        first = submit(dep.base, transition_request("pt-before-workers"))  # waits in Redis for a worker
        dep.worker()
        dep.worker()
        started = time.monotonic()
        job_ids = [first] + [submit(dep.base, transition_request(f"pt-{n}", latency_ms=300)) for n in range(6)]

        streams = [events(dep.base, job_id) for job_id in job_ids]
        jobs = [get_job(dep.base, job_id) for job_id in job_ids]
        print(f"\n7 jobs on 2 workers: all ended {time.monotonic() - started:.2f}s after the workers started")

    assert [j["status"] for j in jobs] == ["complete"] * 7
    assert all(j["content"]["beats"] for j in jobs)
    for stream in streams:
        assert names(stream)[:2] == ["queued", "started"]
        assert names(stream)[-1] == "completed"
        assert names(stream).count("started") == 1


def test_cancel_of_a_running_job_reaches_its_worker(tmp_path: Path, held_env: dict[str, str]) -> None:
    with deployment(tmp_path, held_env) as dep:
        dep.worker()
        job_id = submit(dep.base, held_request(f"pt-cancel-{uuid.uuid4().hex[:6]}"))
        events(dep.base, job_id, until=("started",))

        started = time.monotonic()
        response = httpx.post(f"{dep.base}/api/generation-jobs/{job_id}/cancel", timeout=10)
        job = wait_for(dep.base, job_id)
        elapsed = time.monotonic() - started
        stream = events(dep.base, job_id)

    # Logged, not asserted: GEN_CANCELLED (the provider holds its answer until the test ends) proves the
    # cancel arrived.
    print(f"\ncancel of a job running on a worker: failed after {elapsed * 1000:.0f} ms")
    assert response.status_code == 200
    assert job["status"] == "failed"
    assert job["error"]["code"] == "GEN_CANCELLED"
    assert names(stream)[-1] == "failed"
    assert "completed" not in names(stream)


def kill_the_worker_mid_job(dep: Deployment) -> tuple[str, float]:
    """Run a job whose provider holds its answer on the only worker and SIGKILL that worker once the job
    started; returns the job id and the moment of the kill."""
    victim = dep.worker()
    job_id = submit(dep.base, held_request(f"pt-kill-{uuid.uuid4().hex[:6]}"))
    events(dep.base, job_id, until=("started",))
    assert get_job(dep.base, job_id)["status"] == "processing"
    victim.kill()
    return job_id, time.monotonic()


def test_a_job_whose_worker_was_killed_is_not_left_processing(tmp_path: Path, held_env: dict[str, str]) -> None:
    with deployment(tmp_path, held_env) as dep:
        job_id, killed = kill_the_worker_mid_job(dep)

        # The API's reaper finds the lapsed lease (1.5 s) and hands the job back.
        def left_processing() -> str | None:
            status: str = get_job(dep.base, job_id)["status"]
            return None if status == "processing" else status

        status = wait_until(left_processing, what="the job of a killed worker to leave 'processing'")
        handed_back = time.monotonic() - killed
        stream = events(dep.base, job_id, until=("queued",), times=2)

    print(f"\nSIGKILLed worker: its job left 'processing' {handed_back:.2f}s after the kill (now {status})")
    assert status in ("queued", "complete", "failed")
    requeued = [data for name, data in stream if name == "queued"][1:]
    assert requeued, names(stream)
    assert "runner stopped" in requeued[0]["reason"]


def test_a_job_whose_worker_was_killed_completes_on_another_worker(
    tmp_path: Path, held_env: dict[str, str], vendor: OpenAIServer
) -> None:
    with deployment(tmp_path, held_env) as dep:
        job_id, killed = kill_the_worker_mid_job(dep)
        vendor.script.release()  # the next run is answered
        dep.worker()

        seen: list[str] = []
        job = wait_for(dep.base, job_id, seen=seen)
        ended = time.monotonic() - killed
        stream = names(events(dep.base, job_id))

    print(f"\nSIGKILLed worker: its job ended {job['status']} {ended:.2f}s after the kill; statuses {seen}")
    assert job["status"] == "complete" or job["error"]["code"]
    assert stream.count("started") == 2
    assert stream[-1] in ("completed", "failed")


def test_a_worker_stopped_with_sigterm_mid_job_hands_the_job_to_another_worker(
    tmp_path: Path, held_env: dict[str, str], vendor: OpenAIServer
) -> None:
    with deployment(tmp_path, held_env) as dep:
        leaving = dep.worker()
        job_id = submit(dep.base, held_request(f"pt-term-{uuid.uuid4().hex[:6]}"))
        events(dep.base, job_id, until=("started",))
        stopped = time.monotonic()
        leaving.stop()
        vendor.script.release()  # the next run is answered
        dep.worker()

        job = wait_for(dep.base, job_id)
        ended = time.monotonic() - stopped
        stream = names(events(dep.base, job_id))

    print(f"\nSIGTERMed worker: its job completed on another worker {ended:.2f}s after the stop")
    assert job["status"] == "complete"
    assert stream.count("started") == 2
    assert stream[-1] == "completed"


def test_a_worker_stopped_with_sigterm_exits_cleanly(tmp_path: Path, env: dict[str, str]) -> None:
    worker = Process([str(VENV_BIN / "dyngen"), "worker"], env=env, log=tmp_path / "worker.log")
    try:

        def started() -> bool:
            assert worker.alive(), worker.output()
            return "Starting worker" in worker.output()

        wait_until(started, what="the worker to start")
    finally:
        worker.stop(timeout=HANG_GUARD_S)  # how long it takes to stop is no part of "cleanly"

    assert worker.proc.returncode == 0, worker.output()[-1500:]
    assert "Traceback" not in worker.output()
