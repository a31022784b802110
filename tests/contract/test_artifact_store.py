"""The ArtifactStore contract: content-addressed bytes that come back exactly, and nothing outside the store.

To run the contract on another store, subclass `ArtifactStoreContract` as `Test<Store>` with two fixtures:
`store` (an empty store) and `outside` (URIs that point outside it, each with a file there it must not read).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError

from dyngen.adapters.storage.artifacts import SpoolingArtifactStore
from dyngen.adapters.storage.local import LocalObjectStore
from dyngen.adapters.storage.memory import MemoryObjectStore
from dyngen.adapters.storage.s3 import S3ObjectStore
from dyngen.ports import ArtifactStore
from tests.contract.test_object_store import new_bucket, open_s3_store
from tests.fakes import SilentStore
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoS3Server
from tests.support.waiting import until

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

    async def test_delete_removes_the_bytes_and_counts_what_existed(self, store: ArtifactStore) -> None:
        gone, kept = await put(store, b"old take"), await put(store, b"newest take")

        assert await store.delete([gone]) == 1
        assert await store.delete([gone]) == 0, "a second delete finds nothing"
        assert await store.delete([]) == 0

        with pytest.raises(FileNotFoundError):
            await store.get(gone)
        assert await store.get(kept) == b"newest take"

    async def test_delete_refuses_a_uri_outside_the_store(self, store: ArtifactStore, outside: list[str]) -> None:
        for uri in outside:
            with pytest.raises(ValueError, match=r"uri|escapes"):
                await store.delete([uri])


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


class TestMemoryArtifactStore(ArtifactStoreContract):
    """The ephemeral embedded mode: artifacts in a `MemoryObjectStore` (its spool is never written)."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> ArtifactStore:
        return SpoolingArtifactStore(store=MemoryObjectStore(), spool_dir=tmp_path / "spool")

    @pytest.fixture
    def outside(self) -> list[str]:
        return ["local://artifacts/ab/abcd", "s3://bucket/artifacts/ab/abcd", "memory://../x", "memory://cache/ab/cd"]


class TestSpoolingArtifactStoreWhileTheStoreIsSilent:
    """A store that accepts and never answers holds a caller no longer than `within_s`: the bytes are
    spooled, the upload carries on, and whichever of the two lands first empties the spool."""

    @pytest.fixture
    def silent(self) -> SilentStore:
        return SilentStore()

    @pytest.fixture
    async def store(self, silent: SilentStore, tmp_path: Path) -> AsyncIterator[SpoolingArtifactStore]:
        store = SpoolingArtifactStore(store=silent, spool_dir=tmp_path / "spool")
        yield store
        await store.aclose()

    async def test_the_caller_gets_the_uri_and_the_bytes_are_readable_from_the_spool(
        self, store: SpoolingArtifactStore, silent: SilentStore
    ) -> None:
        uri = await store.put(
            b"a silent take", media_type="text/plain", content_hash=digest(b"a silent take"), within_s=0.01
        )

        assert uri == silent.uri(f"artifacts/{digest(b'a silent take')[:2]}/{digest(b'a silent take')}")
        assert silent.started == 1
        assert await store.pending() == 1
        assert await store.get(uri) == b"a silent take"

    async def test_the_upload_that_lands_late_empties_the_spool(
        self, store: SpoolingArtifactStore, silent: SilentStore
    ) -> None:
        uri = await store.put(b"late", media_type="text/plain", content_hash=digest(b"late"), within_s=0.01)
        silent.answer.set()

        async def landed() -> bool:
            return await store.pending() == 0

        await until(landed, what="the late upload to empty the spool")
        assert await silent.get(silent.key_of(uri)) == b"late"
        assert await store.get(uri) == b"late"

    async def test_an_upload_that_fails_late_leaves_the_spool_for_the_flush(
        self, store: SpoolingArtifactStore, silent: SilentStore
    ) -> None:
        uri = await store.put(b"kept", media_type="text/plain", content_hash=digest(b"kept"), within_s=0.01)
        silent.refuse = True
        silent.answer.set()
        await until(lambda: silent.started == 1 and not store._uploads, what="the late upload to fail")

        assert await store.pending() == 1
        silent.refuse = False
        assert await store.flush() == 1
        assert await silent.get(silent.key_of(uri)) == b"kept"

    async def test_closing_cancels_the_uploads_in_flight_and_keeps_their_bytes(
        self, silent: SilentStore, tmp_path: Path
    ) -> None:
        store = SpoolingArtifactStore(store=silent, spool_dir=tmp_path / "spool")
        uri = await store.put(b"held", media_type="text/plain", content_hash=digest(b"held"), within_s=0.01)

        await store.aclose()

        assert await silent.get(silent.key_of(uri)) is None
        restarted = SpoolingArtifactStore(store=MemoryObjectStore(), spool_dir=tmp_path / "spool")
        assert await restarted.pending() == 1
        assert await restarted.get(uri) == b"held"

    async def test_a_store_that_answers_in_time_spools_nothing(
        self, store: SpoolingArtifactStore, silent: SilentStore
    ) -> None:
        silent.answer.set()

        uri = await store.put(b"quick", media_type="text/plain", content_hash=digest(b"quick"), within_s=60)

        assert await store.pending() == 0
        assert await silent.get(silent.key_of(uri)) == b"quick"


