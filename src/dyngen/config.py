"""Settings: every knob, read from the environment (prefix `DYNGEN_`, nested with `__`).

Only the entry points create `Settings()`; adapters receive explicit values from `bootstrap.build`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """dyngen's configuration. The README's configuration table lists the same fields."""

    model_config = SettingsConfigDict(env_prefix="DYNGEN_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(
        default=Path(".dyngen"), description="SQLite database and artifact files (embedded default)."
    )
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; default SQLite in the data dir.")
    env: str = Field(default="development", description="`production` turns dev tools off.")
    dev_tools: bool | None = Field(
        default=None, description="Honour `simulate` in requests; default on unless env=production."
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0, description="Memory cache tier bound, in bytes.")
    cache_max_entries: int = Field(default=10_000, ge=0, description="Memory cache tier bound, in entries.")
    default_timeout_ms: int = Field(
        default=5000, ge=1, description="Generation deadline when a node sets no timeoutMs."
    )
    retry_backoff_ms: int = Field(
        default=100, ge=0, description="First retry delay of fallback mode retry; doubles each time."
    )
    default_provider: str = Field(default="builtin", description="Provider used when a request names none.")
    providers_by_type: dict[str, str] = Field(
        default_factory=dict, description='Provider per generation type, e.g. {"dialogue": "builtin"}.'
    )
    log_level: str = Field(default="info", description="Log level of the service.")

    @property
    def dev_tools_enabled(self) -> bool:
        if self.dev_tools is not None:
            return self.dev_tools
        return self.env.lower() != "production"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'dyngen.db'}"

    @property
    def artifact_dir(self) -> Path:
        return self.data_dir / "artifacts"
