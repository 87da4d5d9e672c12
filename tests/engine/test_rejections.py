"""Every rejection code, with a message, and a rejected order never changes an account."""

from __future__ import annotations

import math
from dataclasses import astuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.engine.events import Fill, OrderRejected
from arena.engine.orders import Cancel
from arena.engine.rejections import RejectionCode
from tests.engine.builders import T0, ladder, ms, tick

BTC = "BTC-USD"


def btc_book(ts: int = T0, bid: float = 49_995.0, ask: float = 50_005.0, size: float = 10.0):
    return ladder(BTC, ts, bid, ask, size=size, step=1.0)


def rejected(events: list) -> OrderRejected:
    assert len(events) == 1 and isinstance(events[0], OrderRejected), events
    assert events[0].rejection.message  # always says what was wrong
    return events[0]


def snapshot(engine, account: str = "a") -> tuple:
    acct = engine.accounts[account]
    return (acct.cash, acct.nav, acct.fills, acct.fees_paid, {s: astuple(p)[1:] for s, p in acct.positions.items()})


@pytest.fixture
def btc_engine(make_engine):
    def factory(rules: dict | None = None, size: float = 10.0):
        engine = make_engine(rules)
        engine.on_tick(tick(T0, btc_book(size=size)))
        return engine

    return factory


def test_exchange_closed_on_a_weekend_a_holiday_and_before_the_open(make_engine):
    engine = make_engine()
    for when in ("2026-03-07T15:00:00", "2026-11-26T15:00:00", "2026-03-02T12:00:00"):  # Sat, Thanksgiving, 07:00 ET
        ts = ms(when)
        engine.on_tick(tick(ts, ladder("AAPL", ts, 254.99, 255.01, size=1000)))
        event = rejected(engine.submit({"symbol": "AAPL", "side": "buy", "qty": 1}, ts, account="a"))
        assert event.rejection.code is RejectionCode.EXCHANGE_CLOSED


def test_extended_hours_ruleset_accepts_pre_market_orders_tagged_extended(make_engine):
    engine = make_engine({"extended_hours": True})
    ts = ms("2026-03-02T12:00:00")  # 07:00 New York: pre-market
    engine.on_tick(tick(ts, ladder("AAPL", ts, 254.99, 255.01, size=1000)))
    events = engine.submit(
        {"symbol": "AAPL", "side": "buy", "qty": 1, "type": "limit", "limit_price": 256.0, "session": "extended"},
        ts,
        account="a",
    )
    assert any(isinstance(e, Fill) for e in events)
    # An untagged order keeps to the regular session (tests/engine/test_extended_hours.py covers the rest).
    event = rejected(engine.submit({"symbol": "AAPL", "side": "buy", "qty": 1}, ts, account="a"))
    assert event.rejection.code is RejectionCode.EXCHANGE_CLOSED


def test_insufficient_margin(btc_engine):
    engine = btc_engine({"max_leverage": 1, "max_position_fraction": 10}, size=100)
    event = rejected(engine.submit({"symbol": BTC, "side": "buy", "qty": 25}, T0 + 1, account="a"))
    assert event.rejection.code is RejectionCode.INSUFFICIENT_MARGIN
    assert "1x" in event.rejection.message


def test_leverage_counts_the_whole_portfolio(make_engine):
    engine = make_engine({"max_leverage": 1, "max_position_fraction": 0.6})
    engine.on_tick(tick(T0, btc_book(size=100), ladder("ETH-USD", T0, 3499.99, 3500.01, size=1000)))
    assert any(isinstance(e, Fill) for e in engine.submit({"symbol": BTC, "side": "buy", "qty": 11}, T0 + 1, "a"))
    # 550k BTC + 560k ETH > 1x NAV, though ETH alone is within 60%.
    event = rejected(engine.submit({"symbol": "ETH-USD", "side": "buy", "qty": 160}, T0 + 2, account="a"))
    assert event.rejection.code is RejectionCode.INSUFFICIENT_MARGIN


def test_concentration_limit(btc_engine):
    engine = btc_engine()
    event = rejected(engine.submit({"symbol": BTC, "side": "buy", "qty": 6}, T0 + 1, account="a"))
    assert event.rejection.code is RejectionCode.CONCENTRATION_LIMIT
    assert "25%" in event.rejection.message