@pytest.mark.services
class TestS3ArtifactStore(ArtifactStoreContract):
    """A scaled deployment: artifacts under a prefix of an S3 bucket (moto's server), one bucket per test."""

    @pytest.fixture
    async def s3(self, s3_server: MotoS3Server) -> AsyncIterator[S3ObjectStore]:
        async with open_s3_store(s3_server.endpoint, prefix="dyngen") as s3:
            yield s3

    @pytest.fixture
    def store(self, s3: S3ObjectStore, tmp_path: Path) -> ArtifactStore:
        return SpoolingArtifactStore(store=s3, spool_dir=tmp_path / "spool")

    @pytest.fixture
    async def outside(self, s3: S3ObjectStore, s3_server: MotoS3Server) -> list[str]:
        bucket = s3.uri("x").removeprefix("s3://").split("/")[0]
        async with open_s3_store(s3_server.endpoint, bucket=bucket, create=False) as whole_bucket:
            await whole_bucket.put("secret.txt", b"not an artifact", content_type="text/plain")
            await whole_bucket.put(f"other/artifacts/ab/{digest(b'x')}", b"another prefix's", content_type="text/plain")
        return [
            f"s3://{bucket}/secret.txt",
            f"s3://{bucket}/dyngen/../secret.txt",
            f"s3://{bucket}/dyngen/artifacts/ab/../../../secret.txt",
            f"s3://{bucket}/other/artifacts/ab/{digest(b'x')}",
            f"s3://{bucket}-other/dyngen/artifacts/ab/{digest(b'x')}",
            f"local://artifacts/ab/{digest(b'x')}",
        ]

    async def test_artifacts_are_objects_under_the_prefix(self, store: ArtifactStore, s3: S3ObjectStore) -> None:
        uri = await put(store, b"a cutscene")
        key = f"artifacts/{digest(b'a cutscene')[:2]}/{digest(b'a cutscene')}"
        assert uri == s3.uri(key)
        assert uri.split("/")[3] == "dyngen"
        assert await s3.get(key) == b"a cutscene"


