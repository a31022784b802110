"""The built-in provider: offline, deterministic text for every generation type.

It writes short, timed scripts from the word banks in `phrasebook`: no network, no model, no clock.
Every random choice comes from one `random.Random` seeded with a SHA-256 digest of the resolved seed
and the request's content fields, so the same request and seed give byte-identical output (the retry
number is deliberately not part of it) and another seed gives another variant.

Constraints are honoured by construction. Each required element gets a line that
`dyngen.domain.elements.mentions` recognises, phrased in plain words (`dyngen.domain.lexicon`): an element
id never reaches the player, and neither does a scene's summary (it is the designer's note, not a line).
For each avoided element one of its words (preferably one no required element uses, then the longest)
is *blocked*: no line, name or tag containing it is used, so the element as a whole can never be
mentioned, even across lines; no line says one of the lexicon's phrases for it either. The same mechanism keeps
G-rated output free of `phrasebook.G_BLOCKED_WORDS`. A final check with
`dyngen.domain.elements.violations` guards against any slip. No sentence is used twice in one piece of
content: when the banks run dry, the content has fewer, longer beats instead.

The quality score (`metadata.quality_score`) is measured on the finished content: `text_quality`.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dyngen.adapters.providers import phrasebook as book
from dyngen.adapters.providers.refusals import refusals_for
from dyngen.adapters.providers.text_quality import quality_score
from dyngen.domain.contracts import (
    Constraints,
    ContentRating,
    GenerateContentRequest,
    GenerationType,
    Pacing,
    PayloadType,
    Rating,
    SceneRef,
    SocialContext,
    TransitionType,
)
from dyngen.domain.elements import ElementReport, Mention, mentions, violations
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.lexicon import element_key, spoken_form
from dyngen.domain.responses import Choice, GeneratedContentPayload
from dyngen.domain.validation import normalise_element
from dyngen.ports import ArtifactBlob, ProviderCall, ProviderInfo, ProviderResult

FINGERPRINT = "builtin-text/2"  # /2: lines without ids or pasted summaries, so other output for the same seed
MAX_BEATS = 40

# Seconds per beat or line by pacing: slow scripts have fewer, longer beats.
_BEAT_SECONDS = {Pacing.SLOW: 6.0, Pacing.MEDIUM: 4.0, Pacing.FAST: 2.5}
_LINE_SECONDS = {Pacing.SLOW: 5.0, Pacing.MEDIUM: 3.5, Pacing.FAST: 2.5}
# Words a listener takes in per second at each pacing, for the length check of the quality score.
_NPC_LINES = {Pacing.SLOW: 3, Pacing.MEDIUM: 2, Pacing.FAST: 1}
_CHOICES = {Pacing.SLOW: 4, Pacing.MEDIUM: 3, Pacing.FAST: 2}
_STOPWORDS = frozenset({"a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "with", "for", "from", "by"})
# The request fields that shape the content; ids, versions, cache and fallback settings do not.
_SEED_FIELDS = {"type", "purpose", "from_scene", "to_scene", "style", "duration", "constraints", "social_context"}
_SEED_VALUES = operator.attrgetter(*sorted(_SEED_FIELDS))
SEED_FIELDS_KEPT = 1024
_seed_json: dict[tuple[int, ...], tuple[tuple[object, ...], str]] = {}
# The script artifact's JSON; one encoder for every miss (`json.dumps` with options builds one per call).
_SCRIPT_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class _Mood:
    label: str  # normalised request spelling: "tense", "bittersweet"
    word: str  # the label in words, for text
    key: str | None  # the phrasebook's mood, None when unknown


@dataclass(slots=True)
class _Slot:
    """One beat being written: its mood, its sentences and, for a spoken line, its speaker."""

    mood: _Mood
    texts: list[str] = field(default_factory=list)
    speaker: str | None = None


@dataclass(slots=True)
class _Draft:
    kind: PayloadType
    slots: list[_Slot]
    mood: _Mood
    choices: list[Choice] | None = None
    tags: list[str] = field(default_factory=list)
    accelerate: bool = False  # later beats shorter (the `build_tension_gradually` content rule)


class _Composer:
    """Seeded choices from the phrasebook, never using a blocked word and never repeating a line."""

    def __init__(self, rng: random.Random, blocked: Sequence[str], *, avoided: Sequence[str] = (), pg13: bool) -> None:
        self.rng = rng
        self.blocked = tuple(blocked)
        self.avoided = tuple(avoided)
        self.pg13 = pg13
        self.used: set[str] = set()
        self.sentences: set[str] = set()  # every sentence written so far, normalised: none is written twice
        self.grounded = False
        self.exhausted = False  # set when a pick found lines that fit but had used them all
        self._refusals = refusals_for(self.blocked, self.avoided)

    def allowed(self, text: str) -> bool:
        """True when `text` mentions no blocked word and says none of the avoided elements' phrases."""
        return self._refusals.allowed(text)

    def pick(
        self, templates: tuple[str, ...], fields: Mapping[str, str], *, mention: str | None = None, short: bool = False
    ) -> str | None:
        """A filled template that uses no blocked word, repeats no sentence (and mentions `mention`), or None."""
        fitting = self._refusals.lines(templates, fields, mention)
        candidates = [line for line in fitting if self.sentences.isdisjoint(line[2])]
        if not candidates:
            self.exhausted = self.exhausted or bool(fitting)
            return None
        # Unused templates first, so two elements or two places do not share one sentence shape.
        fresh = [c for c in candidates if c[0] not in self.used] or candidates
        if short and len(fresh) > 2:
            fresh = sorted(fresh, key=lambda c: (len(c[1]), c[1]))[: (len(fresh) + 1) // 2]
        template, text, said = self.rng.choice(fresh)
        self.used.add(template)
        self.sentences.update(said)
        return text

    def adj(self, mood: _Mood) -> str:
        options = self._refusals.kept(book.MOOD_ADJECTIVES.get(mood.key or "", ()))
        return self.rng.choice(options) if options else mood.word

    def imagery(self, mood: _Mood) -> str | None:
        pools: list[tuple[str, ...]] = [book.GENERIC_IMAGERY, book.MOOD_IMAGERY["neutral"]]
        if mood.key is not None:
            rated = book.RATED_PG13_IMAGERY.get(mood.key, ()) if self.pg13 else ()
            pools.insert(0, book.MOOD_IMAGERY[mood.key] + rated)
        return self._first(pools, {"mood": mood.word}, f"no imagery for mood '{mood.label}' avoids the blocked words")

    def speech(self, mood: _Mood, other: str | None, *, short: bool = False) -> str | None:
        fields = {"mood": mood.word} | ({"other": other} if other else {})
        own = book.MOOD_SPEECH.get(mood.key or "", book.GENERIC_SPEECH)
        pools = [own, book.GENERIC_SPEECH, book.MOOD_SPEECH["neutral"]]
        return self._first(pools, fields, f"no spoken line for mood '{mood.label}' avoids the blocked words", short)

    def place_line(self, templates: tuple[str, ...], place: str | None, mood: _Mood) -> str | None:
        if place is None:
            return None
        text = self.pick(templates, book.place_fields(place) | {"adj": self.adj(mood)})
        self.grounded = self.grounded or text is not None
        return text

    def echo(self, scene: SceneRef | None) -> str | None:
        """A line recalling a scene: its emotional state, else that something just happened.

        Never the summary itself: it is the designer's description of the scene, not a line to read out.
        """
        if scene is None:
            return None
        return self.state_line(scene) or (self.pick(book.AFTERMATH_LINES, {}) if scene.summary else None)

    def state_line(self, scene: SceneRef | None) -> str | None:
        """A line naming a scene's emotional state (`anxious_but_hopeful` -> "anxious but hopeful")."""
        if scene is None or not scene.emotional_state:
            return None
        text = self.pick(book.STATE_LINES, {"state": normalise_element(scene.emotional_state).replace("_", " ")})
        self.grounded = self.grounded or text is not None
        return text

    def element(self, element: str, *, spoken: bool) -> str:
        key = normalise_element(element)
        narration = book.ELEMENT_NARRATION.get(key, ())
        generic = book.GENERIC_ELEMENT_SPEECH if spoken else book.GENERIC_ELEMENT_NARRATION
        pools: list[tuple[str, ...]] = [narration, generic]
        if spoken:
            wrapped = tuple(w.replace("{sentence}", s) for s in narration for w in book.SPOKEN_WRAPPERS)
            pools = [book.ELEMENT_SPEECH.get(key, ()), wrapped, generic]
        fields = {"words": spoken_form(key)}
        for pool in pools:
            if (text := self.pick(pool, fields, mention=element)) is not None:
                return text
        # Words that `mentions` cannot match (`c++`) still get a line; the metadata tag names them.
        if not mentions(generic[0].format_map(fields), element) and (text := self.pick(generic, fields)):
            return text
        raise DyngenError(
            ErrorCode.GEN_CONSTRAINT_FAIL, f"required element '{element}' cannot be phrased without an avoided word"
        )

    def speakers(self, social: SocialContext | None, count: int) -> list[str]:
        names: list[str] = []
        for npc in (social.npc_ids if social and social.npc_ids else [])[:count]:
            name = book.display_name(npc)
            if name and self.allowed(name) and name not in names:
                names.append(name)
        bank = [n for n in self._refusals.kept(book.NAMES) if n not in names]
        self.rng.shuffle(bank)
        names.extend(bank)
        if len(names) < count:
            raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "every speaker name uses an avoided word")
        return names[:count]

    def _first(
        self, pools: Sequence[tuple[str, ...]], fields: Mapping[str, str], failure: str, short: bool = False
    ) -> str | None:
        """The first pool's line that fits; None when lines fit but were all used (the beat is dropped)."""
        self.exhausted = False
        for pool in pools:
            if (text := self.pick(pool, fields, short=short)) is not None:
                return text
        if self.exhausted:
            return None
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, failure)


