"""The element check measured on a scripted model that writes natural lines, not keywords.

    .venv/bin/python -m tests.support.element_corpus --measure 200

Each generation is a request for a template of the library (between scenes of the default graph, seed by
seed) sent by the real `OpenAIProvider` to a `ScriptedModel` on loopback. The scripted model writes the
way a real one does: filler lines, and each required element said in natural words ("her cell trills
against the table" for `phone_ring`) rather than the element's keywords, with its structured report (the
beat and a quote, copied as sloppily as models copy: other case, curly quotes, the next beat). The check
(`domain.elements.check`: lexicon, report, judge) then decides.

Cases:
- present: every required element is in the text. Refused share: goal < 2 %.
- absent: one required element is left out, and the model's report omits it, quotes words that are not in
  the text, or paraphrases its own line. Refused share: goal 100 %.
- lying: one required element is left out and the model claims it with a quote that *is* in the text (a
  line about something else). Only a judge can catch this; measured without one and with a scripted judge.
- lexicon only: the present case with the model's report dropped (how far the shipped phrases go alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from dyngen.adapters.providers.openai import OpenAIProvider
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.elements import check, problems, to_judge
from dyngen.domain.lexicon import element_key
from dyngen.domain.responses import ElementCheck
from dyngen.ports import ProviderCall
from tests.support.builtin_corpus import SCENES, request_for, templates
from tests.support.scripted_model import ScriptedModel, asked_elements, is_judge

# How a model says each element of the template library without its keywords (most of these are in no
# lexicon phrase: the report has to carry them).
NATURAL: dict[str, tuple[str, ...]] = {
    "phone_ring": (
        "Her cell trills against the marble table",
        "A tinny melody chirps from the pocket of his coat",
        "The screen of her handset flashes with an unknown number",
        "Somebody is trying to reach him; the little device will not stop buzzing",
        "The phone buzzes twice and goes still",
    ),
    "kiss_callback": (
        "She touches her lips, remembering the rooftop",
        "Neither of them has forgotten what happened under the bridge last night",
        "After what their mouths said without words yesterday, nothing is simple",
        "He can still taste the moment on the pier",
    ),
    "footsteps": (
        "Someone is coming up the stairs, slow and heavy",
        "The floorboards creak under an approaching weight",
        "A measured tread echoes down the corridor",
        "Boots scrape on the gravel outside, getting closer",
    ),
    "sunset": (
        "The sky bleeds orange as the day gives up",
        "The last light slides behind the hills",
        "Evening paints the rooftops copper and rose",
    ),
    "moonlight": (
        "A pale silver glow spills across the water",
        "The night lamp of the sky hangs full over the bay",
        "Cold white light from above silvers the cobbles",
    ),
    "last_look": (
        "At the gate she turns once more, eyes holding his",
        "He glances over his shoulder one final time",
        "She takes in the room a final time before the door closes",
    ),
    "embrace": (
        "They fold into each other without a word",
        "She throws herself into his arms",
        "He gathers her in and does not let go",
    ),
    "laughter": (
        "A snort escapes her, then she is howling",
        "The whole table dissolves into helpless giggling",
        "He cannot keep a straight face any longer and doubles over",
    ),
}
FILLER = (
    "The room holds its breath.",
    "Rain taps on the window glass.",
    "Nobody moves for a long moment.",
    "The kettle on the stove starts to whistle.",
    "A dog barks somewhere down the street.",
    "The clock on the wall ticks on.",
    "Mara folds her hands in her lap.",
    "Theo stares at the door.",
    "Outside, a tram rattles past.",
    "The candle gutters and steadies.",
)
SPEAKERS = ("Mara", "Theo")
_CURLY = str.maketrans({"'": "\u2019"})


@dataclass
class Plan:
    """What the scripted model writes for the next request: which element to leave out and how to report."""

    omit: str | None = None
    report: str = "honest"  # honest | silent (omit from report) | invented | paraphrase | lying


@dataclass
class NaturalWriter:
    """The scripted model: answers a content request from the element ids its schema names."""

    rng: random.Random
    plan: Plan = field(default_factory=Plan)
    judge_honest: bool = True

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        if is_judge(body):
            return self.judge(body)
        required, avoided = asked_elements(body)
        beats = [self._beat(self.rng.choice(FILLER)) for _ in range(self.rng.randint(3, 5))]
        report: list[dict[str, Any]] = []
        for element in required:
            phrase = self.rng.choice(NATURAL[element])
            if element == self.plan.omit:
                report.extend(self._false_report(element, phrase, beats))
                continue
            at = self.rng.randrange(len(beats))
            beats[at]["text"] = f"{phrase}. {beats[at]['text']}"
            beat = (at + 1) % len(beats) if self.rng.random() < 0.1 else at  # models miscount beats too
            report.append({"element": element, "beat": beat, "quote": self._sloppy(phrase)})
        self.last_text = "\n".join(b["text"] for b in beats)
        return {
            "beats": beats,
            "choices": [],
            "elements": {"required": report, "avoided": [{"element": e, "occurs": False} for e in avoided]},
        }

    def _beat(self, text: str) -> dict[str, Any]:
        if self.rng.random() < 0.4:
            return {"kind": "dialogue", "speaker": self.rng.choice(SPEAKERS), "text": text, "shot": None}
        return {"kind": "narration", "speaker": None, "text": text, "shot": "wide shot of the room"}

    def _sloppy(self, phrase: str) -> str:
        """The quote as models copy it: exact, lower case, with curly apostrophes, or a full stop."""
        roll = self.rng.random()
        if roll < 0.2:
            return phrase.lower()
        if roll < 0.35:
            return phrase.translate(_CURLY)
        if roll < 0.5:
            return f"{phrase}."
        return phrase

    def _false_report(self, element: str, phrase: str, beats: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kind = self.plan.report
        if kind == "silent":
            return []
        if kind == "invented":  # claims words it never wrote
            return [{"element": element, "beat": 0, "quote": phrase}]
        if kind == "paraphrase":  # claims a line it half-remembers, also never written
            words = phrase.split()
            return [{"element": element, "beat": 0, "quote": f"{words[0]} suddenly {words[-1]}"}]
        # lying: quotes a real line about something else
        return [{"element": element, "beat": 0, "quote": beats[0]["text"]}]

    def judge(self, body: dict[str, Any]) -> dict[str, Any]:
        asked = json.loads(body["messages"][-1]["content"])
        text = asked["text"]
        answers = []
        for item in asked["elements"]:
            said = next((p for p in NATURAL.get(item["id"], ()) if p in text), None)
            answers.append({"element": item["id"], "occurs": said is not None, "quote": said or ""})
        return {"answers": answers}


@dataclass
class Tally:
    generations: int = 0
    refused: int = 0
    by: Counter[str] = field(default_factory=Counter)
    refusals: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.refused / self.generations if self.generations else 0.0


def cases(count: int, *, need_required: bool) -> Iterator[tuple[GenerateContentRequest, int]]:
    """`count` requests over the template library (those with required elements when `need_required`),
    between the default graph's scenes, each with its own seed."""
    library = [t for t in templates() if t["constraints"].get("requiredElements") or not need_required]
    pairs = [(a, b) for a in SCENES for b in SCENES if a is not b]
    for i in range(count):
        template = library[i % len(library)]
        before, after = pairs[i % len(pairs)]
        yield request_for(template, before, after), 1000 + i


