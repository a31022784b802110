"""S3 in both failure shapes (refused, accepted and silent) under a real `dyngen serve` of the scaled
deployment: the artifact store (spooled locally while S3 is out) and the durable cache tier. A player is
answered within the node's deadline with content, the artifacts it was given load from the spool, health
says `degraded` naming the object store, and once S3 is back the spool is uploaded and every URL a player
was given still loads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dyngen.adapters.storage.s3 import S3ObjectStore
from tests.faults.deployment import NODE_TIMEOUT_MS, SHAPES, Deployment, Shape, fault, scaled_deployment
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoS3Server

pytestmark = pytest.mark.services


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_url: str, redis_url: str, s3_server: MotoS3Server
) -> Iterator[tuple[Deployment, TcpProxy]]:
    with scaled_deployment(
        tmp_path, postgres_url=postgres_url, redis_url=redis_url, s3=s3_server, proxied="s3"
    ) as made:
        yield made


def stored_in_s3(s3: MotoS3Server, bucket: str, uri: str) -> bytes | None:
    """An object read straight from the S3 server (not through dyngen or its spool)."""

    async def run() -> bytes | None:
        store = S3ObjectStore(bucket=bucket, endpoint_url=s3.endpoint, access_key_id="test", secret_access_key="test")
        await store.start()
        try:
            return await store.get(store.key_of(uri))
        finally:
            await store.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("shape", SHAPES)
def test_players_are_answered_within_the_deadline_and_every_artifact_reaches_s3(
    deployment: tuple[Deployment, TcpProxy], shape: Shape, s3_server: MotoS3Server
) -> None:
    dyngen, proxy = deployment
    before = dyngen.generate("before")
    assert before["status"] == "complete"

    fault(proxy, shape)
    # Each request is guarded by a client timeout of its node's deadline (Deployment.generate).
    assert dyngen.generate("before")["cache"]["hit"] is True
    during = [dyngen.generate(f"during-{n}") for n in range(4)]  # across the cooldown: one is S3's probe
    assert all(answer["status"] == "complete" for answer in during)
    assert dyngen.generate("always", strategy="always")["status"] == "complete"
    for answer in during:  # what a player was given while S3 is out loads, from the local spool
        artifact = httpx.get(f"{dyngen.base}{answer['content']['url']}", timeout=NODE_TIMEOUT_MS / 1000)
        assert artifact.status_code == 200
    old = httpx.get(f"{dyngen.base}{before['content']['url']}", timeout=NODE_TIMEOUT_MS / 1000)
    assert old.status_code in (200, 503), "an artifact only S3 holds is unavailable for now, never a 500"
    report = dyngen.degraded_by("object_store")
    assert report["spooled_artifacts"] >= 1

    proxy.restore()
    dyngen.recovered()  # S3 answers and the spool is empty
    assert dyngen.generate("after")["status"] == "complete"
    assert dyngen.dead_urls() == []
    for answer in during:
        record = httpx.get(f"{dyngen.base}/api/generations/{answer['generation_id']}", timeout=10).json()
        uri = record["artifacts"][0]["storage_uri"]
        assert stored_in_s3(s3_server, dyngen.bucket, uri) is not None, f"{uri} was not uploaded"
