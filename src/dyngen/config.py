"""Settings: every knob, read from the environment (prefix `DYNGEN_`, nested with `__`).

Only the entry points create `Settings()`; adapters receive explicit values from `bootstrap.build`.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from dyngen import defaults
from dyngen.adapters.providers.comfyui.settings import ComfyUISettings
from dyngen.config_sections import PipelineSetting, RateLimitSetting, RetentionSettings
from dyngen.domain.access import AuthMode
from dyngen.domain.budgets import BudgetPeriod, BudgetPolicy
from dyngen.domain.rate_limits import Rate, RateLimits
from dyngen.domain.social import DEFAULT_RELATIONSHIP_TIERS, RelationshipTable, RelationshipTier, sorted_tiers


def outbound_proxies() -> dict[str, str]:
    """The proxies the environment names for the providers' outbound calls, read once at start as httpx's
    `trust_env` reads them: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` by scheme, and `NO_PROXY` as `no`
    (either case of each name). A proxy named without a scheme (`HTTP_PROXY=proxy:3128`) is an http one,
    as httpx reads it."""
    named = urllib.request.getproxies_environment()
    return {k: v if k == "no" or "://" in v else f"http://{v}" for k, v in named.items()}


# `DYNGEN_DATABASE_URL=memory://`: the ephemeral embedded mode.
MEMORY_URL = "memory://"


