"""The ObjectStore contract: named blobs that come back exactly, in a local folder or an S3-compatible bucket.

To run the contract on another store, subclass `ObjectStoreContract` as `Test<Store>` with two fixtures:
`store` (an empty store) and `foreign` (URIs that belong to somewhere else, which `key_of` must refuse).

Shared with the other contract modules: `open_s3_store` (a store on the test S3 server).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from dyngen.adapters.storage import pack
from dyngen.adapters.storage.local import LocalObjectStore
from dyngen.adapters.storage.memory import MemoryObjectStore
from dyngen.adapters.storage.pack import FILE_NAME as PACK_FILE
from dyngen.adapters.storage.s3 import S3ObjectStore
from dyngen.ports import ObjectStore
from tests.support.objects import stored
from tests.support.servers import MotoS3Server

CREDENTIALS = {"access_key_id": "test", "secret_access_key": "test"}
KEYS = ["artifacts/ab/abcdef", "cache/00/0011", "top-level", "deep/er/still/deeper/name.json"]
LARGE = bytes(range(256)) * 512  # 128 KiB: over the local store's inline size, so a file of its own


@contextmanager
def another_write(pack_file: Path) -> Iterator[None]:
    """Another process's write on the pack, under way for the block (its write lock held)."""
    other = sqlite3.connect(pack_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("COMMIT")
        other.close()


async def one_loop_turn() -> None:
    """Returns once the event loop ran what was ready (tasks just made have started): it was not held."""
    ran = asyncio.Event()
    asyncio.get_running_loop().call_soon(ran.set)
    await ran.wait()


async def put_behind_another_write(store: LocalObjectStore, root: Path, key: str, data: bytes) -> None:
    """`store.put` (a store on `root`) while another process writes the pack: it waits without holding the
    event loop, and lands once that write ends."""
    with another_write(root / PACK_FILE):
        put = asyncio.create_task(store.put(key, data, content_type="text/plain"))
        await one_loop_turn()
        assert not put.done()
    await put


def new_bucket() -> str:
    return f"dyngen-test-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def open_s3_store(
    endpoint: str,
    *,
    bucket: str | None = None,
    prefix: str = "",
    create: bool = True,
    timeout_s: float = 5.0,
    cooldown_s: float = 0.0,
) -> AsyncIterator[S3ObjectStore]:
    """A started `S3ObjectStore` on `endpoint` (a fresh bucket unless one is named), closed afterwards.

    No cooldown by default: a contract test calls again right after restoring S3 and expects the call to
    reach it (the cooldown itself is the fault tests' subject).
    """
    store = S3ObjectStore(
        bucket=bucket or new_bucket(),
        prefix=prefix,
        endpoint_url=endpoint,
        timeout_s=timeout_s,
        cooldown_s=cooldown_s,
        **CREDENTIALS,
    )
    await store.start()
    try:
        if create:
            await store.create_bucket()
        yield store
    finally:
        await store.aclose()


async def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    """Every object name in `bucket`, read with a plain S3 client (not through the adapter)."""
    session = get_session()
    async with session.create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ) as client:
        response = await client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


