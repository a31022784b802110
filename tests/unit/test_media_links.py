"""Signed artifact URLs: the pure signing (`domain/media.py`) and what a game sees in responses, cache
hits included (`services/media.py`), with the clock injected."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
from dyngen.config import Settings
from dyngen.domain import media
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.services.generation.front_door import Answered, GenerateCall, generate
from dyngen.services.machinery.container import Services
from dyngen.services.machinery.media import MediaLinks
from tests.fakes import FakeClock, FakeProvider

SECRET = b"s" * 32


def query(url: str) -> tuple[str, str, str]:
    """(artifact id, exp, sig) of a signed artifact URL."""
    parts = urlsplit(url)
    params = parse_qs(parts.query)
    return parts.path.rpartition(media.ARTIFACT_PATH)[2], params["exp"][0], params["sig"][0]


def test_a_signature_lets_its_artifact_through_until_it_expires() -> None:
    url = media.signed_url("", SECRET, "a1", 2_000)
    artifact_id, exp, sig = query(url)
    assert url.startswith("/api/artifacts/a1?exp=2000&sig=")
    assert media.check(SECRET, artifact_id, exp=exp, sig=sig, now_s=1_999.9) is media.LinkCheck.VALID
    assert media.check(SECRET, artifact_id, exp=exp, sig=sig, now_s=2_000) is media.LinkCheck.EXPIRED


@pytest.mark.parametrize(
    ("artifact_id", "exp", "sig"),
    [
        ("a2", "2000", None),  # another artifact with this one's signature
        ("a1", "2001", None),  # a later expiry
        ("a1", "2000", "x"),  # a made-up signature
        ("a1", "2000", ""),
        ("a1", "", None),
        ("a1", "-5", None),
        ("a1", "2e3", None),
    ],
)
def test_a_changed_url_is_invalid(artifact_id: str, exp: str, sig: str | None) -> None:
    _, _, good = query(media.signed_url("", SECRET, "a1", 2_000))
    verdict = media.check(SECRET, artifact_id, exp=exp, sig=good if sig is None else sig, now_s=1_000)
    assert verdict is media.LinkCheck.INVALID
    assert media.check(b"another secret", "a1", exp="2000", sig=good, now_s=1_000) is media.LinkCheck.INVALID


@given(now=st.floats(min_value=0, max_value=4e9), lifetime=st.integers(min_value=60, max_value=7 * 86_400))
def test_every_url_handed_out_lives_at_least_its_lifetime_and_less_than_a_tenth_more(now: float, lifetime: int):
    exp = media.expiry(now, lifetime)
    assert lifetime <= exp - now < lifetime * 1.1 + 1


def test_urls_handed_out_within_a_step_are_the_same() -> None:
    # A step is a tenth of the lifetime: 360 s for an hour.
    assert media.expiry(1_000_081.0, 3600) == media.expiry(1_000_439.0, 3600) == 1_004_040
    assert media.expiry(1_000_441.0, 3600) == 1_004_400


@pytest.mark.parametrize(
    ("role", "media_type", "name"),
    [
        ("video", "video/mp4", "video-a1.mp4"),
        ("poster", "image/jpeg", "poster-a1.jpg"),
        ("captions", "text/vtt", "captions-a1.vtt"),
        ("script", "application/json", "script-a1.json"),
        ("odd/role", "application/x-unknown", "oddrole-a1.bin"),
    ],
)
def test_a_download_is_named_with_its_extension(role: str, media_type: str, name: str) -> None:
    assert media.file_name(role, "a1", media_type) == name


def test_only_artifact_paths_are_signed() -> None:
    assert media.artifact_id_of("/api/artifacts/a1") == "a1"
    assert media.artifact_id_of("https://cdn.example.com/v.mp4") is None
    assert media.artifact_id_of(None) is None


def test_the_check_says_expired_or_invalid_as_a_403() -> None:
    links = MediaLinks(secret=SECRET, lifetime_s=600)
    clock = FakeClock()
    artifact_id, exp, sig = query(links.url("a1", exp=links.expiry(clock.now())))
    links.check(artifact_id=artifact_id, exp=exp, sig=sig, now=clock.now())
    with pytest.raises(DyngenError) as tampered:
        links.check(artifact_id="a2", exp=exp, sig=sig, now=clock.now())
    clock.advance(661)
    with pytest.raises(DyngenError) as expired:
        links.check(artifact_id=artifact_id, exp=exp, sig=sig, now=clock.now())
    assert (tampered.value.code, expired.value.code) == (ErrorCode.FORBIDDEN, ErrorCode.FORBIDDEN)
    assert "expired" in expired.value.message


# --- responses, cache hits included --------------------------------------------------------------

BODY = json.dumps(
    {
        "type": "dialogue",
        "node_id": "n-cafe",
        "from_scene": {"id": "cafe"},
        "to_scene": {"id": "street"},
        "strategy": "per_playthrough",
        "player_context": {"playthroughId": "p1"},
    }
).encode()


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(
        data_dir=tmp_path / "data", url_lifetime_s=600, public_url="https://cdn.example.com/dyngen/", example_graph=None
    )
    built = await build(settings, providers={"builtin": FakeProvider(name="builtin")}, clock=FakeClock())
    yield built
    await built.aclose()


async def answered(services: Services) -> bytes:
    outcome = await generate(GenerateCall(body=BODY), ports=generation_ports(services))
    assert isinstance(outcome, Answered)
    return outcome.data


async def answer(services: Services) -> dict[str, object]:
    body: dict[str, object] = json.loads(await answered(services))
    return body


async def test_a_cache_hit_hands_out_freshly_signed_urls_not_the_ones_of_its_first_answer(services: Services):
    first = await answer(services)
    assert first["cache"] == {"hit": False}
    [artifact] = first["artifacts"]  # type: ignore[misc]
    assert (artifact["role"], artifact["media_type"]) == ("script", "application/json")
    assert artifact["bytes"] > 0
    assert artifact["url"] == first["content"]["url"]  # type: ignore[index]
    assert artifact["url"].startswith("https://cdn.example.com/dyngen/api/artifacts/"), "DYNGEN_PUBLIC_URL"
    artifact_id, exp, sig = query(artifact["url"])
    assert int(exp) - services.clock.now().timestamp() >= 600

    services.clock.advance(700)  # the first answer's URLs have expired
    with pytest.raises(DyngenError):
        services.media.check(artifact_id=artifact_id, exp=exp, sig=sig, now=services.clock.now())
    hit = await answer(services)
    assert hit["cache"] == {"hit": True, "tier": "memory"}
    [again] = hit["artifacts"]  # type: ignore[misc]
    _, fresh_exp, fresh_sig = query(again["url"])
    assert int(fresh_exp) - services.clock.now().timestamp() >= 600
    services.media.check(artifact_id=artifact_id, exp=fresh_exp, sig=fresh_sig, now=services.clock.now())
    assert hit["content"]["url"] == again["url"]  # type: ignore[index]


async def test_the_secret_is_made_once_and_kept_in_the_data_dir(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", example_graph=None)
    one = await build(settings)
    await one.aclose()
    two = await build(settings)
    await two.aclose()
    assert one.media.secret == two.media.secret
    assert len(one.media.secret) == 32
    assert (tmp_path / "data" / "url_secret").stat().st_mode & 0o077 == 0, "readable by its owner only"
    given_secret = await build(
        Settings(data_dir=tmp_path / "data", example_graph=None, url_secret="from-the-environment")
    )
    await given_secret.aclose()
    assert given_secret.media.secret == b"from-the-environment"
