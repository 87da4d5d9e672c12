"""Leaderboard against the real redis-server fixture: ranks, paging, ties, freeze, history and the change feed."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from arena.runtime import leaderboard as lbmod
from arena.runtime.leaderboard import (
    Leaderboard,
    LeaderboardFrozen,
    LeaderboardKeys,
    LeaderboardPublisher,
    LeaderboardSubscription,
    Standing,
    read_changes,
)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def board(client: redis.Redis) -> Leaderboard:
    return Leaderboard(client, "T1")


def brute_force(scores: dict[str, float]) -> list[Standing]:
    """ZREVRANGE's order (score desc, ties by bot id bytes desc) with competition ranks, the slow obvious way."""
    ordered = sorted(scores.items(), key=lambda item: (item[1], item[0].encode()), reverse=True)
    return [Standing(1 + sum(s > score for s in scores.values()), bot, score) for bot, score in ordered]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- keys and validation ------------------------------------------------------------------------------------


def test_every_key_is_hash_tagged_and_on_one_slot() -> None:
    keys = LeaderboardKeys.for_tournament("cup-2026.q1")
    names = [*keys.all_keys(), keys.channel]
    assert all(name.startswith("arena:{cup-2026.q1}:leaderboard") for name in names)
    assert len(set(names)) == len(names)
    assert len({key_slot(name.encode()) for name in names}) == 1


def test_writes_touch_only_the_tournaments_keys(client: redis.Redis, board: Leaderboard) -> None:
    board.update({"a": 1.0})
    board.snapshot(1)
    LeaderboardPublisher(client, "T1").changed({"a": 1.0}, 1)
    board.freeze()
    assert {k.decode() for k in client.keys("*")} <= set(board.keys.all_keys())
    assert all("{T1}" in k.decode() for k in client.keys("*"))


@pytest.mark.parametrize("bad", ["", "a b", "a{b", "a}b", "{T}", " T", "T\n", "a\tb", "x" * 65, "-lead", "é"])
def test_bad_tournament_ids_are_rejected(client: redis.Redis, bad: str) -> None:
    with pytest.raises(ValueError, match="tournament id"):
        Leaderboard(client, bad)
    with pytest.raises(ValueError, match="tournament id"):
        LeaderboardPublisher(client, bad)


def test_non_string_tournament_id_is_rejected(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="must be a string"):
        Leaderboard(client, 7)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "12", None, 10**400])
def test_bad_scores_are_rejected_and_nothing_is_written(client: redis.Redis, board: Leaderboard, bad: object) -> None:
    with pytest.raises(ValueError, match="'b'"):
        board.update({"a": 1.0, "b": bad, "c": 2.0})  # type: ignore[dict-item]
    assert client.exists(board.keys.live) == 0


def test_bad_bot_ids_are_rejected(board: Leaderboard) -> None:
    for bad in ["", "x" * 257]:
        with pytest.raises(ValueError, match="bot id"):
            board.update({bad: 1.0})
    assert board.size() == 0


def test_empty_update_is_a_no_op(client: redis.Redis, board: Leaderboard) -> None:
    board.update({})
    assert client.keys("*") == []


# -- ranks, paging, ties ------------------------------------------------------------------------------------


def test_competition_ranking_1_2_2_4(board: Leaderboard) -> None:
    board.update({"ann": 50.0, "bob": 40.0, "cat": 40.0, "dan": 10.0})
    assert board.top() == [
        Standing(1, "ann", 50.0),
        Standing(2, "cat", 40.0),  # ties: ZREVRANGE lists the greater bot id first
        Standing(2, "bob", 40.0),
        Standing(4, "dan", 10.0),
    ]
    assert [board.rank(b) for b in ("ann", "bob", "cat", "dan")] == [1, 2, 2, 4]
    assert board.standing("cat") == Standing(2, "cat", 40.0)
    assert board.score("bob") == 40.0
    assert board.size() == 4


def test_unknown_bot_has_no_rank_score_or_neighbours(board: Leaderboard) -> None:
    board.update({"a": 1.0})
    assert board.rank("zed") is None
    assert board.score("zed") is None
    assert board.standing("zed") is None
    assert board.around("zed", 3) == []


