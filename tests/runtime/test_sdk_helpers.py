"""The SDK's helpers for bot authors: the instrument catalog from hello, lot and tick rounding, the rolling
history of bars, typed open orders and target sizing; each against the host's own messages and engine."""

from __future__ import annotations

import json

import pytest
from arena_bot import Bar, Bot, Instrument, OpenOrder, UnknownSymbolError
from arena_bot.history import MAX_HISTORY

from arena.catalog import load_catalog
from arena.engine.rules import resolve_ruleset
from arena.feeds import open_feed
from arena.runtime.backtest import run_backtest
from arena.runtime.protocol import hello_message, parse_bot_message, tick_message

CATALOG = load_catalog()
T0 = 1_767_225_600_000


def hello(symbols: tuple[str, ...] = ("SPY", "BTC-USD"), rules: dict | None = None, balance: float = 1e6) -> dict:
    message = hello_message("b1", "t1", resolve_ruleset({"starting_balance": balance, **(rules or {})}),
                            [CATALOG[s] for s in symbols])  # fmt: skip
    return json.loads(json.dumps(message))  # as it travels


def book(symbol: str, seq: int, bid: float, ask: float, last: float | None = None) -> dict:
    return {"type": "orderbook", "symbol": symbol, "seq": seq, "ts": T0, "snapshot": True, "bids": [[bid, 10.0]],
            "asks": [[ask, 10.0]], "last": last}  # fmt: skip


class Catalogued(Bot):
    def on_start(self, info: dict) -> None:
        self.seen_at_start = dict(self.instruments)


def test_the_instrument_catalog_is_there_in_on_start_typed_with_what_the_rules_allow():
    bot = Catalogued()
    bot.handle(hello(("SPY", "BTC-USD"), rules={"asset_classes": ["crypto"]}))
    spy, btc = bot.seen_at_start["SPY"], bot.seen_at_start["BTC-USD"]
    assert isinstance(spy, Instrument)
    assert (spy.tick_size, spy.qty_step, spy.min_qty) == (CATALOG["SPY"].tick_size, 1.0, CATALOG["SPY"].min_qty)
    assert btc.qty_step == 10.0 ** -CATALOG["BTC-USD"].qty_decimals and btc.asset_class == "crypto"
    assert btc.tradable and not spy.tradable  # a crypto-only tournament still shows SPY's market
    with pytest.raises(UnknownSymbolError):
        bot.instrument("NOPE")


def test_an_older_hosts_instrument_entry_without_the_new_field_is_tradable():
    entry = {"symbol": "X", "asset_class": "equity", "tick_size": 0.05, "qty_decimals": 2, "min_qty": 0.1}
    instrument = Instrument.from_message(entry | {"unknown_field": 1})
    assert instrument.tradable and instrument.qty_step == 0.01 and instrument.tick_size == 0.05


def test_quantities_round_toward_zero_to_the_lot_and_prices_to_the_tick():
    shares = Instrument("AAPL", tick_size=0.01, qty_decimals=0, min_qty=1)
    assert shares.round_qty(12.99) == 12 and shares.round_qty(-12.99) == -12 and shares.round_qty(0.7) == 0.0
    coins = Instrument("BTC-USD", tick_size=0.01, qty_decimals=4, min_qty=0.001)
    assert coins.round_qty(0.123456) == 0.1234 and coins.round_qty(0.0009) == 0.0  # under min_qty
    assert coins.round_qty(0.3) == 0.3  # 0.3 * 10_000 is 2999.9999999999995 in floats: still 0.3
    assert shares.round_price(100.12) == 100.12  # 100.12 / 0.01 is 10011.999...: still 10012 ticks
    assert shares.round_price(100.126) == 100.13
    assert shares.round_price(100.126, "buy") == 100.12 and shares.round_price(100.121, "sell") == 100.13
    quarter = Instrument("ES", tick_size=0.25)
    assert quarter.round_price(5001.3) == 5001.25 and quarter.round_price(5001.3, "sell") == 5001.5
    with pytest.raises(ValueError):
        shares.round_price(1.0, "long")
    # The host accepts what the rounding gives.
    for symbol, qty, price in (("SPY", 7.9, 600.123), ("BTC-USD", 0.123456789, 97_000.017)):
        bot = Bot()
        bot.handle(hello())
        bot.buy(symbol, bot.round_qty(symbol, qty), limit=bot.round_price(symbol, price, "buy"))
        order = parse_bot_message(bot.take_outbox()[-1])
        assert CATALOG[symbol].is_valid_qty(order["qty"]) and CATALOG[symbol].is_valid_price(order["limit_price"])


