"""Competition ranking: the same order and ranks as the slow obvious computation, and as the Redis board."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arena.engine.ranking import Ranked, competition_ranks
from tests.runtime.test_leaderboard import brute_force  # ZREVRANGE's order, the slow obvious way

BOTS = st.text(alphabet="abcXYZ09:_-.", min_size=1, max_size=6)
SCORES = st.sampled_from([0.0, 1.5, 1.5000000000000002, 2.0, -3.0, 1e6])  # few values: many ties


def test_1_2_2_4() -> None:
    ranked = competition_ranks({"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0})
    assert ranked == [Ranked(1, "a", 3.0), Ranked(2, "c", 2.0), Ranked(2, "b", 2.0), Ranked(4, "d", 1.0)]


def test_empty() -> None:
    assert competition_ranks({}) == []


@given(st.dictionaries(BOTS, SCORES, max_size=30))
def test_matches_the_brute_force_order_and_ranks(scores: dict[str, float]) -> None:
    expected = [(s.rank, s.bot, s.score) for s in brute_force(scores)]
    assert [tuple(r) for r in competition_ranks(scores)] == expected
