"""Redis in both failure shapes (refused, accepted and silent) under a real `dyngen serve` of the scaled
deployment: every Redis use is on the request path here (cache tier, single-flight lease, player rate
limit, node budget, invalidation bus, arq queue). A player is answered within the node's deadline with
content or its fallback, health says `degraded` naming Redis, and once Redis is back the service uses
it again and every URL a player was given still loads."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.faults.deployment import NODE_TIMEOUT_MS, SHAPES, Deployment, Shape, fault, scaled_deployment
from tests.integration.scaled import transition_request
from tests.support.proxy import TcpProxy
from tests.support.servers import VENV_BIN, MotoS3Server, Process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.services

LIMITS = {
    "DYNGEN_RATE_LIMIT_PLAYER": '{"rate": 1000, "per": "second"}',
    "DYNGEN_BUDGET_NODES": '{"budgeted_node": 1000}',
}


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_url: str, redis_url: str, s3_server: MotoS3Server
) -> Iterator[tuple[Deployment, TcpProxy]]:
    with scaled_deployment(
        tmp_path, postgres_url=postgres_url, redis_url=redis_url, s3=s3_server, proxied="redis", extra_env=LIMITS
    ) as made:
        yield made


def cached_in_redis(redis_url: str, prefix: str, playthrough: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    try:
        return any(playthrough in key.decode() for key in client.scan_iter(match=f"{prefix}:cache:*"))
    finally:
        client.close()


@pytest.mark.parametrize("shape", SHAPES)
def test_players_are_answered_within_the_deadline_and_nothing_is_lost(
    deployment: tuple[Deployment, TcpProxy], shape: Shape, redis_url: str
) -> None:
    dyngen, proxy = deployment
    assert dyngen.generate("before")["status"] == "complete"
    assert dyngen.generate("before")["cache"] == {"hit": True, "tier": "memory"}
    assert cached_in_redis(redis_url, dyngen.redis_prefix, "before")

    fault(proxy, shape)
    # Each request is guarded by a client timeout of its node's deadline (Deployment.generate).
    assert dyngen.generate("before")["cache"]["hit"] is True
    for n in range(4):  # misses: across the cooldown, so that one of them is Redis's probe
        assert dyngen.generate(f"during-{n}")["status"] == "complete"
    assert dyngen.generate("always", strategy="always")["status"] == "complete"
    budgeted = dyngen.generate("budgeted", node_id="budgeted_node")
    assert budgeted["error"]["code"] == "GEN_PROVIDER_UNAVAILABLE", "no paid call without a reservation"
    submitted = httpx.post(
        f"{dyngen.base}/api/generate-content",
        json=transition_request("queued", timeout_ms=NODE_TIMEOUT_MS),
        headers={"Prefer": "respond-async"},
        timeout=NODE_TIMEOUT_MS / 1000,
    )
    assert submitted.status_code == 202, submitted.text
    invalidated = httpx.post(
        f"{dyngen.base}/api/cache/invalidate", json={"node_id": "stampede_node"}, timeout=NODE_TIMEOUT_MS / 1000
    )
    assert invalidated.status_code == 503, "an invalidation that cannot reach Redis fails loudly"
    assert invalidated.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
    report = dyngen.degraded_by("redis")
    assert report["dependencies"]["database"]["status"] == "ok"

    proxy.restore()
    dyngen.recovered()
    assert dyngen.generate("after")["status"] == "complete"
    wait_until(lambda: cached_in_redis(redis_url, dyngen.redis_prefix, "after"), what="Redis used again")
    job = httpx.get(f"{dyngen.base}/api/generation-jobs/{submitted.json()['job_id']}", timeout=10)
    assert job.status_code == 200, "the job taken while Redis was out is stored (the reaper enqueues it)"
    assert dyngen.dead_urls() == []
    assert len(dyngen.urls) >= 6


def test_a_worker_on_a_hung_redis_says_it_is_unhealthy_recovers_and_stops_when_told(
    deployment: tuple[Deployment, TcpProxy], tmp_path: Path
) -> None:
    """`dyngen worker` reads Redis with the process's deadlines: a silent Redis ends arq's poll with a
    timeout, not a hang; the worker says it is unhealthy, runs jobs again once Redis is back, and a
    SIGTERM stops it while Redis is silent (before: no read timeout, so its poll and its shutdown waited
    for ever)."""
    dyngen, proxy = deployment
    env = {**dyngen.env, "DYNGEN_LOG_LEVEL": "info"}
    worker = Process([str(VENV_BIN / "dyngen"), "worker"], env=env, log=tmp_path / "worker.log")

    def job_completes(playthrough: str) -> None:
        submitted = httpx.post(
            f"{dyngen.base}/api/generate-content",
            json=transition_request(playthrough, timeout_ms=NODE_TIMEOUT_MS),
            headers={"Prefer": "respond-async"},
            timeout=10,
        )
        assert submitted.status_code == 202, submitted.text
        url = f"{dyngen.base}/api/generation-jobs/{submitted.json()['job_id']}"
        wait_until(lambda: httpx.get(url, timeout=10).json()["status"] == "complete", what=f"job {playthrough}")

    try:
        job_completes("worker-before")

        proxy.hang()
        wait_until(lambda: "worker.unhealthy" in worker.output(), what="the worker to say it is unhealthy")
        proxy.restore()
        wait_until(lambda: "worker.healthy" in worker.output(), what="the worker to say it is healthy again")
        job_completes("worker-after")

        proxy.hang()
        wait_until(lambda: worker.output().count("worker.unhealthy") == 2, what="unhealthy again")
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=60) == 0, worker.output()[-3000:]  # a guard against a hung stop
    except BaseException:
        print(worker.output()[-5000:])
        raise
    finally:
        proxy.restore()
        worker.kill()