class BuiltinProvider:
    """Offline, deterministic text for all five generation types; free and fast (well under 5 ms).

    Transitions and variations become timed narration and dialogue beats moving from one mood to
    another; dialogue becomes a two-speaker exchange with player choices; environment becomes sensory
    lines about a location; npc_response becomes one NPC's reply in a tone set by the relationship.
    """

    def __init__(self) -> None:
        self.info = ProviderInfo(
            name="builtin",
            generation_types=frozenset(GenerationType),
            media=frozenset({"application/json"}),
            deterministic=True,
        )

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        """Zero: the built-in provider runs locally and costs nothing."""
        return 0.0

    async def generate(self, call: ProviderCall) -> ProviderResult:
        """Write the content for `call.request`, determined by it and `call.seed` alone.

        Raises:
            DyngenError: GEN_CONSTRAINT_FAIL when the required and avoided elements contradict each
                other, GEN_EMPTY_OUTPUT when no line survives the avoided words.
        """
        return _compose(call.request, call.seed)


def _compose(request: GenerateContentRequest, seed: int) -> ProviderResult:
    target = request.duration.target
    if target <= 0:
        raise DyngenError(ErrorCode.GEN_INVALID_CONFIG, f"duration.target must be positive seconds (got {target:g})")
    constraints = request.constraints
    required = list(dict.fromkeys(e for e in constraints.required_elements if normalise_element(e)))
    required_words = {w for e in required for w in normalise_element(e).split("_")}
    composer = _Composer(
        _rng(request, seed),
        _blocked_words(constraints, required_words),
        avoided=constraints.avoid_elements,
        pg13=constraints.rating in (Rating.PG_13, Rating.R),
    )
    if request.type in (GenerationType.TRANSITION, GenerationType.VARIATION):
        draft = _transition(request, composer, required)
    elif request.type is GenerationType.DIALOGUE:
        draft = _dialogue(request, composer, required)
    elif request.type is GenerationType.ENVIRONMENT:
        draft = _environment(request, composer, required)
    else:
        draft = _npc_response(request, composer, required)
    payload = _payload(request, draft, composer, required)
    problems = violations(payload, constraints)
    if problems:
        raise DyngenError(ErrorCode.GEN_CONSTRAINT_FAIL, "; ".join(problems))
    content = payload.model_dump(mode="json", include={"beats", "dialogue", "choices"}, exclude_none=True)
    beats = [b.text for b in payload.beats or []]
    found = {
        element_key(e): Mention(beat=i, quote=beats[i])
        for e in required
        if (i := next((n for n, text in enumerate(beats) if mentions(text, e)), -1)) >= 0
    }
    data = _SCRIPT_JSON.encode(content).encode()
    words = [*(payload.dialogue or []), *(c.text for c in payload.choices or [])]
    return ProviderResult(
        payload=payload,
        artifacts=[ArtifactBlob(role="script", media_type="application/json", data=data, primary=True)],
        tokens=sum(len(line.split()) for line in words),
        cost=0.0,
        fingerprint=FINGERPRINT,
        # What it wrote where, as a model reports it (its lines mention each element by construction).
        report=ElementReport(occurs=found, absent=frozenset(element_key(e) for e in constraints.avoid_elements)),
    )


