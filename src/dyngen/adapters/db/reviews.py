"""`SqlAlchemyReviewRepository`: quality reviews of generations, and their means, in SQLite or PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db.repository import retrying, to_utc
from dyngen.adapters.db.tables import reviews
from dyngen.domain.cache_keys import ReviewScore
from dyngen.ports import Review

# Keys per IN (...) query: far below every driver's bound parameter limit.
KEY_BATCH = 500


def _score(mean: Any, count: Any) -> ReviewScore:
    return ReviewScore(mean=round(float(mean), 4), count=int(count))


class SqlAlchemyReviewRepository:
    """Stores `Review`s; the means are computed by the database (AVG, COUNT).

    Args:
        engine: The async engine (SQLite through aiosqlite, PostgreSQL through asyncpg).
    """

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_review(self, review: Review) -> None:
        async def add() -> None:
            async with self._engine.begin() as conn:
                await conn.execute(
                    reviews.insert().values(
                        id=review.id,
                        generation_id=review.generation_id,
                        node_id=review.node_id,
                        cache_key=review.cache_key,
                        arm=review.arm,
                        score=review.score,
                        note=review.note,
                        reviewer=review.reviewer,
                        created_at=to_utc(review.created_at),
                    )
                )

        await retrying(add)

    async def generation_score(self, generation_id: str) -> ReviewScore | None:
        async def read() -> ReviewScore | None:
            stmt = select(func.avg(reviews.c.score), func.count()).where(reviews.c.generation_id == generation_id)
            async with self._engine.connect() as conn:
                mean, count = (await conn.execute(stmt)).one()
            return _score(mean, count) if count else None

        return await retrying(read)

    async def key_scores(self, cache_keys: Sequence[str]) -> dict[str, ReviewScore]:
        async def read(batch: Sequence[str]) -> dict[str, ReviewScore]:
            stmt = (
                select(reviews.c.cache_key, func.avg(reviews.c.score), func.count())
                .where(reviews.c.cache_key.in_(batch))
                .group_by(reviews.c.cache_key)
            )
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
            return {key: _score(mean, count) for key, mean, count in rows}

        found: dict[str, ReviewScore] = {}
        wanted = list(dict.fromkeys(cache_keys))
        for start in range(0, len(wanted), KEY_BATCH):
            batch = wanted[start : start + KEY_BATCH]
            found.update(await retrying(functools.partial(read, batch)))
        return found

    async def arm_scores(self, node_id: str) -> dict[str | None, ReviewScore]:
        async def read() -> dict[str | None, ReviewScore]:
            stmt = (
                select(reviews.c.arm, func.avg(reviews.c.score), func.count())
                .where(reviews.c.node_id == node_id)
                .group_by(reviews.c.arm)
            )
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
            return {arm: _score(mean, count) for arm, mean, count in rows}

        return await retrying(read)
