"""Hit latency at each cache tier, against the raw client operation on the same backend in the same run.

What is measured: the latency of one cache hit through each `CacheTier` adapter, and through
`LayeredCache.get` for an entry that only the Redis tier holds (memory miss, Redis hit, decode, promotion
into the memory tier). The value is a real ~2 KB cache entry (a `CacheEntry` around the built-in
provider's transition script, as the service stores it). Goal (issue 3): the tier adds under 0.3 ms at
p50 over the raw operation.

Why each baseline is fair: it is the least a caller could do to fetch the same bytes from the same
backend, measured in the same process, on the same event loop, against the same server, in the same run:

- memory: `MemoryCacheTier.get` vs `dict.get` on a dict holding the same bytes under the same key (timed
  without an `await`, so the tier's async call is part of what it adds);
- redis: `RedisCacheTier.get` through `RedisConnection` (its pool, its health wrapper, its key prefix)
  vs `GET` of the very same Redis key on a plain `redis.asyncio.Redis` client of its own; for the
  evidence, also `GET` on `RedisConnection.client` (the tier's pool, without the tier's wrapper), which
  splits what the tier adds into "the pool it was given" and "the adapter's own code";
- object: `ObjectStoreCacheTier.get` over `S3ObjectStore` vs `get_object` + `read()` of the very same
  object on an aiobotocore client of its own, against moto's S3 server on loopback (started here);
- layered: `LayeredCache([memory, redis]).get` for a key that is only in Redis, vs the raw Redis GET. The
  memory copy the previous sample promoted is dropped before each sample, outside the timer. Its
  `decode` returns the bytes as they are: parsing an entry is the caller's cost, not the cache's. The
  timed call also checks that the hit came from the Redis tier (a wrapper coroutine: well under 1 us,
  counted against the cache).

How: after a warm-up, rounds of `PER_ROUND` samples per contender, the order reversed every other round
(A B C, C B A, ...), so a drift in the machine's speed falls on every contender alike; every returned
value is compared with the stored bytes (outside the timer). A Redis or moto server that is not there
prints SKIP for its rows and does not fail the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench import BenchError, Row, percentile

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
MEMORY_SAMPLES = 20_000
REDIS_SAMPLES = 4_000
S3_SAMPLES = 2_000
PER_ROUND = 50
WARMUP_ROUNDS = 2
GOAL_ADDED_MS = 0.3
VALUE_BYTES = 2048  # the entry chosen is the real one closest to this size

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop when installed, the loop `dyngen serve` runs on (uvicorn picks it)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


# --- measuring ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contender:
    """One way of fetching the value: `fetch` awaited, or `call` called (a plain dict lookup has no await).

    `reset` runs before every sample, outside the timer; `expected` replaces the value it must return.
    """

    name: str
    fetch: Callable[[], Awaitable[object]] | None = None
    call: Callable[[], object] | None = None
    reset: Callable[[], Awaitable[object]] | None = None
    expected: bytes | None = None


async def interleaved(contenders: Sequence[Contender], *, samples: int, expected: bytes) -> dict[str, list[float]]:
    """Milliseconds per fetch for each contender: `samples` each, in rounds whose order reverses each time.

    Raises:
        BenchError: when a contender returns anything but `expected`.
    """
    timings: dict[str, list[float]] = {c.name: [] for c in contenders}
    gc.collect()  # start from a clean heap, whatever ran before in this process
    rounds = WARMUP_ROUNDS + max(1, samples // PER_ROUND)
    clock = time.perf_counter_ns
    for index in range(rounds):
        order = contenders if index % 2 == 0 else list(reversed(contenders))
        for contender in order:
            out = timings[contender.name]
            fetch, call, reset = contender.fetch, contender.call, contender.reset
            want = expected if contender.expected is None else contender.expected
            for _ in range(PER_ROUND):
                if reset is not None:
                    await reset()
                if call is not None:
                    started = clock()
                    got = call()
                    elapsed = clock() - started
                else:
                    assert fetch is not None
                    started = clock()
                    got = await fetch()
                    elapsed = clock() - started
                if got != want:
                    raise BenchError(f"{contender.name} returned {str(got)[:80]!r}, not the stored value")
                if index >= WARMUP_ROUNDS:
                    out.append(elapsed / 1e6)
    return {name: sorted(ms) for name, ms in timings.items()}


def _ms(value: float) -> str:
    return f"{value * 1000:.2f} us" if abs(value) < 0.1 else f"{value:.3f} ms"


def _delta(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}{_ms(abs(value))}"


def _line(name: str, ms: list[float]) -> str:
    return (
        f"  {name:<34} n={len(ms):<6} p50 {_ms(percentile(ms, 50)):>10}  p90 {_ms(percentile(ms, 90)):>10}"
        f"  p99 {_ms(percentile(ms, 99)):>10}"
    )


def compared(label: str, tier: list[float], raw: list[float], raw_name: str) -> list[Row]:
    """The p50 row (with the goal) and the p99 row of a tier against its raw operation."""
    added = percentile(tier, 50) - percentile(raw, 50)
    print(
        f"  => {label}: adds {_delta(added)} at p50, {_delta(percentile(tier, 99) - percentile(raw, 99))} at p99"
        f" over {raw_name}"
    )
    return [
        Row(
            "tiers",
            f"{label} hit p50",
            _ms(percentile(tier, 50)),
            f"{_ms(percentile(raw, 50))} {raw_name}",
            _delta(added),
            f"< {GOAL_ADDED_MS:g} ms added",
            added < GOAL_ADDED_MS,
        ),
        Row(
            "tiers",
            f"{label} hit p99",
            _ms(percentile(tier, 99)),
            f"{_ms(percentile(raw, 99))} {raw_name}",
            _delta(percentile(tier, 99) - percentile(raw, 99)),
        ),
    ]


def skipped(labels: Sequence[str], reason: str) -> list[Row]:
    print(f"  SKIP {', '.join(labels)}: {reason}")
    return [Row("tiers", f"{label} hit p50", "SKIP", reason, "", f"< {GOAL_ADDED_MS:g} ms added") for label in labels]


# --- the value ------------------------------------------------------------------------------------------


async def realistic_entry() -> tuple[str, bytes]:
    """A real cache key and entry: the built-in provider's script for the HTTP bench's transition request,
    wrapped as the service caches it; of 32 seeds, the one whose entry is closest to `VALUE_BYTES`."""
    from bench.http_cache_hits import REQUEST
    from dyngen.adapters.providers.builtin import BuiltinProvider
    from dyngen.domain.cache_keys import cache_key
    from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus
    from dyngen.ports import ProviderCall
    from dyngen.services.generation.outcomes import CACHE_FORMAT, CacheEntry, Outcome
    from dyngen.services.machinery.ids import new_id

    request = GenerateContentRequest.model_validate(REQUEST)
    provider = BuiltinProvider()
    best = b""
    for seed in random.Random(2048).sample(range(2**62), 32):
        result = await provider.generate(ProviderCall(request=request, seed=seed, attempt=1, deadline_s=5.0))
        outcome = Outcome(
            generation_id=new_id(),
            status=GenerationStatus.COMPLETE,
            deterministic=True,
            seed=seed,
            provider=provider.info.name,
            content=result.payload,
        )
        entry = CacheEntry(format=CACHE_FORMAT, fingerprint=new_id() * 2, outcome=outcome)
        raw = entry.model_dump_json(exclude_none=True).encode()
        if abs(len(raw) - VALUE_BYTES) < abs(len(best) - VALUE_BYTES):
            best = raw
    return cache_key(request), best


# --- the tiers ------------------------------------------------------------------------------------------


async def memory_rows(key: str, value: bytes) -> list[Row]:
    from dyngen.adapters.cache.memory import MemoryCacheTier

    tier = MemoryCacheTier(max_bytes=64 * 1024 * 1024, max_entries=10_000)
    plain: dict[str, bytes] = {}
    # Neighbours, so neither the LRU nor the dict is a one-entry toy.
    for index in range(1000):
        filler = f"{key}-{index}"
        await tier.set(filler, value, ttl_s=86400.0)
        plain[filler] = value
    await tier.set(key, value, ttl_s=86400.0)
    plain[key] = value
    ms = await interleaved(
        [
            Contender("dict.get", call=functools.partial(plain.get, key)),
            Contender("MemoryCacheTier.get", fetch=functools.partial(tier.get, key)),
        ],
        samples=MEMORY_SAMPLES,
        expected=value,
    )
    for name, samples in ms.items():
        print(_line(name, samples))
    return compared("memory", ms["MemoryCacheTier.get"], ms["dict.get"], "dict")


async def redis_missing() -> str | None:
    """None when Redis answers PING, else why not."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return f"no Redis at {REDIS_HOST}:{REDIS_PORT} ({type(exc).__name__})"
    finally:
        await client.aclose()
    return None