class ObjectStoreContract:
    """Behaviour every `ObjectStore` adapter must have."""

    @pytest.fixture
    def store(self) -> ObjectStore:
        raise NotImplementedError("a Test<Store> subclass provides the store under test")

    @pytest.fixture
    def foreign(self) -> list[str]:
        raise NotImplementedError("a Test<Store> subclass lists URIs of other stores")

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(b"", id="empty"),
            pytest.param(bytes(range(256)) * 16, id="binary"),
            pytest.param('{"line":"caf\u00e9 \U0001f3b2"}'.encode(), id="utf8-json"),
            pytest.param(b"\x00" * (1 << 20), id="one-mib"),
        ],
    )
    async def test_put_then_get_returns_the_same_bytes(self, store: ObjectStore, data: bytes) -> None:
        await store.put("artifacts/ab/abcdef", data, content_type="application/octet-stream")
        assert await store.get("artifacts/ab/abcdef") == data

    async def test_keys_are_separate_objects(self, store: ObjectStore) -> None:
        for index, key in enumerate(KEYS):
            await store.put(key, f"object {index}".encode(), content_type="text/plain")
        assert [await store.get(k) for k in KEYS] == [f"object {i}".encode() for i in range(len(KEYS))]

    async def test_get_of_a_missing_key_is_none(self, store: ObjectStore) -> None:
        assert await store.get("artifacts/00/never-written") is None

    async def test_put_overwrites(self, store: ObjectStore) -> None:
        await store.put("top-level", b"first version, longer", content_type="text/plain")
        await store.put("top-level", b"second", content_type="text/plain")
        assert await store.get("top-level") == b"second"

    async def test_delete_removes_the_objects_and_counts_them(self, store: ObjectStore) -> None:
        for key in KEYS:
            await store.put(key, b"x", content_type="text/plain")

        assert await store.delete(KEYS[:2]) == 2

        assert [await store.get(k) for k in KEYS] == [None, None, b"x", b"x"]

    async def test_delete_counts_only_objects_that_were_there(self, store: ObjectStore) -> None:
        await store.put("top-level", b"x", content_type="text/plain")

        assert await store.delete([]) == 0
        assert await store.delete(["never-written"]) == 0
        assert await store.delete(["top-level", "never-written"]) == 1

    async def test_uri_and_key_of_round_trip(self, store: ObjectStore) -> None:
        for key in KEYS:
            uri = store.uri(key)
            assert "://" in uri
            assert store.key_of(uri) == key
        assert len({store.uri(k) for k in KEYS}) == len(KEYS)

    async def test_key_of_refuses_a_uri_of_another_store(self, store: ObjectStore, foreign: list[str]) -> None:
        for uri in foreign:
            with pytest.raises(ValueError, match="uri"):
                store.key_of(uri)

    async def test_ping_answers(self, store: ObjectStore) -> None:
        await store.ping()


