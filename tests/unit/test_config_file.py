"""dyngen.toml: sections by concept, precedence (arguments > flat variables > section variables > file >
defaults), secret references, and a check report with file, line and the closest known key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyngen.config import Settings
from dyngen.config_file import ConfigError, key_lines, load, sections

FILE = """\
# a studio's configuration
[server]
env = "production"
log_level = "debug"

[redis]
url = "redis://127.0.0.1:6379"
timeout_s = 2.5

[jobs]
lease_s = 20

[retention]
always_s = 3600

[providers.story]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "story-model"
api_key = "env:STORY_KEY"

[chains]
main = ["story", "builtin"]

[routing]
default = "main"
by_type = { transition = "builtin_video" }
by_template = { "villain.taunt" = "story" }
"""


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DYNGEN_* variable of the caller's shell, and a working directory without dyngen.toml."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("DYNGEN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORY_KEY", "sk-story-secret")


def write(tmp_path: Path, text: str = FILE) -> Path:
    path = tmp_path / "dyngen.toml"
    path.write_text(text)
    return path


def test_without_a_file_the_defaults_are_settings_own(tmp_path: Path) -> None:
    assert Settings().model_dump() == Settings.model_construct().model_dump()
    loaded = load()
    assert loaded.problems == []
    assert loaded.layer.path is None


def test_the_file_in_the_working_directory_sets_fields_by_section(tmp_path: Path) -> None:
    write(tmp_path)

    settings = Settings()

    assert settings.env == "production"
    assert settings.redis_url == "redis://127.0.0.1:6379"
    assert settings.redis_timeout_s == 2.5
    assert settings.job_lease_s == 20
    assert settings.retention.always_s == 3600
    assert settings.retention.failed_s == Settings.model_construct().retention.failed_s, "the rest stays default"
    assert settings.providers["story"]["api_key"] == "sk-story-secret", "a secret by reference"
    assert settings.provider_chains == {"main": ["story", "builtin"]}
    assert settings.default_provider == "main"
    assert settings.providers_by_template == {"villain.taunt": "story"}


def test_precedence_argument_then_flat_variable_then_section_variable_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path)
    monkeypatch.setenv("DYNGEN_REDIS__TIMEOUT_S", "3.5")
    monkeypatch.setenv("DYNGEN_JOBS__LEASE_S", "30")
    monkeypatch.setenv("DYNGEN_JOB_LEASE_S", "40")
    monkeypatch.setenv("DYNGEN_RETENTION__ALWAYS_S", "60")
    monkeypatch.setenv("DYNGEN_PROVIDERS__STORY__MODEL", "from-env")

    settings = Settings()

    assert settings.redis_timeout_s == 3.5, "a section variable beats the file"
    assert settings.job_lease_s == 40, "a flat variable beats a section variable"
    assert settings.retention.always_s == 60
    assert settings.providers["story"]["model"] == "from-env"
    assert settings.providers["story"]["base_url"] == "http://127.0.0.1:9/v1", "merged with the file's section"
    assert Settings(job_lease_s=50).job_lease_s == 50, "an argument beats everything"


def test_dyngen_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "conf" / "studio.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('[server]\nenv = "staging"\n')
    monkeypatch.setenv("DYNGEN_CONFIG", str(elsewhere))

    assert Settings().env == "staging"


def test_every_problem_is_reported_with_its_line_and_the_closest_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nlog_levle = "debug"\n\n[redis]\nurl = "redis://x"\ntimeout_s = -1\nredis_prefix = "p"\n\n'
        '[storag]\ndata_dir = "d"\n\n[providers.story]\nkind = "openai"\napi_key = "env:NOT_SET_ANYWHERE"\n',
    )

    loaded = load()

    found = {(p.where, p.key): (p.message, p.hint) for p in loaded.problems}
    assert found[(f"{path}:2", "server.log_levle")] == ("unknown key", "server.log_level")
    assert found[(f"{path}:7", "redis.redis_prefix")] == ("unknown key", "redis.prefix")
    assert found[(f"{path}:9", "storag")][1] == "storage"
    assert found[(f"{path}:14", "providers.story.api_key")][0] == (
        "refers to the environment variable NOT_SET_ANYWHERE, which is not set"
    )
    assert found[(f"{path}:6", "redis.timeout_s")][0].startswith("Input should be greater than 0")
    assert len(loaded.problems) == 5


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nenv = "production"\nlog_level = \n')

    [problem] = load().problems

    assert problem.where == f"{path}:3"
    assert "not valid TOML" in problem.message


def test_settings_refuse_a_broken_file_with_the_report(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nlog_levle = 1\n")

    with pytest.raises(ConfigError, match=rf"{path}:2: server.log_levle: unknown key"):
        Settings()


def test_a_secret_is_never_in_a_problem(tmp_path: Path) -> None:
    write(tmp_path, '[providers.story]\nkind = "openai"\nbase_url = 5\napi_key = "env:STORY_KEY"\n')

    assert "sk-story-secret" not in "\n".join(map(str, load().problems))


def test_key_lines_follow_tables_dotted_and_quoted_keys() -> None:
    text = '[server]\nenv = "x"\n\n[providers."my.local"]\nkind = "openai"\nlimits.rate = 1\n[[odd]]\n'

    lines = key_lines(text)

    assert lines["server.env"] == 2
    assert lines["providers.my.local"] == 4
    assert lines["providers.my.local.kind"] == 5
    assert lines["providers.my.local.limits.rate"] == 6
    assert lines["odd"] == 7


def test_every_setting_but_the_flat_provider_ones_has_a_section() -> None:
    placed = {f.split(".")[0] for keys in sections().values() for f in keys.values()}
    missing = {
        name for name in Settings.model_fields if name not in placed and not name.startswith(("openai_", "http_video_"))
    }
    assert missing == {"providers", "provider_chains", "provider_pipelines", "prometheus_multiproc_dir", "comfyui"}


def test_a_provider_in_the_server_section_is_sent_to_its_own_section(tmp_path: Path) -> None:
    write(tmp_path, '[server]\ncomfyui = { workflow = "example:transition" }\nopenai_model = "m"\n')

    problems = [str(p) for p in load().problems]

    path = tmp_path / "dyngen.toml"
    hint = 'a provider setting (did you mean `[providers.<name>] kind = "{}"`?)'
    assert f"{path}:2: server.comfyui: " + hint.format("comfyui") in problems
    assert f"{path}:3: server.openai_model: " + hint.format("openai") in problems


def test_the_flat_provider_settings_make_instances_named_like_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNGEN_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("DYNGEN_OPENAI_API_KEY", "sk-flat")
    monkeypatch.setenv("DYNGEN_HTTP_VIDEO_SUBMIT_URL", "http://127.0.0.1:9/jobs")
    monkeypatch.setenv("DYNGEN_HTTP_VIDEO_STATUS_URL", "http://127.0.0.1:9/jobs/{id}")

    sections = Settings().provider_sections()

    assert sections["openai"] == {
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "gpt-4o-mini",
        "api_key": "sk-flat",
        "price_per_1k_tokens": 0.0,
        "max_bytes": 4 * 1024 * 1024,
    }
    assert sections["http_video"]["kind"] == "http_video"
    assert sections["http_video"]["status_url"] == "http://127.0.0.1:9/jobs/{id}"


PIPELINE_FILE = """\
[providers.story]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "story-model"

