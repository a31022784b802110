"""Prompt templates: the variables a node's prompt may use, their check on save, and their rendering.

A template is Jinja2 source rendered in a `SandboxedEnvironment` with `StrictUndefined`: no attribute of
Python's internals is reachable, a name the variables do not have is an error rather than an empty string,
and the `*` and `**` operators cannot build huge values. The environment has no loader (a template cannot
include files), so rendering is pure: same source and request, same text. Sources are compiled once per
distinct text (`_compiled`).

The variables are plain data with human text only (scene titles, character names, element names with
spaces): a prompt never needs to show an id. `VARIABLES` names and describes them; `template_findings`
reports a syntax error or an unknown name with its line; `render` fills a template for a request.
"""

from __future__ import annotations

import difflib
import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from dyngen.domain.contracts import Character, GenerateContentRequest, PromptTemplates, SceneRef, Severity
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import ValidationFinding
from dyngen.domain.wire import camel

ROLES = ("system", "user", "prompt", "negative_prompt")
"""Provider roles: text providers read `system` and `user`, video providers `prompt` and `negative_prompt`."""

TEXT_ROLES = ("system", "user")
VIDEO_ROLES = ("prompt", "negative_prompt")

VARIABLES: Mapping[str, str] = {
    "generation_type": "what is made: transition, variation, dialogue, environment or npc response",
    "purpose": "why: gap fill, variation, adaptive or ambient",
    "from_scene": "the scene before: title, summary, mood, location, emotional_state, characters (present)",
    "to_scene": "the scene after, the same fields as from_scene",
    "scenes": "the node's scenes in order (from_scene, to_scene), the ones it has",
    "characters": "every character the node knows: name, description, voice, relationships (to, kind, "
    "description), present (in one of its scenes)",
    "lore": "the lore entries chosen for the node (its loreTags, its scenes, the characters present): text, tags",
    "lore_tagged": "lore_tagged('tag'): the chosen lore entries with that tag",
    "style": "mood_from, mood_to, pacing, transition",
    "duration": "seconds: min, max, target",
    "constraints": "rating, required and avoided (element names), rules",
    "player": "the player's choices, flags and stats (empty when unknown)",
    "social": "relationship, intimacy, tone, npcs (names); empty when unknown",
    "overrides": "what the node's rules changed for this player (empty when nothing)",
}
"""Every variable a template may use, with what it holds (the editor lists them)."""

_BAND_TONE = {
    "none": "no romance or intimacy",
    "light": "warmth and light flirting at most",
    "deep": "open affection, implied intimacy only",
    "intense": "passionate, within the rating",
}

_MAX_REPEAT = 10_000  # the longest string or list `*` may build, the largest `**` result's digits


def words(identifier: str | None) -> str:
    """An id as words (`kiss_callback` -> `kiss callback`): how a prompt names what has no title."""
    return (identifier or "").replace("_", " ").replace("-", " ").strip()


def _title(scene: SceneRef) -> str:
    if scene.title:
        return scene.title
    text = words(scene.id)
    return text[:1].upper() + text[1:]


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with `*` and `**` bounded so a template cannot make a value of gigabytes."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("an exponent above 100 is not allowed in a prompt template")
            return operator.pow(left, right)
        if operator_name == "*":
            for a, b in ((left, right), (right, left)):
                if isinstance(a, str | list | tuple) and isinstance(b, int) and len(a) * b > _MAX_REPEAT:
                    raise SecurityError(f"a repeated value over {_MAX_REPEAT} items is not allowed")
            return operator.mul(left, right)
        return super().call_binop(context, operator_name, left, right)


@functools.cache
def _environment() -> _Sandbox:
    # Whitespace control as designers expect from prose templates: a block tag's line leaves no blank line.
    return _Sandbox(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False)


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return _environment().from_string(source)


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """Why a template cannot render: its line and what is wrong."""

    line: int
    message: str
    code: str


def _load_names(tree: nodes.Template) -> dict[str, int]:
    """The first line each name is read on."""
    lines: dict[str, int] = {}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load":
            lines.setdefault(name.name, name.lineno)
    return lines


