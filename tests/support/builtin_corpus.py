"""A corpus of the built-in provider's lines over the template library, and the checks its lines must pass.

    .venv/bin/python -m tests.support.builtin_corpus --write     # regenerate tests/unit/golden/builtin_lines.txt
    .venv/bin/python -m tests.support.builtin_corpus --measure 200   # count lines with an id or a copied summary

The golden file is read by eye when it changes (`git diff` it): it is what a new user sees first. The
checks here are plain rules, independent of the provider's own lexicon, so that `--measure` also runs
against an older provider (`PYTHONPATH=/path/to/older/src`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.ports import ProviderCall

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "dyngen" / "defaults" / "templates"
GOLDEN = ROOT / "tests" / "unit" / "golden" / "builtin_lines.txt"

# The default graph's scenes, and two more: a plural place with no emotional state, and a scene with only a summary.
SCENES: list[dict[str, Any]] = [
    *(
        {k: v for k, v in scene.items() if k not in ("title", "image")}
        for scene in json.loads((ROOT / "src" / "dyngen" / "defaults" / "three_scenes.json").read_text())["scenes"]
    ),
    {
        "id": "harbour_night",
        "mood": "mysterious",
        "summary": "Theo waits by the old docks for a boat that never comes. The fog rolls in off the water.",
        "location": "old_docks",
    },
    {"id": "market_square", "mood": "joyful", "summary": "The whole town turns out for the spring market at noon."},
]
MOODS = (
    "romantic", "intense", "calm", "tense", "relief", "sad", "joyful", "mysterious", "determined", "reflective",
    "fearful", "angry", "playful", "hopeful", "neutral", "melancholic", "bittersweet",
)  # fmt: skip
# Words that name what an element does in a story rather than a thing: an element id spelled out with one
# of them ("the kiss callback") is still an id.
_META = {"callback", "reference", "motif", "cue", "beat", "moment", "reveal", "hint", "sfx", "vfx"}
_SNAKE = re.compile(r"\b[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+\b")


def templates() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(TEMPLATES.glob("*.json"))]


def request_for(
    template: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None, **style: str
) -> GenerateContentRequest:
    body: dict[str, Any] = {
        "type": template["generationType"],
        "node_id": template["id"],
        "style": template["style"] | style,
        "duration": template["duration"],
        "constraints": template["constraints"],
        "from_scene": before,
        "to_scene": after,
        "social_context": {"npcIds": ["npc_marla"]},
    }
    return GenerateContentRequest.model_validate(body)


def scene_pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(a, b) for a in SCENES for b in SCENES if a is not b]


def golden_cases() -> Iterator[tuple[str, GenerateContentRequest, int]]:
    """Every template between the default graph's first two scenes, then every mood pair in a row."""
    for template in templates():
        yield template["id"], request_for(template, SCENES[0], SCENES[1]), 1
    transition = next(t for t in templates() if t["id"] == "romantic_to_action_transition_v1")
    for i, mood in enumerate(MOODS):
        after = MOODS[(i + 1) % len(MOODS)]
        before_scene, after_scene = SCENES[i % len(SCENES)], SCENES[(i + 3) % len(SCENES)]
        request = request_for(transition, before_scene, after_scene, moodFrom=mood, moodTo=after)
        yield f"{mood} -> {after} ({before_scene['id']} -> {after_scene['id']})", request, 7


def generated(request: GenerateContentRequest, seed: int) -> list[str]:
    """The player-facing lines: beats, then choices."""
    call = ProviderCall(request=request, seed=seed, attempt=1, deadline_s=5.0)
    payload = asyncio.run(BuiltinProvider().generate(call)).payload
    lines = [f"{b.speaker}: {b.text}" if b.speaker else b.text for b in payload.beats or []]
    return lines + [f"> {c.text}" for c in payload.choices or []]


def request_ids(request: GenerateContentRequest) -> list[str]:
    """The ids a request carries that must never be read out (locations are spelled as places on purpose)."""
    ids = [*request.constraints.required_elements, *request.constraints.avoid_elements]
    ids += [s.id for s in (request.from_scene, request.to_scene) if s is not None]
    return ids + ([request.node_id] if request.node_id else [])


def id_shaped(line: str, request: GenerateContentRequest) -> str | None:
    """The id-shaped token in a line: a snake_case word, or an id of the request spelled out as words."""
    if found := _SNAKE.search(line):
        return found.group(0)
    for id_ in request_ids(request):
        words = id_.lower().replace("-", "_").split("_")
        spelled = " ".join(words)
        scene_id = any(s is not None and s.id == id_ for s in (request.from_scene, request.to_scene))
        shaped = len(words) > 1 and (scene_id or _META & set(words) or not all(w.isalpha() for w in words))
        if shaped and re.search(rf"(?<!\w){re.escape(spelled)}(?!\w)", line, re.IGNORECASE):
            return spelled
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def copied_summary(line: str, request: GenerateContentRequest, n: int = 5) -> str | None:
    """A run of `n` words of a scene summary that the line repeats verbatim."""
    said = " ".join(_words(line))
    for scene in (request.from_scene, request.to_scene):
        words = _words(scene.summary or "") if scene else []
        for i in range(len(words) - n + 1):
            run = " ".join(words[i : i + n])
            if re.search(rf"(?<![\w']){re.escape(run)}(?![\w'])", said):
                return run
    return None


def render_golden() -> str:
    out = [
        "# The built-in provider's lines over the template library and every mood pair.",
        "# Regenerate: .venv/bin/python -m tests.support.builtin_corpus --write ; read the diff by eye.",
        "",
    ]
    for label, request, seed in golden_cases():
        out.append(f"== {label} [seed {seed}]")
        out.extend(f"  {line}" for line in generated(request, seed))
        out.append("")
    return "\n".join(out)


def measure(count: int) -> dict[str, int]:
    """Lines with an id-shaped token or a copied summary over `count` generations across the library."""
    cases = [(t, a, b) for t in templates() for a, b in scene_pairs()]
    totals = {"generations": 0, "lines": 0, "id_shaped": 0, "copied_summary": 0}
    for i in range(count):
        template, before, after = cases[i % len(cases)]
        request = request_for(template, before, after)
        for line in generated(request, 1000 + i):
            totals["lines"] += 1
            totals["id_shaped"] += id_shaped(line, request) is not None
            totals["copied_summary"] += copied_summary(line, request) is not None
        totals["generations"] += 1
    return totals


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="regenerate the golden file")
    parser.add_argument("--measure", type=int, metavar="N", help="measure N generations")
    args = parser.parse_args(argv)
    if args.write:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(render_golden())
        print(f"wrote {GOLDEN.relative_to(ROOT)}")
    if args.measure:
        print(json.dumps(measure(args.measure)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
