"""The element check for meaning (`domain.elements`): the lexicon, a model's structured report (validated,
its quotes found in the text), a judge's answers, and content without text reported `unverified`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dyngen.adapters.providers.openai_chat import answer_schema, parse_answer
from dyngen.domain.contracts import Constraints, GenerateContentRequest, PayloadType, Verification
from dyngen.domain.elements import (
    ElementReport,
    JudgeAnswer,
    Mention,
    ReportError,
    check,
    parse_report,
    problems,
    quoted_in,
    to_judge,
)
from dyngen.domain.graph import SceneGraph, node_request
from dyngen.domain.lexicon import ELEMENT_PHRASES, said
from dyngen.domain.responses import Beat, GeneratedContentPayload

LEX, REPORT, JUDGE = Verification.LEXICON, Verification.MODEL_REPORT, Verification.JUDGE
ABSENT, UNVERIFIED = Verification.ABSENT, Verification.UNVERIFIED


def text(*lines: str) -> GeneratedContentPayload:
    beats = [Beat(start=i, duration=1, kind="narration", text=line) for i, line in enumerate(lines)]
    return GeneratedContentPayload(type=PayloadType.DIALOGUE, beats=beats, dialogue=list(lines))


def constraints(required: list[str] | None = None, avoided: list[str] | None = None) -> Constraints:
    return Constraints(required_elements=required or [], avoid_elements=avoided or [])


def verdicts(payload: GeneratedContentPayload, c: Constraints, **kwargs: Any) -> dict[str, Verification]:
    return {f"{x.role}:{x.element}": x.verified_by for x in check(payload, c, **kwargs)}


# --- the lexicon -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "element"),
    [
        ("The phone buzzes on the table.", "phone_ring"),
        ("Then a call comes in.", "phone_ring"),
        ("Her phone finally rings.", "phone_ring"),
        ("Nobody mentions the way they kissed.", "kiss_callback"),
        ("Footfalls echo in the hall.", "footsteps"),
        ("They hold each other for a long time.", "embrace"),
        ("The whole table cracks up.", "laughter"),
    ],
)
def test_natural_phrases_of_the_lexicon_verify_an_element(line: str, element: str) -> None:
    (found,) = check(text("Nothing here.", line), constraints([element]))
    assert (found.verified_by, found.beat) == (LEX, 1)
    assert found.quote
    assert found.quote.lower() in line.lower()


def test_a_ring_on_a_finger_is_not_a_phone_ringing() -> None:
    assert verdicts(text("She wears a ring.", "Pick up the pen."), constraints([], ["phone_ring"])) == {
        "avoided:phone_ring": ABSENT
    }


def test_every_element_of_the_template_library_has_phrases() -> None:
    library = {
        "phone_ring", "kiss_callback", "footsteps", "sunset", "moonlight", "sunrise", "last_look", "embrace",
        "laughter", "violence", "gore", "jump_scare",
    }  # fmt: skip
    assert library <= set(ELEMENT_PHRASES)


def test_a_graphs_lexicon_extends_the_shipped_one() -> None:
    payload = text("Her cell trills against the marble.")
    assert verdicts(payload, constraints(["phone_ring"])) == {"required:phone_ring": ABSENT}
    lexicon = {"Phone-Ring": ["cell trill"]}  # any spelling of the id; a word may take an ending
    assert verdicts(payload, constraints(["phone_ring"]), lexicon=lexicon) == {"required:phone_ring": LEX}
    assert said("Her cell trills.", "phone_ring", ["cell trill"]) == "cell trills"


def test_the_graph_lexicon_reaches_the_request_of_each_node() -> None:
    graph = SceneGraph.model_validate(
        {
            "id": "g",
            "scenes": [{"id": "a"}, {"id": "b"}],
            "nodes": [{"id": "n", "fromScene": "a", "toScene": "b", "config": {"generationType": "transition"}}],
            "lexicon": {"phone_ring": ["cell trills"]},
        }
    )
    request = node_request(graph, graph.nodes[0], player_context=None)
    assert request.lexicon == {"phone_ring": ["cell trills"]}


# --- the model's report ------------------------------------------------------------------------------------


def test_a_reported_quote_found_in_the_text_verifies_what_the_lexicon_misses() -> None:
    payload = text("The room holds its breath.", "Her cell trills against the marble table. Theo looks up.")
    report = ElementReport(occurs={"phone_ring": Mention(beat=1, quote="her cell trills against the marble table")})
    (found,) = check(payload, constraints(["phone_ring"]), report=report)
    assert (found.verified_by, found.beat) == (REPORT, 1)


@pytest.mark.parametrize(
    "quote",
    [
        "Her cell trills against the marble table.",  # a full stop the text has elsewhere
        "her cell trills against the marble table",  # other case
        "“Her cell trills”",  # curly quotes around it
        "Her  cell\ntrills",  # other spacing
    ],
)
def test_quotes_match_as_models_copy_them(quote: str) -> None:
    assert quoted_in(quote, ["The room holds its breath.", "Her cell trills against the marble table!"]) == 1


def test_a_quote_in_another_beat_than_reported_still_counts() -> None:
    assert quoted_in("cell trills", ["Her cell trills.", "Nothing."], beat=1) == 0


@pytest.mark.parametrize("quote", ["the", "a", "it.", "phone rings twice", ""])
def test_a_quote_that_is_not_in_the_text_or_too_short_verifies_nothing(quote: str) -> None:
    payload = text("The room holds its breath.", "The kettle whistles.")
    report = ElementReport(occurs={"phone_ring": Mention(beat=0, quote=quote)})
    assert verdicts(payload, constraints(["phone_ring"]), report=report) == {"required:phone_ring": ABSENT}
    assert problems(check(payload, constraints(["phone_ring"]), report=report)) == [
        "required element 'phone_ring' is missing"
    ]


def test_an_avoided_element_the_model_admits_is_refused() -> None:
    report = ElementReport(occurs={"violence": Mention(beat=None, quote="")})
    checks = check(text("They trade blows in the alley."), constraints([], ["violence"]), report=report)
    assert [c.verified_by for c in checks] == [REPORT]
    assert problems(checks) == ["avoided element 'violence' is present (model_report)"]


def test_an_avoided_element_the_lexicon_finds_is_refused_whatever_the_model_says() -> None:
    report = ElementReport(absent=frozenset({"violence"}))
    checks = check(text("He throws a punch."), constraints([], ["violence"]), report=report)
    assert problems(checks) == ["avoided element 'violence' is present (lexicon: \"punch\")"]


SCHEMA_CONSTRAINTS = constraints(["phone_ring", "kiss_callback"], ["violence"])


def test_a_well_formed_report_is_parsed() -> None:
    data = {
        "required": [
            {"element": "phone_ring", "beat": 0, "quote": "her cell trills"},
            {"element": "Kiss Callback", "beat": 2, "quote": "touches her lips"},
        ],
        "avoided": [{"element": "violence", "occurs": False}],
    }
    report = parse_report(data, SCHEMA_CONSTRAINTS, beats=3)
    assert report.occurs["kiss_callback"] == Mention(beat=2, quote="touches her lips")
    assert report.absent == {"violence"}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ([], "not an object"),
        ({"required": "phone_ring"}, "not a list"),
        ({"required": [{"element": "sunset", "beat": 0, "quote": "x"}]}, "not asked for"),
        ({"required": [{"element": "phone_ring", "beat": 3, "quote": "x"}]}, "not one of the 3 beats"),
        ({"required": [{"element": "phone_ring", "beat": True, "quote": "x"}]}, "not one of the 3 beats"),
        ({"required": [{"element": "phone_ring", "beat": 0, "quote": "  "}]}, "no quote"),
        ({"avoided": [{"element": "violence", "occurs": "no"}]}, "not true or false"),
        ({"avoided": [{"element": "gore", "occurs": False}]}, "not asked for"),
        (
            {"avoided": [{"element": "violence", "occurs": False}, {"element": "violence", "occurs": True}]},
            "both",
        ),
    ],
)
def test_a_malformed_report_is_refused(data: Any, why: str) -> None:
    with pytest.raises(ReportError, match=why):
        parse_report(data, SCHEMA_CONSTRAINTS, beats=3)


def _request() -> GenerateContentRequest:
    return GenerateContentRequest.model_validate(
        {"type": "transition", "constraints": {"requiredElements": ["phone_ring"], "avoidElements": ["violence"]}}
    )


def test_the_openai_answer_schema_names_the_requests_elements() -> None:
    elements = answer_schema(_request())["properties"]["elements"]["properties"]
    assert elements["required"]["items"]["properties"]["element"]["enum"] == ["phone_ring"]
    assert elements["avoided"]["items"]["properties"]["element"]["enum"] == ["violence"]


def test_an_openai_answer_with_a_malformed_report_is_malformed_and_one_without_is_used() -> None:
    beats = [{"kind": "narration", "speaker": None, "text": "Her cell trills.", "shot": "close on the phone"}]
    good = '{"beats": %s, "choices": [], "elements": {"required": [{"element": "phone_ring", "beat": 0, "quote": "cell trills"}], "avoided": []}}'  # noqa: E501
    parsed = parse_answer(good % json.dumps(beats), _request())
    assert parsed is not None
    payload, report = parsed
    assert payload.beats
    assert payload.beats[0].shot == "close on the phone"
    assert report is not None
    assert "phone_ring" in report.occurs
    assert not (payload.metadata and payload.metadata.tags)  # never tagged as present
    bad = good.replace('"beat": 0', '"beat": 4')
    assert parse_answer(bad % json.dumps(beats), _request()) is None
    bare = parse_answer(json.dumps({"beats": beats}), _request())
    assert bare is not None
    assert bare[1] is None


# --- the judge, and content without text ---------------------------------------------------------------------


def test_the_judge_is_asked_what_the_lexicon_did_not_find() -> None:
    payload = text("The phone buzzes.", "She turns once more at the gate.")
    report = ElementReport(occurs={"last_look": Mention(beat=1, quote="turns once more")})
    checks = check(payload, constraints(["phone_ring", "last_look"], ["violence"]), report=report)
    assert to_judge(checks) == ["last_look", "violence"]  # the reported one too: a judge can say no


def test_the_judges_yes_needs_a_quote_in_the_text_and_its_no_outweighs_the_report() -> None:
    payload = text("At the gate she turns once more.")
    c = constraints(["last_look"])
    report = ElementReport(occurs={"last_look": Mention(beat=0, quote="she turns once more")})
    yes = {"last_look": JudgeAnswer(occurs=True, quote="turns once more")}
    assert verdicts(payload, c, report=report, judged=yes) == {"required:last_look": JUDGE}
    no = {"last_look": JudgeAnswer(occurs=False)}
    assert verdicts(payload, c, report=report, judged=no) == {"required:last_look": ABSENT}
    invented = {"last_look": JudgeAnswer(occurs=True, quote="a lingering final gaze")}
    assert verdicts(payload, c, judged=invented) == {"required:last_look": ABSENT}
    assert verdicts(payload, c, report=report, judged=invented) == {"required:last_look": REPORT}


def test_the_judge_finds_an_avoided_element_the_words_miss() -> None:
    payload = text("They trade blows in the alley.")
    answer = {"violence": JudgeAnswer(occurs=True, quote="trade blows")}
    checks = check(payload, constraints([], ["violence"]), judged=answer)
    assert problems(checks) == ["avoided element 'violence' is present (judge: \"trade blows\")"]


def test_a_video_without_text_is_unverified_per_element_and_not_refused() -> None:
    video = GeneratedContentPayload(type=PayloadType.VIDEO, url="/api/artifacts/x")
    video = video.model_copy(update={"metadata": None})
    checks = check(video, constraints(["phone_ring"], ["violence"]))
    assert [(c.element, c.verified_by) for c in checks] == [("phone_ring", UNVERIFIED), ("violence", UNVERIFIED)]
    assert problems(checks) == []
    assert to_judge(checks) == []
