"""Execution: the slippage formula, finite depth, partial fills, replenishment, limits and fees."""

from __future__ import annotations

import random

import pytest

from arena.engine.events import AccountUpdate, Fill, OrderAccepted, OrderDone, OrderRejected
from arena.engine.execution import impact_price, round_to_tick
from arena.engine.rules import SlippageParams
from tests.engine.builders import T0, ladder, tick

BTC = "BTC-USD"
# Book: bid 49,995 / ask 50,005 -> mid 50,000, relative spread 0.0002; 10 levels x 10 BTC a side.
# Risk limits out of the way: these tests are about execution, not margin.
SLIPPAGE = {"slippage": {"crypto": {"gamma": 0.01, "alpha": 0.5}}, "max_leverage": 10, "max_position_fraction": 10}


def fills(events: list) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def btc_book(ts: int = T0, bid: float = 49_995.0, ask: float = 50_005.0, size: float = 10.0, volume: float = 100.0):
    return ladder(BTC, ts, bid, ask, size=size, step=1.0, volume=volume)


@pytest.mark.parametrize(
    ("qty", "v_avg", "gamma", "alpha", "sign", "expected"),
    [
        # 50,000 · (1 + 0.0001 + 0.01·(1/100)^0.5) = 50,000 · 1.0011
        (1.0, 100.0, 0.01, 0.5, +1, 50_055.0),
        (1.0, 100.0, 0.01, 0.5, -1, 49_945.0),
        # 50,000 · (1 + 0.0001 + 0.01·(4/100)^1.0) = 50,000 · 1.0005
        (4.0, 100.0, 0.01, 1.0, +1, 50_025.0),
        # gamma 0: exactly the touch
        (7.0, 100.0, 0.0, 0.5, +1, 50_005.0),
        (7.0, 100.0, 0.0, 0.5, -1, 49_995.0),
        # 50,000 · (1 − 0.0001 − 0.02·(25/100)^0.5) = 50,000 · 0.9899
        (25.0, 100.0, 0.02, 0.5, -1, 49_495.0),
    ],
)
def test_slippage_formula_matches_hand_computed_prices(qty, v_avg, gamma, alpha, sign, expected):
    price = impact_price(50_000.0, 0.0002, qty, v_avg, SlippageParams(gamma=gamma, alpha=alpha), sign)
    assert price == pytest.approx(expected, rel=1e-12)


def test_rounding_to_the_tick_never_favours_the_trader():
    assert round_to_tick(100.001, 0.01, +1) == 100.01
    assert round_to_tick(100.009, 0.01, -1) == 100.0
    assert round_to_tick(100.01, 0.01, +1) == 100.01


def test_an_accepted_order_carries_the_order_the_engine_parsed(make_engine):
    """Whoever records an order reads its terms from its OrderAccepted, without parsing the request again."""
    engine = make_engine(SLIPPAGE, accounts=("a", "b"))
    engine.on_tick(tick(T0, btc_book()))
    too_big = {"symbol": BTC, "side": "buy", "qty": 1_000}  # more than the book shows: refused
    fits = {"symbol": BTC, "side": "sell", "qty": 3, "type": "limit", "limit_price": 60_000.0, "tif": "day"}
    requests = [("a", too_big), ("b", {**fits, "client_order_id": "x"}), ("a", fits), ("a", {"symbol": "NOPE"})]
    events = engine.submit_batch(requests, T0 + 1, random.Random(7))
    accepted = [e for e in events if isinstance(e, OrderAccepted)]
    assert len(accepted) == 2 and sum(isinstance(e, OrderRejected) for e in events) == 2
    for event in accepted:
        order = event.order
        assert order is engine.orders[event.order_id]
        assert (order.id, order.account, order.symbol, order.client_order_id) == (
            event.order_id, event.account, event.symbol, event.client_order_id)  # fmt: skip
        assert (order.side.value, order.type.value, order.qty, order.limit_price, order.tif.value) == (
            "sell", "limit", 3.0, 60_000.0, "day")  # fmt: skip
    assert {e.account for e in accepted} == {"a", "b"}
    assert accepted[0].as_dict()["side"] == "sell" and accepted[0].as_dict()["limit_price"] == 60_000.0