class Settings(BaseSettings):
    """dyngen's configuration. The docs' configuration reference is generated from these fields (`make docs`)."""

    model_config = SettingsConfigDict(env_prefix="DYNGEN_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(
        default=Path(".dyngen"), description="SQLite database and artifact files (embedded default)."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default SQLite in the data dir; `memory://`: in memory, lost at exit.",
    )
    db_connect_timeout_s: float = Field(
        default=3.0, gt=0, description="PostgreSQL: seconds to open a connection before the database counts as down."
    )
    db_command_timeout_s: float = Field(
        default=5.0, gt=0, description="PostgreSQL: seconds one statement may take before it is abandoned."
    )
    db_pool_timeout_s: float = Field(
        default=5.0, gt=0, description="Seconds a request waits for a free database connection from the pool."
    )
    db_cooldown_s: float = Field(
        default=2.0,
        gt=0,
        description="PostgreSQL: after a timeout, database calls fail at once (503) this long; then one call probes.",
    )
    db_write_window_ms: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="Group commit: how long the first record or budget settlement of an idle writer waits for others "
        "to share its transaction (0: none; none either after a transaction of one write); writes that gather "
        "while one commits go in the next at once.",
    )
    db_write_batch: int = Field(
        default=16,
        ge=1,
        description="Group commit: records and budget settlements per transaction at most. Smaller batches "
        "release the requests in flight in several waves instead of all at once (issue 18: with a 50 ms "
        "upstream at concurrency 32, 16 serves ~12 % more misses per second than 64).",
    )
    unavailable_retry_after_s: float = Field(
        default=5.0, gt=0, description="`Retry-After` of a 503 answered because a dependency (the database) is down."
    )
    record_timeout_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds a generation waits to write its record; past it (or the node's deadline) the record "
        "goes to the local outbox and is written when the database answers again.",
    )
    outbox_replay_s: float = Field(
        default=1.0, gt=0, description="How often records waiting in the outbox are written to the database."
    )
    env: str = Field(default="development", description="`production` turns dev tools off.")
    dev_tools: bool | None = Field(
        default=None, description="Honour `simulate` in requests; default on unless env=production."
    )
    hit_fast_path: bool = Field(
        default=True,
        description=(
            "Answer cache hits of the generate routes, and calls of a body read before, before FastAPI's routing"
            " (same auth, limits, CORS, answers)."
        ),
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    upload_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Larger images uploaded to `POST /api/artifacts` get 413."
    )
    upload_max_pixels: int = Field(
        default=40_000_000, ge=1, description="Uploaded images of more pixels (read from the header) get 413."
    )
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
        default_factory=lambda: {"transition": "builtin_video"},
        description="Provider per generation type; transitions are rendered to video unless set otherwise.",
    )
    providers_by_template: dict[str, str] = Field(
        default_factory=dict, description="Provider (instance or chain) per template id; before `providers_by_type`."
    )
    providers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named provider instances, each a `[providers.<name>]` section of dyngen.toml with its `kind`; "
        "the flat `openai_*` / `http_video_*` settings make the instances `openai` / `http_video`.",
    )
    provider_chains: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Fallback chains, usable wherever a provider name is, e.g. {"main": ["openai", "builtin"]}.',
    )
    provider_pipelines: dict[str, PipelineSetting] = Field(
        default_factory=dict,
        description="Pipelines, usable wherever a provider name is: a text provider writes the beats (`script`), "
        'a video provider renders them (`render`), e.g. {"story_video": {"script": "openai", "render": "comfyui"}}.',
    )
    element_judge: str | None = Field(
        default=None,
        description="A provider instance (kind openai) asked whether content has the required and avoided elements "
        "that the lexicon and the model's own report leave open; unset: no judge.",
    )
    breaker_failures: int = Field(
        default=3, ge=1, description="Failures of a chain member within the window that put it in cooldown."
    )
    breaker_window_s: float = Field(default=60.0, gt=0, description="The window in which a member's failures count.")
    breaker_cooldown_s: float = Field(default=30.0, gt=0, description="Seconds a tripped chain member is skipped.")
    chain_member_reserve: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of the time left that a chain member leaves to the members after it (a hang is cut off).",
    )
    log_level: str = Field(default="info", description="Log level of the service.")
    redis_url: str | None = Field(
        default=None,
        description="Redis for the shared cache tier, single-flight leases and invalidation; unset = embedded.",
    )
    redis_prefix: str = Field(default="dyngen", description="Prefix of every Redis key and channel.")
    redis_connect_timeout_s: float = Field(default=1.0, gt=0, description="Seconds to connect to Redis.")
    redis_timeout_s: float = Field(
        default=1.0, gt=0, description="Deadline of one Redis operation (and of the wait for a pooled connection)."
    )
    redis_cooldown_s: float = Field(
        default=1.0, gt=0, description="After a Redis failure, calls skip Redis this long; then one call probes it."
    )
    object_store_url: str | None = Field(
        default=None, description="`s3://bucket/prefix` for S3-compatible storage; default a folder in the data dir."
    )
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint for MinIO, R2, ...; unset for AWS.")
    s3_region: str = Field(default="us-east-1", description="S3 region.")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key; unset = default AWS chain.")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key.")
    s3_create_bucket: bool = Field(default=False, description="Create the bucket on start if it is missing.")
    s3_connect_timeout_s: float = Field(default=1.0, gt=0, description="Seconds to connect to the S3 endpoint.")
    s3_timeout_s: float = Field(
        default=1.0,
        gt=0,
        description="Deadline of one S3 call: how long the store may stay silent (uploads add 1 s per MiB).",
    )
    s3_cooldown_s: float = Field(
        default=2.0, gt=0, description="After an S3 failure, calls skip the store this long; then one call probes it."
    )
    cache_ttl_s: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)] | None] = Field(
        default_factory=lambda: {"once": None, "per_playthrough": 30 * 86400.0, "per_player": 90 * 86400.0},
        description="Cache entry lifetime per strategy in seconds (null = no expiry, 0 = not cached).",
    )
    job_lease_s: float = Field(default=15.0, gt=0, description="A job runner's lease; it beats every third of it.")
    job_max_attempts: int = Field(default=3, ge=1, description="Runs of a job before it fails for good.")
    job_retry_base_s: float = Field(default=1.0, ge=0, description="First job retry delay; doubles, with jitter.")
    job_concurrency: int = Field(default=4, ge=1, description="Jobs the embedded in-process runner runs at once.")
    job_timeout_s: float = Field(default=600.0, gt=0, description="arq's per-job time limit in `dyngen worker`.")
    worker_max_jobs: int = Field(default=32, ge=1, description="Jobs one `dyngen worker` runs at once.")
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias="PROMETHEUS_MULTIPROC_DIR",
        description="Shared metrics folder of several processes; `dyngen serve` and `dyngen worker` set it.",
    )
    openai_base_url: str | None = Field(
        default=None, description="OpenAI-compatible chat completions API root; set it to enable the `openai` provider."
    )
    openai_model: str = Field(default="gpt-4o-mini", description="Model the `openai` provider asks for.")
    openai_api_key: SecretStr | None = Field(default=None, description="Bearer key of the `openai` provider.")
    openai_price_per_1k_tokens: float = Field(
        default=0.0, ge=0, description="Cost accounting of the `openai` provider."
    )
    openai_max_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="The largest answer the `openai` provider reads; larger is refused."
    )
    http_video_submit_url: str | None = Field(
        default=None, description="Job submit URL (POST) of a hosted video API; set it to enable `http_video`."
    )
    http_video_status_url: str | None = Field(
        default=None, description="Job status URL template (GET) of `http_video`, with an `{id}` placeholder."
    )
    http_video_cancel_url: str | None = Field(
        default=None, description="Job cancel URL template (POST) of `http_video`, with `{id}`; unset = no cancel."
    )
    http_video_body_template: str = Field(
        default='{"prompt": {{prompt}}, "seed": {{seed}}, "duration": {{duration}}}',
        description="JSON submit body of `http_video`: {{prompt}} {{seed}} {{duration}} {{mood_from}} {{mood_to}}.",
    )
    http_video_auth_header: SecretStr | None = Field(
        default=None, description="Header sent to the video API, e.g. `Authorization: Bearer KEY`; never logged."
    )
    http_video_poll_interval_s: float = Field(default=2.0, gt=0, description="Seconds between job status polls.")
    http_video_id_path: str = Field(default="id", description="Dotted path of the job id in the submit answer.")
    http_video_status_path: str = Field(default="status", description="Dotted path of the status in a status answer.")
    http_video_result_path: str = Field(
        default="result_url", description="Dotted path of the result URL in a finished job's status answer."
    )
    http_video_allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts `http_video` may download results from (`*.cdn.com`); empty = any."
    )
    http_video_allow_private_hosts: bool = Field(
        default=False,
        description="Deprecated (use DYNGEN_HTTP_VIDEO_PRIVATE_HOSTS): lets only the configured URLs' own hosts "
        "resolve to private addresses.",
    )
    http_video_cost_per_second: float = Field(
        default=0.0, ge=0, description="Cost accounting of `http_video`: the price of one second of video."
    )
    http_video_preset: Literal["replicate", "fal"] | None = Field(
        default=None, description="A hosted API's documented job protocol for `http_video`; set it to enable it."
    )
    http_video_model: str | None = Field(default=None, description="The preset's model (`owner/name`, fal model id).")
    http_video_api_key: SecretStr | None = Field(default=None, description="The preset's key; never logged.")
    http_video_base_url: str | None = Field(default=None, description="The preset's API root (default the vendor's).")
    http_video_prefer_wait_s: int = Field(default=0, ge=0, le=60, description="Replicate's `Prefer: wait=N`.")
    http_video_headers: dict[str, SecretStr] = Field(
        default_factory=dict, description='More headers for the video API (JSON: {"X-Team": "..."}); never logged.'
    )
    http_video_private_hosts: list[str] = Field(
        default_factory=list, description="Hosts `http_video` may reach on private addresses (exactly these)."
    )
    http_video_max_bytes: int = Field(default=200 * 1024 * 1024, gt=0, description="The largest video downloaded.")
    comfyui: ComfyUISettings | None = Field(
        default=None,
        description="The `comfyui` provider (`DYNGEN_COMFYUI__URL`, `DYNGEN_COMFYUI__WORKFLOW`, ...); unset = off.",
    )
    example_graph: Path | None = Field(
        default_factory=defaults.example_graph,
        description="Scene graph stored on first start of `dyngen serve` (when none is stored); default the "
        "example graph shipped in the package; empty = none.",
    )
    templates_dir: Path = Field(
        default_factory=defaults.templates_dir,
        description="Template library: every *.json in this folder, read and validated at start; default the "
        "library shipped in the package.",
    )
    assets_dir: Path | None = Field(
        default_factory=defaults.assets_dir,
        description="Folder `builtin_video` reads scene images from (a scene's `image`); default the example "
        "graph's images shipped in the package; empty or absent = drawn.",
    )
    video_streaming: bool = Field(
        default=True,
        description="Answer a transition as soon as its video is playable and stream the video while it renders "
        "(`builtin_video` writes fragmented MP4); the answer names the poster, captions and script as a whole "
        "answer does (they are made before the video), only the video's size is absent. Embedded mode only (no "
        "Redis, no S3) and for players only: a warm-up, `dyngen generate`, `play`, `warm` and `export`, any other "
        "mode, and `false` answer once the video is whole.",
    )
    flight_lease_ms: int = Field(default=2000, ge=100, description="Single-flight lease, extended while generating.")
    auth: AuthMode = Field(
        default=AuthMode.AUTO,
        description="API keys: `auto` enforces them once one exists, `required` always, `off` never (dev only).",
    )
    auth_cache_s: float = Field(
        default=5.0, ge=0, description="Seconds a process trusts what it knows about keys before asking again."
    )
    auth_cache_stale_s: float = Field(
        default=300.0,
        ge=0,
        description="Seconds past `auth_cache_s` that known keys keep being served while a refresh is stuck "
        "(the refresh runs in the background); past it a request waits for the database.",
    )
    runtime_stale_s: float = Field(
        default=300.0,
        ge=0,
        description="Seconds past their 2 s lifetime that a process keeps serving the stored graphs and saved "
        "node configs it read, while the database does not answer or refuses (the read runs in the background); "
        "past it a by-reference call waits for the database.",
    )
    review_drop_below: float = Field(
        default=2.0, ge=1, le=5, description="A pooled variant whose mean review score is below this leaves the pool."
    )
    review_min_reviews: int = Field(default=3, ge=1, description="Reviews a variant needs before it can be dropped.")
    review_scores_ttl_s: float = Field(
        default=10.0, ge=0, description="Seconds a process trusts the review scores it read for a variant pool."
    )
    relationship_tiers: list[RelationshipTier] = Field(
        default_factory=lambda: list(DEFAULT_RELATIONSHIP_TIERS),
        min_length=1,
        description="Relationship table: JSON rows {min_affinity, tier, band}; affinity picks the last row it reaches.",
    )
    budget_period: BudgetPeriod = Field(
        default=BudgetPeriod.DAY, description="How long a cost budget lasts: hour, day, week or month (UTC)."
    )
    budget_global_cap: float | None = Field(
        default=None, ge=0, description="Cost cap over every node per period; unset = no cap (spend is still counted)."
    )
    budget_node_default: float | None = Field(
        default=None, ge=0, description="Cost budget per period of a node without its own entry; unset = none."
    )
    budget_nodes: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description='Cost budget per period by node id, e.g. {"cafe_to_roof": 5.0}.'
    )
    rate_limit_api_key: RateLimitSetting | None = Field(
        default=None, description='Generate requests per API key, e.g. {"rate": 10, "per": "second", "burst": 20}.'
    )
    rate_limit_player: RateLimitSetting | None = Field(
        default=None, description="Generate requests per player (player_context.playerId); unset = no limit."
    )
    rate_limit_always_node: RateLimitSetting | None = Field(
        default=None, description="Generations per always-fresh node (strategy always); unset = no limit."
    )
    rate_limit_nodes: dict[str, RateLimitSetting] = Field(
        default_factory=dict, description="Per always-fresh node id: its own rate limit instead of the default."
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings,
        description="Retention windows and the server's sweep (`DYNGEN_RETENTION__<FIELD>`); see `dyngen gc`.",
    )

    # --- the game runtime: browsers on other origins, media URLs a player can load -------------------
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins a browser game may call the API from (comma-separated or a JSON list; `*` = any, "
        "only without credentials); none by default.",
    )
    cors_allow_credentials: bool = Field(
        default=False, description="Let browsers send credentials (cookies) cross-origin; refused with `*`."
    )
    cors_max_age_s: int = Field(default=600, ge=0, le=86_400, description="Seconds a browser may reuse a preflight.")
    url_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs artifact URLs; unset = one generated on first start and kept in the data dir "
        "(set it when several hosts serve the same artifacts).",
    )
    url_lifetime_s: int = Field(
        default=3600, ge=60, le=7 * 86_400, description="Seconds a signed artifact URL in a response stays valid."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s?#]+$",
        description="Absolute base of artifact URLs in responses (a CDN or reverse proxy), e.g. "
        "`https://cdn.example.com/dyngen`; unset = URLs relative to the API.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then flat `DYNGEN_*` variables, then dyngen.toml (and `DYNGEN_SECTION__KEY`), then defaults.

        No `.env` file and no secrets directory: dyngen configures neither, and each source walks every
        field (~8 ms per `Settings()`) even when it has nothing to read."""
        from dyngen.config_file import FileSource  # reads the file only when settings are made

        return init_settings, env_settings, FileSource(settings_cls)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        origins = [origin.rstrip("/") if origin != "*" else origin for origin in origins]
        for origin in origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
                raise ValueError(f"a CORS origin is `*` or scheme://host[:port] without a path (got {origin!r})")
        return origins

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Settings:
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError("DYNGEN_CORS_ORIGINS `*` cannot be used with DYNGEN_CORS_ALLOW_CREDENTIALS: list origins")
        return self

    @field_validator("example_graph", "assets_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("relationship_tiers")
    @classmethod
    def _check_relationship_tiers(cls, tiers: list[RelationshipTier]) -> list[RelationshipTier]:
        sorted_tiers(tiers)  # unique minimums and tier ids, or a start-up error naming the rows
        return tiers

    @property
    def relationship_table(self) -> RelationshipTable:
        """The relationship table the `relationship_tiers` rows make (sorted by minimum affinity)."""
        return RelationshipTable(tiers=tuple(self.relationship_tiers))

    def provider_sections(self) -> dict[str, dict[str, Any]]:
        """Every named provider instance's section: `providers`, plus the instances the flat settings make
        (`openai`, `http_video`, named like the kinds, so fingerprints and chains stay as they were)."""
        sections: dict[str, dict[str, Any]] = {}
        if self.openai_base_url:
            key = self.openai_api_key
            sections["openai"] = {
                "kind": "openai",
                "base_url": self.openai_base_url,
                "model": self.openai_model,
                "api_key": key.get_secret_value() if key else None,
                "price_per_1k_tokens": self.openai_price_per_1k_tokens,
                "max_bytes": self.openai_max_bytes,
            }
        if self.http_video_submit_url or self.http_video_preset:
            if self.http_video_submit_url and not self.http_video_status_url:
                raise ValueError(
                    "DYNGEN_HTTP_VIDEO_SUBMIT_URL needs DYNGEN_HTTP_VIDEO_STATUS_URL (with an {id} placeholder)"
                )
            flat = {k.removeprefix("http_video_"): v for k, v in self if k.startswith("http_video_")}
            if self.http_video_preset and "http_video_body_template" not in self.model_fields_set:
                del flat["body_template"]  # the preset's own body, unless one is given
            sections["http_video"] = {"kind": "http_video", **flat}
        if self.comfyui is not None:
            sections["comfyui"] = {"kind": "comfyui", **dict(self.comfyui)}
        for name, section in self.providers.items():
            sections[name] = {"kind": name, **section}
        return sections

    @property
    def budget_policy(self) -> BudgetPolicy:
        """The budgets these settings configure."""
        return BudgetPolicy(
            period=self.budget_period,
            global_cap=self.budget_global_cap,
            node_default=self.budget_node_default,
            nodes=dict(self.budget_nodes),
        )

    @property
    def rate_limits(self) -> RateLimits:
        """The rate limits these settings configure."""

        def rate(setting: RateLimitSetting | None) -> Rate | None:
            return setting.to_rate() if setting is not None else None

        return RateLimits(
            api_key=rate(self.rate_limit_api_key),
            player=rate(self.rate_limit_player),
            always_node=rate(self.rate_limit_always_node),
            nodes={node: limit.to_rate() for node, limit in self.rate_limit_nodes.items()},
        )

    @property
    def dev_tools_enabled(self) -> bool:
        if self.dev_tools is not None:
            return self.dev_tools
        return self.env.lower() != "production"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'dyngen.db'}"

    @property
    def object_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def is_memory(self) -> bool:
        """The ephemeral embedded mode: records (and, without an S3 URL, objects) in memory, lost at exit."""
        return self.resolved_database_url == MEMORY_URL

    @property
    def streams_video(self) -> bool:
        """Videos are served while they render: `video_streaming` on, in a deployment whose every request
        reaches the process that renders (no Redis: one process; no S3: no upload after the render)."""
        return self.video_streaming and not self.redis_url and not self.object_store_url

    def unstreamed(self) -> Settings:
        """These settings for a process that serves no player and ends with its answer (`dyngen generate`,
        `play`, `warm`, `export`): nothing streams there, since a render still running at exit is cut off."""
        return self.model_copy(update={"video_streaming": False})

    def s3_location(self) -> tuple[str, str] | None:
        """(bucket, prefix) of an `s3://` object store URL, or None for the local folder."""
        if not self.object_store_url:
            return None
        if not self.object_store_url.startswith("s3://"):
            raise ValueError(f"DYNGEN_OBJECT_STORE_URL must start with s3:// (got {self.object_store_url!r})")
        bucket, _, prefix = self.object_store_url.removeprefix("s3://").partition("/")
        return bucket, prefix
