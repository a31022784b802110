"""Helpers for tests that run several dyngen processes against real Redis, PostgreSQL and S3."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dyngen.adapters.storage.s3 import S3ObjectStore
from tests.support.cli_zygote import run_dyngen
from tests.support.servers import MotoS3Server

AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def create_bucket(s3: MotoS3Server, bucket: str) -> None:
    async def run() -> None:
        store = S3ObjectStore(bucket=bucket, endpoint_url=s3.endpoint, access_key_id="test", secret_access_key="test")
        await store.start()
        try:
            await store.create_bucket()
        finally:
            await store.aclose()

    asyncio.run(run())


def scaled_env(
    tmp: Path, *, postgres_url: str, redis_url: str, redis_prefix: str, s3: MotoS3Server, bucket: str
) -> dict[str, str]:
    """Environment of a scaled deployment (shared database, Redis and bucket), schema migrated."""
    env = {
        **AWS,
        "DYNGEN_DATA_DIR": str(tmp / "data"),
        "DYNGEN_DATABASE_URL": postgres_url,
        "DYNGEN_REDIS_URL": redis_url,
        "DYNGEN_REDIS_PREFIX": redis_prefix,
        "DYNGEN_OBJECT_STORE_URL": f"s3://{bucket}/dyngen",
        "DYNGEN_S3_ENDPOINT_URL": s3.endpoint,
        "DYNGEN_S3_ACCESS_KEY_ID": "test",
        "DYNGEN_S3_SECRET_ACCESS_KEY": "test",
        # Processes with data dirs of their own are hosts: a URL one signs must load from another.
        "DYNGEN_URL_SECRET": "scaled-deployment-test-secret",
    }
    create_bucket(s3, bucket)
    run_dyngen(["migrate"], env={**os.environ, **env}, check=True)
    return env


def transition_request(playthrough: str, *, latency_ms: int = 0, timeout_ms: int = 10_000) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "transition",
        "node_id": "stampede_node",
        "from_scene": {"id": "cafe", "mood": "romantic", "location": "corner_cafe"},
        "to_scene": {"id": "roof", "mood": "intense", "location": "city_rooftops"},
        "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium"},
        "duration": {"min": 15, "max": 45, "target": 30},
        "constraints": {"rating": "PG-13", "requiredElements": ["phone_ring"], "avoidElements": ["violence"]},
        "strategy": "per_playthrough",
        "fallback": {"mode": "placeholder", "timeoutMs": timeout_ms},
        "player_context": {"playthroughId": playthrough},
    }
    if latency_ms:
        body["simulate"] = {"latency_ms": latency_ms}
    return body
