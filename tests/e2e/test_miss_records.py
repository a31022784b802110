"""What a miss promises about its record (README, "Write paths"), on the embedded default (SQLite file,
local object store), many misses at once as a game's players make them.

Each answer comes after its record is committed: another process reading the same database the moment
the answer arrives finds the record, with the content the player got (its hash over the content without
the URL, which names the artifact record) and the artifact behind the URL. A repeated generation of the same
inputs is compared with the history the drift lookup reads (adapters/db/reader.py): same seed, same
content, still deterministic.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx

from dyngen.adapters.db.repository import SqlAlchemyGenerationRepository, create_engine
from dyngen.config import Settings
from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.records import GenerationRecord
from dyngen.domain.responses import GeneratedContentPayload
from dyngen.services.machinery.container import Services
from tests.e2e.test_api import game_request

PLAYERS = 40


def body(playthrough: str) -> dict[str, Any]:
    # A new playthrough per call: a full miss each (`per_playthrough`), as bench/miss.py sends them.
    return game_request(
        strategy="per_playthrough", player_context={"playthroughId": playthrough, "playerId": f"p-{playthrough}"}
    )


async def test_each_miss_is_recorded_before_its_answer_with_the_content_the_player_got(
    client: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    other = create_engine(settings.resolved_database_url)  # another process's view of the same file
    elsewhere = SqlAlchemyGenerationRepository(engine=other)
    try:

        async def play(playthrough: str) -> tuple[dict[str, Any], GenerationRecord | None]:
            response = await client.post("/api/generate-content", json=body(playthrough))
            assert response.status_code == 200, response.text
            answer = response.json()
            return answer, await elsewhere.get(answer["generation_id"])  # read as soon as it is answered

        played = await asyncio.gather(*(play(f"pt-{i}") for i in range(PLAYERS)))
    finally:
        await other.dispose()

    assert len({answer["generation_id"] for answer, _ in played}) == PLAYERS
    for answer, record in played:
        assert answer["status"] == "complete"
        assert record is not None, "the record is committed before the answer is sent"
        assert record.status is GenerationStatus.COMPLETE
        assert record.cache_key == answer["cache_key"]
        content = GeneratedContentPayload.model_validate(answer["content"])
        assert record.content is not None
        assert record.content.model_dump(exclude={"url"}) == content.model_dump(exclude={"url"})
        # The hash is over the content the player got, without the URL (it names the artifact record).
        unsigned = content.model_dump_json(exclude={"url"}, exclude_none=True)
        assert record.content_hash == hashlib.sha256(unsigned.encode()).hexdigest()
        artifact = await client.get(answer["content"]["url"])
        assert artifact.status_code == 200
        artifact_id = answer["content"]["url"].removeprefix("/api/artifacts/").partition("?")[0]
        assert [a.id for a in record.artifacts] == [artifact_id]
        assert hashlib.sha256(artifact.content).hexdigest() == record.artifacts[0].content_hash


async def test_a_miss_compares_its_content_with_the_history_the_drift_lookup_reads(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = (await client.post("/api/generate-content", json=body("pt-again"))).json()
    key = first["cache_key"]
    record = await services.repository.get(first["generation_id"])
    assert record is not None
    # Another process made other content from the same key, seed, config and provider before.
    await services.repository.add(record.model_copy(update={"id": "f" * 32, "content_hash": "0" * 64, "artifacts": []}))
    # This process forgets the key (its cache tiers and its drift memo): the next miss reads its history.
    invalidated = await client.post("/api/cache/invalidate", json={"cache_key": key})
    assert invalidated.status_code == 200, invalidated.text
    services.memo.hashes.discard(key)

    second = (await client.post("/api/generate-content", json=body("pt-again"))).json()

    assert (second["cache"]["hit"], second["cache_key"], second["seed"]) == (False, key, first["seed"])
    assert second["content"]["beats"] == first["content"]["beats"]
    assert first["deterministic"] is True
    assert second["deterministic"] is False, "the drift lookup found the other content of the same inputs"
