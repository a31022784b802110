"""The rule DSL (spec section 11): compile rule source once, evaluate it per request.

    result = compile_rules(source)           # CompileResult: program or positioned errors, + warnings
    if result.program is not None:
        evaluation = evaluate(result.program, player_context=ctx, social_context=social)
        config = apply_overrides(config, evaluation.overrides)

docs/dsl.md documents the language, every warning and what each example produces.
"""

from dyngen.domain.dsl.analysis import contradictions
from dyngen.domain.dsl.compiler import MAX_SOURCE_CHARS, compile_rules
from dyngen.domain.dsl.diagnostics import Diagnostic
from dyngen.domain.dsl.evaluation import Evaluation, apply_overrides, evaluate, merge_overrides
from dyngen.domain.dsl.program import CompileResult, Program

__all__ = [
    "MAX_SOURCE_CHARS",
    "CompileResult",
    "Diagnostic",
    "Evaluation",
    "Program",
    "apply_overrides",
    "compile_rules",
    "contradictions",
    "evaluate",
    "merge_overrides",
]
