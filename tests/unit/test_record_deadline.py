"""How long a generation's record may wait for the database within its node's deadline."""

from __future__ import annotations

from dyngen.services.generation.runs import RECORD_GRACE_S, record_within_s


def test_a_record_leaves_the_answer_a_margin_of_the_node_deadline() -> None:
    """Issue 12: under a database that never answers, the record's wait ended at the node's deadline and
    the outbox, the cache and the response came after it (answers at 3.2-3.6 s for a 3 s node)."""
    assert record_within_s(left_s=3.0, timeout_s=3.0, record_timeout_s=10.0) == 2.5
    assert record_within_s(left_s=1.0, timeout_s=1.0, record_timeout_s=10.0) == 0.8, "a short deadline: a share"
    assert record_within_s(left_s=3.0, timeout_s=3.0, record_timeout_s=1.0) == 1.0, "the setting caps it"
    assert record_within_s(left_s=0.1, timeout_s=3.0, record_timeout_s=10.0) == RECORD_GRACE_S
