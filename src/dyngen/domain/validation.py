"""The node validator (spec section 8): one implementation for the API, the CLI and the service.

Each rule yields findings with a code, a field path (spec spelling), a message and a severity. Errors
block generation and saving; warnings and suggestions are shown to the designer.

Complexity score (a warning above `COMPLEXITY_THRESHOLD`)::

    score = len(contentRules) + len(requiredElements) + (duration.max - duration.min) / 10

i.e. one point per rule and per required element, and one per ten seconds of duration span: each of
these is something the generator must satisfy at once, and past about ten of them generators start to
drop some (and a designer can no longer predict the result).
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from dyngen.domain.arms import arm_config, override_problems
from dyngen.domain.contracts import (
    DEFAULT_SEED_SOURCE,
    FallbackMode,
    GenerationNodeConfig,
    GenerationType,
    NodeStatus,
    SeedSource,
    Severity,
    Strategy,
)
from dyngen.domain.rating import effective_rating, element_needs, elements_over_rating
from dyngen.domain.responses import GenerationValidationResult, ValidationContext, ValidationFinding

COMPLEXITY_THRESHOLD = 10.0
DEFAULT_MAX_RETRIES = 2

# Generation types whose content is (or becomes, with a renderer) a video: costly to make fresh each call.
VIDEO_TYPES = frozenset({GenerationType.TRANSITION, GenerationType.VARIATION})


def complexity(config: GenerationNodeConfig) -> float:
    """The documented complexity score of a node (see the module docstring)."""
    span = max(config.duration.max - config.duration.min, 0.0)
    return float(len(config.constraints.content_rules) + len(config.constraints.required_elements)) + span / 10


def normalise_element(element: str) -> str:
    """`Phone Ring`, `phone-ring` and `phone_ring` name the same element."""
    return "_".join(element.lower().replace("-", " ").replace("_", " ").split())


def _finding(code: str, field: str, message: str, severity: Severity) -> ValidationFinding:
    return ValidationFinding(code=code, field=field, message=message, severity=severity)


def _duration_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    d = config.duration
    for name in ("min", "max", "target"):
        value = getattr(d, name)
        if value <= 0:
            yield _finding(
                "DURATION_NOT_POSITIVE",
                f"duration.{name}",
                f"duration.{name} must be positive seconds (got {value:g})",
                Severity.ERROR,
            )
    if d.min > d.max:
        yield _finding(
            "DURATION_RANGE_INVERTED",
            "duration.min",
            f"duration.min ({d.min:g}s) is above duration.max ({d.max:g}s)",
            Severity.ERROR,
        )
    elif not d.min <= d.target <= d.max:
        yield _finding(
            "DURATION_TARGET_OUT_OF_RANGE",
            "duration.target",
            f"duration.target ({d.target:g}s) must lie between min ({d.min:g}s) and max ({d.max:g}s)",
            Severity.ERROR,
        )


def _constraint_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    for field, elements in (
        ("constraints.requiredElements", config.constraints.required_elements),
        ("constraints.avoidElements", config.constraints.avoid_elements),
    ):
        for element in elements:
            if not normalise_element(element):
                yield _finding(
                    "ELEMENT_EMPTY",
                    field,
                    f"'{element}' names no element: use words, e.g. phone_ring",
                    Severity.ERROR,
                )
    required = {normalise_element(e): e for e in config.constraints.required_elements if normalise_element(e)}
    avoided = {normalise_element(e) for e in config.constraints.avoid_elements}
    for norm, element in required.items():
        if norm in avoided:
            yield _finding(
                "ELEMENT_REQUIRED_AND_AVOIDED",
                "constraints.requiredElements",
                f"'{element}' is both required and avoided: no content can satisfy both",
                Severity.ERROR,
            )


def _rating_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    decision = effective_rating(config.constraints.rating, config.social_context)
    rating = decision.effective.value
    why = f" ({decision.reason})" if decision.clamped else ""
    for element, needed in elements_over_rating(config.constraints.required_elements, decision.effective):
        word = element_needs(element)
        because = f" (because of '{word[1]}')" if word and word[1] != element.strip().lower() else ""
        yield _finding(
            "ELEMENT_OVER_RATING",
            "constraints.requiredElements",
            f"required element '{element}' needs rating {needed.value}{because} but the effective rating is "
            f"{rating}{why}: drop the element or allow a higher rating",
            Severity.ERROR,
        )


def _fallback_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    fb = config.fallback
    if fb.mode is FallbackMode.DEFAULT_CONTENT and not fb.default_content_id:
        yield _finding(
            "FALLBACK_DEFAULT_CONTENT_MISSING",
            "fallback.defaultContentId",
            "fallback mode default_content needs defaultContentId (the authored asset to show)",
            Severity.ERROR,
        )
    if fb.mode is FallbackMode.RETRY and fb.max_retries is None:
        yield _finding(
            "FALLBACK_RETRY_UNBOUNDED",
            "fallback.maxRetries",
            f"fallback mode retry without maxRetries: {DEFAULT_MAX_RETRIES} retries will be used; set it explicitly",
            Severity.SUGGESTION,
        )


def _strategy_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    if config.seed_source is SeedSource.FIXED and config.seed is None:
        yield _finding(
            "SEED_FIXED_MISSING",
            "seed",
            "seedSource fixed needs a seed",
            Severity.ERROR,
        )
    if config.strategy is Strategy.ALWAYS and config.generation_type in VIDEO_TYPES:
        yield _finding(
            "STRATEGY_ALWAYS_VIDEO",
            "strategy",
            f"strategy always on a {config.generation_type.value} node renders video on every call: "
            "expect high latency and cost; consider per_playthrough",
            Severity.WARNING,
        )
    if config.seed_source is SeedSource.TIMESTAMP and config.strategy is not Strategy.ALWAYS:
        yield _finding(
            "SEED_TIMESTAMP_CACHED",
            "seedSource",
            f"seedSource timestamp asks for fresh content but strategy {config.strategy.value} caches the "
            "first result: use strategy always, or a playthrough/player seed",
            Severity.WARNING,
        )
    source = config.seed_source or DEFAULT_SEED_SOURCE[config.strategy]
    if config.variants is not None and config.variants > 1 and source is SeedSource.TIMESTAMP:
        yield _finding(
            "VARIANTS_NEED_A_STABLE_SEED",
            "variants",
            "a variant pool picks each player's variant by a stable seed; with a timestamp seed it is ignored",
            Severity.WARNING,
        )
    if config.seed is not None and source is not SeedSource.FIXED:
        yield _finding(
            "SEED_IGNORED",
            "seed",
            f"seed is ignored with seedSource {source.value}"
            f"{'' if config.seed_source else f' (implied by strategy {config.strategy.value})'}; "
            "use seedSource fixed to pin it",
            Severity.SUGGESTION,
        )


def _freshness_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    if config.refresh_after_s is not None and not config.hybrid:
        yield _finding(
            "REFRESH_WITHOUT_HYBRID",
            "refreshAfterS",
            "refreshAfterS only matters with hybrid: true (serve the cached content at once, refresh it behind)",
            Severity.SUGGESTION,
        )


def _arm_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    if not config.arms:
        return
    seen: set[str] = set()
    for index, arm in enumerate(config.arms):
        where = f"arms[{index}]"
        if arm.id in seen:
            yield _finding("ARM_ID_DUPLICATE", f"{where}.id", f"arm id '{arm.id}' is used twice", Severity.ERROR)
        seen.add(arm.id)
        if arm.weight <= 0:
            yield _finding(
                "ARM_WEIGHT_NOT_POSITIVE",
                f"{where}.weight",
                f"arm '{arm.id}' has weight {arm.weight:g}: a weight is a share of players and must be above 0",
                Severity.ERROR,
            )
        forbidden = list(override_problems(arm.overrides))
        for field, message in forbidden:
            yield _finding("ARM_OVERRIDE_FORBIDDEN", f"{where}.overrides.{field}", message, Severity.ERROR)
        if forbidden:
            continue
        try:
            merged = GenerationNodeConfig.model_validate({**arm_config(config, arm), "arms": None})
        except ValidationError as exc:
            for error in exc.errors():
                path = ".".join(str(part) for part in error["loc"])
                yield _finding(
                    "ARM_OVERRIDES_INVALID",
                    f"{where}.overrides.{path}",
                    f"arm '{arm.id}': {path}: {error['msg']}",
                    Severity.ERROR,
                )
            continue
        for finding in validate_config(merged).findings:
            if finding.severity is Severity.ERROR:
                yield _finding(
                    finding.code,
                    f"{where}.overrides.{finding.field}",
                    f"arm '{arm.id}': {finding.message}",
                    Severity.ERROR,
                )
    if len(config.arms) == 1:
        yield _finding(
            "ARMS_SINGLE",
            "arms",
            "one arm is no comparison: add another arm (an empty overrides object is the control)",
            Severity.WARNING,
        )


def _complexity_rules(config: GenerationNodeConfig) -> Iterator[ValidationFinding]:
    score = complexity(config)
    if score > COMPLEXITY_THRESHOLD:
        yield _finding(
            "COMPLEXITY_HIGH",
            "constraints",
            f"complexity {score:.1f} is above {COMPLEXITY_THRESHOLD:g} (rules + required elements + "
            "duration span / 10): simplify, or split the node",
            Severity.WARNING,
        )


def _context_rules(config: GenerationNodeConfig, context: ValidationContext) -> Iterator[ValidationFinding]:
    player = context.player_context
    ids = {
        "playthroughId": player.playthrough_id if player else None,
        "playerId": player.player_id if player else None,
    }
    scope = {Strategy.PER_PLAYTHROUGH: "playthroughId", Strategy.PER_PLAYER: "playerId"}.get(config.strategy)
    if scope is not None and not ids[scope]:
        yield _finding(
            "SCOPE_ID_MISSING",
            f"playerContext.{scope}",
            f"strategy {config.strategy.value} needs playerContext.{scope}",
            Severity.ERROR,
        )
    source = config.seed_source or DEFAULT_SEED_SOURCE[config.strategy]
    seed_id = {SeedSource.PLAYTHROUGH: "playthroughId", SeedSource.PLAYER: "playerId"}.get(source)
    if seed_id is not None and seed_id != scope and not ids[seed_id]:
        yield _finding(
            "SEED_ID_MISSING",
            f"playerContext.{seed_id}",
            f"seedSource {source.value} needs playerContext.{seed_id}",
            Severity.ERROR,
        )


def validate_config(
    config: GenerationNodeConfig, context: ValidationContext | None = None
) -> GenerationValidationResult:
    """Run every rule over a node config and give its status and all findings.

    Args:
        config: The node to check.
        context: The scenes and player the node would run for; enables the rules that need them.

    Returns:
        Status `disabled` for a disabled node, else `errors`, `warnings` or `ok` by the worst finding
        (suggestions leave a node `ok`), with every finding listed.
    """
    findings = [
        *_duration_rules(config),
        *_constraint_rules(config),
        *_rating_rules(config),
        *_fallback_rules(config),
        *_strategy_rules(config),
        *_freshness_rules(config),
        *_arm_rules(config),
        *_complexity_rules(config),
    ]
    if context is not None:
        findings.extend(_context_rules(config, context))
    severities = {f.severity for f in findings}
    if not config.enabled:
        status = NodeStatus.DISABLED
    elif Severity.ERROR in severities:
        status = NodeStatus.ERRORS
    elif Severity.WARNING in severities:
        status = NodeStatus.WARNINGS
    else:
        status = NodeStatus.OK
    return GenerationValidationResult(status=status, findings=findings, complexity=round(complexity(config), 2))