def _rng(request: GenerateContentRequest, seed: int) -> random.Random:
    # The JSON of {"seed": seed, "request": <the seed fields>} with sorted keys, the request's part remembered.
    material = f'{{"request":{_seed_fields(request)},"seed":{json.dumps(seed)}}}'
    # Reproducible variety, not secrecy: a seeded PRNG is exactly what determinism needs.
    return random.Random(int.from_bytes(hashlib.sha256(material.encode()).digest(), "big"))  # noqa: S311


def _seed_fields(request: GenerateContentRequest) -> str:
    """The canonical JSON of the request's `_SEED_FIELDS`, remembered by the identity of their values.

    Every player's request for a node shares the node's scenes, style and constraints (frozen models) with
    the others (`Groundwork.for_context`), so they are dumped once per node and process, not on every miss.
    An entry holds the values it was made from, so no other object takes one of their ids while it is kept;
    at most `SEED_FIELDS_KEPT` are, the oldest dropped first.
    """
    held: tuple[object, ...] = _SEED_VALUES(request)
    key = tuple(map(id, held))
    found = _seed_json.get(key)
    if found is not None:
        return found[1]
    fields = request.model_dump(mode="json", include=_SEED_FIELDS)
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(_seed_json) >= SEED_FIELDS_KEPT:
        del _seed_json[next(iter(_seed_json))]
    _seed_json[key] = (held, text)
    return text


