"""The OpenAI provider's chat of a request: rendered once for requests that differ only in which playthrough
and player they are for, and again for anything a template can read (the player's flags, rule overrides);
and the JSON of its answers, read past a reasoning model's thinking, a code fence or prose around it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dyngen.adapters.providers import openai, openai_chat
from dyngen.domain.contracts import GenerateContentRequest


def request(playthrough: str, **player: Any) -> GenerateContentRequest:
    return GenerateContentRequest.model_validate(
        {
            "type": "dialogue",
            "from_scene": {"id": "cafe", "mood": "warm"},
            "to_scene": {"id": "roof", "mood": "tense"},
            "player_context": {"playthroughId": playthrough, "playerId": f"p-{playthrough}", **player},
        }
    )


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[GenerateContentRequest]:
    seen: list[GenerateContentRequest] = []
    render = openai_chat._render

    def counted(req: GenerateContentRequest) -> list[dict[str, str]]:
        seen.append(req)
        return render(req)

    monkeypatch.setattr(openai_chat, "_render", counted)
    monkeypatch.setattr(openai_chat, "_chats", type(openai_chat._chats)())
    monkeypatch.setattr(openai_chat, "_known", type(openai_chat._known)())
    return seen


def test_other_playthroughs_of_the_same_request_reuse_its_chat(renders: list[GenerateContentRequest]) -> None:
    first = openai_chat.messages(request("a", flags={"met_mara": True}))
    again = openai_chat.messages(request("b", flags={"met_mara": True}))

    assert again == first
    assert len(renders) == 1
    again[0]["content"] = "changed by a caller"
    assert openai_chat.messages(request("c", flags={"met_mara": True})) == first, "callers get copies"


def test_a_request_for_another_player_made_from_a_known_one_is_keyed_without_a_dump(
    renders: list[GenerateContentRequest], monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps: list[GenerateContentRequest] = []
    prompt_key = openai_chat._prompt_key
    monkeypatch.setattr(openai_chat, "_prompt_key", lambda req: dumps.append(req) or prompt_key(req))
    first = request("a", flags={"met_mara": True}, stats={"trust": 1})
    chat = openai_chat.messages(first)

    def another(playthrough: str, **player: Any) -> GenerateContentRequest:  # as `Groundwork.for_context` does
        context = first.player_context.model_copy(update={"playthrough_id": playthrough, **player})
        return first.model_copy(update={"player_context": context})

    assert openai_chat.messages(another("b")) == chat
    assert openai_chat.messages(another("c", stats={"trust": 1.0})) == chat, "equal values"
    assert dumps == [first], "keyed by the fields it shares and the context's values"
    openai_chat.messages(another("d", stats={"trust": 2.0}))
    openai_chat.messages(another("e", flags={"met_mara": 1}))  # not True: its text differs
    zero, minus_zero = another("f", flags={"met_mara": 0.0}), another("g", flags={"met_mara": -0.0})  # equal, not alike
    assert openai_chat.messages(zero) != openai_chat.messages(minus_zero)

    assert dumps == [first, another("d", stats={"trust": 2.0}), another("e", flags={"met_mara": 1}), zero, minus_zero]
    assert len(renders) == 5


def test_what_a_template_reads_renders_a_new_chat(renders: list[GenerateContentRequest]) -> None:
    openai_chat.messages(request("a", flags={"met_mara": True}))
    openai_chat.messages(request("a", flags={"met_mara": False}))
    openai_chat.messages(request("a", flags={"met_mara": True}).with_rule_overrides({"pacing": "fast"}))
    openai_chat.messages(request("a").with_rule_overrides({"pacing": "fast", "mood": "dark"}))
    openai_chat.messages(request("a").with_rule_overrides({"mood": "dark", "pacing": "fast"}))  # listed in its order

    assert [(r.player_context.flags if r.player_context else None, r.rule_overrides) for r in renders] == [
        ({"met_mara": True}, {}),
        ({"met_mara": False}, {}),
        ({"met_mara": True}, {"pacing": "fast"}),
        (None, {"pacing": "fast", "mood": "dark"}),
        (None, {"mood": "dark", "pacing": "fast"}),
    ]


def test_the_chats_kept_are_bounded(renders: list[GenerateContentRequest], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_chat, "MAX_CHATS", 2)
    for n in range(3):
        openai_chat.messages(request("a", stats={"trust": n}))
    openai_chat.messages(request("a", stats={"trust": 0}))  # the oldest was dropped: rendered again

    assert len(openai_chat._chats) == 2
    assert len(renders) == 4


@pytest.mark.parametrize(
    "answer",
    [
        '{"beats": []}',
        '<think>\nThe scene wants {rain}.\n</think>\n{"beats": []}',
        'The scene wants {rain}; a draft: {"beats": ["draft"]}\n</think>\n\n{"beats": []}',  # R1's template
        '```json\n{"beats": []}\n```',
        '<think>a {b} c</think>\n\n```\n{"beats": []}\n```\n',
        'Here is the scene:\n{"beats": []}\nEnjoy! {smile}',
        '```json\n{"beats": []}\n```\nThe beats follow the {mood}.',
    ],
)
def test_the_json_of_an_answer_is_read_past_thinking_fences_and_prose(answer: str) -> None:
    assert openai_chat.answer_json(answer) == {"beats": []}


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "no json here",
        "<think>{not json}</think>",
        "```json\n{broken\n```",
        '<think>\nA draft: {"beats": ["draft"]}\n',  # cut off while thinking: the draft is not the answer
        "[" * 100_000,  # deeper than the parser goes
    ],
)
def test_an_answer_without_a_json_object_is_malformed(answer: str) -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        openai_chat.answer_json(answer)


def test_an_answer_of_blank_lines_in_an_open_fence_is_refused_at_once() -> None:
    # A model looping on whitespace until its token limit (OpenAI warns of it in JSON mode): the reading
    # must not backtrack over the blank lines (a regular expression did, for seconds, on the event loop).
    answer = "```json\n" + "\n" * 200_000 + '{"beats": [' + "{" * 15 + "x"
    with pytest.raises(ValueError, match="no JSON object"):
        openai_chat.answer_json(answer)


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        ({"error": {"message": "Unsupported value", "param": "temperature"}}, "temperature"),
        ({"error": {"message": "'seed' is not supported by this model"}}, "seed"),
        ({"detail": "Unsupported parameter: `temperature`"}, "temperature"),
        ({"error": {"message": "Unsupported value", "param": "messages"}}, None),  # not ours to leave out
        ({"error": {"message": "the seed of the story is invalid"}}, None),  # names it, refuses nothing
        ({"error": {"message": "'top_p' is not supported"}}, None),
    ],
)
def test_the_optional_setting_a_400_refuses_is_read_from_its_error(error: dict[str, Any], refused: str | None) -> None:
    sent = {"model": "m", "messages": [], "temperature": 0.8, "seed": 1}
    assert openai._refused_parameter(openai._error_said(httpx.Response(400, json=error)), sent) == refused


GEMINI_SCHEMA_REFUSAL = [
    {
        "error": {
            "code": 400,
            "message": 'Invalid JSON payload received. Unknown name "additionalProperties" at '
            "'generation_config.response_schema.properties[0].value': Cannot find field.",
            "status": "INVALID_ARGUMENT",
        }
    }
]


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"error": {"message": "This response_format type is unavailable now"}}, True),  # DeepSeek
        (GEMINI_SCHEMA_REFUSAL, True),  # Gemini's OpenAI-compatible endpoint: a list of one error
        ({"error": {"message": "Invalid value", "param": "response_format"}}, True),
        ({"error": {"message": "maximum context length is 8192 tokens"}}, False),
        ([], False),
    ],
)
def test_a_400_refusing_the_way_json_was_asked_for_is_told_from_others(body: object, refused: bool) -> None:
    assert openai._refuses_format(openai._error_said(httpx.Response(400, json=body))) is refused
