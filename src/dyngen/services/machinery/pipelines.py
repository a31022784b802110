"""`PipelineProvider`: a transition written by one provider and rendered by another.

A pipeline is configured by name like a chain (`[pipelines.story_video]` with `script = "story"` and
`render = "studio"` in dyngen.toml) and used wherever a provider name is. The script stage (a text
provider) writes the beats: timed lines, speakers, shot descriptions; the render stage (a video provider)
renders them, given as `ProviderCall.script`. The generation service runs the two stages as separate
calls (`services/generation/stages.py`: the script cached under its own key, budgeted and recorded), so
that rendering the same script with another video provider does not pay for the script again; `generate`
here is the same composition without those, for a pipeline used inside a chain.
"""

from __future__ import annotations

import dataclasses

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import Provider, ProviderCall, ProviderInfo, ProviderResult


class PipelineProvider:
    """Script, then render.

    Args:
        name: The pipeline's registry name.
        script: The provider that writes the beats (text).
        render: The provider that renders them (video).
    """

    def __init__(self, name: str, *, script: Provider, render: Provider) -> None:
        self.script = script
        self.render = render
        self.info = ProviderInfo(
            name=name,
            generation_types=script.info.generation_types & render.info.generation_types,
            media=render.info.media,
            deterministic=script.info.deterministic and render.info.deterministic,
            uses_scene_images=render.info.uses_scene_images,
        )
        if not self.info.generation_types:
            raise ValueError(f"pipeline {name!r}: {script.info.name!r} and {render.info.name!r} share no type")

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return self.script.estimate_cost(request) + self.render.estimate_cost(request)

    async def generate(self, call: ProviderCall) -> ProviderResult:
        written = await self.script.generate(call)
        if not written.payload.beats:
            raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"script stage '{self.script.info.name}' wrote no beats")
        rendered = await self.render.generate(dataclasses.replace(call, script=written.payload))
        return dataclasses.replace(
            rendered,
            tokens=written.tokens + rendered.tokens,
            cost=written.cost + rendered.cost,
            fingerprint=f"pipeline:{self.info.name}>{written.fingerprint}>{rendered.fingerprint}"[:200],
            report=rendered.report or written.report,
        )