@pytest.mark.services
class TestS3ArtifactStoreWhileS3IsUnreachable:
    """S3 behind a TCP proxy the test cuts: nothing is lost, and the spool is uploaded once S3 is back."""

    @pytest.fixture
    def proxy(self, s3_proxy: TcpProxy) -> TcpProxy:
        return s3_proxy

    @pytest.fixture
    async def bucket(self, s3_server: MotoS3Server) -> str:
        bucket = new_bucket()
        async with open_s3_store(s3_server.endpoint, bucket=bucket):
            return bucket

    @pytest.fixture
    async def through_proxy(self, proxy: TcpProxy, bucket: str) -> AsyncIterator[S3ObjectStore]:
        async with open_s3_store(f"http://127.0.0.1:{proxy.port}", bucket=bucket, create=False, timeout_s=2) as s3:
            yield s3

    async def in_s3(self, s3_server: MotoS3Server, bucket: str, uri: str) -> bytes | None:
        """The object behind `uri`, read straight from S3 with a fresh store (no spool, no proxy)."""
        async with open_s3_store(s3_server.endpoint, bucket=bucket, create=False) as direct:
            return await direct.get(direct.key_of(uri))

    async def test_puts_are_spooled_and_flushed_once_s3_is_back(
        self, proxy: TcpProxy, through_proxy: S3ObjectStore, bucket: str, s3_server: MotoS3Server, tmp_path: Path
    ) -> None:
        store = SpoolingArtifactStore(store=through_proxy, spool_dir=tmp_path / "spool")
        proxy.cut()

        uri = await put(store, b"voice line")

        assert uri == through_proxy.uri(f"artifacts/{digest(b'voice line')[:2]}/{digest(b'voice line')}")
        assert await store.get(uri) == b"voice line"
        assert await store.pending() == 1
        with pytest.raises(BotoCoreError):
            await store.ping()
        assert await store.flush() == 0, "nothing can be uploaded while S3 is unreachable"
        assert await store.pending() == 1
        assert await self.in_s3(s3_server, bucket, uri) is None

        proxy.restore()

        assert await store.flush() == 1
        assert await store.pending() == 0
        assert await self.in_s3(s3_server, bucket, uri) == b"voice line"
        assert await store.get(uri) == b"voice line"

    async def test_delete_reaches_the_spool_and_the_store(
        self, proxy: TcpProxy, through_proxy: S3ObjectStore, bucket: str, s3_server: MotoS3Server, tmp_path: Path
    ) -> None:
        store = SpoolingArtifactStore(store=through_proxy, spool_dir=tmp_path / "spool")
        uploaded = await put(store, b"uploaded")
        proxy.cut()
        spooled = await put(store, b"spooled")
        proxy.restore()

        assert await store.delete([uploaded, spooled]) == 2

        assert await store.pending() == 0
        assert await store.flush() == 0, "a removed spool entry is never uploaded"
        assert await self.in_s3(s3_server, bucket, uploaded) is None
        assert await self.in_s3(s3_server, bucket, spooled) is None

    async def test_the_spool_survives_a_restart(
        self, proxy: TcpProxy, bucket: str, s3_server: MotoS3Server, tmp_path: Path
    ) -> None:
        endpoint = f"http://127.0.0.1:{proxy.port}"
        proxy.cut()
        async with open_s3_store(endpoint, bucket=bucket, create=False, timeout_s=2) as before_restart:
            uri = await put(SpoolingArtifactStore(store=before_restart, spool_dir=tmp_path / "spool"), b"kept")
        proxy.restore()

        async with open_s3_store(endpoint, bucket=bucket, create=False) as after_restart:
            restarted = SpoolingArtifactStore(store=after_restart, spool_dir=tmp_path / "spool")
            assert await restarted.pending() == 1
            assert await restarted.get(uri) == b"kept"

            assert await restarted.flush() == 1

            assert await restarted.pending() == 0
        assert await self.in_s3(s3_server, bucket, uri) == b"kept"

    async def test_the_background_loop_uploads_the_spool_once_s3_is_back(
        self, proxy: TcpProxy, through_proxy: S3ObjectStore, bucket: str, s3_server: MotoS3Server, tmp_path: Path
    ) -> None:
        store = SpoolingArtifactStore(store=through_proxy, spool_dir=tmp_path / "spool", flush_interval_s=0.05)
        proxy.cut()
        uris = [await put(store, f"take {n}".encode()) for n in range(2)]
        await store.start()
        try:
            assert await store.pending() == 2
            proxy.restore()

            async def drained() -> bool:
                return await store.pending() == 0

            await until(drained, what="the background loop to upload the spool")
        finally:
            await store.aclose()
        assert [await self.in_s3(s3_server, bucket, uri) for uri in uris] == [b"take 0", b"take 1"]