def new_redis_prefix() -> str:
    """A key prefix of this run's own (delete its keys after with `delete_redis_prefix`)."""
    return f"dyngen-bench-{uuid.uuid4().hex[:10]}"


async def delete_redis_prefix(prefix: str) -> None:
    """Delete every key under `prefix`."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this run's own; its keys are deleted afterwards."""
    prefix = new_redis_prefix()
    try:
        yield prefix
    finally:
        await delete_redis_prefix(prefix)


async def redis_rows(key: str, value: bytes) -> list[Row]:
    import redis.asyncio as aioredis

    from dyngen.adapters.cache.memory import MemoryCacheTier
    from dyngen.adapters.cache.redis import RedisCacheTier
    from dyngen.adapters.messaging.redis import RedisConnection
    from dyngen.services.machinery.layered_cache import LayeredCache

    labels = ("redis", "layered, redis-only")
    reason = await redis_missing()
    if reason is not None:
        return skipped(labels, reason)
    async with redis_prefix() as prefix:
        connection = RedisConnection(url=REDIS_URL, prefix=prefix)
        await connection.start()  # as bootstrap does: the pub/sub listener runs beside every request
        raw = aioredis.Redis.from_url(REDIS_URL)
        try:
            tier = RedisCacheTier(connection=connection)
            await tier.set(key, value, ttl_s=600.0)
            stored = connection.key("cache", key)
            if await raw.get(stored) != value:
                raise BenchError(f"RedisCacheTier.set did not store the value under {stored!r}")
            memory = MemoryCacheTier(max_bytes=64 * 1024 * 1024, max_entries=10_000)
            layered = LayeredCache([memory, tier])

            async def layered_get() -> bytes | None:
                found = await layered.get(key, _as_is, promote_ttl_s=600.0)
                if found is None or found[1] != "redis":
                    raise BenchError(f"LayeredCache.get: expected a Redis-tier hit, got {found and found[1]!r}")
                return found[0]

            ms = await interleaved(
                [
                    Contender("raw GET (own redis.asyncio client)", fetch=functools.partial(raw.get, stored)),
                    Contender("GET on RedisConnection.client", fetch=functools.partial(connection.client.get, stored)),
                    Contender("RedisCacheTier.get", fetch=functools.partial(tier.get, key)),
                    Contender(
                        "LayeredCache.get (redis hit)",
                        fetch=layered_get,
                        reset=functools.partial(memory.delete, [key]),
                    ),
                ],
                samples=REDIS_SAMPLES,
                expected=value,
            )
        finally:
            await raw.aclose()
            await connection.aclose()
    for name, samples in ms.items():
        print(_line(name, samples))
    baseline = ms["raw GET (own redis.asyncio client)"]
    same_pool = ms["GET on RedisConnection.client"]
    tier_ms = ms["RedisCacheTier.get"]
    print(
        f"  split: RedisConnection's pool adds {_delta(percentile(same_pool, 50) - percentile(baseline, 50))} at p50,"
        f" the adapter's own code {_delta(percentile(tier_ms, 50) - percentile(same_pool, 50))}"
    )
    rows = compared("redis", tier_ms, baseline, "raw GET")
    rows += compared("layered, redis-only", ms["LayeredCache.get (redis hit)"], baseline, "raw GET")
    return rows


