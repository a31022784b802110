"""The ArtifactStore contract: content-addressed bytes that come back exactly, and nothing outside the store.

To run the contract on another store, subclass `ArtifactStoreContract` as `Test<Store>` with two fixtures:
`store` (an empty store) and `outside` (URIs that point outside it, each with a file there it must not read).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dyngen.adapters.storage.artifacts import SpoolingArtifactStore
from dyngen.adapters.storage.local import LocalObjectStore
from dyngen.ports import ArtifactStore

BLOBS = [
    pytest.param(b"", id="empty"),
    pytest.param(bytes(range(256)) * 4, id="binary"),
    pytest.param(b'{"dialogue":["caf\xc3\xa9"]}', id="json"),
    pytest.param(b"\x00" * (1 << 20), id="one-mib"),
]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def put(store: ArtifactStore, data: bytes, media_type: str = "application/json") -> str:
    return await store.put(data, media_type=media_type, content_hash=digest(data))


class ArtifactStoreContract:
    """Behaviour every `ArtifactStore` adapter must have."""

    @pytest.fixture
    def store(self) -> ArtifactStore:
        raise NotImplementedError("a Test<Store> subclass provides the store under test")

    @pytest.fixture
    def outside(self) -> list[str]:
        raise NotImplementedError("a Test<Store> subclass lists URIs outside the store")

    @pytest.mark.parametrize("data", BLOBS)
    async def test_put_then_get_returns_the_same_bytes(self, store: ArtifactStore, data: bytes) -> None:
        uri = await put(store, data)
        assert await store.get(uri) == data

    async def test_the_same_content_is_stored_once_under_one_uri(self, store: ArtifactStore) -> None:
        first = await put(store, b"scene script")
        again = await put(store, b"scene script", media_type="text/plain")
        assert first == again
        assert await store.get(again) == b"scene script"

    async def test_different_content_gets_different_uris(self, store: ArtifactStore) -> None:
        one, two = await put(store, b"take one"), await put(store, b"take two")
        assert one != two
        assert (await store.get(one), await store.get(two)) == (b"take one", b"take two")

    async def test_ping_answers_and_nothing_is_pending_after_puts(self, store: ArtifactStore) -> None:
        await store.ping()
        await put(store, b"durable")
        assert await store.pending() == 0

    async def test_a_uri_outside_the_store_is_refused(self, store: ArtifactStore, outside: list[str]) -> None:
        await put(store, b"inside")
        for uri in outside:
            with pytest.raises(ValueError, match=r"uri|escapes"):
                await store.get(uri)


class TestLocalArtifactStore(ArtifactStoreContract):
    """The embedded default: artifacts in a local folder, spooled while the folder is unwritable."""

    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        return tmp_path / "data" / "objects"

    @pytest.fixture
    def store(self, root: Path, tmp_path: Path) -> ArtifactStore:
        return SpoolingArtifactStore(store=LocalObjectStore(root=root), spool_dir=tmp_path / "data" / "spool")

    @pytest.fixture
    def outside(self, tmp_path: Path) -> list[str]:
        secret = tmp_path / "secret.txt"
        secret.write_text("not an artifact")
        return [
            "local://../../secret.txt",  # relative to <tmp>/data/objects
            "local://artifacts/ab/../../../../secret.txt",
            f"local://{secret}",  # absolute path
            "file+dyngen://../../etc/passwd",  # another scheme
            "s3://bucket/artifacts/ab/abcd",
        ]

    async def test_artifacts_survive_a_restart(self, store: ArtifactStore, root: Path, tmp_path: Path) -> None:
        uri = await put(store, b"kept")

        reopened = SpoolingArtifactStore(store=LocalObjectStore(root=root), spool_dir=tmp_path / "data" / "spool")

        assert await reopened.get(uri) == b"kept"

    async def test_ping_fails_when_the_folder_cannot_be_created(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        broken = SpoolingArtifactStore(store=LocalObjectStore(root=blocker / "objects"), spool_dir=tmp_path / "spool")

        with pytest.raises(OSError):  # noqa: PT011 - the filesystem's own error
            await broken.ping()

    async def test_the_parent_folder_uri_is_refused_once_the_spool_exists(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        (tmp_path / "data" / "spool").mkdir(parents=True)  # as after the object store was once unreachable
        with pytest.raises(ValueError, match=r"escapes|not an artifact"):
            await store.get("local://..")
