"""`ScoreBoard`: the review scores variant selection reads on the hot path, remembered for a few seconds
per pool so that serving a pooled node does not cost a database query per request."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dyngen.domain.cache_keys import ReviewScore
from dyngen.ports import ReviewRepository
from dyngen.services.machinery.memo import LruMemo

log = logging.getLogger("dyngen.reviews")


class ScoreBoard:
    """Review means by cache key, read through to the repository at most once per `ttl_s` per pool.

    Args:
        ttl_s: How long a pool's scores are trusted (0: ask every time). A review sent to this process
            clears them at once; other processes see it within `ttl_s`.
    """

    def __init__(self, *, ttl_s: float = 10.0) -> None:
        self.ttl_s = ttl_s
        self._memo: LruMemo[tuple[str, ...], tuple[float, dict[str, ReviewScore]]] = LruMemo(2048)

    async def key_scores(
        self, repository: ReviewRepository, keys: Sequence[str], *, now: float
    ) -> dict[str, ReviewScore]:
        """The scores of `keys` (those without reviews left out). A repository that cannot answer gives
        no scores (selection falls back to the seed alone); a generation never fails for it."""
        wanted = tuple(keys)
        remembered = self._memo.get(wanted)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        try:
            scores = await repository.key_scores(wanted)
        except Exception:
            log.warning("reviews.scores_unavailable keys=%d", len(wanted), exc_info=True)
            scores = {}
        if self.ttl_s > 0:
            self._memo.put(wanted, (now + self.ttl_s, scores))
        return scores

    def forget(self) -> None:
        """Drop every remembered score (a review arrived)."""
        self._memo = LruMemo(2048)