def test_resting_orders_count_toward_the_limits(btc_engine):
    engine = btc_engine()
    # 4 BTC at 40,000 is 16% of NAV; a second such order would make 32% > 25%.
    limit = {"symbol": BTC, "side": "buy", "qty": 4, "type": "limit", "limit_price": 40_000.0}
    assert not isinstance(engine.submit(limit, T0 + 1, account="a")[0], OrderRejected)
    event = rejected(engine.submit(limit, T0 + 2, account="a"))
    assert event.rejection.code is RejectionCode.CONCENTRATION_LIMIT


def test_liquidity_halt_when_the_whole_visible_book_cannot_absorb_the_order(btc_engine):
    engine = btc_engine({"max_leverage": 100, "max_position_fraction": 100})
    event = rejected(engine.submit({"symbol": BTC, "side": "sell", "qty": 100.5}, T0 + 1, account="a"))
    assert event.rejection.code is RejectionCode.LIQUIDITY_HALT


@pytest.mark.parametrize(
    ("rules", "symbol"),
    [({"symbols": ["ETH-USD"]}, BTC), ({"asset_classes": ["forex"]}, BTC), ({"asset_classes": ["crypto"]}, "AAPL")],
)
def test_symbol_not_allowed(make_engine, rules, symbol):
    engine = make_engine(rules)
    engine.on_tick(tick(T0, btc_book(), ladder("AAPL", T0, 254.99, 255.01, size=1000)))
    event = rejected(engine.submit({"symbol": symbol, "side": "buy", "qty": 1}, T0 + 1, account="a"))
    assert event.rejection.code is RejectionCode.SYMBOL_NOT_ALLOWED