def _blocked_words(constraints: Constraints, required_words: set[str]) -> list[str]:
    """One word per avoided element whose absence keeps the element out, plus the rating's words."""
    blocked: list[str] = []
    for avoided in constraints.avoid_elements:
        free = [w for w in normalise_element(avoided).split("_") if w and w not in required_words]
        if not free:
            raise DyngenError(
                ErrorCode.GEN_CONSTRAINT_FAIL,
                f"avoided element '{avoided}' cannot be left out while the required elements are mentioned",
            )
        blocked.append(max(free, key=lambda w: (w not in _STOPWORDS, len(w))))
    if constraints.rating is Rating.G:
        blocked.extend(w for w in book.G_BLOCKED_WORDS if w not in required_words)
    return list(dict.fromkeys(blocked))


def _mood(name: str | None) -> _Mood:
    label = normalise_element(name or "") or "neutral"
    return _Mood(label=label, word=label.replace("_", " "), key=book.mood_key(label))


def _scene_moods(request: GenerateContentRequest, *, borrow: bool = False) -> tuple[_Mood, _Mood]:
    """The moods content moves between: style first, then the scenes', then neutral.

    With `borrow`, a missing starting mood takes the ending one (a conversation with no "before" stays in
    its mood rather than starting flat).
    """
    style, before, after = request.style, request.from_scene, request.to_scene
    first = style.mood_from or (before.mood if before else None)
    last = style.mood_to or (after.mood if after else None)
    return _mood(first or (last if borrow else None)), _mood(last)


def _place(scene: SceneRef | None) -> str | None:
    return book.place_phrase(scene.location) if scene else None


def _count(target: float, seconds: Mapping[Pacing, float], pacing: Pacing, low: int, high: int) -> int:
    return max(low, min(high, math.floor(target / seconds[pacing] + 0.5)))


