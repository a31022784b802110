"""The cost of a budget reservation and of a rate-limit check, against a bare Redis round trip in the same run.

What is measured (p50 and p99 of single calls, one caller, on uvloop):

- baseline: `PING` on the same `RedisConnection` client (its pool, its prefix) the adapters use: one round
  trip, nothing executed; and `GET` of a small key, for a command that reads;
- `RedisBudgetLedger.reserve` alone (one Lua script: drop expired reservations, check the node budget and
  the global cap, hold the amount in both) and `reserve` + `commit` (the second script moves the hold to
  spent and adds the spend history): what every budgeted provider call pays, two round trips;
- `RedisRateLimiter.acquire` (one GCRA script): what every rate-limited request pays;
- for the embedded default, `SqlAlchemyBudgetLedger.reserve` + `commit` on SQLite, wired as `bootstrap`
  wires it (the reservation one transaction in the group-commit writer's thread, the commit a write of its
  next batch) against one bare write transaction (`UPDATE` of one row) on the same file;
- the read of the budget limits set in the editor (`SqlAlchemyBudgetLimitRepository.stored_limits`, 20
  limits stored) that each budgeted provider call makes before its reservation, against that
  reserve + commit: what the editable limits add to a provider call.

Why the baselines are fair: same process, same event loop, same Redis server and connection pool, same
run; the contenders alternate in rounds (A B C, C B A, ...) so that drift falls on each alike. Goal: a
reservation (the atomic check-and-hold a provider call waits for) adds under 0.1 ms over a bare Redis round
trip at p50; its commit is a second round trip after the call, reported beside it. A Redis that is not
there prints SKIP for its rows.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import Row, percentile
from bench.cache_tiers import REDIS_URL, run_async

SAMPLES = 3_000
SQL_SAMPLES = 400
PER_ROUND = 50
GOAL_ADDED_MS = 0.1


async def _measure(contenders: dict[str, Callable[[], Awaitable[object]]], samples: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    for _ in range(2):  # warm-up round, not timed
        for call in contenders.values():
            await call()
    for round_no in range(samples // PER_ROUND):
        for name in order if round_no % 2 == 0 else reversed(order):
            call = contenders[name]
            for _ in range(PER_ROUND):
                started = time.perf_counter()
                await call()
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: sorted(values) for name, values in times.items()}


def _ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.3f} ms, p99 {percentile(values, 99):.3f} ms"


async def _redis_rows() -> list[Row]:
    from dyngen.adapters.budgets.redis import RedisBudgetLedger
    from dyngen.adapters.clock import SystemClock
    from dyngen.adapters.messaging.redis import RedisConnection, RedisUnavailableError
    from dyngen.adapters.rate_limits.redis import RedisRateLimiter
    from dyngen.domain.budgets import GLOBAL_SCOPE
    from dyngen.ports import Reservation

    prefix = f"dyngen-bench-{uuid.uuid4().hex[:8]}"
    connection = RedisConnection(url=REDIS_URL, prefix=prefix)
    try:
        await connection.client.ping()
    except Exception:
        await connection.aclose()
        return [Row("budgets", "redis rows", "SKIP (no Redis on 127.0.0.1:6379)")]
    ledger = RedisBudgetLedger(connection=connection)
    limiter = RedisRateLimiter(connection=connection, clock=SystemClock())
    limits: dict[str, int | None] = {GLOBAL_SCOPE: 10**15, "node:bench": 10**15}
    key = connection.key("bench-get")
    await connection.client.set(key, b"x" * 64)

    def reservation() -> Reservation:
        return Reservation(
            id=uuid.uuid4().hex,
            period="bench",
            scopes=(GLOBAL_SCOPE, "node:bench"),
            amount=10_000,
            node_id="bench",
            provider="bench",
        )

    async def reserve() -> None:
        if await ledger.reserve(reservation(), limits=limits, ttl_s=60) is not None:
            raise RuntimeError("the bench budget refused a reservation")

    async def reserve_commit() -> None:
        held = reservation()
        if await ledger.reserve(held, limits=limits, ttl_s=60) is not None:
            raise RuntimeError("the bench budget refused a reservation")
        await ledger.commit(held, actual=9_000, at=datetime.now(UTC))

    async def acquire() -> None:
        await limiter.acquire("bench", per_second=1e9, burst=1_000_000)

    async def ping() -> None:
        await connection.call(lambda r: r.ping())

    async def get() -> None:
        await connection.call(lambda r: r.get(key))

    try:
        times = await _measure(
            {
                "ping": ping,
                "get": get,
                "reserve": reserve,
                "reserve+commit": reserve_commit,
                "acquire": acquire,
            },
            SAMPLES,
        )
        # The reservations above are held for 60 s: check the ledger counted every one of them.
        [state] = [s for s in await ledger.snapshot("bench") if s.scope == "node:bench"]
        if state.reserved <= 0 or state.spent <= 0:
            raise RuntimeError(f"the ledger did not count the bench's reservations: {state}")
    except RedisUnavailableError as exc:
        return [Row("budgets", "redis rows", f"SKIP ({exc})")]
    finally:
        keys = [k async for k in connection.client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await connection.client.delete(*keys)
        await connection.aclose()
    ping_p50 = percentile(times["ping"], 50)

    def vs_ping(name: str, goal: bool = False) -> Row:
        p50 = percentile(times[name], 50)
        added = p50 - ping_p50
        return Row(
            "budgets",
            f"redis {name}",
            _ms(times[name]),
            baseline=f"PING {_ms(times['ping'])}",
            ratio=f"{p50 / ping_p50:.2f}x, +{added:.3f} ms",
            goal=f"adds < {GOAL_ADDED_MS:g} ms at p50" if goal else "",
            passed=(added < GOAL_ADDED_MS) if goal else None,
        )

    return [
        vs_ping("get"),
        vs_ping("reserve", goal=True),
        vs_ping("reserve+commit"),
        vs_ping("acquire"),
    ]


async def _sqlite_rows() -> list[Row]:
    from sqlalchemy import text

    from dyngen.adapters.clock import SystemClock
    from dyngen.adapters.db.budget_limits import SqlAlchemyBudgetLimitRepository
    from dyngen.adapters.db.budgets import SqlAlchemyBudgetLedger
    from dyngen.adapters.db.reader import SqlReader
    from dyngen.adapters.db.repository import create_engine
    from dyngen.adapters.db.schema import upgrade
    from dyngen.adapters.db.writer import SqlWriter
    from dyngen.domain.budgets import GLOBAL_SCOPE
    from dyngen.ports import BudgetLimitChange, Reservation

    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
                await conn.execute(text("INSERT INTO bench_counter VALUES (1, 0)"))
            writer = SqlWriter(engine=engine)  # as `bootstrap.build` wires the ledger: its own thread's transactions
            ledger = SqlAlchemyBudgetLedger(engine=engine, clock=SystemClock(), writer=writer)
            limits: dict[str, int | None] = {GLOBAL_SCOPE: 10**15, "node:bench": 10**15}
            reader = SqlReader(engine=engine)  # as `bootstrap.build` wires the stored limits' read
            stored = SqlAlchemyBudgetLimitRepository(engine=engine, reader=reader)
            for n in range(20):
                change = BudgetLimitChange(
                    scope=f"node:n{n}", limit=10**9, use_default=False, changed_at=datetime.now(UTC)
                )
                await stored.change_limit(change)

            async def read_limits() -> None:
                await stored.stored_limits()

            async def reserve_commit() -> None:
                held = Reservation(
                    id=uuid.uuid4().hex,
                    period="bench",
                    scopes=(GLOBAL_SCOPE, "node:bench"),
                    amount=10_000,
                    node_id="bench",
                    provider="bench",
                )
                if await ledger.reserve(held, limits=limits, ttl_s=60) is not None:
                    raise RuntimeError("the bench budget refused a reservation")
                await ledger.commit(held, actual=9_000, at=datetime.now(UTC))

            async def bare_write() -> None:
                async with engine.begin() as conn:
                    await conn.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))

            try:
                times = await _measure(
                    {"write": bare_write, "reserve+commit": reserve_commit, "limits": read_limits}, SQL_SAMPLES
                )
            finally:
                await reader.aclose()
                await writer.aclose()
        finally:
            await engine.dispose()
    ratio = percentile(times["reserve+commit"], 50) / percentile(times["write"], 50)
    return [
        Row(
            "budgets",
            "sqlite reserve+commit",
            _ms(times["reserve+commit"]),
            baseline=f"1 write txn {_ms(times['write'])}",
            ratio=f"{ratio:.2f}x",
        ),
        Row(
            "budgets",
            "sqlite stored limits read",
            _ms(times["limits"]),
            baseline=f"reserve+commit {_ms(times['reserve+commit'])}",
            ratio=f"{percentile(times['limits'], 50) / percentile(times['reserve+commit'], 50):.2f}x",
        ),
    ]


def run() -> list[Row]:
    async def main() -> list[Row]:
        return [*await _redis_rows(), *await _sqlite_rows()]

    rows = run_async(main())
    for row in rows:
        print(f"  {row.figure}: {row.value}  vs {row.baseline}  {row.ratio}", flush=True)
    return rows
