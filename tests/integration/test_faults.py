"""Faults with real services (issue 3): Redis stopped, the object store unreachable, PostgreSQL restarted.

In each case the player is still served (no 5xx on generation), /api/health says `degraded` with the
reason, and the service recovers by itself when the dependency is back.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from dyngen.adapters.storage.s3 import S3ObjectStore
from tests.integration.scaled import AWS, create_bucket, transition_request
from tests.support.cli_zygote import run_dyngen
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoS3Server, RedisServer, dyngen_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.services


def generate(base: str, playthrough: str, **extra: Any) -> dict[str, Any]:
    response = httpx.post(f"{base}/api/generate-content", json=transition_request(playthrough, **extra), timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def read_s3(s3: MotoS3Server, bucket: str, uri: str) -> bytes | None:
    """Read an object straight from the S3 server (not through dyngen or its spool)."""

    async def run() -> bytes | None:
        store = S3ObjectStore(bucket=bucket, endpoint_url=s3.endpoint, access_key_id="test", secret_access_key="test")
        await store.start()
        try:
            return await store.get(store.key_of(uri))
        finally:
            await store.aclose()

    return asyncio.run(run())


def health(base: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base}/api/health", timeout=30).json()
    return body


def test_redis_stopped_mid_run_service_keeps_serving_then_uses_redis_again(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    prefix = f"fault-{uuid.uuid4().hex[:8]}"
    env = {
        "DYNGEN_DATA_DIR": str(tmp_path / "data"),
        "DYNGEN_REDIS_URL": private_redis.url,
        "DYNGEN_REDIS_PREFIX": prefix,
    }
    server, base = dyngen_server(tmp_path, env)
    try:
        first = generate(base, "before")
        assert first["status"] == "complete"
        assert generate(base, "before")["cache"] == {"hit": True, "tier": "memory"}

        private_redis.stop()
        assert generate(base, "before")["cache"]["hit"] is True  # the memory tier keeps serving
        during = generate(base, "during-outage")
        assert during["status"] == "complete"
        report = wait_until(lambda: (h := health(base))["status"] == "degraded" and h, what="degraded health")
        assert report["dependencies"]["redis"]["status"] == "down"
        assert any("redis" in reason for reason in report["reasons"])

        private_redis.start()
        wait_until(lambda: health(base)["status"] == "ok", what="health ok after Redis is back")
        after = generate(base, "after-outage")
        assert after["status"] == "complete"
        client = redis.Redis.from_url(private_redis.url)
        try:
            cached = [k.decode() for k in client.scan_iter(match=f"{prefix}:cache:*")]
        finally:
            client.close()
        assert any("after-outage" in key for key in cached), cached
    finally:
        server.stop()


def test_object_store_unreachable_content_served_and_artifacts_uploaded_once_back(
    tmp_path: Path, s3_server: MotoS3Server
) -> None:
    bucket = f"fault-{uuid.uuid4().hex[:8]}"
    create_bucket(s3_server, bucket)
    proxy = TcpProxy("127.0.0.1", s3_server.port)
    env = {
        **AWS,
        "DYNGEN_DATA_DIR": str(tmp_path / "data"),
        "DYNGEN_OBJECT_STORE_URL": f"s3://{bucket}/dyngen",
        "DYNGEN_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        "DYNGEN_S3_ACCESS_KEY_ID": "test",
        "DYNGEN_S3_SECRET_ACCESS_KEY": "test",
    }
    server, base = dyngen_server(tmp_path, env)
    try:
        proxy.cut()
        served = generate(base, "while-s3-is-down")
        assert served["status"] == "complete"
        artifact = httpx.get(f"{base}{served['content']['url']}", timeout=30)
        assert artifact.status_code == 200
        report = wait_until(lambda: (h := health(base))["status"] == "degraded" and h, what="degraded health")
        assert report["spooled_artifacts"] >= 1
        assert report["dependencies"]["object_store"]["status"] == "down"

        proxy.restore()
        wait_until(
            lambda: (h := health(base))["status"] == "ok" and h["spooled_artifacts"] == 0,
            what="the spool to drain",
        )
        record = httpx.get(f"{base}/api/generations/{served['generation_id']}", timeout=30).json()
        uri = record["artifacts"][0]["storage_uri"]
        assert uri.startswith(f"s3://{bucket}/dyngen/")
        assert read_s3(s3_server, bucket, uri) == artifact.content
    finally:
        server.stop()
        proxy.close()


def test_postgres_restarted_requests_fall_back_at_worst_and_later_ones_succeed(
    tmp_path: Path, postgres_url: str
) -> None:
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    proxy = TcpProxy(host, int(port))
    proxied = postgres_url.replace(host_port, f"127.0.0.1:{proxy.port}")
    env = {"DYNGEN_DATA_DIR": str(tmp_path / "data"), "DYNGEN_DATABASE_URL": proxied}
    run_dyngen(["migrate"], env={**os.environ, **env}, check=True)
    server, base = dyngen_server(tmp_path, env)
    try:
        assert generate(base, "before-restart")["status"] == "complete"

        proxy.cut()  # every connection dies and new ones are refused: the server is restarting
        during = httpx.post(f"{base}/api/generate-content", json=transition_request("during-restart"), timeout=30)
        assert during.status_code == 200
        assert during.json()["content"] is not None or during.json()["fallback"]["applied"]
        listing = httpx.get(f"{base}/api/generations", timeout=30)
        assert listing.status_code == 503
        assert listing.json()["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
        report = wait_until(lambda: (h := health(base))["status"] == "degraded" and h, what="degraded health")
        assert report["dependencies"]["database"]["status"] == "down"

        proxy.restore()
        wait_until(lambda: health(base)["status"] == "ok", what="health ok after the restart")
        after = generate(base, "after-restart")
        assert after["status"] == "complete"
        record = httpx.get(f"{base}/api/generations/{after['generation_id']}", timeout=30)
        assert record.status_code == 200
    finally:
        server.stop()
        proxy.close()


async def test_a_busy_redis_pool_fails_that_call_only_and_is_not_taken_for_an_outage(
    redis_url: str, redis_prefix: str
) -> None:
    from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError

    connection = RedisConnection(url=redis_url, prefix=redis_prefix, max_connections=1, timeout_s=0.3)
    pool = connection.client.connection_pool
    try:
        held = await pool.get_connection()  # another caller holds the only pooled connection
        with pytest.raises(RedisUnavailableError, match="pool busy"):
            await connection.call(lambda r: r.ping())

        assert connection.available, "a congested pool is not an outage: no cooldown for every other caller"
        await pool.release(held)
        assert await connection.call(lambda r: r.ping()) is True
    finally:
        await connection.aclose()