class Charting(Bot):
    symbols = ("SPY", "BTC-USD")
    history_size = 3


def test_history_is_one_bar_per_tick_per_symbol_bounded_by_the_declared_size():
    bot = Charting()
    bot.handle(hello())
    assert bot.history("SPY", 3) == []
    bot.handle(book("SPY", 1, 99.0, 101.0, last=100.5))
    bot.handle({"type": "trades", "symbol": "SPY", "seq": 1, "ts": T0, "price": 100.5, "qty": 30.0})
    bot.handle({"type": "trades", "symbol": "SPY", "seq": 2, "ts": T0, "price": 100.6, "qty": 12.0})
    bot.handle({"type": "ticker", "symbol": "BTC-USD", "seq": 1, "ts": T0, "bid": None, "ask": 95.0, "mid": None,
                "last": 94.0})  # fmt: skip
    bot.handle(tick_message(1, T0))
    assert bot.history("SPY", 3) == [Bar("SPY", T0, 100.0, 99.0, 101.0, 100.5, 42.0)]
    assert bot.history("BTC-USD", 1) == [Bar("BTC-USD", T0, 94.0, None, 95.0, 94.0, 0.0)]  # one side: the last
    bot.handle(tick_message(2, T0 + 60_000))  # nothing new: the quote carries over, no volume
    assert bot.history("SPY", 1) == [Bar("SPY", T0 + 60_000, 100.0, 99.0, 101.0, 100.5, 0.0)]
    for n, mid in ((3, 102.0), (4, 104.0)):
        bot.handle(book("SPY", n, mid - 1, mid + 1))
        bot.handle(tick_message(n, T0 + n * 60_000))
    bars = bot.history("SPY", 3)
    assert [b.close for b in bars] == [100.0, 102.0, 104.0] and [b.ts for b in bars][-1] == T0 + 240_000
    assert bars[-1].last == 100.5  # a quote without a trade keeps the last trade's price
    assert [b.close for b in bot.history("SPY", 2)] == [102.0, 104.0]
    with pytest.raises(ValueError, match="history_size"):
        bot.history("SPY", 4)
    with pytest.raises(ValueError):
        bot.history("SPY", 0)


def test_history_can_be_switched_off_and_is_capped():
    class Off(Bot):
        history_size = 0

    bot = Off()
    bot.handle(book("SPY", 1, 99.0, 101.0))
    bot.handle(tick_message(1, T0))
    with pytest.raises(ValueError):
        bot.history("SPY", 1)

    class Huge(Bot):
        history_size = MAX_HISTORY + 1

    with pytest.raises(ValueError, match="history_size"):
        Huge()


def update(status: str, cid: str, **fields: object) -> dict:
    return {"type": "order_update", "status": status, "ts": T0, "client_order_id": cid, "symbol": "SPY", **fields}


