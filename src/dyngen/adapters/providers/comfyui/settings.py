"""`ComfyUISettings`: what one `comfyui` instance is configured with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from dyngen.domain.contracts import GenerationType

INPUT_KEYS = ("prompt", "negative_prompt", "seed", "width", "height", "frames", "fps", "from_image", "to_image")


class ComfyUISettings(BaseModel):
    """One ComfyUI server and the workflow it runs.

    `workflow` is a workflow in ComfyUI's API format (a JSON file from "Save (API)") or `example:<name>`
    for one shipped with dyngen (`scene_still`, `transition`). `inputs` names the node inputs that receive
    each value, as `"<node id>.<input name>"` (or a list of them): `prompt`, `negative_prompt`, `seed`,
    `width`, `height`, `frames` (the node's duration times the fps), `fps` (read from the workflow, not
    written), `from_image` and `to_image` (the scene images, uploaded, set on a `LoadImage` node). Absent,
    the map is read from `<workflow>.inputs.json` beside the workflow. A relative `workflow` in dyngen.toml
    is relative to the file's folder (not the working directory).

    A ComfyUI on a private address (127.0.0.1 for a local one) must be named in `private_hosts`: that host
    and only that one may then be reached.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="http://127.0.0.1:8188", description="The ComfyUI server's root URL.")
    workflow: str = Field(
        description="API-format workflow JSON path (relative: to dyngen.toml's folder), or `example:scene_still` / "
        "`example:transition`.",
        json_schema_extra={"file_path": True},  # dyngen.toml resolves it against its own folder
    )
    inputs: dict[str, str | list[str]] | None = Field(
        default=None,
        validate_default=True,  # the map beside the workflow is checked too when none is given
        description="Input map: which node inputs get prompt, seed, size, frames and scene images.",
    )
    generation_types: list[GenerationType] = Field(
        default_factory=lambda: [GenerationType.TRANSITION], description="What this workflow makes."
    )
    fps: float = Field(default=16.0, gt=0, description="Frames per second when the input map names no `fps` input.")
    width: int | None = Field(default=None, gt=0, le=8192, description="Written to the `width` input when set.")
    height: int | None = Field(default=None, gt=0, le=8192, description="Written to the `height` input when set.")
    negative_prompt: str = Field(default="", description="Written to the `negative_prompt` input.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Headers sent to ComfyUI (an auth proxy).")
    private_hosts: list[str] = Field(
        default_factory=list, description="Hosts that may resolve to private addresses (e.g. `127.0.0.1`)."
    )
    allowed_hosts: list[str] = Field(default_factory=list, description="Hosts outputs may come from; empty = any.")
    poll_interval_s: float = Field(default=1.0, gt=0, description="Seconds between /history polls without /ws.")
    max_bytes: int = Field(default=200 * 1024 * 1024, gt=0, description="The largest output file fetched.")
    max_outputs: int = Field(default=8, ge=1, description="Output files fetched at most per run.")
    cost_per_run: float = Field(default=0.0, ge=0, description="Cost accounting: the price of one run.")

    # The workflow and its map are read when the settings are: `dyngen config check` reports a workflow
    # that cannot be read or a map naming inputs it lacks, and `serve` stops with that report.
    @field_validator("workflow")
    @classmethod
    def _readable_workflow(cls, value: str) -> str:
        from dyngen.adapters.providers.comfyui.workflow import load

        load(value, {})
        return value

    @field_validator("inputs")
    @classmethod
    def _known_keys(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        unknown = sorted(set(value or {}) - set(INPUT_KEYS))
        if unknown:
            raise ValueError(f"unknown input map keys {unknown}; known: {list(INPUT_KEYS)}")
        if "workflow" in info.data:  # a workflow that could not be read is reported on its own key
            from dyngen.adapters.providers.comfyui.workflow import load

            load(info.data["workflow"], value)
        return value
