"""Quality review (spec section 15): reviewers score generations 1-5; the scores loop back into variant
selection (`domain.cache_keys.choose_variant`) and show in the node's stats and its arms' comparison."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from dyngen.domain.contracts import GenerationStatus, Id, SnakeModel
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.ids import TextChars
from dyngen.ports import Clock, GenerationRepository, Review, ReviewRepository
from dyngen.services.machinery.ids import new_id
from dyngen.services.machinery.scores import ScoreBoard


class ReviewRequest(SnakeModel):
    """A reviewer's score of one generation: 1 (unusable) to 5 (excellent)."""

    score: Annotated[int, Field(ge=1, le=5, strict=True)]
    note: Annotated[str, Field(max_length=2000), TextChars] | None = None
    reviewer: Id | None = None


class ReviewResult(BaseModel):
    generation_id: str
    score: int
    mean_score: float
    reviews: int


async def review_generation(
    *,
    generation_id: str,
    review: ReviewRequest,
    reviewer: str | None,
    records: GenerationRepository,
    reviews: ReviewRepository,
    scores: ScoreBoard,
    clock: Clock,
) -> ReviewResult:
    """Store a review of a completed generation and answer with the generation's mean score.

    Args:
        reviewer: Who reviewed, when the body names nobody (the API key's name).
        records: Where the generation is looked up.
        reviews: Where the review is stored and the mean score read.
        scores: The variant choice's review scores, forgotten so that the new score counts at once.
        clock: The review's time.

    Raises:
        DyngenError: NOT_FOUND for an unknown generation; CONFLICT for one that produced no content of
            its own (queued, running, or failed to the node's fallback).
    """
    record = await records.get(generation_id)
    if record is None:
        raise DyngenError(ErrorCode.NOT_FOUND, f"no generation {generation_id!r}")
    if record.status is not GenerationStatus.COMPLETE:
        raise DyngenError(
            ErrorCode.CONFLICT,
            f"generation {generation_id!r} is {record.status.value}: only completed generations can be reviewed",
        )
    await reviews.add_review(
        Review(
            id=new_id(),
            generation_id=record.id,
            node_id=record.node_id,
            cache_key=record.cache_key,
            arm=record.arm,
            score=review.score,
            note=review.note,
            reviewer=review.reviewer or reviewer,
            created_at=clock.now(),
        )
    )
    scores.forget()  # this process picks variants by the new score at once
    summary = await reviews.generation_score(record.id)
    assert summary is not None  # the review just stored counts
    return ReviewResult(generation_id=record.id, score=review.score, mean_score=summary.mean, reviews=summary.count)