def test_market_order_fills_at_the_formula_price_with_taker_fee(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    events = engine.submit({"symbol": BTC, "side": "buy", "qty": 1}, T0 + 1, account="a")
    assert [type(e) for e in events] == [OrderAccepted, Fill, AccountUpdate]
    fill = events[1]
    assert (fill.qty, fill.price, fill.maker, fill.remaining) == (1.0, 50_055.0, False, 0.0)
    assert fill.fee == pytest.approx(50_055.0 * 20e-4)  # crypto taker: 20 bps
    account = engine.accounts["a"]
    assert account.cash == pytest.approx(1_000_000 - 50_055.0 - fill.fee)
    # Marked at the mid, the position is worth 50,000: NAV lost the slippage and the fee.
    assert account.nav == pytest.approx(1_000_000 - 55.0 - fill.fee)


def test_large_order_fills_partially_then_finishes_as_depth_replenishes(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    # 100 BTC displayed; participation cap 0.25 -> 25 this tick.
    first = fills(engine.submit({"symbol": BTC, "side": "buy", "qty": 40}, T0 + 1, account="a"))
    assert [(f.qty, f.remaining) for f in first] == [(25.0, 15.0)]
    market = engine.markets[BTC]
    assert market.consumed("a", +1) == pytest.approx(25.0)
    # Same book again: half of the 25 consumed comes back (replenish 0.5): 87.5 free, 21.875 takeable.
    second = fills(engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000))))
    assert [(f.qty, f.remaining) for f in second] == [(15.0, 0.0)]
    assert second[0].filled_qty == 40.0
    assert first[0].order_id not in engine.orders  # filled: no longer open
    assert engine.accounts["a"].positions[BTC].avg_price == pytest.approx(
        (25 * first[0].price + 15 * second[0].price) / 40
    )


def test_consumption_limits_what_the_same_account_can_take_until_it_replenishes(make_engine):
    engine = make_engine({**SLIPPAGE, "liquidity": {"participation_cap": 1.0, "replenish_rate": 0.5}})
    engine.on_tick(tick(T0, btc_book()))
    assert fills(engine.submit({"symbol": BTC, "side": "buy", "qty": 80}, T0 + 1, account="a"))[0].qty == 80
    partial = fills(
        engine.submit(
            {"symbol": BTC, "side": "buy", "qty": 30},
            T0 + 2,
            account="a",
        )
    )
    assert partial[0].qty == pytest.approx(20.0)  # only 20 of 100 left in this account's view
    engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000)))
    # 100 consumed, half restored: 50 free now, and the remaining 10 of the second order fill.
    assert engine.markets[BTC].consumed("a", +1) == pytest.approx(60.0)


def test_every_account_sees_the_same_market(make_engine):
    engine = make_engine(SLIPPAGE, accounts=("a", "b"))
    engine.on_tick(tick(T0, btc_book()))
    fa = fills(engine.submit({"symbol": BTC, "side": "buy", "qty": 4}, T0 + 1, account="a"))
    fb = fills(engine.submit({"symbol": BTC, "side": "buy", "qty": 4}, T0 + 1, account="b"))
    assert (fa[0].qty, fa[0].price) == (fb[0].qty, fb[0].price)
    assert engine.markets[BTC].consumed("b", +1) == pytest.approx(4.0)


def test_a_book_that_moves_away_resets_consumption_at_levels_no_longer_shown(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    engine.submit({"symbol": BTC, "side": "buy", "qty": 20}, T0 + 1, account="a")
    engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000, bid=60_995.0, ask=61_005.0)))
    assert engine.markets[BTC].consumed("a", +1) == 0.0