[pipelines.story_video]
script = "story"
render = "builtin_video"

[pipelines.broken]
script = "stroy"
render = "builtin_video"

[routing]
by_type = { transition = "story_video" }
judge = "critc"
"""


def test_pipelines_and_the_judge_are_read_and_checked(tmp_path: Path) -> None:
    from dyngen.bootstrap_providers import provider_problems

    loaded = load(write(tmp_path, PIPELINE_FILE))
    assert loaded.problems == []
    settings = loaded.settings
    assert settings.provider_pipelines["story_video"].script == "story"
    assert settings.element_judge == "critc"
    assert provider_problems(settings) == [
        ("pipelines.broken.script", "unknown provider 'stroy'"),
        ("routing.judge", "unknown provider 'critc'"),
    ]


def test_a_pipeline_needs_both_stages(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, '[pipelines.half]\nscript = "builtin"\n'))
    assert [(p.key, p.message) for p in loaded.problems] == [("pipelines.half.render", "Field required")]


async def test_a_judge_must_be_able_to_judge() -> None:
    from dyngen.bootstrap import build
    from dyngen.config import MEMORY_URL

    with pytest.raises(ValueError, match="cannot judge elements"):
        await build(Settings(database_url=MEMORY_URL, element_judge="builtin"))


def test_service_options_repeat_no_default_of_settings() -> None:
    """One source of defaults: an option named like a setting gets its value from `bootstrap.build` only."""
    import dataclasses

    from dyngen.services.machinery.container import Options

    repeated = [
        f.name
        for f in dataclasses.fields(Options)
        if f.name in Settings.model_fields
        and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
    ]

    assert repeated == []


@pytest.mark.parametrize("ttl", [float("nan"), float("inf"), -1.0])
def test_a_cache_lifetime_is_a_finite_number_of_seconds_or_null(ttl: float) -> None:
    """A NaN lifetime made the durable tier's expiry NULL and failed every write batch that carried it."""
    with pytest.raises(ValueError, match="cache_ttl_s"):
        Settings(cache_ttl_s={"once": ttl})
    assert Settings(cache_ttl_s={"once": None, "per_player": 0}).cache_ttl_s == {"once": None, "per_player": 0.0}
