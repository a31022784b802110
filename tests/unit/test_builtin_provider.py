"""The built-in text provider: deterministic, timed, mood-shaped content that honours its constraints."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from dyngen.adapters.providers import builtin
from dyngen.adapters.providers import phrasebook as book
from dyngen.adapters.providers.builtin import MAX_BEATS, BuiltinProvider
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType, PlayerContext, Style
from dyngen.domain.elements import content_text, mentions, violations
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import Provider, ProviderCall, ProviderResult

ALL_TYPES = [t.value for t in GenerationType]
SCENES: dict[str, Any] = {
    "from_scene": {
        "id": "s1",
        "mood": "tense",
        "location": "rooftop_garden",
        "summary": "Alex and Sam argue about the missing letter. It gets worse.",
        "emotionalState": "anxious_but_hopeful",
    },
    "to_scene": {"id": "s2", "mood": "calm", "location": "harbour_cafe"},
}


def request(kind: str = "transition", **overrides: Any) -> GenerateContentRequest:
    """A request between two scenes, tense -> calm, 30 seconds; `overrides` replace top-level fields."""
    body: dict[str, Any] = {
        "type": kind,
        **SCENES,
        "style": {"moodFrom": "tense", "moodTo": "calm", "pacing": "medium", "transitionType": "gradual"},
        "duration": {"min": 1, "max": 600, "target": 30},
    }
    body.update(overrides)
    return GenerateContentRequest.model_validate(body)


async def generate(req: GenerateContentRequest, seed: int = 7, attempt: int = 1) -> ProviderResult:
    return await BuiltinProvider().generate(ProviderCall(request=req, seed=seed, attempt=attempt, deadline_s=5.0))


def style(**fields: Any) -> dict[str, Any]:
    return {"moodFrom": "tense", "moodTo": "calm", "pacing": "medium", "transitionType": "gradual", **fields}


def test_provider_describes_itself_as_free_deterministic_json_for_every_type() -> None:
    provider = BuiltinProvider()
    assert isinstance(provider, Provider)
    assert provider.info.name == "builtin"
    assert provider.info.generation_types == frozenset(GenerationType)
    assert provider.info.media == frozenset({"application/json"})
    assert provider.info.deterministic is True
    assert provider.estimate_cost(request()) == 0.0


@pytest.mark.parametrize("kind", ALL_TYPES)
async def test_same_request_and_seed_give_identical_bytes_whatever_the_attempt(kind: str) -> None:
    first = await generate(request(kind), seed=42, attempt=1)
    retry = await generate(request(kind), seed=42, attempt=3)
    assert first.artifacts[0].data == retry.artifacts[0].data
    assert first.payload == retry.payload


@pytest.mark.parametrize("kind", ALL_TYPES)
async def test_another_seed_gives_a_visibly_different_variant(kind: str) -> None:
    one = await generate(request(kind), seed=1)
    other = await generate(request(kind), seed=2)
    assert one.artifacts[0].data != other.artifacts[0].data
    assert [b.text for b in one.payload.beats or []] != [b.text for b in other.payload.beats or []]


async def test_ids_that_do_not_shape_content_do_not_reshuffle_it_but_scene_details_do() -> None:
    base = await generate(request())
    renamed = await generate(request(node_id="node-b", version=9, cache_key="k"))
    moved = await generate(request(to_scene={"id": "s2", "mood": "calm", "location": "train_station"}))
    assert renamed.artifacts[0].data == base.artifacts[0].data
    assert moved.artifacts[0].data != base.artifacts[0].data


@pytest.mark.parametrize("kind", ALL_TYPES)
@pytest.mark.parametrize("pacing", ["slow", "medium", "fast"])
@pytest.mark.parametrize("target", [1.0, 7.3, 10, 33.333, 59.9999, 600])
async def test_beats_run_contiguously_from_zero_and_sum_exactly_to_the_target(
    kind: str, pacing: str, target: float
) -> None:
    duration = {"min": 1, "max": 600, "target": target}
    result = await generate(request(kind, style=style(pacing=pacing), duration=duration))
    beats = result.payload.beats or []
    assert result.payload.duration == target
    assert beats[0].start == 0
    assert abs(sum(b.duration for b in beats) - target) <= 1e-9
    assert all(b.duration > 0 for b in beats)
    for before, after in itertools.pairwise(beats):
        assert abs(after.start - (before.start + before.duration)) <= 1e-9


@pytest.mark.parametrize("target", [12, 30, 90])
async def test_slow_pacing_has_fewer_longer_beats_than_medium_and_fast(target: float) -> None:
    counts = []
    for pacing in ("slow", "medium", "fast"):
        result = await generate(request(style=style(pacing=pacing), duration={"min": 1, "max": 600, "target": target}))
        counts.append(len(result.payload.beats or []))
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize(("target", "pacing", "expected"), [(1, "slow", 2), (600, "fast", MAX_BEATS)])
async def test_beat_count_stays_within_its_bounds(target: float, pacing: str, expected: int) -> None:
    result = await generate(request(style=style(pacing=pacing), duration={"min": 1, "max": 600, "target": target}))
    assert len(result.payload.beats or []) == expected


@pytest.mark.parametrize("seed", range(5))
async def test_abrupt_turns_once_at_a_cut_beat_while_gradual_blends(seed: int) -> None:
    duration = {"min": 1, "max": 600, "target": 60}
    abrupt = await generate(request(style=style(transitionType="abrupt"), duration=duration), seed=seed)
    gradual = await generate(request(style=style(transitionType="gradual"), duration=duration), seed=seed)
    moods = [b.mood for b in abrupt.payload.beats or []]
    turn = moods.index("calm")
    assert moods == ["tense"] * turn + ["calm"] * (len(moods) - turn)
    assert 0 < turn < len(moods) - 1
    assert (abrupt.payload.beats or [])[turn].text.startswith("Cut")
    gradual_beats = gradual.payload.beats or []
    assert not any(b.text.startswith("Cut") for b in gradual_beats)
    assert [b.mood for b in gradual_beats[:3]] == ["tense"] * 3
    assert [b.mood for b in gradual_beats[-3:]] == ["calm"] * 3
    assert abrupt.artifacts[0].data != gradual.artifacts[0].data


@pytest.mark.parametrize("kind", ALL_TYPES)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_required_elements_are_mentioned_and_avoided_ones_never_are(kind: str, seed: int) -> None:
    required = ["phone_ring", "glass_of_wine", "sea-breeze", "Church Bell"]
    avoided = ["rain", "door", "light", "cup_of_tea"]
    constraints = {"requiredElements": required, "avoidElements": avoided}
    result = await generate(request(kind, constraints=constraints), seed=seed)
    text = content_text(result.payload)
    assert violations(result.payload, request(constraints=constraints).constraints) == []
    assert all(mentions(text, element) for element in required), text
    assert not any(mentions(text, element) for element in avoided), text


@pytest.mark.parametrize("seed", range(20))
async def test_a_multi_word_avoided_element_is_not_assembled_across_lines(seed: int) -> None:
    # "A half-finished cup of tea goes cold." is in the sad bank; its words must not meet anywhere.
    constraints = {"avoidElements": ["cup_of_tea"]}
    result = await generate(request(style=style(moodFrom="sad", moodTo="melancholic"), constraints=constraints), seed)
    assert not mentions(content_text(result.payload), "cup_of_tea")


@pytest.mark.parametrize(
    ("element", "phrasing"),
    [(e, p) for bank in (book.ELEMENT_NARRATION, book.ELEMENT_SPEECH) for e, lines in bank.items() for p in lines],
)
def test_every_phrasebook_phrasing_mentions_its_element(element: str, phrasing: str) -> None:
    assert mentions(phrasing, element)


@pytest.mark.parametrize("mood", ["intense", "fearful", "angry", "tense"])
async def test_g_rating_never_uses_the_words_it_blocks_but_a_required_one_wins(mood: str) -> None:
    texts = []
    for seed in range(15):
        constraints = {"rating": "G", "requiredElements": ["glass_of_wine"]}
        result = await generate(request(style=style(moodFrom=mood, moodTo=mood), constraints=constraints), seed=seed)
        texts.append(content_text(result.payload))
    assert all(mentions(t, "glass_of_wine") for t in texts)
    assert not any(mentions(t, word) for t in texts for word in book.G_BLOCKED_WORDS if word != "wine")


async def test_contradictory_elements_fail_with_a_constraint_error() -> None:
    constraints = {"requiredElements": ["phone_ring"], "avoidElements": ["phone"]}
    with pytest.raises(DyngenError) as caught:
        await generate(request(constraints=constraints))
    assert caught.value.code is ErrorCode.GEN_CONSTRAINT_FAIL


async def test_no_usable_line_is_an_empty_output_error(monkeypatch: pytest.MonkeyPatch) -> None:
    every_line_has_fog = dict.fromkeys(book.MOOD_IMAGERY, ("Fog everywhere.",))
    monkeypatch.setattr(book, "MOOD_IMAGERY", every_line_has_fog)
    monkeypatch.setattr(book, "GENERIC_IMAGERY", ("Fog, {mood} fog.",))
    with pytest.raises(DyngenError) as caught:
        await generate(request("environment", constraints={"avoidElements": ["fog"]}))
    assert caught.value.code is ErrorCode.GEN_EMPTY_OUTPUT


@pytest.mark.parametrize(("mood_from", "mood_to"), [("tense", "calm"), ("romantic", "sad"), ("joyful", "fearful")])
async def test_transition_opens_in_the_from_mood_and_ends_on_to_mood_imagery(mood_from: str, mood_to: str) -> None:
    result = await generate(request(style=style(moodFrom=mood_from, moodTo=mood_to)))
    beats = result.payload.beats or []
    assert beats[0].mood == mood_from
    assert beats[-1].mood == mood_to
    assert any(line in beats[-1].text for line in book.MOOD_IMAGERY[mood_to])
    assert result.payload.metadata is not None
    assert result.payload.metadata.mood == mood_to
    assert {mood_from, mood_to} <= set(result.payload.metadata.tags or [])


async def test_an_unknown_mood_is_written_around_its_own_word() -> None:
    result = await generate(request(style=style(moodFrom="calm", moodTo="bittersweet")))
    beats = result.payload.beats or []
    assert beats[-1].mood == "bittersweet"
    assert "bittersweet" in beats[-1].text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"style": {}}, ("tense", "calm")),  # no style moods: the scenes' moods
        ({"style": {}, "from_scene": None, "to_scene": None}, ("neutral", "neutral")),
    ],
)
async def test_missing_moods_come_from_the_scenes_then_neutral(
    overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    beats = (await generate(request(**overrides))).payload.beats or []
    assert (beats[0].mood, beats[-1].mood) == expected


async def test_a_conversation_with_only_a_destination_mood_stays_in_it() -> None:
    req = request("dialogue", style={}, from_scene=None, to_scene={"id": "s2", "mood": "playful"})
    beats = (await generate(req)).payload.beats or []
    assert {b.mood for b in beats} == {"playful"}


@pytest.mark.parametrize("transition_type", ["gradual", "abrupt"])
async def test_transition_names_both_locations_and_recalls_the_previous_scene(transition_type: str) -> None:
    result = await generate(request(style=style(transitionType=transition_type)))
    text = content_text(result.payload).lower()
    assert "rooftop garden" in text
    assert "harbour cafe" in text
    assert "anxious but hopeful" in text, "the previous scene is recalled through its emotional state"
    assert "missing letter" not in text, "the summary is the designer's note, never read out"


async def test_transition_payload_is_a_timed_script_with_speaker_prefixed_dialogue() -> None:
    req = request(constraints={"contentRules": ["dialogue_heavy"]}, duration={"target": 60, "max": 60})
    result = await generate(req)
    payload = result.payload
    beats = payload.beats or []
    assert payload.type is PayloadType.DIALOGUE
    assert payload.url is None
    assert payload.duration == 60
    assert any(b.kind == "dialogue" for b in beats)
    expected = [f"{b.speaker}: {b.text}" if b.kind == "dialogue" else b.text for b in beats]
    assert payload.dialogue == expected
    assert all((b.speaker is not None) == (b.kind == "dialogue") for b in beats)


async def test_narration_only_rule_keeps_voices_out() -> None:
    req = request(constraints={"contentRules": ["narration_only"]}, duration={"target": 120, "max": 120})
    assert all(b.kind == "narration" for b in (await generate(req)).payload.beats or [])


async def late_to_early_seconds_per_word(rules: list[str], seed: int) -> float:
    req = request(constraints={"contentRules": rules}, duration={"target": 60, "max": 60})
    beats = (await generate(req, seed=seed)).payload.beats or []
    half = len(beats) // 2
    early, late = beats[:half], beats[-half:]
    early_rate = sum(b.duration for b in early) / sum(len(b.text.split()) for b in early)
    late_rate = sum(b.duration for b in late) / sum(len(b.text.split()) for b in late)
    return late_rate / early_rate


async def test_build_tension_gradually_speeds_the_delivery_up_towards_the_end() -> None:
    seeds = range(8)
    plain = [await late_to_early_seconds_per_word([], seed) for seed in seeds]
    tightening = [await late_to_early_seconds_per_word(["build_tension_gradually"], seed) for seed in seeds]
    assert all(ratio < 0.9 for ratio in tightening), tightening
    assert sum(tightening) / len(seeds) < sum(plain) / len(seeds) - 0.15


@pytest.mark.parametrize("pacing", ["slow", "medium", "fast"])
async def test_dialogue_is_two_named_npcs_taking_turns_with_player_choices(pacing: str) -> None:
    social = {"npcIds": ["npc_marla", "npc_jonas_02"]}
    result = await generate(request("dialogue", style=style(pacing=pacing), social_context=social))
    payload = result.payload
    beats = payload.beats or []
    assert payload.type is PayloadType.DIALOGUE
    assert 4 <= len(beats) <= 10
    assert all(b.kind == "dialogue" for b in beats)
    assert [b.speaker for b in beats[:2]] == ["Marla", "Jonas"]
    assert all(a.speaker != b.speaker for a, b in itertools.pairwise(beats))
    assert all(line.startswith(("Marla: ", "Jonas: ")) for line in payload.dialogue or [])
    choices = payload.choices or []
    assert 2 <= len(choices) <= 4
    assert [c.id for c in choices] == [f"c{i}" for i in range(1, len(choices) + 1)]
    assert len({c.text for c in choices}) == len(choices)


async def test_dialogue_without_npc_ids_uses_two_different_names_from_the_bank() -> None:
    beats = (await generate(request("dialogue"))).payload.beats or []
    speakers = {b.speaker for b in beats}
    assert len(speakers) == 2
    assert speakers <= set(book.NAMES)


@pytest.mark.parametrize("pacing", ["slow", "medium", "fast"])
async def test_environment_describes_the_destination_in_its_mood(pacing: str) -> None:
    result = await generate(request("environment", style=style(pacing=pacing)))
    payload = result.payload
    beats = payload.beats or []
    assert payload.type is PayloadType.ENVIRONMENT
    assert 3 <= len(beats) <= 8
    assert all(b.kind == "narration" and b.mood == "calm" for b in beats)
    assert "harbour cafe" in content_text(payload)
    assert payload.metadata is not None
    assert {"calm", "harbour_cafe"} <= set(payload.metadata.tags or [])


async def test_environment_without_a_location_opens_in_the_mood_not_on_the_summary() -> None:
    scene = {"id": "s9", "mood": "mysterious", "summary": "An abandoned greenhouse at midnight"}
    result = await generate(request("environment", style={}, from_scene=None, to_scene=scene))
    first = (result.payload.beats or [])[0].text
    assert first in book.MOOD_IMAGERY["mysterious"]
    assert "greenhouse" not in content_text(result.payload).lower()


@pytest.mark.parametrize(
    ("social", "mood", "tone"),
    [
        ({"relationshipValues": {"affinity": 80, "trust": 70}}, "calm", "warm"),
        ({"relationshipValues": {"affinity": 0.8, "trust": 0.9}, "intimacyBand": "deep"}, "calm", "intimate"),
        ({"relationshipValues": {"affinity": 0.8}, "intimacyBand": "deep", "contentRating": "sfw"}, "calm", "warm"),
        ({"relationshipValues": {"affinity": -20, "tension": 90}}, "calm", "hostile"),
        ({"relationshipValues": {"affinity": 1, "trust": -4}}, "calm", "guarded"),
        ({"relationshipValues": {"affinity": -2, "trust": -1}}, "calm", "neutral"),  # cool, not warm
        ({"relationshipValues": {"affinity": 70}}, "angry", "guarded"),
        ({}, "angry", "guarded"),
        ({}, "neutral", "neutral"),
    ],
)
async def test_npc_response_tone_follows_the_relationship_and_the_mood(
    social: dict[str, Any], mood: str, tone: str
) -> None:
    req = request("npc_response", style={"moodTo": mood}, social_context={"npcIds": ["npc_marla"], **social})
    payload = (await generate(req)).payload
    beats = payload.beats or []
    assert payload.type is PayloadType.NPC_RESPONSE
    assert 1 <= len(beats) <= 3
    assert {b.speaker for b in beats} == {"Marla"}
    assert payload.metadata is not None
    assert tone in (payload.metadata.tags or [])
    assert beats[0].text in book.NPC_TONE_LINES[tone]


@pytest.mark.parametrize(("pacing", "lines"), [("fast", 1), ("medium", 2), ("slow", 3)])
async def test_npc_response_is_terser_at_a_faster_pace(pacing: str, lines: int) -> None:
    beats = (await generate(request("npc_response", style=style(pacing=pacing)))).payload.beats or []
    assert len(beats) == lines


@pytest.mark.parametrize("kind", ALL_TYPES)
@pytest.mark.parametrize("seed", range(4))
async def test_every_line_reads_as_a_sentence_starting_with_a_capital(kind: str, seed: int) -> None:
    payload = (await generate(request(kind, social_context={"npcIds": ["npc_marla"]}), seed=seed)).payload
    texts = [*(b.text for b in payload.beats or []), *(c.text for c in payload.choices or [])]
    assert all(text[:1].isupper() for text in texts), texts
    assert all(text.rstrip()[-1] in ".!?" for text in texts), texts


@pytest.mark.parametrize("kind", ALL_TYPES)
@pytest.mark.parametrize("seed", range(4))
async def test_a_script_never_repeats_a_line(kind: str, seed: int) -> None:
    constraints = {"requiredElements": ["glass_of_wine", "sea-breeze", "old_map"]}
    req = request(kind, constraints=constraints, duration={"min": 1, "max": 60, "target": 60})
    texts = [b.text for b in (await generate(req, seed=seed)).payload.beats or []]
    assert len(set(texts)) == len(texts), texts


@pytest.mark.parametrize("kind", ALL_TYPES)
async def test_one_primary_json_script_artifact_holds_exactly_the_payload_content(kind: str) -> None:
    result = await generate(request(kind))
    assert len(result.artifacts) == 1
    blob = result.artifacts[0]
    assert (blob.role, blob.media_type, blob.primary) == ("script", "application/json", True)
    content = json.loads(blob.data)
    expected = result.payload.model_dump(mode="json", include={"beats", "dialogue", "choices"}, exclude_none=True)
    assert content == expected
    assert content["dialogue"] == result.payload.dialogue
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert blob.data == canonical


@pytest.mark.parametrize("kind", ALL_TYPES)
async def test_tokens_count_the_words_a_player_reads_and_it_costs_nothing(kind: str) -> None:
    result = await generate(request(kind))
    payload = result.payload
    words = sum(len(line.split()) for line in [*(payload.dialogue or []), *(c.text for c in payload.choices or [])])
    assert result.tokens == words > 0
    assert result.cost == 0.0
    assert result.fingerprint == "builtin-text/2"


async def test_quality_score_is_a_fraction_lower_for_moods_the_book_does_not_know() -> None:
    known = await generate(request())
    unknown = await generate(request(style=style(moodFrom="wry", moodTo="bittersweet")))
    assert known.payload.metadata is not None
    assert unknown.payload.metadata is not None
    known_score = known.payload.metadata.quality_score or 0.0
    unknown_score = unknown.payload.metadata.quality_score or 0.0
    assert 0.0 <= unknown_score < known_score <= 1.0


async def test_tags_name_required_elements_moods_and_pacing_but_never_an_avoided_element() -> None:
    constraints = {"requiredElements": ["Phone Ring"], "avoidElements": ["medium"]}
    metadata = (await generate(request(constraints=constraints))).payload.metadata
    assert metadata is not None
    tags = metadata.tags or []
    assert {"phone_ring", "tense", "calm"} <= set(tags)
    assert "medium" not in tags


async def test_a_players_copy_of_a_node_request_writes_what_a_fresh_parse_of_it_writes() -> None:
    node = request("dialogue")
    first = await generate(node, seed=5)
    # A player's copy shares the node's scenes, style and constraints (remembered once dumped for the seed).
    player = node.model_copy(update={"player_context": PlayerContext(playthrough_id="p-2")})
    assert (await generate(player, seed=5)).artifacts[0].data == first.artifacts[0].data
    assert (await generate(request("dialogue"), seed=5)).artifacts[0].data == first.artifacts[0].data
    faster = node.model_copy(update={"style": Style.model_validate(style(pacing="fast"))})
    assert (await generate(faster, seed=5)).artifacts[0].data != first.artifacts[0].data


async def test_the_seed_fields_remembered_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "SEED_FIELDS_KEPT", 2)
    monkeypatch.setattr(builtin, "_seed_json", {})
    for target in range(10, 16):
        await generate(request(duration={"min": 1, "max": 600, "target": target}))
    assert len(builtin._seed_json) == 2
