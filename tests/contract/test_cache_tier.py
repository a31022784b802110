"""The CacheTier contract: every tier of the content cache behaves the same, whatever holds the bytes.

To run the contract on another tier, subclass `CacheTierContract` as `Test<Tier>` and give it one fixture,
`subject`, that yields a `TierUnderTest` (an empty tier and a way to let its TTL clock run).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dyngen.adapters.cache.memory import MemoryCacheTier
from dyngen.adapters.cache.object_store import ObjectStoreCacheTier
from dyngen.adapters.storage.local import LocalObjectStore
from dyngen.ports import CacheTier

# Keys shaped like real cache keys: separators, escapes, unicode, and near-duplicates.
KEY = "dialogue|gap_fill|cafe|street|once||1"
ODD_KEYS = [KEY, "dialogue|gap_fill|caf\u00e9|street|once||1", "a%7Cb|c", "a|b%7Cc", "x" * 1000]
VALUES = [
    pytest.param(b"", id="empty"),
    pytest.param(bytes(range(256)), id="every-byte"),
    pytest.param(b"\x00" * 10_000, id="nul-10k"),
    pytest.param('{"outcome":{"content":"caf\u00e9 \U0001f3b2"}}'.encode(), id="utf8-json"),
]


@dataclass
class TierUnderTest:
    """An empty tier, and `elapse(seconds)`: let that much time pass on the clock its TTLs use.

    Tiers with an injectable clock advance it; tiers on a server's clock wait (polling, with a deadline).
    """

    tier: CacheTier
    elapse: Callable[[float], Awaitable[None]]


class ManualClock:
    """A monotonic (or wall) clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def elapse(self, seconds: float) -> None:
        self.now += seconds


class CacheTierContract:
    """Behaviour every `CacheTier` adapter must have."""

    @pytest.fixture
    def subject(self) -> TierUnderTest:
        raise NotImplementedError("a Test<Tier> subclass provides the tier under test")

    async def test_has_a_name_for_cache_tier_in_responses(self, subject: TierUnderTest) -> None:
        assert isinstance(subject.tier.name, str)
        assert subject.tier.name

    async def test_get_of_a_missing_key_is_none(self, subject: TierUnderTest) -> None:
        assert await subject.tier.get(KEY) is None

    @pytest.mark.parametrize("value", VALUES)
    async def test_set_then_get_returns_the_same_bytes(self, subject: TierUnderTest, value: bytes) -> None:
        await subject.tier.set(KEY, value)
        assert await subject.tier.get(KEY) == value

    async def test_keys_never_collide(self, subject: TierUnderTest) -> None:
        for index, key in enumerate(ODD_KEYS):
            await subject.tier.set(key, f"value-{index}".encode())
        assert [await subject.tier.get(k) for k in ODD_KEYS] == [f"value-{i}".encode() for i in range(len(ODD_KEYS))]

    async def test_set_overwrites(self, subject: TierUnderTest) -> None:
        await subject.tier.set(KEY, b"old content")
        await subject.tier.set(KEY, b"new")
        assert await subject.tier.get(KEY) == b"new"

    async def test_delete_removes_the_keys_and_counts_them(self, subject: TierUnderTest) -> None:
        for key in ("a", "b", "c"):
            await subject.tier.set(key, key.encode())

        assert await subject.tier.delete(["a", "b"]) == 2

        assert (await subject.tier.get("a"), await subject.tier.get("b")) == (None, None)
        assert await subject.tier.get("c") == b"c"

    async def test_delete_counts_only_keys_that_were_there(self, subject: TierUnderTest) -> None:
        await subject.tier.set("a", b"a")

        assert await subject.tier.delete([]) == 0
        assert await subject.tier.delete(["missing"]) == 0
        assert await subject.tier.delete(["a", "missing"]) == 1
        assert await subject.tier.delete(["a"]) == 0

    async def test_a_deleted_key_can_be_set_again(self, subject: TierUnderTest) -> None:
        await subject.tier.set(KEY, b"v1")
        await subject.tier.delete([KEY])
        await subject.tier.set(KEY, b"v2")
        assert await subject.tier.get(KEY) == b"v2"

    async def test_entry_expires_after_its_ttl_and_others_stay(self, subject: TierUnderTest) -> None:
        await subject.tier.set("short", b"s", ttl_s=2)
        await subject.tier.set("forever", b"f")

        await subject.elapse(1)
        assert await subject.tier.get("short") == b"s", "still fresh before its TTL"
        await subject.elapse(1.5)

        assert await subject.tier.get("short") is None
        assert await subject.tier.get("forever") == b"f"

    async def test_overwriting_without_ttl_makes_the_entry_permanent(self, subject: TierUnderTest) -> None:
        await subject.tier.set(KEY, b"temporary", ttl_s=2)
        await subject.tier.set(KEY, b"permanent")

        await subject.elapse(3)

        assert await subject.tier.get(KEY) == b"permanent"