def _mood_plan(
    rng: random.Random, n: int, first: _Mood, last: _Mood, kind: TransitionType
) -> tuple[list[_Mood], int | None]:
    """Each beat's mood and the turning beat: a cut (abrupt) or a bridge between the moods (gradual)."""
    if kind is TransitionType.ABRUPT:
        low = max(1, round(n * 0.35))
        turn = rng.randint(low, max(low, min(n - 2, round(n * 0.65)))) if n >= 3 else n - 1
        return [first if i < turn else last for i in range(n)], turn
    # Gradual: the first third keeps the old mood, the last third has the new one, the middle mixes.
    plan = [last if i / (n - 1) > 2 / 3 else first for i in range(n)]
    for i in range(1, n - 1):
        if plan[i] is first and i / (n - 1) >= 1 / 3 and rng.random() < i / (n - 1):
            plan[i] = last
    return plan, (n // 2 if n >= 3 else None)


def _place_elements(composer: _Composer, slots: list[_Slot], indexes: Sequence[int], required: Sequence[str]) -> None:
    """Give each required element a line in an empty slot among `indexes`, doubling up when they run out."""
    empty = [i for i in indexes if not slots[i].texts]
    chosen = composer.rng.sample(empty, min(len(empty), len(required)))
    for n, element in enumerate(required):
        i = chosen[n] if n < len(chosen) else indexes[n % len(indexes)]
        slots[i].texts.append(composer.element(element, spoken=slots[i].speaker is not None))


def _transition(request: GenerateContentRequest, composer: _Composer, required: Sequence[str]) -> _Draft:
    style, rng = request.style, composer.rng
    rules = {normalise_element(rule) for rule in request.constraints.content_rules}
    first, last = _scene_moods(request)
    n = _count(request.duration.target, _BEAT_SECONDS, style.pacing, 2, MAX_BEATS)
    plan, turn = _mood_plan(rng, n, first, last, style.transition_type)
    slots = [_Slot(mood) for mood in plan]
    to_place = _place(request.to_scene)
    to_place_used = False
    if style.transition_type is TransitionType.ABRUPT and turn is not None:
        cut = composer.place_line(book.CUT_TO_PLACE, to_place, last)
        to_place_used = cut is not None
        cut = cut or composer.pick(book.CUT_LINES, {"to_adj": composer.adj(last)})
        cut = cut or composer.pick(book.SUDDEN_LINES, {})
        slots[turn].texts.extend([cut] if cut else [])
    elif turn is not None:
        bridge = composer.pick(book.BRIDGE_LINES, {"from_adj": composer.adj(first), "to_adj": composer.adj(last)})
        slots[turn].texts.extend([bridge] if bridge else [])
    if opener := composer.place_line(book.PLACE_LINES, _place(request.from_scene), first):
        slots[0].texts.append(opener)
    middle = range(1, n - 1)
    if echo := composer.echo(request.from_scene):
        spot = next((i for i in middle if not slots[i].texts and plan[i] is first), 0)
        slots[spot].texts.append(echo)
    if not to_place_used and (arrival := composer.place_line(book.PLACE_LINES, to_place, last)):
        spot = next((i for i in reversed(middle) if not slots[i].texts and plan[i] is last), n - 1)
        slots[spot].texts.append(arrival)
    _place_elements(composer, slots, range(n - 1), required)
    talk = 0.0 if rules & {"narration_only", "no_dialogue"} else 0.6 if "dialogue_heavy" in rules else 0.3
    speakers = composer.speakers(request.social_context, 2)
    spoken = 0
    for i in middle:
        if slots[i].texts:
            continue
        if rng.random() < talk:
            slots[i].speaker = speakers[spoken % 2]
            other = speakers[(spoken + 1) % 2]
            spoken += _put(slots[i], composer.speech(plan[i], other, short=style.pacing is Pacing.FAST))
        else:
            _put(slots[i], composer.imagery(plan[i]))
    if not slots[0].texts:
        _put(slots[0], composer.imagery(first))
    _put(slots[-1], composer.imagery(last))
    accelerate = "build_tension_gradually" in rules
    return _Draft(PayloadType.DIALOGUE, slots, last, tags=[style.transition_type.value], accelerate=accelerate)


def _dialogue(request: GenerateContentRequest, composer: _Composer, required: Sequence[str]) -> _Draft:
    style, rng = request.style, composer.rng
    first, last = _scene_moods(request, borrow=True)
    n = _count(request.duration.target, _LINE_SECONDS, style.pacing, 4, 10)
    plan, _ = _mood_plan(rng, n, first, last, style.transition_type)
    speakers = composer.speakers(request.social_context, 2)
    slots = [_Slot(mood, speaker=speakers[i % 2]) for i, mood in enumerate(plan)]
    place = _place(request.to_scene) or _place(request.from_scene)
    if spot := composer.place_line(book.PLACE_SPEECH, place, last):
        slots[rng.randrange(1, n)].texts.append(spot)
    _place_elements(composer, slots, range(n), required)
    for i, slot in enumerate(slots):
        if not slot.texts:
            _put(slot, composer.speech(slot.mood, speakers[(i + 1) % 2], short=style.pacing is Pacing.FAST))
    choices = _choices(composer, _CHOICES[style.pacing])
    return _Draft(PayloadType.DIALOGUE, slots, last, choices=choices)


def _choices(composer: _Composer, count: int) -> list[Choice]:
    stances = composer.rng.sample(sorted(book.CHOICE_STANCES), len(book.CHOICE_STANCES))
    texts = [t for t in (composer.pick(book.CHOICE_STANCES[s], {}) for s in stances) if t][:count]
    if len(texts) < 2:
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "fewer than two player replies avoid the blocked words")
    return [Choice(id=f"c{i}", text=text) for i, text in enumerate(texts, start=1)]


