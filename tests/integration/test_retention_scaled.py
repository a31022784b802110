"""Retention in the scaled set-up: PostgreSQL records, the Redis cache tier, artifacts in S3. A sweep
removes the expired records and their S3 objects, keeps what the Redis tier serves, and every URL a
cache entry serves still loads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
from dyngen.config import Settings
from dyngen.config_sections import RetentionSettings
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.wire import load
from dyngen.services import retention
from dyngen.services.generation import front_door as generation
from dyngen.services.generation.outcomes import CacheEntry
from dyngen.services.machinery.container import Services
from tests.contract.test_object_store import bucket_keys
from tests.fakes import FakeClock
from tests.support.databases import empty_postgres
from tests.support.servers import MotoS3Server

pytestmark = pytest.mark.services

HOUR_S = 3600.0
AMBIENT = {
    "type": "environment",
    "purpose": "ambient",
    "node_id": "ambient-scaled",
    "from_scene": {"id": "market", "mood": "busy"},
    "strategy": "always",
}


@pytest.fixture
async def scaled(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str, s3_server: MotoS3Server
) -> AsyncIterator[tuple[Services, str]]:
    await empty_postgres(postgres_url)
    bucket = f"dyngen-retention-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        object_store_url=f"s3://{bucket}/dyngen",
        s3_endpoint_url=s3_server.endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_create_bucket=True,
        retention=RetentionSettings(sweep=False, always_s=HOUR_S, object_grace_s=5),
    )
    services = await build(settings, migrate=True, clock=FakeClock(datetime(2026, 5, 1, tzinfo=UTC)))
    try:
        yield services, bucket
    finally:
        await services.aclose()


async def test_a_sweep_removes_expired_records_and_their_s3_objects_and_keeps_what_is_served(
    scaled: tuple[Services, str], s3_server: MotoS3Server
) -> None:
    services, bucket = scaled
    clock = services.clock
    assert isinstance(clock, FakeClock)
    request = load(GenerateContentRequest, AMBIENT)
    made = []
    for _ in range(4):
        made.append(await generation.generate_content(request=request, ports=generation_ports(services)))
        clock.advance(1)
    objects_before = [k for k in await bucket_keys(s3_server.endpoint, bucket) if "/artifacts/" in k]
    await services.cache.fast[0].clear()  # type: ignore[attr-defined]  # a restart: only Redis and S3 remember
    clock.advance(2 * HOUR_S)
    assert services.retention is not None

    report = await retention.sweep(
        policy=services.options.retention,
        repository=services.retention,
        cache=services.cache,
        artifacts=services.artifacts,
        clock=services.clock,
        cache_ttl_s=services.options.cache_ttl_s,
        probes=services.probes,
    )

    assert report.generations == 3
    assert [await services.repository.get(m.generation_id or "") is None for m in made] == [True] * 3 + [False]
    objects_after = [k for k in await bucket_keys(s3_server.endpoint, bucket) if "/artifacts/" in k]
    assert len(objects_before) - len(objects_after) == report.objects > 0
    key = (await services.repository.cache_keys(node_id="ambient-scaled"))[0]
    for raw in await services.cache.entries(key):
        content = CacheEntry.model_validate_json(raw).outcome.content
        assert content is not None
        assert content.url is not None
        artifact = await services.repository.get_artifact(content.url.split("?", 1)[0].rsplit("/", 1)[1])
        assert artifact is not None
        assert await services.artifacts.get(artifact.storage_uri)