def test_ties_spanning_a_page_boundary(board: Leaderboard) -> None:
    board.update({"a": 9.0, "b": 5.0, "c": 5.0, "d": 5.0, "e": 5.0, "f": 1.0, "g": 1.0})
    pages = [board.top(2, offset) for offset in range(0, 8, 2)]
    assert pages == [
        [Standing(1, "a", 9.0), Standing(2, "e", 5.0)],
        [Standing(2, "d", 5.0), Standing(2, "c", 5.0)],  # the page starts inside the run of 5.0s
        [Standing(2, "b", 5.0), Standing(6, "g", 1.0)],
        [Standing(6, "f", 1.0)],
    ]
    assert [s for page in pages for s in page] == board.top(100)
    assert board.top(3, 1) == [Standing(2, "e", 5.0), Standing(2, "d", 5.0), Standing(2, "c", 5.0)]
    assert board.top(5, 7) == []
    assert board.top(0) == []


def test_top_page_issues_at_most_one_zcount(client: redis.Redis, board: Leaderboard) -> None:
    board.update({f"bot{i:03d}": float(i // 10) for i in range(300)})  # runs of 10 ties
    client.config_resetstat()
    board.top(25, lbmod.TOP_SNAPSHOT + 55)  # past the top snapshot: read from the sorted set
    stats = client.info("commandstats")
    assert stats["cmdstat_zrevrange"]["calls"] == 1
    assert stats["cmdstat_zcount"]["calls"] == 1


def test_page_rank_uses_zcount_only_off_the_first_page(client: redis.Redis, board: Leaderboard) -> None:
    board.update({"a": 1.0, "b": 1.0})
    client.config_resetstat()
    assert board.top(10) == [Standing(1, "b", 1.0), Standing(1, "a", 1.0)]
    assert "cmdstat_zcount" not in client.info("commandstats")


def test_negative_paging_arguments_are_rejected(board: Leaderboard) -> None:
    with pytest.raises(ValueError):
        board.top(-1)
    with pytest.raises(ValueError):
        board.top(5, -1)
    with pytest.raises(ValueError):
        board.around("a", -1)


def test_around_a_bot(board: Leaderboard) -> None:
    board.update({"a": 6.0, "b": 5.0, "c": 4.0, "d": 4.0, "e": 2.0, "f": 1.0})
    listing = board.top(10)
    assert [s.bot for s in listing] == ["a", "b", "d", "c", "e", "f"]
    assert board.around("c", 1) == [Standing(3, "d", 4.0), Standing(3, "c", 4.0), Standing(5, "e", 2.0)]
    assert board.around("d", 2) == listing[0:5]
    assert board.around("a", 2) == listing[0:3]  # nothing above the leader
    assert board.around("f", 1) == listing[4:6]
    assert board.around("c", 0) == [Standing(3, "c", 4.0)]
    assert board.around("c", 100) == listing


def test_scores_round_trip_exactly_through_a_multi_chunk_update(board: Leaderboard) -> None:
    rng = random.Random(7)
    extremes = [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 0.1, 1e-100, 2**53]
    scores = {f"bot-{i}": rng.uniform(-1e9, 1e9) for i in range(lbmod.ZADD_CHUNK * 2 + 37)}
    scores.update({f"x{i}": v for i, v in enumerate(extremes)})
    scores.update({"100%": 3.5, "%s%d%%": 4.5, "ünïcødé": 5.5, "with space": 6.5, "x" * 256: 7.5})
    board.update(scores)
    assert board.size() == len(scores)
    assert {s.bot: s.score for s in board.top(len(scores))} == scores
    assert board.top(len(scores)) == brute_force(scores)


def test_int_scores_and_decoded_clients(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    board = Leaderboard(client, "T2")
    board.update({"a": 3, "b": 2.5})
    assert board.top() == [Standing(1, "a", 3.0), Standing(2, "b", 2.5)]
    assert board.around("b", 1) == board.top()
    client.close()


def test_pipeline_path_for_non_plain_clients(board: Leaderboard) -> None:
    board._raw = False  # the path a RedisCluster client takes
    scores = {f"b{i}": float(i % 7) for i in range(lbmod.ZADD_CHUNK + 10)}
    board.update(scores)
    assert board.top(len(scores)) == brute_force(scores)
    board.rebuild({"only": 1.0})
    assert board.top() == [Standing(1, "only", 1.0)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.dictionaries(
            st.sampled_from([f"bot{i}" for i in range(25)]),
            st.one_of(st.sampled_from([0.0, 1.0, 2.5, -3.0, 100.0]), st.floats(-1e6, 1e6, allow_nan=False)),
            max_size=25,
        ),
        max_size=8,
    ),
    page=st.integers(1, 9),
)
def test_order_and_ranks_match_a_brute_force_sort(client: redis.Redis, batches: list[dict[str, float]], page: int):
    board = Leaderboard(client, "prop")
    board.clear()
    latest: dict[str, float] = {}
    for batch in batches:
        board.update(batch)
        latest.update(batch)
    expected = brute_force(latest)
    assert board.size() == len(latest)
    assert board.top(len(latest) + 1) == expected
    assert [s for offset in range(0, len(latest), page) for s in board.top(page, offset)] == expected
    for standing in expected:
        assert board.standing(standing.bot) == standing


def test_the_top_is_read_from_the_writers_snapshot(client: redis.Redis, board: Leaderboard) -> None:
    scores = {f"bot{i:04d}": float(i % 37) for i in range(lbmod.ZADD_CHUNK * 2)}  # ties, two ZADD chunks
    board.update(scores)
    expected = brute_force(scores)
    client.config_resetstat()
    assert board.top(10) == expected[:10]
    assert board.top(20, 30) == expected[30:50]  # ranks of a page that starts inside a run of ties
    assert board.top(lbmod.TOP_SNAPSHOT) == expected[: lbmod.TOP_SNAPSHOT]
    stats = client.info("commandstats")
    assert "cmdstat_zrevrange" not in stats and "cmdstat_evalsha" not in stats
    assert stats["cmdstat_get"]["calls"] == 3
    assert board.top(10, lbmod.TOP_SNAPSHOT) == expected[lbmod.TOP_SNAPSHOT : lbmod.TOP_SNAPSHOT + 10]  # past it
    board.update({"bot0000": 1e9})  # the next tick moves the top: the snapshot follows
    assert board.top(2) == [Standing(1, "bot0000", 1e9), Standing(2, expected[0].bot, expected[0].score)]
    board.rebuild({"x": 1.0})
    assert board.top(10) == [Standing(1, "x", 1.0)]
    board.rebuild({})
    assert board.top(10) == []


def test_a_board_written_without_a_snapshot_is_read_from_the_sorted_set(client: redis.Redis, board: Leaderboard):
    client.zadd(board.keys.live, {"a": 2.0, "b": 1.0})  # e.g. a writer of an older release
    assert board.top(10) == [Standing(1, "a", 2.0), Standing(2, "b", 1.0)]


# -- rebuild, clear, freeze ---------------------------------------------------------------------------------


def test_rebuild_replaces_the_live_board(board: Leaderboard) -> None:
    board.update({"a": 1.0, "b": 2.0})
    board.rebuild({"c": 3.0, "a": 0.5})
    assert board.top() == [Standing(1, "c", 3.0), Standing(2, "a", 0.5)]
    big = {f"bot{i}": float(i) for i in range(lbmod.ZADD_CHUNK * 3)}
    board.rebuild(big)
    assert board.top(len(big)) == brute_force(big)
    board.rebuild({})
    assert board.size() == 0


def test_clear_removes_every_key(client: redis.Redis, board: Leaderboard) -> None:
    board.update({"a": 1.0})
    board.snapshot(1)
    LeaderboardPublisher(client, "T1").changed({"a": 1.0}, 1)
    board.freeze()
    board.clear()
    assert client.keys("*") == []
    board.update({"a": 2.0})  # no longer frozen
    assert board.score("a") == 2.0


def test_freeze_copies_and_blocks_updates(client: redis.Redis, board: Leaderboard) -> None:
    board.update({"a": 1.0, "b": 2.0, "c": 2.0})
    assert board.top(final=True) == []
    assert board.freeze() is True
    assert board.top(final=True) == board.top() == [Standing(1, "c", 2.0), Standing(1, "b", 2.0), Standing(3, "a", 1.0)]
    assert board.rank("a", final=True) == 3
    assert board.score("c", final=True) == 2.0
    assert board.size(final=True) == 3
    assert board.around("a", 1, final=True) == board.top(2, 1)
    with pytest.raises(LeaderboardFrozen):
        board.update({"a": 9.0})
    with pytest.raises(LeaderboardFrozen):
        board.rebuild({"a": 9.0})
    other = Leaderboard(client, "T1")  # another process's view learns it from Redis
    assert other.is_frozen()
    with pytest.raises(LeaderboardFrozen) as err:
        other.update({"a": 9.0})
    assert err.value.code == "LEADERBOARD_FROZEN"
    assert board.score("a") == 1.0
    assert other.freeze() is False  # idempotent: the final board is not taken again
    assert Leaderboard(client, "T2").is_frozen() is False


def test_freeze_of_an_empty_board(board: Leaderboard) -> None:
    assert board.freeze() is True
    assert board.top(final=True) == []
    assert board.is_frozen()


# -- history ------------------------------------------------------------------------------------------------


def test_snapshots_are_capped_and_keep_ranks(board: Leaderboard) -> None:
    for ts in range(1, 8):
        board.update({"a": float(ts), "b": 3.0, "c": 3.0, "d": 0.0})
        board.snapshot(ts * 1000, top_n=3, keep=4)
    history = board.history(10)
    assert [snap.ts for snap in history] == [4000, 5000, 6000, 7000]
    assert all(snap.size == 4 for snap in history)
    assert history[0].standings == (Standing(1, "a", 4.0), Standing(2, "c", 3.0), Standing(2, "b", 3.0))
    assert history[-1].standings == (Standing(1, "a", 7.0), Standing(2, "c", 3.0), Standing(2, "b", 3.0))
    assert [snap.ts for snap in board.history(2)] == [6000, 7000]
    assert board.history(0) == []
    with pytest.raises(ValueError):
        board.snapshot(1, top_n=0)


# -- fan-out ------------------------------------------------------------------------------------------------


def test_publisher_rate_is_capped_and_nothing_is_lost(client: redis.Redis) -> None:
    clock = FakeClock()
    publisher = LeaderboardPublisher(client, "T1", max_rate=10.0, clock=clock)
    rng = random.Random(1)
    bots = [f"bot{i}" for i in range(300)]
    latest: dict[str, float] = {}
    sent: list[tuple[float, lbmod.Change]] = []
    for tick in range(10_000):  # 10 simulated seconds at 1000 ticks per second
        clock.now = tick / 1000
        changes = {bot: round(rng.uniform(0, 1e6), 2) for bot in rng.sample(bots, 20)}
        latest.update(changes)
        change = publisher.changed(changes, ts=tick)
        if change is not None:
            sent.append((clock.now, change))
            # a message carries the latest value of every bot it names
            assert all(latest[bot] == score for bot, score in change.scores.items())
    final = publisher.flush()
    assert final is not None
    assert publisher.flush() is None
    times = [t for t, _ in sent]
    assert 95 <= len(times) <= 100
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times))
    assert all(times[i + 10] - times[i] >= 1.0 - 1e-9 for i in range(len(times) - 10))  # <= 10 in any 1 s
    messages = [c for _, c in sent] + [final]
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    merged: dict[str, float] = {}
    for m in messages:
        merged.update(m.scores)
    assert merged == latest
    assert final.ts == 9_999
    # the stream holds the same messages, in order
    streamed = read_changes(client, "T1", count=10_000)
    assert [(c.seq, c.ts, c.scores) for c in streamed] == [(m.seq, m.ts, m.scores) for m in messages]


def test_publisher_merges_between_messages_and_poll_releases_due_changes(client: redis.Redis) -> None:
    clock = FakeClock()
    publisher = LeaderboardPublisher(client, "T1", max_rate=10.0, clock=clock)
    first = publisher.changed({"a": 1.0}, ts=1)
    assert first is not None and first.scores == {"a": 1.0}
    assert publisher.changed({"a": 2.0, "b": 1.0}, ts=2) is None
    clock.now = 0.05
    assert publisher.changed({"a": 3.0}, ts=3) is None
    assert publisher.pending == {"a": 3.0, "b": 1.0}
    clock.now = 0.1
    second = publisher.changed({}, ts=4)  # no new change: the due message still goes out
    assert second is not None
    assert (second.seq, second.ts, second.scores) == (2, 3, {"a": 3.0, "b": 1.0})
    clock.now = 5.0
    assert publisher.changed({}, ts=5) is None  # nothing pending, nothing sent
    assert publisher.published == 2


def test_publisher_rejects_bad_scores_and_rate(client: redis.Redis) -> None:
    publisher = LeaderboardPublisher(client, "T1", clock=FakeClock())
    with pytest.raises(ValueError, match="'x'"):
        publisher.changed({"x": math.nan}, ts=1)
    assert publisher.pending == {}
    with pytest.raises(ValueError, match="max_rate"):
        LeaderboardPublisher(client, "T1", max_rate=0)


def test_sequence_continues_across_publisher_restarts(client: redis.Redis) -> None:
    first = LeaderboardPublisher(client, "T1", clock=FakeClock())
    first.changed({"a": 1.0}, ts=1)
    first.changed({"a": 2.0}, ts=2)
    assert first.flush() is not None
    second = LeaderboardPublisher(client, "T1", clock=FakeClock())
    change = second.changed({"b": 1.0}, ts=3)
    assert change is not None and change.seq == first.seq + 1 == 3


def test_a_spectator_resumes_from_the_stream(client: redis.Redis) -> None:
    clock = FakeClock()
    publisher = LeaderboardPublisher(client, "T1", clock=clock)
    for i in range(5):
        clock.now = float(i)
        publisher.changed({"a": float(i)}, ts=i)
    seen = read_changes(client, "T1", count=2)
    assert [c.seq for c in seen] == [1, 2]
    rest = read_changes(client, "T1", after=seen[-1].stream_id or "")
    assert [c.seq for c in rest] == [3, 4, 5]
    assert read_changes(client, "T1", after=rest[-1].stream_id or "") == []


def test_a_real_subscriber_receives_the_messages(client: redis.Redis, redis_url: str) -> None:
    listener_client = redis.Redis.from_url(redis_url)
    clock = FakeClock()
    publisher = LeaderboardPublisher(client, "T1", clock=clock)
    with LeaderboardSubscription(listener_client, "T1") as subscription:
        for i in range(3):
            clock.now = float(i)
            publisher.changed({"a": float(i), f"b{i}": 1.0}, ts=100 + i)
        received = [subscription.get(timeout=5.0) for _ in range(3)]
        assert subscription.get(timeout=0.05) is None
    listener_client.close()
    assert [(c.seq, c.ts, c.scores) for c in received if c is not None] == [
        (1, 100, {"a": 0.0, "b0": 1.0}),
        (2, 101, {"a": 1.0, "b1": 1.0}),
        (3, 102, {"a": 2.0, "b2": 1.0}),
    ]


# -- the hand-packed write path -----------------------------------------------------------------------------


def test_a_server_error_is_raised_and_the_client_stays_usable(client: redis.Redis, board: Leaderboard) -> None:
    client.set(board.keys.live, "not a zset")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        board.update({f"b{i}": 1.0 for i in range(lbmod.ZADD_CHUNK + 1)})
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        board.update({"a": 1.0})
    board.rebuild({"a": 1.0})  # DEL + ZADD in one MULTI: replaces whatever was there
    board.update({"b": 2.0})
    assert board.top() == [Standing(1, "b", 2.0), Standing(2, "a", 1.0)]


def test_an_update_survives_a_dropped_connection(
    redis_url: str, board: Leaderboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    board.update({"a": 1.0})
    killer = redis.Redis.from_url(redis_url)
    assert killer.client_kill_filter(_type="normal", skipme=True) >= 1  # the board's idle pooled connection
    killer.close()
    board.update({"a": 2.0})
    assert board.score("a") == 2.0
    calls = []
    send = board._send_raw

    def fail_once(*args: object) -> None:  # a link that drops mid-write
        calls.append(1)
        if len(calls) == 1:
            raise redis.ConnectionError("connection reset")
        send(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(board, "_send_raw", fail_once)
    board.update({"a": 3.0})
    assert len(calls) == 2
    assert board.score("a") == 3.0


def test_the_fragment_cache_is_bounded(board: Leaderboard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lbmod, "_FRAGMENT_CACHE_MAX", 50)
    expected: dict[str, float] = {}
    for start in range(0, 200, 30):
        batch = {f"bot{i}": float(i) for i in range(start, start + 40)}
        board.update(batch)
        expected.update(batch)
        assert len(board._fragments) <= 50 or len(board._fragments) == len(batch)
    assert board.top(len(expected)) == brute_force(expected)


def test_the_pipeline_path_validates_bot_ids(board: Leaderboard) -> None:
    board._raw = False
    with pytest.raises(ValueError, match="bot id"):
        board.update({"": 1.0})
    assert board.size() == 0
