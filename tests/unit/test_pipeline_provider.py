"""`PipelineProvider` as a plain provider (inside a chain): script, then render of the script's beats; and
the prompt a video API gets from those beats."""

from __future__ import annotations

import pytest

from dyngen.adapters.providers.http_video import video_prompt
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType
from dyngen.domain.responses import Beat, GeneratedContentPayload
from dyngen.ports import ProviderCall, ProviderResult
from dyngen.services.machinery.pipelines import PipelineProvider
from tests.fakes import FakeProvider, FakeVideoProvider

REQUEST = GenerateContentRequest.model_validate(
    {
        "type": "transition",
        "from_scene": {"id": "cafe_date", "mood": "romantic"},
        "to_scene": {"id": "rooftop_chase", "mood": "intense"},
        "duration": {"min": 1, "max": 10, "target": 6},
    }
)


def test_a_pipeline_makes_what_both_stages_make_and_costs_both() -> None:
    pipeline = PipelineProvider("p", script=FakeProvider(name="story"), render=FakeVideoProvider(cost=0.5))
    assert pipeline.info.generation_types == {GenerationType.TRANSITION, GenerationType.VARIATION}
    assert pipeline.info.media == {"video/mp4"}
    assert pipeline.estimate_cost(REQUEST) == pytest.approx(0.51)


def test_stages_that_share_no_type_are_refused() -> None:
    script = FakeProvider(name="story")
    script.info = script.info.__class__(
        name="story", generation_types=frozenset({GenerationType.DIALOGUE}), media=frozenset(), deterministic=True
    )
    with pytest.raises(ValueError, match="share no type"):
        PipelineProvider("p", script=script, render=FakeVideoProvider())


async def test_the_render_stage_is_given_the_scripts_beats() -> None:
    render = FakeVideoProvider()

    class Story(FakeProvider):
        async def generate(self, call: ProviderCall) -> ProviderResult:
            result = await super().generate(call)
            beats = [Beat(start=0, duration=6, kind="narration", text="Her cell trills.", shot="close on the table")]
            return ProviderResult(payload=result.payload.model_copy(update={"beats": beats}), cost=0.01, tokens=5)

    pipeline = PipelineProvider("p", script=Story(name="story"), render=render)
    result = await pipeline.generate(ProviderCall(request=REQUEST, seed=1, attempt=1, deadline_s=5))
    (call,) = render.calls
    assert call.script is not None
    assert call.script.beats
    assert call.script.beats[0].text == "Her cell trills."
    assert result.cost == pytest.approx(0.51)
    assert result.tokens == 5
    assert result.fingerprint.startswith("pipeline:p>")


def test_a_video_api_prompt_is_built_from_the_beats() -> None:
    script = GeneratedContentPayload(
        type=PayloadType.DIALOGUE,
        beats=[
            Beat(start=0, duration=2.5, kind="narration", text="Rain on the glass.", shot="wide shot of the cafe"),
            Beat(start=2.5, duration=3.5, kind="dialogue", speaker="Mara", text="I have to go."),
        ],
    )
    prompt = video_prompt(REQUEST, script)
    assert prompt.startswith(
        'Shot 1 (0-2.5 s): wide shot of the cafe. Shot 2 (2.5-6 s): close on Mara, speaking. Mara says: "I have to go."'
    )
    assert "Shot" not in video_prompt(REQUEST)
