"""What an OpenAI-compatible model is asked and how its answer is read: the chat (the node's prompt templates
rendered over the request, then the answer's shape), the answer's JSON Schema (beats, choices and the element
report), the judge's question, and the answer parsed into a payload (`parse_answer`), past a reasoning model's
thinking, a code fence or prose around its JSON (`answer_json`). `openai.py` holds the conversation with the
endpoint: the calls, the ways JSON is asked for, what a 400 refuses, the deadline.
"""

from __future__ import annotations

import json
import operator
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from dyngen import defaults
from dyngen.domain import prompts
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType
from dyngen.domain.elements import ElementReport, parse_report, report_schema
from dyngen.domain.responses import Beat, Choice, ContentMetadata, GeneratedContentPayload

_PAYLOAD = {
    GenerationType.TRANSITION: PayloadType.DIALOGUE,
    GenerationType.VARIATION: PayloadType.DIALOGUE,
    GenerationType.DIALOGUE: PayloadType.DIALOGUE,
    GenerationType.ENVIRONMENT: PayloadType.ENVIRONMENT,
    GenerationType.NPC_RESPONSE: PayloadType.NPC_RESPONSE,
}


# The answer's shape, appended to the node's system prompt (whatever the designer wrote): the parser below
# depends on it.
_SYSTEM = (
    "Answer with one JSON object and nothing else: "
    '{"beats": [{"kind": "narration" or "dialogue", "speaker": "name, for dialogue", "text": "one line"}], '
    '"choices": [{"id": "c1", "text": "a reply the player can pick"}]}. '
    "Keep every line under 200 characters. Never go beyond the content rating you are given. Use every "
    "required element in the story's own words, and none of the avoided ones."
)

JUDGE = (
    "You check a piece of writing for a video game. For each element you are given (an id and what it "
    "means), say whether the text shows it, in meaning and not only in words, and quote the exact words of "
    "the text that show it (an empty quote when it does not occur). Answer with one JSON object: "
    '{"answers": [{"element": "id", "occurs": true or false, "quote": "exact words"}]}.'
)


def judge_schema(keys: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["answers"],
        "properties": {
            "answers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["element", "occurs", "quote"],
                    "properties": {
                        "element": {"type": "string", "enum": list(keys)},
                        "occurs": {"type": "boolean"},
                        "quote": {"type": "string"},
                    },
                },
            }
        },
    }


# Chats rendered lately, by everything their templates can read (`_prompt_key`): the misses of one node for
# many playthroughs whose choices, flags and stats agree render the same templates over the same variables
# (the sandboxed render and the variables were ~9 % of the event loop's time on a miss through an upstream).
MAX_CHATS = 256
_chats: OrderedDict[str, tuple[dict[str, str], ...]] = OrderedDict()
# The key of requests lately seen, by the identity of their fields but the player's context (and by that
# context's values): every player's request for a node shares those fields (`Groundwork.for_context`), and
# the JSON dump of a request that makes its key cost ~9 µs a call. The fields are held, so that no other
# object takes their ids while the entry is kept.
_known: OrderedDict[tuple[object, ...], tuple[tuple[object, ...], str]] = OrderedDict()
_FIELDS = operator.attrgetter(*sorted(set(GenerateContentRequest.model_fields) - {"player_context"}))


def _prompt_key(request: GenerateContentRequest) -> str:
    """The request without what no template reads (which playthrough and player it is for): equal keys
    render equal chats. `rule_overrides` is not a field, so it is added."""
    fields = request.model_dump_json(exclude={"player_context": {"playthrough_id", "player_id"}})
    overrides = request.rule_overrides  # mostly none: then the fields alone (a JSON object never ends in "|{...}")
    return f"{fields}|{json.dumps(overrides, default=str)}" if overrides else fields  # in order: templates list them


def _known_key(request: GenerateContentRequest) -> str:
    """`_prompt_key(request)`, remembered for requests that share their fields with one seen lately."""
    held: tuple[object, ...] = _FIELDS(request)
    context = request.player_context
    player = None if context is None else (_items(context.choices), _items(context.flags), _items(context.stats))
    overrides = request.rule_overrides
    seen = (*map(id, held), player, json.dumps(overrides, default=str) if overrides else None)
    found = _known.get(seen)
    if found is not None:
        _known.move_to_end(seen)
        return found[1]
    key = _prompt_key(request)
    _known[seen] = (held, key)
    if len(_known) > MAX_CHATS:
        _known.popitem(last=False)
    return key


def _items(values: dict[str, Any] | None) -> tuple[tuple[str, str], ...] | None:
    """The entries in order, each value as its `repr`: values that are equal but render differently are not
    equal keys (`True` and `1`, `1` and `1.0`, `0.0` and `-0.0`)."""
    return None if values is None else tuple((name, repr(value)) for name, value in values.items())


def messages(request: GenerateContentRequest) -> list[dict[str, str]]:
    """The chat the model gets: the node's `system` and `user` prompt templates (or the shipped defaults for
    its generation type, `defaults/prompts/`) rendered over its variables (`domain/prompts.py`: scene
    titles, characters, lore, constraints, the player), then the answer's shape. A chat rendered lately
    for an equal request (`_prompt_key`) is used again.

    Raises:
        DyngenError: GEN_INVALID_CONFIG for a node's template that cannot render.
    """
    key = _known_key(request)
    chat = _chats.get(key)
    if chat is None:
        chat = _chats[key] = tuple(_render(request))
        if len(_chats) > MAX_CHATS:
            _chats.popitem(last=False)
    else:
        _chats.move_to_end(key)
    return [dict(message) for message in chat]