class TestLocalObjectStore(ObjectStoreContract):
    """The embedded default: a folder on the local disk."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> ObjectStore:
        return LocalObjectStore(root=tmp_path / "objects")

    @pytest.fixture
    def foreign(self) -> list[str]:
        return ["s3://bucket/artifacts/ab/abcdef", "file:///etc/passwd", "artifacts/ab/abcdef", "LOCAL://x"]

    async def test_a_key_that_escapes_the_folder_is_refused(self, store: ObjectStore, tmp_path: Path) -> None:
        (tmp_path / "secret.txt").write_text("not an object")
        for key in ("../secret.txt", "a/../../secret.txt", str(tmp_path / "secret.txt"), ""):
            with pytest.raises(ValueError, match="escapes"):
                await store.get(key)
        with pytest.raises(ValueError, match="escapes"):
            await store.put("../planted", b"x", content_type="text/plain")
        assert not (tmp_path / "planted").exists()

    async def test_a_folder_removed_since_an_earlier_write_is_made_again(self, tmp_path: Path) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("cache/ab/first", LARGE, content_type="application/octet-stream")
        shutil.rmtree(tmp_path / "objects" / "cache")  # a sweep or an operator, behind the store's back

        await store.put("cache/ab/second", LARGE, content_type="application/octet-stream")

        assert await store.get("cache/ab/second") == LARGE
        assert await store.get("cache/ab/first") is None
        assert sorted(p.name for p in (tmp_path / "objects" / "cache" / "ab").iterdir()) == ["second"], "no temp file"

    async def test_small_objects_are_rows_of_one_file_and_large_ones_files(self, tmp_path: Path) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/small", b"a line of dialogue", content_type="text/plain")
        await store.put("artifacts/cd/large", LARGE, content_type="video/mp4")

        files = sorted(p.relative_to(tmp_path / "objects").as_posix() for p in (tmp_path / "objects").rglob("*"))
        assert "artifacts/ab/small" not in files, "no inode per small object"
        assert "artifacts/cd/large" in files
        assert stored(tmp_path / "objects", "artifacts/") == {
            "artifacts/ab/small": 18,
            "artifacts/cd/large": len(LARGE),
        }

    async def test_an_object_another_store_on_the_folder_wrote_is_read(self, tmp_path: Path) -> None:
        writer, reader = LocalObjectStore(root=tmp_path / "objects"), LocalObjectStore(root=tmp_path / "objects")
        assert await reader.get("top-level") is None, "before the pack exists"

        await writer.put("top-level", b"from another store", content_type="text/plain")

        assert await reader.get("top-level") == b"from another store"

    async def test_files_an_earlier_version_wrote_are_read_replaced_and_deleted(self, tmp_path: Path) -> None:
        folder = tmp_path / "objects"
        for name in ("artifacts/ab/old", "cache/ab/entry"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(b"written as a file")
        store = LocalObjectStore(root=folder)

        assert await store.get("artifacts/ab/old") == b"written as a file"
        await store.put("cache/ab/entry", b"newer", content_type="application/octet-stream")
        assert await store.get("cache/ab/entry") == b"newer"

        assert await store.delete(["artifacts/ab/old", "cache/ab/entry", "never-written"]) == 2, "each counted once"
        assert stored(folder, "") == {}

    async def test_a_small_version_does_not_shadow_a_larger_one_put_since(self, tmp_path: Path) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("cache/ab/entry", b"small", content_type="application/octet-stream")
        await store.put("cache/ab/entry", LARGE, content_type="application/octet-stream")

        assert await store.get("cache/ab/entry") == LARGE
        assert stored(tmp_path / "objects", "cache/") == {"cache/ab/entry": len(LARGE)}

    async def test_a_larger_version_that_cannot_replace_the_smaller_one_is_not_written(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(pack, "BUSY_TIMEOUT_S", 0.05)  # how long the store waits for another's write
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("cache/ab/entry", b"small", content_type="application/octet-stream")
        with (
            another_write(tmp_path / "objects" / PACK_FILE),  # for longer than the store waits
            pytest.raises(sqlite3.OperationalError, match="locked"),
        ):
            await store.put("cache/ab/entry", LARGE, content_type="application/octet-stream")

        assert await store.get("cache/ab/entry") == b"small", "the put failed whole"
        assert stored(tmp_path / "objects", "cache/") == {"cache/ab/entry": 5}, "no file hidden behind the row"

    async def test_a_pack_removed_behind_the_stores_back_is_made_again(self, tmp_path: Path) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")
        shutil.rmtree(tmp_path / "objects")  # an operator cleaning the data folder while the server runs

        await store.put("artifacts/ab/second", b"two", content_type="text/plain")

        assert await store.get("artifacts/ab/first") is None
        assert stored(tmp_path / "objects", "") == {"artifacts/ab/second": 3}, "written where it can be read"

    async def test_a_write_while_another_process_writes_the_pack_waits_in_a_thread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        threads: list[threading.Thread] = []
        waiting_put = pack.ObjectPack.put

        def spied(self: pack.ObjectPack, rows: Sequence[tuple[str, bytes]]) -> None:
            threads.append(threading.current_thread())
            waiting_put(self, rows)

        monkeypatch.setattr(pack.ObjectPack, "put", spied)
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")  # makes and opens the pack
        await store.put("artifacts/ab/zero", b"nil", content_type="text/plain")
        assert len(threads) == 1, "a pack made and opened is written on the event loop"
        threads.clear()
        await put_behind_another_write(store, tmp_path / "objects", "artifacts/ab/second", b"two")

        assert await store.get("artifacts/ab/second") == b"two"
        assert len(threads) == 1
        assert threading.main_thread() not in threads

    async def test_a_first_write_while_another_process_makes_the_pack_waits_for_it(self, tmp_path: Path) -> None:
        (tmp_path / "objects").mkdir()
        store = LocalObjectStore(root=tmp_path / "objects")
        # Another process making the new pack, its write under way: the first write waits for it. (Two
        # processes both making it can get "locked" at once, which `_prepare` retries: seen 2 times in 60
        # three-process races without the retry; not reproduced here, it needs the two to meet mid-setup.)
        await put_behind_another_write(store, tmp_path / "objects", "artifacts/ab/first", b"one")

        assert await store.get("artifacts/ab/first") == b"one"

    async def test_closing_while_a_thread_waits_for_the_pack_leaves_the_event_loop_running(
        self, tmp_path: Path
    ) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")
        with another_write(tmp_path / "objects" / PACK_FILE):
            put = asyncio.create_task(store.put("artifacts/ab/second", b"two", content_type="text/plain"))
            closing = asyncio.create_task(store.aclose())  # waits for the put's connection, in a thread
            await one_loop_turn()
            assert not closing.done()
        await put
        await closing

        assert await store.get("artifacts/ab/second") == b"two", "opened again after closing"

    async def test_a_pack_that_is_not_a_database_leaves_the_files_readable_and_deletable(self, tmp_path: Path) -> None:
        folder = tmp_path / "objects"
        store = LocalObjectStore(root=folder)
        await store.put("artifacts/ab/large", LARGE, content_type="video/mp4")
        (folder / PACK_FILE).write_bytes(b"not a database, " * 256)

        assert await store.get("artifacts/ab/large") == LARGE
        assert await store.get("artifacts/ab/never-written") is None
        with pytest.raises(sqlite3.DatabaseError, match="not a database"):
            await store.put("artifacts/ab/small", b"x", content_type="text/plain")
        assert await store.delete(["artifacts/ab/large"]) == 1
        assert not (folder / "artifacts" / "ab" / "large").exists()

    async def test_objects_put_in_one_turn_of_the_loop_are_written_in_one_transaction(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        writes: list[list[str]] = []
        put_now = pack.ObjectPack.put_now

        def spied(self: pack.ObjectPack, rows: Sequence[tuple[str, bytes]]) -> pack.Busy | None:
            writes.append([key for key, _ in rows])
            return put_now(self, rows)

        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")  # makes and opens the pack
        monkeypatch.setattr(pack.ObjectPack, "put_now", spied)
        names = [f"cache/ab/{index}" for index in range(5)]
        await asyncio.gather(*(store.put(name, name.encode(), content_type="text/plain") for name in names))
        await store.put("artifacts/ab/last", b"alone", content_type="text/plain")

        assert writes == [names, ["artifacts/ab/last"]]
        assert [await store.get(name) for name in names] == [name.encode() for name in names]

    async def test_objects_put_in_one_turn_while_another_process_writes_are_written_in_a_thread(
        self, tmp_path: Path
    ) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")
        names = [f"cache/ab/{index}" for index in range(3)]
        with another_write(tmp_path / "objects" / PACK_FILE):
            puts = [asyncio.create_task(store.put(n, n.encode(), content_type="text/plain")) for n in names]
            await one_loop_turn()
            await one_loop_turn()
            assert not any(put.done() for put in puts), "waiting for the other write, not holding the loop"
        await asyncio.gather(*puts)

        assert [await store.get(name) for name in names] == [name.encode() for name in names]

    async def test_a_failed_write_fails_every_put_of_its_turn_and_the_next_turn_writes(self, tmp_path: Path) -> None:
        folder = tmp_path / "objects"
        store = LocalObjectStore(root=folder)
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")
        await store.aclose()
        (folder / PACK_FILE).write_bytes(b"not a database, " * 256)
        failed = await asyncio.gather(
            *(store.put(f"cache/ab/{index}", b"x", content_type="text/plain") for index in range(3)),
            return_exceptions=True,
        )
        assert [type(error) for error in failed] == [sqlite3.DatabaseError] * 3

        (folder / PACK_FILE).unlink()
        await store.put("cache/ab/again", b"y", content_type="text/plain")
        assert await store.get("cache/ab/again") == b"y"

    async def test_a_put_cancelled_before_its_turn_ends_leaves_the_others_written(self, tmp_path: Path) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")
        kept = asyncio.create_task(store.put("cache/ab/kept", b"kept", content_type="text/plain"))
        dropped = asyncio.create_task(store.put("cache/ab/dropped", b"dropped", content_type="text/plain"))
        await asyncio.sleep(0)  # both queued for the same write
        dropped.cancel()
        await kept

        assert dropped.cancelled()
        assert await store.get("cache/ab/kept") == b"kept"

    def test_puts_left_by_a_loop_that_closed_before_its_turn_ended_do_not_stop_the_next_loops_batches(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        asyncio.run(store.put("artifacts/ab/first", b"one", content_type="text/plain"))
        loop = asyncio.new_event_loop()
        left = loop.create_task(store.put("cache/ab/left", b"left", content_type="text/plain"))
        loop.call_soon(loop.stop)  # after the put's first step: its batch's write would come in the next turn
        loop.run_forever()
        assert not left.done()
        loop.close()
        writes: list[list[str]] = []
        put_now = pack.ObjectPack.put_now

        def spied(self: pack.ObjectPack, rows: Sequence[tuple[str, bytes]]) -> pack.Busy | None:
            writes.append([key for key, _ in rows])
            return put_now(self, rows)

        monkeypatch.setattr(pack.ObjectPack, "put_now", spied)

        async def two() -> None:
            await asyncio.gather(*(store.put(f"cache/ab/{n}", b"x", content_type="text/plain") for n in range(2)))

        asyncio.run(two())
        assert writes == [["cache/ab/0", "cache/ab/1"]], "one batch of this loop's, the other loop's forgotten"

    async def test_a_loop_in_another_thread_writes_its_puts_alone_and_leaves_the_batches_of_the_first(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")  # this loop batches
        writes: list[tuple[str, list[str]]] = []
        put_now = pack.ObjectPack.put_now

        def spied(self: pack.ObjectPack, rows: Sequence[tuple[str, bytes]]) -> pack.Busy | None:
            writes.append((threading.current_thread().name, [key for key, _ in rows]))
            return put_now(self, rows)

        monkeypatch.setattr(pack.ObjectPack, "put_now", spied)
        other = threading.Thread(
            target=lambda: asyncio.run(store.put("cache/ab/other", b"o", content_type="text/plain")), name="other"
        )
        ours = [asyncio.create_task(store.put(f"cache/ab/{n}", b"x", content_type="text/plain")) for n in range(2)]
        other.start()
        await asyncio.to_thread(other.join)
        await asyncio.gather(*ours)

        assert sorted(writes) == [
            (threading.current_thread().name, ["cache/ab/0", "cache/ab/1"]),
            ("other", ["cache/ab/other"]),
        ]
        assert await store.get("cache/ab/other") == b"o"

    async def test_a_checkpoint_that_fails_is_logged_and_the_committed_puts_succeed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setattr(pack, "CHECKPOINT_EVERY", 1)

        def failing(self: pack.ObjectPack) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")
        monkeypatch.setattr(pack.ObjectPack, "checkpoint", failing)
        await store.put("artifacts/ab/second", b"two", content_type="text/plain")

        assert await store.get("artifacts/ab/second") == b"two"
        assert "objects.checkpoint_failed" in caplog.text

    async def test_a_connection_a_failed_write_leaves_in_its_transaction_is_closed_and_the_file_free(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = LocalObjectStore(root=tmp_path / "objects")
        await store.put("artifacts/ab/first", b"one", content_type="text/plain")
        write = pack._write

        def stuck(connection: sqlite3.Connection, rows: Sequence[tuple[str, bytes]]) -> None:
            connection.execute("BEGIN IMMEDIATE")  # and its rollback failed: still in it, the lock held
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(pack, "_write", stuck)
        with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
            await store.put("cache/ab/lost", b"x", content_type="text/plain")
        monkeypatch.setattr(pack, "_write", write)

        other = sqlite3.connect(tmp_path / "objects" / PACK_FILE, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # not "database is locked": the stuck connection let go of the file
        other.execute("ROLLBACK")
        other.close()
        await store.put("cache/ab/next", b"y", content_type="text/plain")
        assert await store.get("cache/ab/next") == b"y"
        assert await store.get("cache/ab/lost") is None

    async def test_the_loops_writes_are_checkpointed_in_a_thread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(pack, "CHECKPOINT_EVERY", 3)
        threads: list[threading.Thread] = []
        checkpoint = pack.ObjectPack.checkpoint

        def spied(self: pack.ObjectPack) -> None:
            threads.append(threading.current_thread())
            checkpoint(self)

        monkeypatch.setattr(pack.ObjectPack, "checkpoint", spied)
        store = LocalObjectStore(root=tmp_path / "objects")
        for index in range(7):
            await store.put(f"artifacts/ab/{index}", b"x" * 4000, content_type="text/plain")

        assert len(threads) == 2, "after the 3rd and the 6th write"
        assert threading.main_thread() not in threads
        assert [await store.get(f"artifacts/ab/{index}") for index in range(7)] == [b"x" * 4000] * 7

    async def test_a_key_naming_the_pack_is_refused(self, store: ObjectStore) -> None:
        for key in ("packed.sqlite3", "packed.sqlite3-wal", "./packed.sqlite3"):
            with pytest.raises(ValueError, match="own file"):
                await store.put(key, LARGE, content_type="application/octet-stream")

    async def test_ping_fails_on_a_pack_that_is_not_a_database(self, tmp_path: Path) -> None:
        (tmp_path / "objects").mkdir()
        (tmp_path / "objects" / PACK_FILE).write_bytes(b"not a database, " * 256)
        with pytest.raises(sqlite3.DatabaseError, match="not a database"):
            await LocalObjectStore(root=tmp_path / "objects").ping()

    async def test_ping_fails_on_a_folder_it_cannot_write(self, tmp_path: Path) -> None:
        (tmp_path / "objects").write_text("a file where the folder should be")
        with pytest.raises(FileExistsError):
            await LocalObjectStore(root=tmp_path / "objects").ping()


class TestMemoryObjectStore(ObjectStoreContract):
    """The ephemeral embedded mode's store: a dict of this process."""

    @pytest.fixture
    def store(self) -> ObjectStore:
        return MemoryObjectStore()

    @pytest.fixture
    def foreign(self) -> list[str]:
        return ["local://artifacts/ab/abcdef", "s3://bucket/artifacts/ab/abcdef", "artifacts/ab/abcdef", "MEMORY://x"]