def _as_is(raw: bytes) -> bytes:
    return raw


async def s3_rows(key: str, value: bytes, workdir: Path) -> list[Row]:
    from tests.support.servers import VENV_BIN, MotoS3Server

    labels = ("object (S3)",)
    if not (VENV_BIN / "moto_server").exists():
        return skipped(labels, f"no moto_server in {VENV_BIN}")
    server = MotoS3Server(workdir)
    try:
        try:
            server.start()
        except (OSError, TimeoutError) as exc:
            return skipped(labels, f"moto_server did not start ({type(exc).__name__}: {exc})")
        return await _s3_measure(server.endpoint, key, value)
    finally:
        server.stop()


async def _s3_measure(endpoint: str, key: str, value: bytes) -> list[Row]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    from dyngen.adapters.cache.object_store import ObjectStoreCacheTier
    from dyngen.adapters.storage.s3 import S3ObjectStore

    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    store = S3ObjectStore(
        bucket=bucket,
        prefix="dyngen",
        endpoint_url=endpoint,
        access_key_id=credentials["aws_access_key_id"],
        secret_access_key=credentials["aws_secret_access_key"],
    )
    await store.start()
    try:
        await store.create_bucket()
        tier = ObjectStoreCacheTier(store=store)
        await tier.set(key, value, ttl_s=600.0)
        session = get_session()
        config = AioConfig(s3={"addressing_style": "path"})
        async with session.create_client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", config=config, **credentials
        ) as client:
            listed = await client.list_objects_v2(Bucket=bucket)
            names = [o["Key"] for o in listed.get("Contents", [])]
            if len(names) != 1:
                raise BenchError(f"expected the tier to have written one object, found {names}")
            name = names[0]
            # The tier stores an 8-byte expiry header before the value: the raw GET reads those bytes too.
            whole = await _raw_get(client, bucket, name)
            if not whole.endswith(value) or len(whole) - len(value) != 8:
                raise BenchError(f"the object {name!r} is not an 8-byte header and the stored value")
            ms = await interleaved(
                [
                    Contender(
                        "raw get_object + read (own client)",
                        fetch=functools.partial(_raw_get, client, bucket, name),
                        expected=whole,
                    ),
                    Contender("ObjectStoreCacheTier.get (S3)", fetch=functools.partial(tier.get, key)),
                ],
                samples=S3_SAMPLES,
                expected=value,
            )
    finally:
        await store.aclose()
    for name_, samples in ms.items():
        print(_line(name_, samples))
    return compared(
        "object (S3)", ms["ObjectStoreCacheTier.get (S3)"], ms["raw get_object + read (own client)"], "raw GET"
    )


async def _raw_get(client: Any, bucket: str, name: str) -> bytes:
    response = await client.get_object(Bucket=bucket, Key=name)
    async with response["Body"] as stream:
        data: bytes = await stream.read()
    return data


# --- the benchmark --------------------------------------------------------------------------------------


async def measure(workdir: Path) -> list[Row]:
    key, value = await realistic_entry()
    print(f"  value: a {len(value)} B cache entry (built-in transition script); key {len(key)} chars")
    rows = await memory_rows(key, value)
    rows += await redis_rows(key, value)
    rows += await s3_rows(key, value, workdir)
    return rows


def run() -> list[Row]:
    """Every tier's hit latency against its raw operation; prints the raw figures, returns the rows."""
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-tiers-") as tmp:
        return run_async(measure(Path(tmp)))


if __name__ == "__main__":
    from bench import table

    print(table(run()))