def _environment(request: GenerateContentRequest, composer: _Composer, required: Sequence[str]) -> _Draft:
    first, last = _scene_moods(request)
    mood = last if request.style.mood_to or (request.to_scene and request.to_scene.mood) else first
    scenes = [s for s in (request.to_scene, request.from_scene) if s is not None]
    scene = next((s for s in scenes if s.location), next((s for s in scenes if s.summary), None))
    place = _place(scene)
    n = _count(request.duration.target, _LINE_SECONDS, request.style.pacing, 3, 8)
    slots = [_Slot(mood) for _ in range(n)]
    _put(slots[0], composer.place_line(book.PLACE_OPENERS, place, mood) or composer.imagery(mood))
    if n > 3 and (state := composer.state_line(scene)):  # room to spare: close on the scene's feeling
        slots[-1].texts.append(state)
    _place_elements(composer, slots, range(1, n), required)
    for slot in slots[1:]:
        if not slot.texts:
            fields = {"adj": composer.adj(mood)} | ({"place": place} if place else {})
            sense = composer.pick(book.SENSE_LINES, fields) if composer.rng.random() < 0.4 else None
            _put(slot, sense or composer.imagery(mood))
    tags = [normalise_element(scene.location)] if scene is not None and scene.location else []
    return _Draft(PayloadType.ENVIRONMENT, slots, mood, tags=[t for t in tags if t])


def _tone(social: SocialContext | None, mood: _Mood) -> str:
    """The NPC's stance: from affinity, trust, chemistry and tension when given, else from the mood.

    Values may be on any scale up to 1000; the smallest of 1, 10, 100 and 1000 that holds them all is used.
    """
    by_mood = book.MOOD_TONES.get(mood.key or "", "neutral")
    values = social.relationship_values if social else None
    given = [values.affinity, values.trust, values.chemistry, values.tension] if values else []
    if values is None or all(v is None for v in given):
        tone = by_mood
    else:
        scale = next(s for s in (1.0, 10.0, 100.0, 1000.0) if max(abs(v) for v in given if v is not None) <= s)
        warm = [v / scale for v in (values.affinity, values.trust, values.chemistry) if v is not None]
        warmth = sum(warm) / len(warm) if warm else 0.0
        tension, trust = (values.tension or 0.0) / scale, (values.trust or 0.0) / scale
        if (tension >= 0.5 and tension > warmth) or warmth <= -0.6:
            tone = "hostile"
        elif warmth <= -0.3 or trust <= -0.3 or tension >= 0.3:
            tone = "guarded"
        elif warmth >= 0.3:
            tone = "guarded" if mood.key == "angry" else "warm"
        else:  # lukewarm: the mood decides, but a cool relationship does not turn warm
            tone = "neutral" if warmth < 0 and by_mood == "warm" else by_mood
    if tone == "warm" and social and social.intimacy_band in ("deep", "intense"):
        tone = "warm" if social.content_rating is ContentRating.SFW else "intimate"
    return tone


