"""Orders tagged ``session: extended`` (Alpaca's extended_hours, IBKR's outsideRTH): limit orders for US stocks and
ETFs that may trade in pre-market (04:00-09:30 New York) and after-hours (16:00-20:00) when the ruleset allows
it; untagged orders keep to the regular session. The engine is driven with ticks at chosen moments."""

from __future__ import annotations

import pytest

from arena.engine.events import Fill, OrderAccepted, OrderDone, OrderRejected
from arena.engine.orders import OrderError, OrderStatus, TradingSession, parse_order
from arena.engine.rejections import RejectionCode
from arena.runtime.updates import SessionWatch
from tests.engine.builders import T0, ladder, ms, tick

# Monday 2026-03-02 (New York on EST, UTC-5).
PRE = ms("2026-03-02T12:00:00")  # 07:00 New York: pre-market
REGULAR = T0  # 10:00
CLOSE = ms("2026-03-02T21:00:00")  # 16:00: the regular session ends, after-hours begins
POST = ms("2026-03-02T22:00:00")  # 17:00: after-hours
POST_END = ms("2026-03-03T01:00:00")  # 20:00: after-hours ends
NIGHT = ms("2026-03-03T02:00:00")  # 21:00: closed
NEXT_PRE = ms("2026-03-03T09:00:00")  # Tuesday 04:00: the next pre-market opens
NEXT_OPEN = ms("2026-03-03T14:30:00")  # Tuesday 09:30
EXTENDED = {"extended_hours": True}


def _book(symbol: str, ts: int, bid: float = 254.99, ask: float = 255.01):
    return ladder(symbol, ts, bid, ask, size=1_000)


def _at(engine, ts: int, symbol: str = "AAPL", **prices: float) -> list:
    return engine.on_tick(tick(ts, _book(symbol, ts, **prices)))


def _order(**fields) -> dict:
    base = {"symbol": "AAPL", "side": "buy", "type": "limit", "limit_price": 256.0, "qty": 10}
    return base | {"session": "extended"} | fields


def _rejected(events: list) -> RejectionCode:
    [event] = events
    assert isinstance(event, OrderRejected) and event.rejection.message, events
    return event.rejection.code


def _filled(events: list) -> float:
    return sum(e.qty for e in events if isinstance(e, Fill))


def test_parse_reads_the_session_tag_and_refuses_an_unknown_one():
    assert parse_order(_order(session=None), "a").session is TradingSession.REGULAR
    assert parse_order({k: v for k, v in _order().items() if k != "session"}, "a").session is TradingSession.REGULAR
    assert parse_order(_order(), "a").session is TradingSession.EXTENDED
    assert parse_order(_order(session="EXTENDED"), "a").session is TradingSession.EXTENDED
    for bad in ("overnight", 1, True, ["extended"]):
        with pytest.raises(OrderError) as caught:
            parse_order(_order(session=bad), "a")
        assert caught.value.rejection.code is RejectionCode.INVALID_ORDER
        assert "session must be one of regular, extended" in caught.value.rejection.message


def test_a_tagged_order_is_refused_unless_the_ruleset_allows_extended_hours(make_engine):
    engine = make_engine()
    _at(engine, REGULAR)
    assert _rejected(engine.submit(_order(), REGULAR, account="a")) is RejectionCode.EXTENDED_HOURS_NOT_ALLOWED
    assert engine.accounts["a"].fills == 0 and not engine.orders
    # Untagged, the same order trades as ever.
    assert _filled(engine.submit(_order(session="regular"), REGULAR, account="a")) == 10


@pytest.mark.parametrize(
    ("symbol", "fields", "code", "says"),
    [
        ("AAPL", {"type": "market", "limit_price": None}, RejectionCode.ORDER_TYPE_NOT_ALLOWED, "limit order"),
        ("AAPL", {"type": "stop_limit", "stop_price": 255.0}, RejectionCode.ORDER_TYPE_NOT_ALLOWED, "limit order"),
        ("SPX", {}, RejectionCode.EXTENDED_HOURS_NOT_ALLOWED, "index"),  # on XNYS, but not a listed stock or fund
        ("SMSN.L", {}, RejectionCode.EXTENDED_HOURS_NOT_ALLOWED, "XLON has no extended-hours"),
        ("BTC-USD", {}, RejectionCode.EXTENDED_HOURS_NOT_ALLOWED, "crypto"),
        ("EURUSD", {"limit_price": 1.1, "qty": 1000}, RejectionCode.EXTENDED_HOURS_NOT_ALLOWED, "forex"),
    ],
)
def test_what_may_not_be_tagged_extended(make_engine, symbol, fields, code, says):
    engine = make_engine(EXTENDED)
    price = 1.1 if symbol == "EURUSD" else 255.0
    engine.on_tick(tick(REGULAR, _book(symbol, REGULAR, bid=price - 0.01, ask=price + 0.01)))
    [event] = engine.submit(_order(symbol=symbol, **fields), REGULAR, account="a")
    assert isinstance(event, OrderRejected) and event.rejection.code is code
    assert says in event.rejection.message
    assert engine.accounts["a"].fills == 0 and not engine.orders


@pytest.mark.parametrize(
    ("ts", "extended_fills", "regular_fills"),
    [(PRE, True, False), (REGULAR, True, True), (POST, True, False), (NIGHT, False, False)],
    ids=["pre-market", "regular", "after-hours", "closed"],
)
def test_each_window_on_arrival(make_engine, ts, extended_fills, regular_fills):
    engine = make_engine(EXTENDED, accounts=("a", "b"))
    _at(engine, ts)
    for account, session, fills in (("a", "extended", extended_fills), ("b", "regular", regular_fills)):
        events = engine.submit(_order(session=session), ts, account=account)
        if fills:
            assert _filled(events) == 10
        else:
            assert _rejected(events) is RejectionCode.EXCHANGE_CLOSED


