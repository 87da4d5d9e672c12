"""A backtest of a bot trading a yen cross: the feed brings the conversion pair, the account stays in USD; and a
tournament whose rules allow only a cross carries its pair's market data without letting bots trade the pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.catalog import load_catalog
from arena.engine.engine import Engine
from arena.engine.events import Fill, OrderRejected
from arena.engine.rejections import RejectionCode
from arena.engine.rules import resolve_ruleset
from arena.feeds import open_feed
from arena.runtime.backtest import calendars_for, load_bot, run_backtest
from arena.runtime.protocol import instrument_summary
from arena.runtime.spec import TournamentSpec

BOT = '''
from arena_bot import Bot


class RoundTrip(Bot):
    symbols = ("EURJPY",)

    def on_tick(self, ts):
        self.ticks = getattr(self, "ticks", 0) + 1
        if self.ticks == 2:
            self.seen = (self.instrument("EURJPY"), self.instrument("USDJPY"))
            self.buy("EURJPY", 100_000)
        elif self.ticks == 60:
            self.sell("EURJPY", 100_000)
        elif self.ticks == 70:
            self.order_target_value("EURJPY", 50_000)  # dollars, at the conversion pair's rate
'''


@pytest.fixture(scope="module")
def result_and_ticks(tmp_path_factory):
    path = Path(tmp_path_factory.mktemp("bot")) / "round_trip.py"
    path.write_text(BOT, encoding="utf-8")
    catalog = load_catalog()
    bot = load_bot(path)
    ticks = list(open_feed("synthetic:5", catalog, list(bot.symbols), ticks=80))
    return bot, run_backtest(bot, catalog, resolve_ruleset(None), ticks), ticks


def test_the_feed_carries_the_pair_and_the_bot_sees_both_currencies(result_and_ticks):
    bot, _, ticks = result_and_ticks
    assert {b.symbol for t in ticks for b in t.books} == {"EURJPY", "USDJPY"}
    cross, pair = bot.seen
    assert cross.symbol == "EURJPY" and pair.symbol == "USDJPY"


def test_a_yen_round_trip_settles_in_dollars(result_and_ticks):
    _, result, ticks = result_and_ticks
    buy, sell, _ = result.fills
    assert (buy["symbol"], buy["side"], sell["side"]) == ("EURJPY", "buy", "sell")
    rate = next(
        (b.bids[0][0] + b.asks[0][0]) / 2 for t in ticks if t.ts >= sell["ts"] - 1 for b in t.books
        if b.symbol == "USDJPY"
    )  # the USDJPY mid the sell realised at (its tick's, or the next one's if it had none)
    start = resolve_ruleset(None).starting_balance
    fees = sum(f["fee"] for f in result.fills)
    yen = 100_000 * (sell["price"] - buy["price"])
    # The yen P&L arrives in the USD cash at about 1/155 (a whole-yen figure would be off by two orders of
    # magnitude); the open position after it moves no cash but its fee.
    assert result.cash - start + fees == pytest.approx(yen / rate, rel=0.02)
    assert sell["ts"] < result.fills[2]["ts"]
    assert 2.0 <= buy["fee"] < 100  # the minimum, or 0.5 bp of about 117,000 dollars, not of 18 million yen


def test_the_sdk_sizes_a_dollar_target_at_the_conversion_rate(result_and_ticks):
    bot, result, ticks = result_and_ticks
    target = result.fills[2]
    rate = next((b.bids[0][0] + b.asks[0][0]) / 2 for t in reversed(ticks) if t.ts <= target["ts"] for b in t.books
                if b.symbol == "USDJPY")  # fmt: skip
    assert target["side"] == "buy" and target["qty"] * target["price"] / rate == pytest.approx(50_000, rel=0.01)
    assert bot.usd_per_point("EURJPY") == pytest.approx(1 / bot.price("USDJPY"))
    assert bot.usd_per_point("USDJPY") == pytest.approx(1 / bot.price("USDJPY"))


def test_the_statistics_count_a_yen_crosss_notional_in_dollars(result_and_ticks):
    _, result, _ = result_and_ticks
    stats = result.statistics
    assert stats is not None and stats.round_trips == 1
    yen_notional = sum(f["qty"] * f["price"] for f in result.fills)  # about 45 million yen
    # Near the dollar figure (the run's last rate, about 1/155), not the yen one.
    assert yen_notional / 170 < stats.traded_notional < yen_notional / 140


def test_a_tournament_of_a_cross_carries_its_pair_which_its_bots_may_not_trade():
    catalog = load_catalog()
    config, _ = TournamentSpec(id="fx", rules={"symbols": ["EURGBP"]}, ticks=5).build(catalog)
    symbols = sorted({b.symbol for t in config.ticks for b in t.books})
    assert symbols == ["EURGBP", "GBPUSD"]
    assert [instrument_summary(catalog[s], config.ruleset)["tradable"] for s in symbols] == [True, False]
    engine = Engine(catalog, calendars_for(config.ticks, ["FOREX"]), default_ruleset=config.ruleset)
    engine.open_account("a")
    first = config.ticks[0]
    engine.on_tick(first)
    pair = engine.submit({"symbol": "GBPUSD", "side": "buy", "qty": 10_000}, first.ts + 1, account="a")
    assert [e.rejection.code for e in pair if isinstance(e, OrderRejected)] == [RejectionCode.SYMBOL_NOT_ALLOWED]
    cross = engine.submit({"symbol": "EURGBP", "side": "buy", "qty": 10_000}, first.ts + 1, account="a")
    assert [e.symbol for e in cross if isinstance(e, Fill)] == ["EURGBP"]
