"""The nested settings: the models a section of `dyngen.toml` or a nested variable
(`DYNGEN_RETENTION__ALWAYS_S`, `DYNGEN_RATE_LIMIT_PLAYER='{"rate": 1}'`) is read into, each checked on its
own; `config.Settings` holds them."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dyngen.domain.rate_limits import Rate


class RateLimitSetting(BaseModel):
    """A rate limit in settings: `rate` requests per `per`, with `burst` admitted at once from idle."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0, description="Sustained requests per `per`.")
    per: Literal["second", "minute", "hour"] = "second"
    burst: int | None = Field(default=None, ge=1, description="Admitted at once; default: one second's worth.")

    def to_rate(self) -> Rate:
        per_second = self.rate / {"second": 1, "minute": 60, "hour": 3600}[self.per]
        return Rate(per_second=per_second, burst=self.burst or max(1, math.ceil(per_second)))


class PipelineSetting(BaseModel):
    """A pipeline (`[pipelines.<name>]`): `script` writes the beats, `render` renders them (provider names)."""

    model_config = ConfigDict(extra="forbid")

    script: str = Field(min_length=1, description="The text provider (instance or chain) that writes the beats.")
    render: str = Field(min_length=1, description="The video provider (instance or chain) that renders them.")


DAY_S = 86400.0


class RetentionSettings(BaseModel):
    """How long records, events and artifacts are kept (`DYNGEN_RETENTION__ALWAYS_S=3600`, ...).

    A window in seconds, or null to keep for ever. Content that a cache entry, a scene graph, a node config
    or a review still refers to is kept whatever its age; queued and running jobs are never removed.
    """

    model_config = ConfigDict(extra="forbid")

    sweep: bool = Field(
        default=True, description="Run the periodic sweep in `dyngen serve` (`dyngen gc` always works)."
    )
    interval_s: float = Field(default=600.0, gt=0, description="Seconds between two sweeps of the server.")
    always_s: float | None = Field(default=DAY_S, gt=0, description="Records and artifacts of strategy `always`.")
    failed_s: float | None = Field(default=DAY_S, gt=0, description="Failed generations, whatever their strategy.")
    per_playthrough_s: float | None = Field(
        default=30 * DAY_S, gt=0, description="Records and artifacts of strategy `per_playthrough`."
    )
    per_player_s: float | None = Field(
        default=90 * DAY_S, gt=0, description="Records and artifacts of strategy `per_player`."
    )
    once_s: float | None = Field(
        default=90 * DAY_S, gt=0, description="Records of strategy `once` that no cache entry serves any more."
    )
    events_s: float | None = Field(default=7 * DAY_S, gt=0, description="Events of finished jobs and warm-up runs.")
    warmups_s: float | None = Field(default=30 * DAY_S, gt=0, description="Finished warm-up runs.")
    batch: int = Field(default=500, ge=1, le=10_000, description="Records examined per database round trip.")
    object_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a sweep waits before deleting objects no record names, then checks again.",
    )

    def records_s(self) -> dict[str, float | None]:
        """The record window of each strategy."""
        return {
            "always": self.always_s,
            "per_playthrough": self.per_playthrough_s,
            "per_player": self.per_player_s,
            "once": self.once_s,
        }