@pytest.mark.services
class TestS3ObjectStore(ObjectStoreContract):
    """Any S3-compatible store, here moto's S3 server on loopback; each test gets a fresh bucket."""

    @pytest.fixture
    async def store(self, s3_server: MotoS3Server) -> AsyncIterator[ObjectStore]:
        async with open_s3_store(s3_server.endpoint) as store:
            yield store

    @pytest.fixture
    def foreign(self, store: S3ObjectStore) -> list[str]:
        own = store.uri("x").removesuffix("/x")  # s3://<bucket>
        return [f"{own}-other/artifacts/ab/abcdef", "s3://another-bucket/x", "local://artifacts/ab/abcdef", "x"]

    async def test_a_prefix_keeps_every_object_under_it(self, s3_server: MotoS3Server) -> None:
        bucket = new_bucket()
        async with (
            open_s3_store(s3_server.endpoint, bucket=bucket, prefix="/tenant-a/dyngen/") as tenant_a,
            open_s3_store(s3_server.endpoint, bucket=bucket, prefix="tenant-b") as tenant_b,
        ):
            await tenant_a.put("artifacts/ab/abcdef", b"a's", content_type="text/plain")
            await tenant_b.put("artifacts/ab/abcdef", b"b's", content_type="text/plain")

            assert await bucket_keys(s3_server.endpoint, bucket) == [
                "tenant-a/dyngen/artifacts/ab/abcdef",
                "tenant-b/artifacts/ab/abcdef",
            ]
            assert tenant_a.uri("artifacts/ab/abcdef") == f"s3://{bucket}/tenant-a/dyngen/artifacts/ab/abcdef"
            assert await tenant_a.get("artifacts/ab/abcdef") == b"a's"
            with pytest.raises(ValueError, match="uri"):
                tenant_a.key_of(tenant_b.uri("artifacts/ab/abcdef"))

            assert await tenant_a.delete(["artifacts/ab/abcdef"]) == 1
            assert await tenant_b.get("artifacts/ab/abcdef") == b"b's", "a prefix's delete stays in its prefix"

    async def test_ping_fails_when_the_bucket_is_missing(self, s3_server: MotoS3Server) -> None:
        async with open_s3_store(s3_server.endpoint, create=False) as missing:
            with pytest.raises(ClientError):
                await missing.ping()
