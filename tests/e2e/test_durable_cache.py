"""The embedded default's durable cache tier: rows in the SQLite file beside the records (`SqlCacheTier`), not
a file per miss; a restart serves what was cached from there; and the folder entries an install wrote before
(the object-store tier) are still served after the upgrade, and copied into the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from dyngen.adapters.cache.object_store import ObjectStoreCacheTier
from dyngen.adapters.storage.memory import MemoryObjectStore
from dyngen.bootstrap import build
from dyngen.config import Settings
from tests.support.apps import app_client

DIALOGUE = {
    "type": "dialogue",
    "node_id": "barkeep",
    "from_scene": {"id": "tavern", "mood": "warm"},
    "to_scene": {"id": "street", "mood": "tense"},
    "strategy": "once",
}


class Recorded(MemoryObjectStore):
    """A memory store that lists what was put in it."""

    def __init__(self) -> None:
        super().__init__()
        self.puts: list[tuple[str, bytes]] = []

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.puts.append((key, data))
        await super().put(key, data, content_type=content_type)


async def generate(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/api/generate-content", json=DIALOGUE)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def rows(settings: Settings) -> list[str]:
    database = sqlite3.connect(settings.data_dir / "dyngen.db")
    try:
        return [key for (key,) in database.execute("SELECT key FROM cache_entries")]
    finally:
        database.close()


async def test_a_miss_is_cached_in_the_database_and_served_from_there_after_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with app_client(settings) as client:
        first = await generate(client)
        assert first["cache"]["hit"] is False
    assert len(rows(settings)) == 1
    assert not (settings.object_dir / "cache").exists(), "no file per cache entry"

    async with app_client(settings) as client:
        again = await generate(client)

    assert again["cache"] == {"hit": True, "tier": "database"}
    assert again["generation_id"] == first["generation_id"]


async def test_an_entry_an_earlier_version_left_in_the_folder_is_served_and_moved_into_the_database(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with app_client(settings) as client:
        first = await generate(client)
    [key] = rows(settings)
    database = sqlite3.connect(settings.data_dir / "dyngen.db")
    with database:  # as an install before the database tier: the entry only in the folder
        [(value,)] = database.execute("SELECT value FROM cache_entries")
        database.execute("DELETE FROM cache_entries")
    database.close()
    # Earlier versions kept every object as a file: the entry as the folder tier encodes it, in a file.
    encoded = Recorded()
    await ObjectStoreCacheTier(store=encoded, within_s=None).set(key, bytes(value))
    [(name, data)] = encoded.puts
    (settings.object_dir / name).parent.mkdir(parents=True)
    (settings.object_dir / name).write_bytes(data)

    async with app_client(settings) as client:
        from_folder = await generate(client)
    async with app_client(settings) as client:
        from_database = await generate(client)

    assert from_folder["cache"] == {"hit": True, "tier": "object"}
    assert from_database["cache"] == {"hit": True, "tier": "database"}
    assert from_folder["generation_id"] == from_database["generation_id"] == first["generation_id"]
    assert rows(settings) == [key]


async def test_the_folder_is_read_only_where_an_earlier_version_left_entries(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    fresh = await build(settings)
    fresh_tiers = [tier.name for tier in fresh.cache.tiers]
    await fresh.aclose()
    (settings.object_dir / "cache" / "ab").mkdir(parents=True)
    upgraded = await build(settings)
    upgraded_tiers = [tier.name for tier in upgraded.cache.tiers]
    await upgraded.aclose()

    assert fresh_tiers == ["memory", "database"], "a miss looks in no folder a fresh install never wrote"
    assert upgraded_tiers == ["memory", "database", "object"]
