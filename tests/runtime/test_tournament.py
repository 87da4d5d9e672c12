"""Tournaments end to end: real Redis, real sandboxes (runsc and runc), the real example bots."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from arena.runtime.backtest import load_bot, run_backtest
from arena.runtime.leaderboard import Leaderboard
from arena.runtime.local import run_local
from arena.runtime.spec import EntrySpec, TournamentSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "bots"
HOSTILE = ROOT / "tests" / "data" / "bots"

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.usefixtures("sandbox_runtime"),  # each test on runsc and on runc
]


def spec(tid: str, entries: dict[str, Path], ticks: int = 40, seed: int = 5, **extra) -> TournamentSpec:
    return TournamentSpec(
        id=tid,
        feed=f"synthetic:{seed}",
        seed=seed,
        ticks=ticks,
        rules=extra.pop("rules", {"symbols": ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"]}),
        entries=[EntrySpec(bot=bot, path=str(path)) for bot, path in entries.items()],
        **extra,
    )


def examples() -> dict[str, Path]:
    return {p.stem.replace("_", "-"): p for p in sorted(EXAMPLES.glob("*.py"))}


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_same_seed_same_bots_same_standings_bit_for_bit(redis_url, catalog, sandbox_runtime):
    bots = examples()
    assert len(bots) >= 5
    first, reports = run_local(redis_url, spec("det-a", bots), catalog)
    # Each entry's record says what ran it: the runtime asked for, on the runner image.
    assert {r.sandbox["runtime"] for r in reports.values()} == {sandbox_runtime}
    assert all(r.sandbox["rootfs"] == "image" and r.sandbox["python"] for r in reports.values())
    second, _ = run_local(redis_url, spec("det-b", bots), catalog)
    assert [s.as_dict() for s in first] == [s.as_dict() for s in second]
    assert all(s.status == "finished" for s in first), first
    assert all(r.protocol_errors == 0 for r in reports.values())
    assert any(s.nav != 1_000_000 for s in first)  # the bots traded


def test_a_bot_in_a_tournament_scores_exactly_as_in_its_backtest(redis_url, catalog):
    """Every bot faces the same market: its tournament result is its result alone."""
    bots = examples()
    tournament = spec("same-market", bots, ticks=60)
    standings, _ = run_local(redis_url, tournament, catalog)
    config, _ = tournament.build(catalog)
    for standing in standings:
        alone = run_backtest(load_bot(bots[standing.bot]), catalog, config.ruleset, config.ticks)
        assert (standing.nav, standing.score, standing.max_drawdown) == (alone.nav, alone.score, alone.max_drawdown)


def test_forged_context_and_account_are_ignored(redis_url, client, catalog):
    standings, reports = run_local(
        redis_url,
        spec("forgery", {"forger": HOSTILE / "forger.py", "victim": HOSTILE / "victim.py"}, ticks=10),
        catalog,
    )
    by_bot = {s.bot: s for s in standings}
    assert by_bot["victim"].nav == 1_000_000  # nobody traded on the victim's account
    assert by_bot["forger"].nav != 1_000_000
    assert reports["forger"].orders == 20  # both kinds of order, every tick, all on its own account
    assert not client.keys("arena:{someone-elses}*")  # the other tournament never saw a thing


def test_a_crashing_bot_and_an_oom_bot_are_out_and_the_rest_finish(redis_url, catalog):
    bots = {
        "crasher": HOSTILE / "crasher.py",
        "balloon": HOSTILE / "balloon.py",
        "buy-and-hold": EXAMPLES / "buy_and_hold.py",
        "sma-crossover": EXAMPLES / "sma_crossover.py",
    }
    standings, reports = run_local(redis_url, spec("crashes", bots, ticks=30, limits={"memory": "128M"}), catalog)
    status = {s.bot: s.status for s in standings}
    assert status["crasher"] == "exited" and reports["crasher"].exit_code == 3
    assert status["balloon"] == "oom"
    assert status["buy-and-hold"] == status["sma-crossover"] == "finished"
    assert not reports["crasher"].host_fault
    crasher = next(s for s in standings if s.bot == "crasher")
    assert crasher.nav != 1_000_000  # it traded before it died, and stays on the board


def test_leaderboard_zset_equals_a_brute_force_sort(redis_url, client, catalog):
    standings, _ = run_local(redis_url, spec("board", examples(), ticks=30), catalog)
    board = Leaderboard(client, "board")
    top = board.top(100, final=True)
    expected = sorted(standings, key=lambda s: -s.score)
    assert [(t.bot, t.score) for t in top] == [(s.bot, s.score) for s in expected] or sorted(
        (round(t.score, 6), t.bot) for t in top
    ) == sorted((round(s.score, 6), s.bot) for s in expected)
    for t in top:
        assert t.rank == 1 + sum(1 for s in standings if s.score > t.score)


def test_protocol_junk_never_reaches_the_engine_and_a_flooder_is_cut_off(redis_url, catalog):
    bots = {
        "junk": HOSTILE / "junk.py",
        "flooder": HOSTILE / "flooder.py",
        "buy-and-hold": EXAMPLES / "buy_and_hold.py",
    }
    standings, reports = run_local(redis_url, spec("fuzz", bots, ticks=15, tick_deadline_s=2.0), catalog)
    status = {s.bot: s for s in standings}
    assert reports["junk"].protocol_errors >= 15
    assert reports["junk"].orders == 0 and status["junk"].nav == 1_000_000
    assert status["junk"].status == "finished"  # junk is answered with errors, not fatal
    assert "cut off" in reports["flooder"].reason and status["flooder"].status != "finished"
    assert status["buy-and-hold"].status == "finished" and status["buy-and-hold"].nav != 1_000_000


def test_bots_hear_session_changes_and_margin_warnings(redis_url, catalog):
    # Starts 13:00 UTC = 08:00 New York: crypto trades, NYSE opens at 09:30 (tick 91 of one-minute ticks).
    tournament = spec(
        "status",
        {"watcher": HOSTILE / "watcher.py"},
        ticks=100,
        rules={"symbols": ["BTC-USD", "SPY"], "max_leverage": 1, "max_position_fraction": 1},
        start="2026-03-02T13:00:00Z",
    )
    standings, reports = run_local(redis_url, tournament, catalog)
    logs = reports["watcher"].logs
    assert logs[:2] == ["status CRYPTO open", "status XNYS closed"]
    assert "status XNYS open" in logs
    assert any(line.startswith("margin 0.9") for line in logs)  # 90% of a 1x cap passes the 80% line
    assert standings[0].status == "finished"


def test_realtime_clock_runs_on_wall_time_and_takes_orders_as_they_come(redis_url, catalog):
    bots = {"buy-and-hold": EXAMPLES / "buy_and_hold.py", "market-maker": EXAMPLES / "market_maker.py"}
    tournament = spec("realtime", bots, ticks=8, clock="realtime", realtime_tick_s=0.25)
    standings, reports = run_local(redis_url, tournament, catalog)
    assert all(s.status == "finished" for s in standings)
    assert {s.bot for s in standings if s.nav != 1_000_000} == set(bots)
    assert all(r.orders > 0 for r in reports.values())


def test_after_the_end_the_bus_expires_and_the_board_stays(redis_url, client, catalog):
    bots = {"holder": EXAMPLES / "buy_and_hold.py", "maker": EXAMPLES / "market_maker.py"}
    run_local(redis_url, spec("retired", bots, ticks=10), catalog)
    keys = {k.decode() for k in client.keys("arena:{retired}*")}
    bus = {k for k in keys if ":leaderboard" not in k}
    assert {"arena:{retired}:market", "arena:{retired}:orders", "arena:{retired}:bot:holder",
            "arena:{retired}:bot:maker", "arena:{retired}:status"} <= bus  # fmt: skip
    assert all(0 < client.ttl(k) <= 86_400 for k in bus)
    assert client.ttl("arena:{retired}:leaderboard:final") == -1  # the final standings do not expire
    assert {k.decode(): v.decode() for k, v in client.hgetall("arena:{retired}:status").items()} == {
        "holder": "finished", "maker": "finished"}  # fmt: skip


def test_over_long_lines_are_refused_and_a_byte_flood_is_cut_off_without_delaying_the_others(redis_url, catalog):
    """Protocol v1's 64 KiB line limit holds (a 200 KB line is refused, not parsed), the flood guard sees each
    line's real size, so 10 MiB in a tick cuts the bot off, and the other bot's ticks never wait out the deadline
    for it."""
    bots = {"long-lines": HOSTILE / "long_lines.py", "buyer": HOSTILE / "steady_buyer.py"}
    ticks: list = []
    standings, reports = run_local(redis_url, spec("long", bots, ticks=12, tick_deadline_s=2.0), catalog,
                                   on_tick=ticks.append)  # fmt: skip
    status = {s.bot: s for s in standings}
    hostile = reports["long-lines"]
    assert hostile.stderr.count("refused at tick 1: LINE_TOO_LONG") == 3 and hostile.protocol_errors >= 3
    assert "cut off" in hostile.reason and "bytes in one tick" in hostile.reason
    assert status["long-lines"].status != "finished"
    assert status["buyer"].status == "finished" and reports["buyer"].orders == 12
    assert len(ticks) == 12 and max(t.waited_s for t in ticks) < 2.0


def test_a_cancel_flood_is_rate_limited_and_cannot_evict_another_bots_orders(redis_url, catalog, monkeypatch):
    """900 cancels a tick count against the order-rate cap (50 a second): the rest are refused at the supervisor
    and never stored. With the streams' MAXLEN made tiny, the other bot's orders and dones all still arrive."""
    from arena.engine.events import OrderAccepted, OrderRejected
    from arena.runtime import bus
    from arena.runtime.tournament import Observer

    monkeypatch.setattr(bus, "STREAM_MAXLEN", 100)

    class Count(Observer):
        def __init__(self) -> None:
            self.accepted: dict[str, int] = {}
            self.rejected: dict[str, int] = {}

        def events(self, n, ts, events, requests) -> None:
            for e in events:
                if isinstance(e, OrderAccepted):
                    self.accepted[e.account] = self.accepted.get(e.account, 0) + 1
                elif isinstance(e, OrderRejected):
                    self.rejected[e.account] = self.rejected.get(e.account, 0) + 1

    bots = {"canceller": HOSTILE / "cancel_flooder.py", "buyer": HOSTILE / "steady_buyer.py"}
    count = Count()
    ticks: list = []
    standings, reports = run_local(redis_url, spec("cancels", bots, ticks=10, tick_deadline_s=2.0), catalog,
                                   on_tick=ticks.append, observer=count)  # fmt: skip
    status = {s.bot: s for s in standings}
    assert count.rejected["canceller"] <= 50 * 11  # the cap, ticks 0-10: one window a tick
    assert reports["canceller"].rate_limited >= 850 * 10
    assert status["canceller"].status == "finished"  # rate-limited, not fatal
    assert count.accepted.get("buyer") == reports["buyer"].orders == 10
    assert status["buyer"].status == "finished" and max(t.waited_s for t in ticks) < 2.0


def test_strings_too_long_for_the_record_are_refused_at_the_boundary(redis_url, catalog):
    """A 5,000-character symbol, a 200-character client order id, NULs and an over-long enum value are protocol
    errors the bot is told about: none of it reaches the engine, so none of it can reach the record."""
    from arena.engine.events import OrderRejected
    from arena.runtime.tournament import Observer

    class Rejections(Observer):
        def __init__(self) -> None:
            self.seen: list[OrderRejected] = []

        def events(self, n, ts, events, requests) -> None:
            self.seen.extend(e for e in events if isinstance(e, OrderRejected))

    rejections = Rejections()
    bots = {"long-strings": HOSTILE / "long_strings.py", "buyer": HOSTILE / "steady_buyer.py"}
    standings, reports = run_local(redis_url, spec("strings", bots, ticks=4), catalog, observer=rejections)
    assert reports["long-strings"].stderr.count("refused: INVALID_MESSAGE") == 5
    assert reports["long-strings"].protocol_errors == 5 and reports["long-strings"].orders == 0
    assert not [r for r in rejections.seen if r.account == "long-strings"]
    assert {s.bot: s.status for s in standings} == {"long-strings": "finished", "buyer": "finished"}