class TestObjectStoreCacheTier(CacheTierContract):
    """The durable tier, on the embedded default's local folder."""

    @pytest.fixture
    def subject(self, tmp_path: Path) -> TierUnderTest:
        clock = ManualClock(start=1_800_000_000.0)
        tier = ObjectStoreCacheTier(store=LocalObjectStore(root=tmp_path / "objects"), wall_clock=clock)
        return TierUnderTest(tier=tier, elapse=clock.elapse)


def memory_tier(*, max_bytes: int = 1 << 20, max_entries: int = 1000) -> tuple[MemoryCacheTier, ManualClock]:
    clock = ManualClock()
    return MemoryCacheTier(max_bytes=max_bytes, max_entries=max_entries, monotonic=clock), clock


def stored(tier: MemoryCacheTier, values: dict[str, bytes]) -> int:
    """The bytes `values` should account for, after checking the tier holds exactly those entries."""
    assert len(tier) == len(values)
    return sum(len(v) for v in values.values())


class TestMemoryCacheTier(CacheTierContract):
    @pytest.fixture
    def subject(self) -> TierUnderTest:
        tier, clock = memory_tier()
        return TierUnderTest(tier=tier, elapse=clock.elapse)

    async def test_evicts_the_least_recently_used_entry_beyond_max_entries(self) -> None:
        tier, _ = memory_tier(max_entries=3)
        for key in ("a", "b", "c"):
            await tier.set(key, key.encode())
        await tier.get("a")  # a is now more recently used than b

        await tier.set("d", b"d")

        assert await tier.get("b") is None
        assert [await tier.get(k) for k in ("a", "c", "d")] == [b"a", b"c", b"d"]
        assert len(tier) == 3

    async def test_evicts_the_least_recently_used_entries_beyond_max_bytes(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        await tier.set("a", b"aaaa")
        await tier.set("b", b"bbbb")
        await tier.get("a")

        await tier.set("c", b"cccc")

        assert await tier.get("b") is None
        assert (await tier.get("a"), await tier.get("c")) == (b"aaaa", b"cccc")
        assert tier.size_bytes == 8

    async def test_one_large_entry_evicts_as_many_as_it_needs(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        for key in ("a", "b", "c"):
            await tier.set(key, b"xxx")

        await tier.set("big", b"y" * 8)

        assert [await tier.get(k) for k in ("a", "b", "c")] == [None, None, None]
        assert await tier.get("big") == b"y" * 8
        assert tier.size_bytes == 8

    async def test_a_value_larger_than_the_whole_tier_is_not_stored_and_evicts_nothing(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        await tier.set("small", b"12345")

        await tier.set("huge", b"x" * 11)

        assert await tier.get("huge") is None
        assert await tier.get("small") == b"12345"
        assert tier.size_bytes == 5

    async def test_an_oversize_overwrite_does_not_leave_the_old_value_behind(self) -> None:
        tier, _ = memory_tier(max_bytes=10)
        await tier.set(KEY, b"old")

        await tier.set(KEY, b"x" * 11)

        assert await tier.get(KEY) is None, "the caller replaced this value; the old one is stale"
        assert tier.size_bytes == 0

    async def test_size_bytes_stays_exact_through_overwrite_delete_expiry_and_eviction(self) -> None:
        tier, clock = memory_tier(max_bytes=20, max_entries=3)
        held: dict[str, bytes] = {}

        async def put(key: str, value: bytes, ttl_s: float | None = None) -> None:
            await tier.set(key, value, ttl_s=ttl_s)
            held[key] = value

        await put("a", b"1234567")
        await put("b", b"12")
        await put("a", b"123")  # overwrite shrinks
        assert tier.size_bytes == stored(tier, held) == 5
        await put("b", b"1234567890")  # overwrite grows
        assert tier.size_bytes == stored(tier, held) == 13
        await tier.delete(["a", "never-set"])
        del held["a"]
        assert tier.size_bytes == stored(tier, held) == 10
        await put("t", b"12345", ttl_s=1)
        await clock.elapse(2)
        assert await tier.get("t") is None
        del held["t"]
        assert tier.size_bytes == stored(tier, held) == 10
        await put("c", b"123456789")  # 19 bytes: fits
        await put("d", b"12345")  # 24 bytes: evicts b (least recently used)
        del held["b"]
        assert tier.size_bytes == stored(tier, held) == 14
        await tier.delete(list(held))
        assert tier.size_bytes == 0
        assert len(tier) == 0