@pytest.mark.parametrize("symbol", ["ORCL", "SPY", "QQQ"])  # XNYS and XNAS, stocks and ETFs
def test_every_us_listed_stock_and_fund_trades_after_hours(make_engine, symbol):
    engine = make_engine(EXTENDED)
    _at(engine, POST, symbol)
    assert _filled(engine.submit(_order(symbol=symbol), POST, account="a")) == 10


def test_resting_orders_fill_in_their_own_session_only(make_engine):
    engine = make_engine(EXTENDED)
    _at(engine, REGULAR)
    for session in ("extended", "regular"):  # below the ask: both rest
        events = engine.submit(_order(session=session, limit_price=250.0, client_order_id=session), REGULAR, "a")
        assert [type(e) for e in events] == [OrderAccepted]
    # After hours the ask drops through both limits: only the extended order may take it.
    after = _at(engine, POST, bid=249.0, ask=249.5)
    assert [(f.client_order_id, f.qty) for f in after if isinstance(f, Fill)] == [("extended", 10)]
    assert not [e for e in _at(engine, NEXT_PRE, bid=249.0, ask=249.5) if isinstance(e, Fill)]  # Tuesday 04:00
    opening = _at(engine, NEXT_OPEN, bid=249.0, ask=249.5)
    assert [(f.client_order_id, f.qty) for f in opening if isinstance(f, Fill)] == [("regular", 10)]


def test_a_day_extended_order_expires_when_after_hours_end(make_engine):
    engine = make_engine(EXTENDED)
    _at(engine, PRE)
    tagged = engine.submit(_order(limit_price=250.0, tif="day", client_order_id="x"), PRE, account="a")
    assert [type(e) for e in tagged] == [OrderAccepted]
    assert tagged[0].order.expires_at == POST_END
    _at(engine, REGULAR)
    plain = engine.submit(_order(session="regular", limit_price=250.0, tif="day", client_order_id="r"), REGULAR, "a")
    assert plain[0].order.expires_at == CLOSE

    def expired(events: list) -> list:
        return [(e.client_order_id, e.status, e.reason) for e in events if isinstance(e, OrderDone)]

    assert expired(_at(engine, CLOSE)) == [("r", OrderStatus.EXPIRED, "DAY_ORDER_EXPIRED")]
    assert expired(_at(engine, POST_END - 1)) == []
    assert expired(_at(engine, POST_END)) == [("x", OrderStatus.EXPIRED, "DAY_ORDER_EXPIRED")]
    assert not engine.orders


def test_queued_extended_orders_wait_for_the_pre_market(make_engine):
    engine = make_engine(EXTENDED | {"outside_session": "queue"}, accounts=("a", "b"))
    _at(engine, NIGHT)
    day = engine.submit(_order(tif="day", client_order_id="x"), NIGHT, account="a")
    assert [type(e) for e in day] == [OrderAccepted]
    assert day[0].order.expires_at == ms("2026-03-04T01:00:00")  # Tuesday 20:00: the next extended session's end
    plain = engine.submit(_order(session="regular", client_order_id="r"), NIGHT, account="b")
    assert [type(e) for e in plain] == [OrderAccepted]
    assert not [e for e in _at(engine, NIGHT + 60_000) if isinstance(e, Fill)]
    pre = _at(engine, NEXT_PRE)
    assert [(f.client_order_id, f.qty) for f in pre if isinstance(f, Fill)] == [("x", 10)]
    opening = _at(engine, NEXT_OPEN)
    assert [(f.client_order_id, f.qty) for f in opening if isinstance(f, Fill)] == [("r", 10)]


def test_an_extended_order_is_reported_with_its_session(make_engine):
    engine = make_engine(EXTENDED)
    _at(engine, PRE)
    accepted = engine.submit(_order(limit_price=250.0), PRE, account="a")[0]
    assert accepted.as_dict()["session"] == "extended" and accepted.order.as_dict()["session"] == "extended"


@pytest.mark.parametrize("extended_hours", [False, True])
def test_bots_are_told_which_session_a_us_venue_is_in(make_engine, extended_hours):
    engine = make_engine({"extended_hours": extended_hours})
    watch = SessionWatch(engine, ["XNAS", "XLON"], extended_hours=extended_hours)
    said = []
    for ts in (ms("2026-03-02T08:00:00"), PRE, REGULAR, POST, NIGHT):  # 03:00 New York (08:00 London), then on
        said += [(m["ts"], m["venue"], m["status"], m["reason"]) for m in watch.changes(ts)]
    london = [(ms("2026-03-02T08:00:00"), "XLON", "open", None), (POST, "XLON", "closed", None)]
    if extended_hours:
        nasdaq = [(ms("2026-03-02T08:00:00"), "XNAS", "closed", None), (PRE, "XNAS", "open", "extended hours"),
                  (REGULAR, "XNAS", "open", "regular session"), (POST, "XNAS", "open", "extended hours"),
                  (NIGHT, "XNAS", "closed", None)]  # fmt: skip
    else:
        nasdaq = [(ms("2026-03-02T08:00:00"), "XNAS", "closed", None), (REGULAR, "XNAS", "open", None),
                  (POST, "XNAS", "closed", None)]  # fmt: skip
    assert sorted(said) == sorted(london + nasdaq)
