"""An attempt's calls share the node's deadline: the judge gets what the generation left of it, not the whole
again (a call cut off by the attempt's deadline would go on upstream, adapters/providers/plain_wire.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.elements import JudgeAnswer
from dyngen.ports import ProviderCall
from dyngen.services.generation.attempts import _attempt
from tests.fakes import FakeClock, FakeProvider


class RecordingJudge:
    def __init__(self) -> None:
        self.deadlines: list[float] = []

    async def judge_elements(
        self, *, text: str, elements: Sequence[str], deadline_s: float
    ) -> tuple[dict[str, JudgeAnswer], float]:
        self.deadlines.append(deadline_s)
        return {e: JudgeAnswer(occurs=False) for e in elements}, 0.0


async def test_the_judge_gets_what_the_generation_left_of_the_deadline() -> None:
    clock = FakeClock()
    provider = FakeProvider(latency_s=3.0, clock=clock)  # the generation takes 3 s of the attempt's 10
    judge = RecordingJudge()
    request = GenerateContentRequest.model_validate(
        {"type": "transition", "node_id": "n", "constraints": {"avoidElements": ["gore"]}}
    )
    call = ProviderCall(request=request, seed=1, attempt=1, deadline_s=10.0)

    checked = await _attempt(provider, call, request, clock, judge=judge)

    assert judge.deadlines == [pytest.approx(7.0)]
    assert [c.element for c in checked.elements] == ["gore"]
