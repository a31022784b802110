"""The names a rule may use: style fields it may assign, and context fields it may read.

Assignable (THEN / ELSE / SET), each in the spec's spelling or snake_case:

| name | values |
| --- | --- |
| `moodFrom` / `mood_from` | any mood name (1-200 characters) |
| `moodTo` / `mood_to` | any mood name (1-200 characters) |
| `pacing` | slow, medium, fast |
| `transitionType` / `transition_type` | gradual, abrupt |

Readable (in conditions):

- `player_choice.<id>`: `player_context.choices[<id>]` (true/false, a number or a string)
- `flags.<name>`: `player_context.flags[<name>]`
- `stats.<name>`: `player_context.stats[<name>]` (numbers)
- `social.<field>`: the node's `SocialContext`, fields in `SOCIAL_FIELDS`

A name after the root may hold dots: `flags.act1.met_sarah` reads the flag `act1.met_sarah`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from dyngen.domain.contracts import ContentRating, Pacing, Rating, TransitionType

STYLE_FIELDS: dict[str, tuple[str, ...] | None] = {
    "moodFrom": None,
    "moodTo": None,
    "pacing": tuple(p.value for p in Pacing),
    "transitionType": tuple(t.value for t in TransitionType),
}
"""Style fields a rule may set (wire names) and their allowed values (None: any name)."""

MOOD_MAX_CHARS = 200
ELEMENT_MAX_CHARS = 100
MAX_ELEMENTS = 50
"""The node config's bounds: a mood is an Id, an element at most 100 characters, a list at most 50."""

RATINGS: tuple[str, ...] = tuple(r.value for r in Rating)

PLAYER_ROOTS = {"player_choice": "choices", "flags": "flags", "stats": "stats"}
"""Roots that read the player context, and the `PlayerContext` field each reads."""

ROOTS: tuple[str, ...] = (*PLAYER_ROOTS, "social")


@dataclass(frozen=True)
class SocialField:
    """A readable social field: its attribute path on `SocialContext` and the kind of value it holds."""

    attributes: tuple[str, ...]
    kind: str  # "text", "number" or "choice"
    values: tuple[str, ...] = ()


SOCIAL_FIELDS: dict[str, SocialField] = {
    "intimacyLevelId": SocialField(("intimacy_level_id",), "text"),
    "relationshipTierId": SocialField(("relationship_tier_id",), "text"),
    "intimacyBand": SocialField(("intimacy_band",), "choice", ("none", "light", "deep", "intense")),
    "contentRating": SocialField(("content_rating",), "choice", tuple(c.value for c in ContentRating)),
    "worldMaxRating": SocialField(("world_max_rating",), "choice", tuple(c.value for c in ContentRating)),
    "userMaxRating": SocialField(("user_max_rating",), "choice", tuple(c.value for c in ContentRating)),
    **{
        f"relationshipValues.{name}": SocialField(("relationship_values", name), "number")
        for name in ("affinity", "trust", "chemistry", "tension")
    },
}
"""`social.<key>` names (wire spelling; snake_case is accepted too). `npcIds` is a list and not readable."""


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


_SOCIAL_SPELLINGS: dict[str, str] = {}
for _key, _field in SOCIAL_FIELDS.items():
    _SOCIAL_SPELLINGS[_key] = _key
    _SOCIAL_SPELLINGS[".".join(_snake(part) for part in _key.split("."))] = _key

_ASSIGNABLE: dict[str, str] = {}
for _name in STYLE_FIELDS:
    _ASSIGNABLE[_name] = _name
    _ASSIGNABLE[_snake(_name)] = _name


def closest(name: str, options: Iterable[str]) -> str | None:
    """The known name closest to a misspelt `name` (`pacng` -> `pacing`), or None when none is close."""
    options = list(options)
    by_lower = {option.lower(): option for option in options}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def style_field(name: str) -> str | None:
    """The wire name of an assignable style field spelled `name`, or None."""
    return _ASSIGNABLE.get(name)


def social_field(key: str) -> str | None:
    """The canonical `SOCIAL_FIELDS` key for `key` in either spelling, or None."""
    return _SOCIAL_SPELLINGS.get(key)


def rating(value: str) -> str | None:
    """The rating `value` names, ignoring case and hyphens (`pg13` -> `PG-13`), or None."""
    wanted = value.replace("-", "").upper()
    return next((r for r in RATINGS if r.replace("-", "") == wanted), None)