@functools.lru_cache(maxsize=512)
def template_problems(source: str) -> tuple[TemplateProblem, ...]:
    """A syntax error (with its line), or every unknown variable (each with the first line it is read on).
    Remembered per source: a request's templates are checked each time it is prepared."""
    environment = _environment()
    try:
        tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        return (TemplateProblem(line=exc.lineno, message=exc.message or "syntax error", code="PROMPT_SYNTAX"),)
    unknown = meta.find_undeclared_variables(tree) - set(VARIABLES)
    lines = _load_names(tree)
    problems: list[TemplateProblem] = []
    for name in sorted(unknown, key=lambda n: (lines.get(n, 0), n)):
        close = difflib.get_close_matches(name, list(VARIABLES), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(
            TemplateProblem(
                line=lines.get(name, 1), message=f"unknown variable '{name}'{hint}", code="PROMPT_UNKNOWN_VARIABLE"
            )
        )
    return tuple(problems)


def template_findings(prompt: PromptTemplates | None, *, prefix: str = "prompt") -> list[ValidationFinding]:
    """The problems of a node's prompt templates as errors on `prompt.<role>` (the spec's spelling), each
    message starting with its line."""
    if prompt is None:
        return []
    findings: list[ValidationFinding] = []
    for role in ROLES:
        source = getattr(prompt, role)
        if source is None:
            continue
        findings.extend(
            ValidationFinding(
                code=problem.code,
                field=f"{prefix}.{camel(role)}",
                message=f"line {problem.line}: {problem.message}",
                severity=Severity.ERROR,
            )
            for problem in template_problems(source)
        )
    return findings


def _character(character: Character, names: Mapping[str, str], present: set[str]) -> dict[str, Any]:
    return {
        "name": character.name,
        "description": character.description or "",
        "voice": character.voice or "",
        "present": character.id in present,
        "relationships": [
            {"to": names.get(r.to, words(r.to)), "kind": r.kind, "description": r.description or ""}
            for r in character.relationships
        ],
    }


def _scene(scene: SceneRef | None, cast: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    if scene is None:
        return None
    return {
        "title": _title(scene),
        "summary": scene.summary or "",
        "mood": words(scene.mood),
        "location": words(scene.location),
        "emotional_state": words(scene.emotional_state),
        "characters": [cast[c] for c in scene.characters or () if c in cast],
    }


def variables(request: GenerateContentRequest) -> dict[str, Any]:
    """Every variable of `VARIABLES` for a (resolved) request: plain data, human text, no ids."""
    characters = request.characters or []
    names = {c.id: c.name for c in characters}
    present = {c for s in (request.from_scene, request.to_scene) if s is not None for c in s.characters or ()}
    cast = {c.id: _character(c, names, present) for c in characters}
    before, after = _scene(request.from_scene, cast), _scene(request.to_scene, cast)
    lore = [{"text": entry.text, "tags": list(entry.tags)} for entry in request.lore or []]
    style, constraints = request.style, request.constraints
    player, social = request.player_context, request.social_context

    def lore_tagged(tag: str) -> list[dict[str, Any]]:
        return [entry for entry in lore if tag in entry["tags"]]

    return {
        "generation_type": words(request.type.value),
        "purpose": words(request.purpose.value),
        "from_scene": before,
        "to_scene": after,
        "scenes": [s for s in (before, after) if s is not None],
        "characters": list(cast.values()),
        "lore": lore,
        "lore_tagged": lore_tagged,
        "style": {
            "mood_from": words(style.mood_from or (request.from_scene.mood if request.from_scene else None)),
            "mood_to": words(style.mood_to or (request.to_scene.mood if request.to_scene else None)),
            "pacing": style.pacing.value,
            "transition": style.transition_type.value,
        },
        "duration": {"min": request.duration.min, "max": request.duration.max, "target": request.duration.target},
        "constraints": {
            "rating": constraints.rating.value,
            "required": [words(e) for e in constraints.required_elements],
            "avoided": [words(e) for e in constraints.avoid_elements],
            "rules": [words(r) for r in constraints.content_rules],
        },
        "player": {
            "choices": dict(player.choices or {}) if player else {},
            "flags": dict(player.flags or {}) if player else {},
            "stats": dict(player.stats or {}) if player else {},
        },
        "social": {
            "relationship": words(social.relationship_tier_id) if social else "",
            "intimacy": social.intimacy_band or "" if social else "",
            "tone": _BAND_TONE.get(social.intimacy_band or "none", "") if social else "",
            "npcs": [names.get(n, words(n)) for n in social.npc_ids or ()] if social else [],
        },
        "overrides": request.rule_overrides,
    }


def shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """The variables as JSON can show them (functions described instead of called)."""
    return {name: ("(function)" if callable(value) else value) for name, value in values.items()}


def render_source(source: str, values: Mapping[str, Any], *, role: str = "template") -> str:
    """Fill a template's source with `values`; surrounding whitespace is trimmed.

    Raises:
        DyngenError: GEN_INVALID_CONFIG naming the role and line for a template that does not parse, reads
            something the variables lack, or breaks a sandbox rule.
    """
    try:
        text: str = _compiled(source).render(**values)
    except TemplateSyntaxError as exc:
        raise _invalid(role, exc.lineno, exc.message or "syntax error") from None
    except (UndefinedError, SecurityError, TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise _invalid(role, _error_line(exc), str(exc)) from None
    return text.strip()


def _error_line(exc: BaseException) -> int | None:
    trace = exc.__traceback__
    line = None
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _invalid(role: str, line: int | None, message: str) -> DyngenError:
    where = f"line {line}: " if line else ""
    field = f"prompt.{camel(role)}"
    return DyngenError(
        ErrorCode.GEN_INVALID_CONFIG,
        f"the prompt's {role} template cannot render: {where}{message}",
        details=[{"field": field, "message": f"{where}{message}", "type": "value_error"}],
    )


def source_for(request: GenerateContentRequest, role: str, defaults: Mapping[str, str]) -> str:
    """The template a role renders with: the node's own, else the default for the role."""
    own = getattr(request.prompt, role, None) if request.prompt is not None else None
    return own if own is not None else defaults.get(role, "")


def render(request: GenerateContentRequest, role: str, defaults: Mapping[str, str]) -> str:
    """The text of one role for a request: its template (`source_for`) filled with its `variables`.

    Raises:
        DyngenError: GEN_INVALID_CONFIG, as `render_source`.
    """
    return render_source(source_for(request, role, defaults), variables(request), role=role)