def _npc_response(request: GenerateContentRequest, composer: _Composer, required: Sequence[str]) -> _Draft:
    first, last = _scene_moods(request)
    mood = last if request.style.mood_to or (request.to_scene and request.to_scene.mood) else first
    tone = _tone(request.social_context, mood)
    speaker = composer.speakers(request.social_context, 1)[0]
    n = min(3, max(_NPC_LINES[request.style.pacing], 1 + len(required)))
    slots = [_Slot(mood, speaker=speaker) for _ in range(n)]
    tone_lines = book.NPC_TONE_LINES[tone]
    _put(slots[0], composer.pick(tone_lines, {}) or composer.speech(mood, None))
    _place_elements(composer, slots, range(1, n), required)
    # A follow-up line speaks in the mood unless the mood would contradict the tone (a romantic line from a rival).
    mood_tone = book.MOOD_TONES.get(mood.key or "", "neutral")
    in_tune = mood_tone in (tone, "neutral") or (tone, mood_tone) == ("intimate", "warm")
    for slot in slots[1:]:
        if not slot.texts:
            line = None if in_tune else composer.pick(tone_lines, {})
            _put(slot, line or composer.speech(mood, None))
    return _Draft(PayloadType.NPC_RESPONSE, slots, mood, tags=[tone])


def _put(slot: _Slot, text: str | None) -> int:
    """Add `text` to the slot when there is one; 1 when added. A slot left empty is dropped from the content."""
    if text is None:
        return 0
    slot.texts.append(text)
    return 1


def _timeline(slots: Sequence[_Slot], target: float, *, accelerate: bool) -> list[dict[str, Any]]:
    """The beats' fields: from 0, contiguous, lasting in proportion to their words; durations sum to `target`."""
    weights = [len(" ".join(s.texts).split()) + 6.0 for s in slots]
    if accelerate and len(slots) > 1:
        weights = [w * (1.25 - 0.5 * i / (len(slots) - 1)) for i, w in enumerate(weights)]
    total = sum(weights)
    durations = [round(target * w / total, 3) for w in weights[:-1]]
    rest = target - sum(durations)
    durations.append(round(rest, 3) if abs(sum(durations) + round(rest, 3) - target) <= 1e-9 else rest)
    starts = [round(sum(durations[:i]), 3) for i in range(len(durations))]
    return [
        {
            "start": start,
            "duration": duration,
            "kind": "dialogue" if slot.speaker else "narration",
            "text": " ".join(slot.texts),
            "speaker": slot.speaker,
            "mood": slot.mood.label,
        }
        for slot, start, duration in zip(slots, starts, durations, strict=True)
    ]


def _payload(
    request: GenerateContentRequest, draft: _Draft, composer: _Composer, required: Sequence[str]
) -> GeneratedContentPayload:
    target = request.duration.target
    slots = [slot for slot in draft.slots if slot.texts]
    if not slots:
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "no line survives the avoided words")
    beats = _timeline(slots, target, accelerate=draft.accelerate)
    texts = [b["text"] for b in beats]
    lines = [f"{b['speaker']}: {b['text']}" if b["speaker"] else b["text"] for b in beats]
    moods = list(dict.fromkeys([*(s.mood for s in slots), draft.mood]))
    places = [p for p in (_place(request.from_scene), _place(request.to_scene)) if p]
    score = quality_score(
        texts=texts,
        target_s=request.duration.target,
        pacing=request.style.pacing,
        moods_known=[m.key is not None for m in moods],
        places=places,
        grounded=composer.grounded,
        required=required,
    )
    avoided = {normalise_element(e) for e in request.constraints.avoid_elements}
    tags = [*map(normalise_element, required), *(m.label for m in moods), request.style.pacing.value, *draft.tags]
    # One validation of the whole payload: cheaper than a model per beat, then the metadata, then the payload.
    return GeneratedContentPayload.model_validate(
        {
            "type": draft.kind,
            "duration": target,
            "dialogue": lines,
            "choices": draft.choices,
            "beats": beats,
            "metadata": {
                "mood": draft.mood.label,
                "tags": [t for t in dict.fromkeys(tags) if t not in avoided],
                "quality_score": round(score, 3),
            },
        }
    )