def test_order_type_and_time_in_force_not_allowed(btc_engine):
    engine = btc_engine({"order_types": ["limit"], "time_in_force": ["gtc", "day"]})
    market = rejected(engine.submit({"symbol": BTC, "side": "buy", "qty": 1}, T0 + 1, account="a"))
    assert market.rejection.code is RejectionCode.ORDER_TYPE_NOT_ALLOWED
    ioc = {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": 49_000.0, "tif": "ioc"}
    assert rejected(engine.submit(ioc, T0 + 2, account="a")).rejection.code is RejectionCode.TIME_IN_FORCE_NOT_ALLOWED


def test_rate_limited_within_the_window_and_free_after_it(btc_engine):
    engine = btc_engine({"order_rate": {"max_orders": 3, "per_ms": 1000}})
    order = {"symbol": BTC, "side": "buy", "qty": 0.01}
    for i in range(3):
        assert not isinstance(engine.submit(order, T0 + i, account="a")[0], OrderRejected)
    assert rejected(engine.submit(order, T0 + 999, account="a")).rejection.code is RejectionCode.RATE_LIMITED
    assert not isinstance(engine.submit(order, T0 + 1001, account="a")[0], OrderRejected)


def test_loss_limit_refuses_new_risk_but_allows_reducing(btc_engine):
    engine = btc_engine({"daily_loss_limit": 0.01})
    engine.submit({"symbol": BTC, "side": "buy", "qty": 4}, T0 + 1, account="a")
    engine.on_tick(tick(T0 + 60_000, btc_book(T0 + 60_000, 46_995.0, 47_005.0)))  # -6%: about -1.2% of NAV
    event = rejected(engine.submit({"symbol": BTC, "side": "buy", "qty": 0.1}, T0 + 60_001, account="a"))
    assert event.rejection.code is RejectionCode.LOSS_LIMIT
    reduce = engine.submit({"symbol": BTC, "side": "sell", "qty": 1}, T0 + 60_002, account="a")
    assert any(isinstance(e, Fill) for e in reduce)
    # A new UTC day resets the breaker.
    tomorrow = T0 + 86_400_000
    engine.on_tick(tick(tomorrow, btc_book(tomorrow, 46_995.0, 47_005.0)))
    engine.on_tick(tick(tomorrow + 1, btc_book(tomorrow + 1, 46_996.0, 47_006.0)))
    assert not isinstance(
        engine.submit({"symbol": BTC, "side": "buy", "qty": 0.1}, tomorrow + 2, "a")[0], OrderRejected
    )


def test_unknown_symbol_and_missing_market_data(make_engine):
    engine = make_engine()
    event = rejected(engine.submit({"symbol": "NOPE", "side": "buy", "qty": 1}, T0, account="a"))
    assert event.rejection.code is RejectionCode.UNKNOWN_SYMBOL
    assert rejected(engine.submit({"symbol": BTC, "side": "buy", "qty": 1}, T0, "a")).rejection.code is (
        RejectionCode.NO_MARKET_DATA
    )


def test_expired_futures_contract(make_engine):
    engine = make_engine({"max_position_fraction": 1.0})
    ts = ms("2026-09-01T15:00:00")
    engine.on_tick(
        tick(ts, ladder("GCQ26", ts, 3399.9, 3400.1, step=0.1), ladder("GCZ26", ts, 4099.9, 4100.1, step=0.1))
    )
    event = rejected(engine.submit({"symbol": "GCQ26", "side": "buy", "qty": 1}, ts, account="a"))
    assert event.rejection.code is RejectionCode.CONTRACT_EXPIRED and "2026-08-27" in event.rejection.message
    assert not isinstance(engine.submit({"symbol": "GCZ26", "side": "buy", "qty": 1}, ts, "a")[0], OrderRejected)


def test_short_selling_off(btc_engine):
    engine = btc_engine({"short_selling": False})
    engine.submit({"symbol": BTC, "side": "buy", "qty": 1}, T0 + 1, account="a")
    event = rejected(engine.submit({"symbol": BTC, "side": "sell", "qty": 1.5}, T0 + 2, account="a"))
    assert event.rejection.code is RejectionCode.SHORT_SELLING_NOT_ALLOWED
    assert any(isinstance(e, Fill) for e in engine.submit({"symbol": BTC, "side": "sell", "qty": 1}, T0 + 3, "a"))


def test_short_selling_on_by_default(btc_engine):
    engine = btc_engine()
    assert any(isinstance(e, Fill) for e in engine.submit({"symbol": BTC, "side": "sell", "qty": 1}, T0 + 1, "a"))
    assert engine.accounts["a"].positions[BTC].qty == -1.0


def test_post_only_would_cross(btc_engine):
    engine = btc_engine()
    order = {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": 50_010.0, "post_only": True}
    assert rejected(engine.submit(order, T0 + 1, account="a")).rejection.code is RejectionCode.POST_ONLY_WOULD_CROSS
    passive = {**order, "limit_price": 50_000.0}
    assert not isinstance(engine.submit(passive, T0 + 2, account="a")[0], OrderRejected)


def test_duplicate_client_order_id_and_unknown_order(btc_engine):
    engine = btc_engine()
    order = {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": 40_000.0, "client_order_id": "x1"}
    engine.submit(order, T0 + 1, account="a")
    assert rejected(engine.submit(order, T0 + 2, account="a")).rejection.code is RejectionCode.DUPLICATE_CLIENT_ORDER_ID
    assert engine.cancel("a", Cancel(client_order_id="x1"), T0 + 3)[0].status.value == "cancelled"
    assert rejected(engine.cancel("a", Cancel(client_order_id="x1"), T0 + 4)).rejection.code is (
        RejectionCode.UNKNOWN_ORDER
    )
    assert rejected(engine.cancel("a", Cancel(order_id=True), T0 + 4)).rejection.code is RejectionCode.UNKNOWN_ORDER


def test_an_account_cannot_cancel_another_accounts_order(make_engine):
    engine = make_engine(accounts=("a", "b"))
    engine.on_tick(tick(T0, btc_book()))
    engine.submit({"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": 40_000.0}, T0 + 1, "a")
    assert rejected(engine.cancel("b", Cancel(order_id=1), T0 + 2)).rejection.code is RejectionCode.UNKNOWN_ORDER
    assert not engine.orders[1].is_done


def test_disabled_account(btc_engine):
    engine = btc_engine()
    engine.submit({"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": 40_000.0}, T0 + 1, "a")
    done = engine.disable_account("a", T0 + 2)
    assert done[0].reason == "ACCOUNT_DISABLED"
    event = rejected(engine.submit({"symbol": BTC, "side": "buy", "qty": 1}, T0 + 3, account="a"))
    assert event.rejection.code is RejectionCode.ACCOUNT_DISABLED


def test_context_names_the_tournament_and_a_wrong_one_is_refused(catalog, calendars):
    from arena.engine.engine import Engine
    from arena.engine.rules import resolve_ruleset

    engine = Engine(catalog, calendars, rulesets={"t1": resolve_ruleset({"asset_classes": ["crypto"]})})
    engine.open_account("a", "t1")
    engine.open_account("d")  # default ruleset
    engine.on_tick(tick(T0, btc_book(), ladder("AAPL", T0, 254.99, 255.01, size=1000)))
    context = {"type": "tournament", "id": "t1"}
    # t1 is crypto-only: its ruleset applies.
    aapl = {"symbol": "AAPL", "side": "buy", "qty": 1, "context": context}
    assert rejected(engine.submit(aapl, T0 + 1, account="a")).rejection.code is RejectionCode.SYMBOL_NOT_ALLOWED
    # The default-ruleset account may trade AAPL, but not while claiming t1's context.
    assert rejected(engine.submit(aapl, T0 + 2, account="d")).rejection.code is RejectionCode.INVALID_ORDER
    assert any(isinstance(e, Fill) for e in engine.submit({**aapl, "context": None}, T0 + 3, account="d"))


@pytest.mark.parametrize(
    "order",
    [
        {"symbol": BTC, "side": "buy", "qty": float("nan")},
        {"symbol": BTC, "side": "buy", "qty": float("inf")},
        {"symbol": BTC, "side": "buy", "qty": -1},
        {"symbol": BTC, "side": "buy", "qty": 0},
        {"symbol": BTC, "side": "buy", "qty": 1e15},
        {"symbol": BTC, "side": "buy", "qty": "1"},
        {"symbol": BTC, "side": "buy", "qty": True},
        {"symbol": BTC, "side": "buy"},
        {"symbol": BTC, "side": "up", "qty": 1},
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit"},
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": -5},
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": float("nan")},
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "limit", "limit_price": 50_000.005},
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "stop"},
        {"symbol": BTC, "side": "buy", "qty": 1, "type": "market", "limit_price": 1.0},
        {"symbol": BTC, "side": "buy", "qty": 1, "tif": "forever"},
        {"symbol": BTC, "side": "buy", "qty": 1, "post_only": True},
        {"symbol": BTC, "side": "buy", "qty": 1, "post_only": "yes"},
        {"symbol": BTC, "side": "buy", "qty": 1, "client_order_id": "x" * 65},
        {"symbol": BTC, "side": "buy", "qty": 1, "client_order_id": "bad id"},
        {"symbol": BTC, "side": "buy", "qty": 1.000000001},  # 9 decimals; crypto allows 8
        {"symbol": "AAPL", "side": "buy", "qty": 1.5},  # equities trade whole shares
        {"symbol": BTC, "side": "buy", "qty": 1, "leverage": 100},
        {"symbol": BTC, "side": "buy", "qty": 1, "context": {"type": "tournament"}},
        {"symbol": BTC, "side": "buy", "qty": 1, "context": "t1"},
        {"symbol": 42, "side": "buy", "qty": 1},
        ["not", "an", "object"],
        None,
    ],
)
def test_malformed_orders_are_invalid_and_change_nothing(btc_engine, order):
    engine = btc_engine()
    engine.on_tick(tick(T0, btc_book(), ladder("AAPL", T0, 254.99, 255.01, size=1000)))
    before = snapshot(engine)
    event = rejected(engine.submit(order, T0 + 1, account="a"))
    assert event.rejection.code is RejectionCode.INVALID_ORDER
    assert snapshot(engine) == before and not engine.orders


_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "symbol": st.sampled_from([BTC, "AAPL", "NOPE", ""]) | _junk,
        "side": st.sampled_from(["buy", "sell", "BUY"]) | _junk,
        "type": st.sampled_from(["market", "limit", "stop", "stop_limit"]) | _junk,
        "qty": st.floats(allow_nan=True, allow_infinity=True) | st.integers() | _junk,
        "limit_price": st.floats() | _junk,
        "stop_price": st.floats() | _junk,
        "tif": st.sampled_from(["gtc", "day", "ioc", "fok"]) | _junk,
        "post_only": _junk,
        "client_order_id": _junk,
        "context": _junk,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=_fields | _junk)
def test_fuzzed_orders_never_crash_the_engine_or_break_the_books(btc_engine, order):
    engine = btc_engine()
    events = engine.submit(order, T0 + 1, account="a")
    account = engine.accounts["a"]
    if isinstance(events[0], OrderRejected):
        assert len(events) == 1 and events[0].rejection.code in RejectionCode
        assert account.cash == 1_000_000 and account.fills == 0
    assert math.isfinite(account.nav) and math.isfinite(account.cash)
    assert account.nav == pytest.approx(
        account.cash + sum(p.qty * engine.marks[s] for s, p in account.positions.items())
    )