def _render(request: GenerateContentRequest) -> list[dict[str, str]]:
    templates = defaults.prompt_templates(request.type.value)
    values = prompts.variables(request)
    system = prompts.render_source(prompts.source_for(request, "system", templates), values, role="system")
    user = prompts.render_source(prompts.source_for(request, "user", templates), values, role="user")
    if request.type is GenerationType.DIALOGUE:
        user += "\nEnd with 2 to 4 choices for the player."
    return [{"role": "system", "content": f"{system}\n\n{_SYSTEM}".strip()}, {"role": "user", "content": user}]


def answer_schema(request: GenerateContentRequest) -> dict[str, Any]:
    """The JSON Schema of the answer asked for (strict: every property required, no others)."""
    nullable = {"type": ["string", "null"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["beats", "choices", "elements"],
        "properties": {
            "beats": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["kind", "speaker", "text", "shot"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["narration", "dialogue"]},
                        "speaker": nullable,
                        "text": {"type": "string"},
                        "shot": nullable,
                    },
                },
            },
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "text"],
                    "properties": {"id": {"type": "string"}, "text": {"type": "string"}},
                },
            },
            "elements": report_schema(request.constraints),
        },
    }


def response_format(request: GenerateContentRequest) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "content", "strict": True, "schema": answer_schema(request)}}


# Where a reasoning model's thinking ends (DeepSeek-R1 and Qwen3 through Ollama or vLLM write it into the
# content; R1's chat template opens it before the answer starts, so only its end may be there).
_THINKING_ENDS = "</think>"
# Places an object may start at that are tried: prose with braces before the answer, not a scan of every one.
MAX_STARTS = 16


def answer_json(answer: str) -> Any:
    """The JSON value of a model's answer: the answer itself, or else the first JSON object in what follows
    a reasoning model's thinking (a Markdown code fence or prose around it is passed over).

    Raises:
        ValueError: No JSON object can be read from the answer (one that is all thinking, cut off before
            its end, included).
    """
    try:
        return json.loads(answer)
    except (ValueError, RecursionError):
        pass
    text = answer
    thought = text.rfind(_THINKING_ENDS)
    if thought >= 0:
        text = text[thought + len(_THINKING_ENDS) :]
    elif text.lstrip().startswith("<think>"):
        raise ValueError("no JSON object in the answer: it is all thinking, cut off before its end")
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(MAX_STARTS):
        if start < 0:
            break
        try:
            value, _end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise ValueError("no JSON object in the answer")


def message_text(message: dict[str, Any]) -> str:
    """A chat completion message's text: its content, or the text parts of a content given as parts (Mistral's
    reasoning models give a thinking part and a text part); empty for none.

    Raises:
        TypeError: The content is neither text, parts nor none.
    """
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise TypeError(f"a message content of {type(content).__name__}")
    texts = (part.get("text") for part in content if isinstance(part, dict) and part.get("type", "text") == "text")
    return "".join(text for text in texts if isinstance(text, str))


def parse_answer(
    answer: str, request: GenerateContentRequest
) -> tuple[GeneratedContentPayload, ElementReport | None] | None:
    """The payload and the element report of a model's answer; None when it is malformed."""
    try:
        data = answer_json(answer)
        raw_beats = data["beats"]
        lines = [
            (str(b.get("kind", "narration")), b.get("speaker"), str(b["text"]).strip(), b.get("shot"))
            for b in raw_beats
            if isinstance(b, dict) and str(b.get("text", "")).strip()
        ]
        if len(lines) != len(raw_beats):
            return None  # an empty or malformed beat would shift the report's beat indexes
        choices = [
            Choice(id=str(c.get("id") or f"c{i + 1}"), text=str(c["text"]))
            for i, c in enumerate(data.get("choices") or [])
            if isinstance(c, dict) and c.get("text")
        ]
        report = (
            parse_report(data["elements"], request.constraints, beats=len(lines))
            if data.get("elements") is not None
            else None
        )
    except (ValueError, KeyError, TypeError, AttributeError):  # ReportError is a ValueError
        return None
    if not lines:
        return None
    target = request.duration.target
    weights = [max(len(text), 1) for _, _, text, _ in lines]
    total = sum(weights)
    beats: list[Beat] = []
    start = 0.0
    for index, ((kind, speaker, text, shot), weight) in enumerate(zip(lines, weights, strict=True)):
        length = round(target - start, 3) if index == len(lines) - 1 else round(target * weight / total, 3)
        beats.append(
            Beat(
                start=round(start, 3),
                duration=length,
                kind="dialogue" if kind == "dialogue" and speaker else "narration",
                speaker=str(speaker) if kind == "dialogue" and speaker else None,
                text=text,
                mood=request.style.mood_to,
                shot=str(shot).strip()[:500] or None if isinstance(shot, str) else None,
            )
        )
        start += length
    # No tags for the elements: whether they are there is the element check's to say, not the prompt's.
    return GeneratedContentPayload(
        type=_PAYLOAD[request.type],
        duration=target,
        dialogue=[f"{b.speaker}: {b.text}" if b.speaker else b.text for b in beats],
        beats=beats,
        choices=choices or None,
        metadata=ContentMetadata(mood=request.style.mood_to),
    ), report
