"""`HttpVideoSettings`: what one `http_video` instance is configured with (generic, or a vendor preset)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class HttpVideoSettings(BaseModel):
    """One hosted video API. Either generic (`submit_url`, `status_url` and the dotted paths) or a preset
    (`preset = "replicate"` or `"fal"`, `model`, `api_key`), whose URLs, paths and auth come with it.

    Secrets (`api_key`, `auth_header`, `headers`' values) are never logged nor echoed in errors.
    """

    model_config = ConfigDict(extra="forbid")

    preset: Literal["replicate", "fal"] | None = Field(default=None, description="A vendor's documented job API.")
    model: str | None = Field(default=None, description="The preset's model: `owner/name[:version]`, fal model id.")
    api_key: SecretStr | None = Field(default=None, description="The preset's key (sent as the vendor expects).")
    base_url: str | None = Field(default=None, description="The preset's API root (default: the vendor's).")
    prefer_wait_s: int = Field(default=0, ge=0, le=60, description="Replicate `Prefer: wait=N` (0 = do not wait).")
    submit_url: str | None = Field(default=None, description="Generic: job submit URL (POST).")
    status_url: str | None = Field(default=None, description="Generic: status URL template (GET) with `{id}`.")
    cancel_url: str | None = Field(default=None, description="Generic: cancel URL template (POST) with `{id}`.")
    body_template: str | None = Field(
        default=None,
        description="JSON body: {{prompt}} {{negative_prompt}} {{seed}} {{duration}} {{mood_from}} {{mood_to}} "
        "{{from_image_url}} {{to_image_url}} {{from_image_b64}} {{to_image_b64}}; a preset's default is its `input`.",
    )
    auth_header: SecretStr | None = Field(default=None, description="Generic: `Name: value` auth header.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="More headers sent to the API.")
    poll_interval_s: float = Field(default=2.0, gt=0)
    id_path: str = "id"
    status_path: str = "status"
    result_path: str = "result_url"
    error_path: str = "error"
    allowed_hosts: list[str] = Field(default_factory=list, description="Hosts results may come from; empty = any.")
    allow_private_hosts: bool = Field(default=False, description="Let results come from any private address.")
    private_hosts: list[str] = Field(
        default_factory=list, description="Exactly these hosts may resolve to private addresses."
    )
    max_bytes: int = Field(default=200 * 1024 * 1024, gt=0, description="The largest result downloaded.")
    cost_per_second: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> HttpVideoSettings:
        if self.preset is not None:
            if not self.model:
                raise ValueError(f"the {self.preset} preset needs a model")
        elif not (self.submit_url and self.status_url):
            raise ValueError("http_video needs a preset, or a submit_url and a status_url (with {id})")
        return self

    def options(self) -> dict[str, Any]:
        """The provider's keyword arguments (secrets unwrapped here, at the last moment)."""
        options: dict[str, Any] = {
            key: value for key, value in self if key not in ("api_key", "auth_header", "headers", "body_template")
        }
        options["api_key"] = self.api_key.get_secret_value() if self.api_key else None
        options["auth_header"] = self.auth_header.get_secret_value() if self.auth_header else None
        options["headers"] = {name: value.get_secret_value() for name, value in self.headers.items()}
        if self.body_template is not None:
            options["body_template"] = self.body_template
        return options