def test_limit_order_never_fills_on_a_touch(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    events = engine.submit(
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": 50_005.0}, T0 + 1, account="a"
    )
    assert [type(e) for e in events] == [OrderAccepted]
    # The ask stays at the limit: a touch, still no fill.
    assert not fills(engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000))))
    # The ask crosses below the limit: it fills, at no worse than the limit, as a maker.
    crossed = fills(engine.on_tick(tick(T0 + 120_000, btc_book(T0 + 120_000, bid=49_990.0, ask=50_000.0))))
    assert len(crossed) == 1
    assert crossed[0].price <= 50_005.0 and crossed[0].maker
    assert crossed[0].fee == pytest.approx(crossed[0].price * 10e-4)  # crypto maker: 10 bps


def test_sell_limit_fills_only_at_or_above_its_price(make_engine):
    engine = make_engine({**SLIPPAGE, "slippage": {"crypto": {"gamma": 5.0, "alpha": 0.5}}})
    engine.on_tick(tick(T0, btc_book()))
    engine.submit({"symbol": BTC, "side": "buy", "qty": 2}, T0 + 1, account="a")
    events = engine.submit(
        {"symbol": BTC, "side": "sell", "qty": 1, "type": "limit", "limit_price": 49_990.0}, T0 + 2, account="a"
    )
    # Marketable (bids at 49,995 are above 49,990); the huge impact is capped at the limit.
    (fill,) = fills(events)
    assert fill.price == 49_990.0 and not fill.maker


def test_limit_buy_takes_only_levels_strictly_below_its_price(make_engine):
    engine = make_engine({**SLIPPAGE, "liquidity": {"participation_cap": 1.0}})
    engine.on_tick(tick(T0, btc_book()))
    # Asks at 50,005, 50,006, 50,007 are below 50,008: 30 BTC; the 50,008 level is a touch.
    events = engine.submit(
        {"symbol": BTC, "side": "buy", "qty": 3.5, "type": "limit", "limit_price": 50_008.0, "tif": "ioc"},
        T0 + 1,
        account="a",
    )
    assert fills(events)[0].qty == 3.5
    big = engine.submit(
        {"symbol": BTC, "side": "buy", "qty": 40, "type": "limit", "limit_price": 50_008.0, "tif": "ioc"},
        T0 + 2,
        account="a",
    )
    assert fills(big)[0].qty == pytest.approx(26.5)  # 30 minus the 3.5 already taken
    assert isinstance(big[-2], OrderDone) and big[-2].reason == "IOC_REMAINDER"


def test_fok_fills_whole_or_is_refused_and_ioc_keeps_what_filled(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    refused = engine.submit({"symbol": BTC, "side": "buy", "qty": 30, "tif": "fok"}, T0 + 1, account="a")
    assert isinstance(refused[0], OrderRejected) and refused[0].rejection.code == "FOK_NOT_FILLABLE"
    assert engine.accounts["a"].fills == 0
    whole = engine.submit({"symbol": BTC, "side": "buy", "qty": 2, "tif": "fok"}, T0 + 2, account="a")
    assert fills(whole)[0].qty == 2
    ioc = engine.submit({"symbol": BTC, "side": "buy", "qty": 30, "tif": "ioc"}, T0 + 3, account="a")
    assert fills(ioc)[0].qty < 30
    done = [e for e in ioc if isinstance(e, OrderDone)]
    assert done and done[0].status.value == "cancelled"


def test_stop_order_triggers_when_the_price_crosses(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    engine.submit({"symbol": BTC, "side": "buy", "qty": 2}, T0 + 1, account="a")
    events = engine.submit(
        {"symbol": BTC, "side": "sell", "qty": 2, "type": "stop", "stop_price": 49_000.0}, T0 + 2, account="a"
    )
    assert [type(e) for e in events] == [OrderAccepted]
    assert not fills(engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000, 49_495.0, 49_505.0))))
    triggered = fills(engine.on_tick(tick(T0 + 120_000, btc_book(T0 + 120_000, 48_995.0, 49_005.0))))
    assert triggered and triggered[0].side.value == "sell"
    assert engine.accounts["a"].positions[BTC].qty == 0.0


