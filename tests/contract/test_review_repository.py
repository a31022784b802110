"""The ReviewRepository contract (quality reviews and their means), run on every database in `BACKENDS`
and on the memory repositories,
and the arm a generation record keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.repository import SqlAlchemyGenerationRepository
from dyngen.adapters.db.reviews import SqlAlchemyReviewRepository
from dyngen.adapters.memory.authoring import MemoryReviewRepository
from dyngen.adapters.memory.database import MemoryDatabase
from dyngen.adapters.memory.generations import MemoryGenerationRepository
from dyngen.domain.cache_keys import ReviewScore
from dyngen.ports import GenerationRepository, Review, ReviewRepository
from tests.contract.test_repository import K1, K2, T0, record


def review(
    review_id: str,
    generation_id: str,
    score: int,
    *,
    key: str = K1,
    node: str | None = "n-cafe",
    arm: str | None = None,
) -> Review:
    return Review(
        id=review_id,
        generation_id=generation_id,
        node_id=node,
        cache_key=key,
        arm=arm,
        score=score,
        note="too \u201cslow\u201d" if score < 3 else None,
        reviewer="mara",
        created_at=T0 + timedelta(minutes=len(review_id)),
    )


class ReviewRepositoryContract:
    """Behaviour every `ReviewRepository` adapter must have."""

    @pytest.fixture
    async def stores(self) -> tuple[GenerationRepository, ReviewRepository]:
        raise NotImplementedError("a Test<Repository> subclass provides the repositories under test")

    @pytest.fixture
    async def reviews(self, stores: tuple[GenerationRepository, ReviewRepository]) -> ReviewRepository:
        generations, found = stores
        await generations.add(record("g1", cache_key=K1))
        await generations.add(record("g2", cache_key=K1, at=T0 + timedelta(seconds=1)).model_copy(update={"arm": "b"}))
        await generations.add(record("g3", cache_key=K2, node_id="n-roof"))
        return found

    async def test_a_generation_without_reviews_has_no_score(self, reviews: ReviewRepository) -> None:
        assert await reviews.generation_score("g1") is None

    async def test_the_score_of_a_generation_is_the_mean_of_its_reviews(self, reviews: ReviewRepository) -> None:
        for n, score in enumerate((5, 4, 4)):
            await reviews.add_review(review(f"r{n}", "g1", score))

        assert await reviews.generation_score("g1") == ReviewScore(mean=4.3333, count=3)
        assert await reviews.generation_score("g2") is None

    async def test_key_scores_group_the_reviews_of_every_generation_of_a_key(self, reviews: ReviewRepository) -> None:
        await reviews.add_review(review("r1", "g1", 5))
        await reviews.add_review(review("r2", "g2", 2, arm="b"))
        await reviews.add_review(review("r3", "g3", 1, key=K2, node="n-roof"))

        assert await reviews.key_scores([K1, K2, "never|reviewed"]) == {
            K1: ReviewScore(mean=3.5, count=2),
            K2: ReviewScore(mean=1.0, count=1),
        }
        assert await reviews.key_scores([]) == {}

    async def test_key_scores_read_many_keys_at_once(self, reviews: ReviewRepository) -> None:
        await reviews.add_review(review("r1", "g3", 4, key=K2, node="n-roof"))
        many = [f"k{n}" for n in range(1200)] + [K2]

        assert await reviews.key_scores(many) == {K2: ReviewScore(mean=4.0, count=1)}

    async def test_arm_scores_group_a_nodes_reviews_by_arm(self, reviews: ReviewRepository) -> None:
        await reviews.add_review(review("r1", "g1", 5))
        await reviews.add_review(review("r2", "g2", 2, arm="b"))
        await reviews.add_review(review("r3", "g2", 3, arm="b"))
        await reviews.add_review(review("r4", "g3", 1, key=K2, node="n-roof"))

        assert await reviews.arm_scores("n-cafe") == {
            None: ReviewScore(mean=5.0, count=1),
            "b": ReviewScore(mean=2.5, count=2),
        }
        assert await reviews.arm_scores("n-nowhere") == {}

    async def test_a_review_of_an_unknown_generation_is_refused(self, reviews: ReviewRepository) -> None:
        with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's own integrity error
            await reviews.add_review(review("r1", "no-such-generation", 4))

    async def test_the_arm_of_a_generation_record_round_trips(
        self, stores: tuple[GenerationRepository, ReviewRepository], reviews: ReviewRepository
    ) -> None:
        generations, _ = stores
        loaded = await generations.get("g2")

        assert loaded is not None
        assert loaded.arm == "b"
        assert (await generations.get("g1")).arm is None  # type: ignore[union-attr]


class TestSqlAlchemyReviewRepository(ReviewRepositoryContract):
    @pytest.fixture
    async def stores(self, engine: AsyncEngine) -> tuple[GenerationRepository, ReviewRepository]:
        await schema.upgrade(engine)
        return SqlAlchemyGenerationRepository(engine=engine), SqlAlchemyReviewRepository(engine=engine)


class TestMemoryReviewRepository(ReviewRepositoryContract):
    @pytest.fixture
    def stores(self) -> tuple[GenerationRepository, ReviewRepository]:
        database = MemoryDatabase()
        return MemoryGenerationRepository(database=database), MemoryReviewRepository(database=database)
