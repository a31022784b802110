"""The ephemeral embedded mode (`DYNGEN_DATABASE_URL=memory://`), as a user runs it: the API stores graphs,
generations, artifacts and jobs in memory and writes nothing to the data dir."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from dyngen.config import MEMORY_URL, Settings
from tests.e2e.test_graphs import EXAMPLE
from tests.e2e.test_jobs import body, submit, wait_for
from tests.support.cli_zygote import run_dyngen


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=MEMORY_URL, retry_backoff_ms=1, job_retry_base_s=0.02)


async def test_graphs_generations_artifacts_and_jobs_work_and_nothing_is_written(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await client.post("/api/graphs", json=EXAMPLE)).status_code == 201
    assert (await client.put(f"/api/graphs/{EXAMPLE['id']}", json=EXAMPLE)).json()["version"] == 2
    assert [g["version"] for g in (await client.get("/api/graphs")).json()] == [2]

    made = await client.post("/api/generate-content", json=body("pt-memory"))
    assert made.status_code == 200, made.text
    assert made.json()["status"] == "complete"
    record = (await client.get(f"/api/generations/{made.json()['generation_id']}")).json()
    artifact = record["artifacts"][0]
    served = await client.get(f"/api/artifacts/{artifact['id']}")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == artifact["content_hash"]

    job_id = await submit(client, body("pt-memory-job"), **{"Idempotency-Key": "order-1"})
    assert (await wait_for(client, job_id))["status"] == "complete"
    assert await submit(client, body("pt-memory-job"), **{"Idempotency-Key": "order-1"}) == job_id

    health = await client.get("/api/health")
    assert health.status_code == 200, health.text
    assert not settings.data_dir.exists(), "the memory mode writes nothing to the data dir"


def test_migrate_has_nothing_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "DYNGEN_DATABASE_URL": MEMORY_URL, "DYNGEN_DATA_DIR": str(tmp_path / "data")}
    done = run_dyngen(["migrate"], env=env)
    assert done.returncode == 0, done.stderr
    assert "memory" in done.stdout
    assert not (tmp_path / "data").exists()


def test_gc_runs_on_the_memory_records(tmp_path: Path) -> None:
    env = {**os.environ, "DYNGEN_DATABASE_URL": MEMORY_URL, "DYNGEN_DATA_DIR": str(tmp_path / "data")}
    done = run_dyngen(["gc"], env=env)
    assert done.returncode == 0, done.stderr
    assert "gc removed: 0 generations" in done.stdout
    assert not (tmp_path / "data").exists()
