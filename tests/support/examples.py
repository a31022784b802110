"""Example data shared by the tests."""

from __future__ import annotations

from typing import Any

# Spec section 10, exactly as written (the template every layer must load as is).
SPEC_TEMPLATE: dict[str, Any] = {
    "id": "romantic_to_action_transition_v1",
    "generationType": "transition",
    "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium", "transitionType": "gradual"},
    "duration": {"min": 15, "max": 45, "target": 30},
    "constraints": {
        "rating": "PG-13",
        "requiredElements": ["phone_ring", "kiss_callback"],
        "avoidElements": ["violence"],
        "contentRules": ["build_tension_gradually", "maintain_character_continuity"],
    },
    "strategy": "per_playthrough",
    "fallback": {"mode": "default_content", "defaultContentId": "transition_01", "timeoutMs": 4000},
    "enabled": True,
    "version": 1,
}


def transition_chain(count: int, graph_id: str) -> dict[str, Any]:
    """A scene graph of `count` transitions in a row (s0 -> s1 -> ...), moods alternating, each falling back
    to a placeholder: many warm-up items for benchmarks and interrupted runs."""
    return {
        "id": graph_id,
        "scenes": [{"id": f"s{i}", "mood": "calm" if i % 2 else "tense"} for i in range(count + 1)],
        "nodes": [
            {
                "id": f"t{i}",
                "fromScene": f"s{i}",
                "toScene": f"s{i + 1}",
                "config": {"generationType": "transition", "fallback": {"mode": "placeholder", "timeoutMs": 10_000}},
            }
            for i in range(count)
        ],
    }
