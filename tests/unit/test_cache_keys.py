"""Cache keys and seeds (spec sections 4 and 7): key shape, determinism, escaping, and stability."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dyngen.domain.cache_keys import cache_key, content_digest, resolve_seed, split_key
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, Purpose, SeedSource, Strategy
from dyngen.domain.errors import DyngenError, ErrorCode

# database=None: property tests write nothing to disk.
PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much])

PREFIX = "transition|gap_fill|cafe|street"
BOTH_IDS = {"playthroughId": "pt-1", "playerId": "pl-1"}


def readable(key: str) -> str:
    """The key without its content digest (`;c=<12 hex>`, always last in the version slot)."""
    head, _, digest = key.rpartition(";c=")
    assert len(digest) == 12, key
    return head


def request(**fields: Any) -> GenerateContentRequest:
    """A transition from `cafe` to `street` for playthrough pt-1 / player pl-1, with `fields` overriding."""
    wire: dict[str, Any] = {
        "type": "transition",
        "from_scene": {"id": "cafe"},
        "to_scene": {"id": "street"},
        "player_context": BOTH_IDS,
    }
    wire.update(fields)
    return GenerateContentRequest.model_validate(wire)


SCOPE_SLOT = {"once": "", "per_playthrough": "pt-1", "per_player": "pl-1", "always": ""}
# What each (strategy, seed source) pair resolves to: the effective source and whether it is reproducible.
EFFECTIVE = {
    None: {"once": "fixed", "per_playthrough": "playthrough", "per_player": "player", "always": "timestamp"},
    "playthrough": dict.fromkeys(SCOPE_SLOT, "playthrough"),
    "player": dict.fromkeys(SCOPE_SLOT, "player"),
    "timestamp": dict.fromkeys(SCOPE_SLOT, "timestamp"),
    "fixed": dict.fromkeys(SCOPE_SLOT, "fixed"),
}
PAIRS = [
    pytest.param(strategy, source, id=f"{strategy}-{source or 'default'}")
    for strategy in SCOPE_SLOT
    for source in (None, "playthrough", "player", "timestamp", "fixed")
]


@pytest.mark.parametrize(("strategy", "source"), PAIRS)
def test_key_shape_for_every_strategy_and_seed_source(strategy: str, source: str | None) -> None:
    seed = 7 if source == "fixed" else None
    key = cache_key(request(strategy=strategy, seed_source=source, seed=seed))
    slot = SCOPE_SLOT[strategy] + ("@7" if seed is not None else "")
    assert readable(key) == f"{PREFIX}|{strategy}|{slot}|1"


@pytest.mark.parametrize(
    ("strategy", "slot"),
    [("once", "@7"), ("per_playthrough", "pt-1"), ("per_player", "pl-1"), ("always", "")],
)
def test_hand_set_seed_without_source_is_keyed_only_where_it_is_used(strategy: str, slot: str) -> None:
    # Without a seedSource only `once` uses the seed (its default source is fixed); the others ignore it.
    req = request(strategy=strategy, seed=7)
    assert readable(cache_key(req)) == f"{PREFIX}|{strategy}|{slot}|1"
    assert (resolve_seed(req, entropy=random.Random(0)).value == 7) is (strategy == "once")


@pytest.mark.parametrize(("strategy", "source"), PAIRS)
def test_seed_determinism_for_every_strategy_and_seed_source(strategy: str, source: str | None) -> None:
    req = request(strategy=strategy, seed_source=source, seed=7 if source == "fixed" else None)
    first = resolve_seed(req, entropy=random.Random(1))
    second = resolve_seed(req, entropy=random.Random(2))
    expected_source = SeedSource(EFFECTIVE[source][strategy])
    assert first.source is second.source is expected_source
    if expected_source is SeedSource.TIMESTAMP:
        assert (first.deterministic, second.deterministic) == (False, False)
        assert first.value == random.Random(1).getrandbits(63)  # drawn from the given entropy
        assert second.value == random.Random(2).getrandbits(63)
        assert first.value != second.value
    else:
        assert (first.deterministic, second.deterministic) == (True, True)
        assert first.value == second.value
    if expected_source is SeedSource.FIXED and source == "fixed":
        assert first.value == 7
    assert 0 <= first.value < 2**63


@pytest.mark.parametrize(
    ("source", "changed_context", "seed_changes"),
    [
        ("playthrough", {"playthroughId": "pt-2", "playerId": "pl-1"}, True),
        ("playthrough", {"playthroughId": "pt-1", "playerId": "pl-2"}, False),
        ("player", {"playthroughId": "pt-1", "playerId": "pl-2"}, True),
        ("player", {"playthroughId": "pt-2", "playerId": "pl-1"}, False),
    ],
    ids=["playthrough-new-run", "playthrough-other-player", "player-other-player", "player-new-run"],
)
def test_seed_follows_only_its_source_id(source: str, changed_context: dict[str, str], seed_changes: bool) -> None:
    before = resolve_seed(request(seed_source=source), entropy=random.Random(0)).value
    after = resolve_seed(request(seed_source=source, player_context=changed_context), entropy=random.Random(0)).value
    assert (before != after) is seed_changes


def seed_of(req: GenerateContentRequest) -> object:
    return resolve_seed(req, entropy=random.Random(0))


def test_once_seed_without_a_hand_set_seed_is_shared_by_every_player() -> None:
    alice = resolve_seed(request(player_context={"playerId": "alice"}), entropy=random.Random(1))
    bob = resolve_seed(request(player_context=None), entropy=random.Random(2))
    assert alice == bob
    other_scene = resolve_seed(request(to_scene={"id": "park"}), entropy=random.Random(1))
    assert other_scene.value != alice.value


@pytest.mark.parametrize(
    ("fields", "call", "field"),
    [
        ({"strategy": "per_playthrough", "player_context": None}, cache_key, "player_context.playthroughId"),
        (
            {"strategy": "per_playthrough", "player_context": {"playerId": "p"}},
            cache_key,
            "player_context.playthroughId",
        ),
        ({"strategy": "per_player", "player_context": None}, cache_key, "player_context.playerId"),
        ({"strategy": "per_player", "player_context": {"playthroughId": "t"}}, cache_key, "player_context.playerId"),
        ({"strategy": "per_playthrough", "player_context": None}, seed_of, "player_context.playthroughId"),
        ({"strategy": "per_player", "player_context": {}}, seed_of, "player_context.playerId"),
        ({"seed_source": "playthrough", "player_context": {"playerId": "p"}}, seed_of, "player_context.playthroughId"),
        ({"seed_source": "player", "player_context": None}, seed_of, "player_context.playerId"),
        ({"seed_source": "fixed"}, seed_of, "seed"),
    ],
    ids=[
        "key-per-playthrough-no-context",
        "key-per-playthrough-no-id",
        "key-per-player-no-context",
        "key-per-player-no-id",
        "seed-per-playthrough-no-context",
        "seed-per-player-empty-context",
        "seed-source-playthrough-no-id",
        "seed-source-player-no-context",
        "seed-source-fixed-no-seed",
    ],
)
def test_missing_ids_are_invalid_config_naming_the_field(
    fields: dict[str, Any], call: Callable[[GenerateContentRequest], object], field: str
) -> None:
    req = request(**fields)
    with pytest.raises(DyngenError) as raised:
        call(req)
    assert raised.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert [d["field"] for d in raised.value.details] == [field]
    assert field in raised.value.message


@pytest.mark.parametrize("strategy", ["once", "always"])
def test_unscoped_strategies_need_no_player_context(strategy: str) -> None:
    assert readable(cache_key(request(strategy=strategy, player_context=None))) == f"{PREFIX}|{strategy}||1"


@pytest.mark.parametrize(
    ("fields", "component", "escaped", "raw"),
    [
        ({"from_scene": {"id": "a|b"}}, 2, "a%7Cb", "a|b"),
        ({"to_scene": {"id": "100%"}}, 3, "100%25", "100%"),
        ({"to_scene": {"id": "%7C"}}, 3, "%257C", "%7C"),
        ({"from_scene": {"id": "|%|"}}, 2, "%7C%25%7C", "|%|"),
        ({"strategy": "per_playthrough", "player_context": {"playthroughId": "run|2"}}, 5, "run%7C2", "run|2"),
        ({"strategy": "per_player", "player_context": {"playerId": "50%|x"}}, 5, "50%25%7Cx", "50%|x"),
    ],
    ids=["pipe-in-from", "percent-in-to", "escape-lookalike", "only-specials", "pipe-in-playthrough", "both-in-player"],
)
def test_ids_with_separator_or_percent_are_escaped_and_round_trip(
    fields: dict[str, Any], component: int, escaped: str, raw: str
) -> None:
    key = cache_key(request(**fields))
    assert key.count("|") == 6
    assert key.split("|")[component] == escaped
    assert split_key(key)[component] == raw


def test_pipe_in_ids_cannot_make_two_scene_pairs_collide() -> None:
    left = cache_key(request(from_scene={"id": "a|b"}, to_scene={"id": "c"}))
    right = cache_key(request(from_scene={"id": "a"}, to_scene={"id": "b|c"}))
    assert left != right
    assert split_key(left)[2:4] == ["a|b", "c"]
    assert split_key(right)[2:4] == ["a", "b|c"]


def test_scope_id_containing_at_cannot_collide_with_a_fixed_seed() -> None:
    plain = request(strategy="per_player", player_context={"playerId": "guest@1"})
    seeded = request(strategy="per_player", player_context={"playerId": "guest"}, seed_source="fixed", seed=1)
    assert resolve_seed(plain, entropy=random.Random(0)) != resolve_seed(seeded, entropy=random.Random(0))
    assert cache_key(plain) != cache_key(seeded)  # different content must not share a cache entry


def test_version_bump_changes_the_key() -> None:
    v1, v2 = cache_key(request(version=1)), cache_key(request(version=2))
    assert v1 != v2
    assert (readable(v1).rsplit("|", 1)[1], readable(v2).rsplit("|", 1)[1]) == ("1", "2")


GOLDEN = [
    pytest.param({}, f"{PREFIX}|once||1;c=4c27d7d2cd39", 2160730793269004153, id="once-default"),
    pytest.param(
        {"strategy": "per_playthrough"},
        f"{PREFIX}|per_playthrough|pt-1|1;c=4c27d7d2cd39",
        1532210871745921583,
        id="playthrough",
    ),
    pytest.param(
        {"strategy": "per_player", "type": "dialogue", "purpose": "adaptive", "version": 4},
        "dialogue|adaptive|cafe|street|per_player|pl-1|4;c=4c27d7d2cd39",
        1034572253537997983,
        id="player",
    ),
    pytest.param(
        {"strategy": "per_playthrough", "seed_source": "fixed", "seed": 42},
        f"{PREFIX}|per_playthrough|pt-1@42|1;c=4c27d7d2cd39",
        42,
        id="fixed-seed",
    ),
    pytest.param(
        {"type": "npc_response", "purpose": "ambient", "from_scene": {"id": "bar|b"}, "to_scene": {"id": "100%"}},
        "npc_response|ambient|bar%7Cb|100%25|once||1;c=98d32dd99253",
        1787295197397704601,
        id="escaped-once",
    ),
]


@pytest.mark.parametrize(("fields", "key", "seed"), GOLDEN)
def test_golden_keys_and_seeds_stay_stable(fields: dict[str, Any], key: str, seed: int) -> None:
    req = request(**fields)
    assert cache_key(req) == key
    assert resolve_seed(req, entropy=random.Random(0)).value == seed


# --- properties -----------------------------------------------------------------------------------------

# Ids a client may send: any text (rich in the characters the key escapes) without surrounding whitespace,
# which the contract strips.
ids = st.text(
    st.one_of(st.sampled_from("|%@7C25"), st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\ufffd")),
    min_size=1,
    max_size=40,
).filter(lambda s: s == s.strip() and s != "")
seeds = st.integers(min_value=0, max_value=2**63 - 1)
versions = st.integers(min_value=0, max_value=2**31)


@st.composite
def components(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": draw(st.sampled_from(GenerationType)),
        "purpose": draw(st.sampled_from(Purpose)),
        "from_id": draw(ids),
        "to_id": draw(ids),
        "strategy": draw(st.sampled_from(Strategy)),
        "scope_id": draw(ids),
        "seed": draw(st.none() | seeds),
        "version": draw(versions),
    }


def build(c: dict[str, Any]) -> GenerateContentRequest:
    """A request whose playthroughId and playerId are both the scope id, pinned by a fixed seed if any."""
    return GenerateContentRequest.model_validate(
        {
            "type": c["type"],
            "purpose": c["purpose"],
            "from_scene": {"id": c["from_id"]},
            "to_scene": {"id": c["to_id"]},
            "strategy": c["strategy"],
            "player_context": {"playthroughId": c["scope_id"], "playerId": c["scope_id"]},
            "seed_source": "fixed" if c["seed"] is not None else None,
            "seed": c["seed"],
            "version": c["version"],
        }
    )


@PROPERTY
@given(components())
def test_key_is_a_pure_function_of_its_inputs(c: dict[str, Any]) -> None:
    req = build(c)
    key = cache_key(req)
    assert cache_key(build(c)) == key
    assert cache_key(GenerateContentRequest.model_validate_json(req.model_dump_json())) == key
    assert cache_key(GenerateContentRequest.model_validate_json(req.model_dump_json(by_alias=True))) == key


NEW_VALUE = {
    "type": st.sampled_from(GenerationType),
    "purpose": st.sampled_from(Purpose),
    "from_id": ids,
    "to_id": ids,
    "strategy": st.sampled_from(Strategy),
    "scope_id": ids,
    "seed": seeds,
    "version": versions,
}


@PROPERTY
@given(components(), st.sampled_from(sorted(NEW_VALUE)), st.data())
def test_changing_any_single_component_changes_the_key(c: dict[str, Any], name: str, data: st.DataObject) -> None:
    if name == "scope_id":  # the scope id is part of the key only for the scoped strategies
        assume(c["strategy"] in (Strategy.PER_PLAYTHROUGH, Strategy.PER_PLAYER))
    if name == "seed":  # the seed is part of the key only when it is fixed
        assume(c["seed"] is not None)
    new = data.draw(NEW_VALUE[name].filter(lambda v: v != c[name]), label=name)
    assert cache_key(build({**c, name: new})) != cache_key(build(c))


@PROPERTY
@given(components())
def test_split_key_gives_back_every_component_unescaped(c: dict[str, Any]) -> None:
    key = cache_key(build(c))
    scoped = c["strategy"] in (Strategy.PER_PLAYTHROUGH, Strategy.PER_PLAYER)
    slot = (c["scope_id"] if scoped else "") + (f"@{c['seed']}" if c["seed"] is not None else "")
    assert split_key(readable(key)) == [
        c["type"].value,
        c["purpose"].value,
        c["from_id"],
        c["to_id"],
        c["strategy"].value,
        slot,
        str(c["version"]),
    ]


def test_nodes_that_differ_only_in_content_shaping_config_get_different_keys() -> None:
    """Two nodes with equal type, purpose and scenes but another mood, duration or element list never
    share an entry; the spec's seven parts stay the readable prefix."""
    a = request(style={"moodFrom": "calm", "moodTo": "tense"})
    b = request(style={"moodFrom": "calm", "moodTo": "joyful"})
    c = request(style={"moodFrom": "calm", "moodTo": "tense"}, constraints={"avoidElements": ["blood"]})
    keys = {cache_key(a), cache_key(b), cache_key(c)}
    assert len(keys) == 3
    assert {readable(k) for k in keys} == {f"{PREFIX}|once||1"}
    assert cache_key(a) == cache_key(request(style={"moodTo": "tense", "moodFrom": "calm"}))  # field order
    assert content_digest(a) != content_digest(b)