def test_open_orders_are_typed_and_follow_the_hosts_updates():
    bot = Bot()
    bot.handle(hello())
    cid = bot.buy("SPY", 10, limit=99.0, tif="day")
    order = bot.open_orders[cid]
    assert isinstance(order, OpenOrder)
    assert (order.status, order.order_id, order.remaining, order.limit_price, order.tif) == ("sent", None, 10, 99.0,
                                                                                           "day")  # fmt: skip
    assert order["symbol"] == "SPY" and order.get("qty") == 10 and order.get("nope") is None  # dict-style still works
    bot.handle(update("accepted", cid, order_id=7))
    assert bot.open_orders[cid].status == "accepted" and bot.open_orders[cid].order_id == 7
    bot.handle(update("partial_fill", cid, order_id=7, side="buy", qty=4.0, price=99.0, fee=0.1, filled_qty=4.0,
                      remaining=6.0))  # fmt: skip
    assert bot.open_orders[cid].remaining == 6 and bot.pending_qty("SPY") == 6
    sell = bot.sell("SPY", 3, limit=105.0)
    assert bot.pending_qty("SPY") == 3 and [o.client_order_id for o in bot.orders_for("SPY")] == [cid, sell]
    bot.handle(update("filled", cid, order_id=7, side="buy", qty=6.0, price=99.0, fee=0.1, filled_qty=10.0,
                      remaining=0.0))  # fmt: skip
    bot.handle(update("rejected", sell, order_id=None, code="INSUFFICIENT_MARGIN", message="no"))
    assert bot.open_orders == {} and bot.orders_for("SPY") == []


def test_target_orders_count_the_position_and_open_orders_and_round_to_the_lot():
    bot = Bot()
    bot.handle(hello())
    bot.handle(book("SPY", 1, 99.0, 101.0))
    bot.handle({"type": "portfolio", "ts": T0, "cash": 990_000.0, "nav": 1_000_000.0,
                "positions": {"SPY": {"qty": 100.0, "avg_price": 100.0}}})  # fmt: skip
    cid = bot.order_target_qty("SPY", 130.6)
    (order,) = bot.take_outbox()
    assert cid == order["client_order_id"] and (order["side"], order["qty"]) == ("buy", 30.0)
    assert bot.order_target_qty("SPY", 130.6) is None  # the open order already makes up the difference
    assert bot.take_outbox() == []
    bot.order_target_qty("SPY", -20)  # 130 held or coming: sell 150
    (sell,) = bot.take_outbox()
    assert (sell["side"], sell["qty"]) == ("sell", 150.0)
    # 2% of NAV valued at the limit is 20,000 / 100.009 = 199.98 units; -20 are held or coming: buy 219.98, so
    # 219 whole shares, at the limit rounded down to the tick.
    bot.order_target_percent("SPY", 0.02, limit=100.009)
    (buy,) = bot.take_outbox()
    assert (buy["side"], buy["qty"], buy["limit_price"]) == ("buy", 219.0, 100.0)
    bot.open_orders.clear()
    bot.order_target_value("SPY", 5_050.0)  # 50.5 at 100: 50 lots; 100 held: sell 50
    (value,) = bot.take_outbox()
    assert (value["side"], value["qty"]) == ("sell", 50.0)
    for message in (order, sell, buy, value):
        parse_bot_message(message)


def test_a_target_without_a_price_orders_nothing():
    bot = Bot()
    bot.handle(hello())
    assert bot.order_target_percent("SPY", 0.1) is None and bot.take_outbox() == []
    with pytest.raises(UnknownSymbolError):
        bot.order_target_qty("NOPE", 1)


class Rebalancer(Bot):
    """Asks for 10% of NAV in BTC every tick: the target, not a stack of orders."""

    symbols = ("BTC-USD",)

    def on_tick(self, ts: int) -> None:
        self.order_target_percent("BTC-USD", 0.1)


def test_a_target_asked_every_tick_reaches_it_in_the_engine_and_stays_there():
    bot = Rebalancer()
    ticks = list(open_feed("synthetic:5", CATALOG, ["BTC-USD"], ticks=30))
    result = run_backtest(bot, CATALOG, resolve_ruleset(None), ticks)
    held = bot.portfolio.position("BTC-USD")
    value = held * ticks[-1].books[0].mid
    assert value == pytest.approx(0.1 * result.nav, rel=0.01)  # about 10% of NAV at the end
    # One buy to get there, then small trims as price and NAV move; never anything like a second block.
    assert result.fills[0]["qty"] == pytest.approx(held, rel=0.02)
    assert all(f["qty"] < 0.05 * held for f in result.fills[1:])