async def _run(
    model: ScriptedModel,
    writer: NaturalWriter,
    count: int,
    *,
    plan: Callable[[GenerateContentRequest, int], Plan],
    need_required: bool,
    with_report: bool = True,
    judge: bool = False,
) -> Tally:
    tally = Tally()
    async with httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=model.base_url, model="scripted", client=client)
        for request, seed in cases(count, need_required=need_required):
            writer.plan = plan(request, seed)
            result = await provider.generate(ProviderCall(request=request, seed=seed, attempt=1, deadline_s=10))
            report = result.report if with_report else None
            checks = check(result.payload, request.constraints, report=report)
            if judge and (pending := to_judge(checks)):
                answers, _ = await provider.judge_elements(text=_text(result.payload), elements=pending, deadline_s=10)
                checks = check(result.payload, request.constraints, report=report, judged=answers)
            _count(tally, checks, request)
    return tally


def _text(payload: Any) -> str:
    return "\n".join(b.text for b in payload.beats or [])


def _count(tally: Tally, checks: list[ElementCheck], request: GenerateContentRequest) -> None:
    tally.generations += 1
    for c in checks:
        if c.role == "required":
            tally.by[c.verified_by.value] += 1
    refused = problems(checks)
    if refused:
        tally.refused += 1
        tally.refusals.append(f"{request.node_id}: {'; '.join(refused)}")


def _omit_one(kind: str) -> Callable[[GenerateContentRequest, int], Plan]:
    def plan(request: GenerateContentRequest, seed: int) -> Plan:
        required = [element_key(e) for e in request.constraints.required_elements]
        return Plan(omit=required[seed % len(required)], report=kind)

    return plan


def _absent_kinds(request: GenerateContentRequest, seed: int) -> Plan:
    kinds = ("silent", "invented", "paraphrase")
    return _omit_one(kinds[seed % len(kinds)])(request, seed)


async def measure(count: int, seed: int = 17) -> dict[str, Tally]:
    """Every case of the module docstring over `count` generations each."""
    writer = NaturalWriter(random.Random(seed))
    with ScriptedModel(writer) as model:
        return {
            "present": await _run(model, writer, count, plan=lambda r, s: Plan(), need_required=False),
            "absent": await _run(model, writer, count, plan=_absent_kinds, need_required=True),
            "lying, no judge": await _run(model, writer, count, plan=_omit_one("lying"), need_required=True),
            "lying, judge": await _run(model, writer, count, plan=_omit_one("lying"), need_required=True, judge=True),
            "present, lexicon only": await _run(
                model, writer, count, plan=lambda r, s: Plan(), need_required=False, with_report=False
            ),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", type=int, default=200, metavar="N", help="generations per case")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.measure))
    for name, tally in results.items():
        by = ", ".join(f"{k} {v}" for k, v in sorted(tally.by.items()))
        print(f"{name:24} {tally.refused:4d}/{tally.generations} refused ({tally.share:6.1%})  required elements: {by}")
    present, absent = results["present"], results["absent"]
    ok = present.share < 0.02 and absent.share == 1.0
    print(f"goals (present < 2 % refused, absent 100 % refused): {'met' if ok else 'NOT met'}")
    for line in present.refusals[:5]:
        print("  present refused:", line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