def test_stop_limit_becomes_a_limit_once_triggered(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    engine.submit(
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "stop_limit", "stop_price": 51_000.0, "limit_price": 51_010.0},
        T0 + 1,
        account="a",
    )
    # Triggered (mid 51,100 >= 51,000) but the asks at 51,105+ are above the limit: no fill yet.
    assert not fills(engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000, 51_095.0, 51_105.0))))
    assert engine.orders[1].triggered
    later = fills(engine.on_tick(tick(T0 + 120_000, btc_book(T0 + 120_000, 50_995.0, 51_005.0))))
    assert later and later[0].price <= 51_010.0


def test_cancel_stops_the_partial_fill_routine(make_engine):
    engine = make_engine(SLIPPAGE)
    engine.on_tick(tick(T0, btc_book()))
    first = fills(engine.submit({"symbol": BTC, "side": "buy", "qty": 40, "client_order_id": "big"}, T0 + 1, "a"))
    from arena.engine.orders import Cancel

    done = engine.cancel("a", Cancel(client_order_id="big"), T0 + 2)
    assert isinstance(done[0], OrderDone) and done[0].filled_qty == first[0].qty
    assert not fills(engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000))))


def test_equity_fee_minimum_and_per_share_charge(make_engine):
    engine = make_engine()
    engine.on_tick(tick(T0, ladder("AAPL", T0, 254.99, 255.01, size=1_000, volume=50_000)))
    (small,) = fills(engine.submit({"symbol": "AAPL", "side": "buy", "qty": 1}, T0 + 1, account="a"))
    assert small.fee == 0.35  # 1 bp of ~255 plus $0.0035 is below the $0.35 minimum
    (big,) = fills(engine.submit({"symbol": "AAPL", "side": "buy", "qty": 500}, T0 + 2, account="a"))
    assert big.fee == pytest.approx(500 * big.price * 1e-4 + 500 * 0.0035)


def test_a_punitive_fee_matrix_override_is_charged(make_engine):
    engine = make_engine({**SLIPPAGE, "fees": {"crypto": {"taker_bps": 150, "min_per_fill": 500}}})
    engine.on_tick(tick(T0, btc_book()))
    (fill,) = fills(engine.submit({"symbol": BTC, "side": "buy", "qty": 0.001}, T0 + 1, account="a"))
    assert fill.fee == 500.0  # 150 bps of ~50 is below the 500 minimum
    (fill2,) = fills(engine.submit({"symbol": BTC, "side": "buy", "qty": 1}, T0 + 2, account="a"))
    assert fill2.fee == pytest.approx(fill2.price * 0.015)


def test_futures_use_their_multiplier(make_engine):
    engine = make_engine({"slippage": {"future": {"gamma": 0.0}}, "max_position_fraction": 1.0})
    engine.on_tick(tick(T0, ladder("GCZ26", T0, 4099.9, 4100.1, size=50, step=0.1)))
    (fill,) = fills(engine.submit({"symbol": "GCZ26", "side": "buy", "qty": 2}, T0 + 1, account="a"))
    assert fill.price == 4100.1 and fill.fee == pytest.approx(2 * 2.25)
    account = engine.accounts["a"]
    assert account.cash == pytest.approx(1_000_000 - 2 * 100 * 4100.1 - fill.fee)
    engine.on_tick(tick(T0 + 60_000, ladder("GCZ26", T0 + 60_000, 4109.9, 4110.1, size=50, step=0.1)))
    # +10 per ounce, 100 ounces a contract, 2 contracts
    assert account.nav == pytest.approx(1_000_000 - 2 * 100 * 0.1 - fill.fee + 2 * 100 * 10)
