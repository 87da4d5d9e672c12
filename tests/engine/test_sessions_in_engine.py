"""The engine and exchange sessions: DAY orders expire at the close, resting orders wait for the open."""

from __future__ import annotations

from arena.engine.events import Fill, OrderDone, OrderRejected
from tests.engine.builders import ladder, ms, tick


def aapl(ts: int, bid: float = 254.99, ask: float = 255.01):
    return ladder("AAPL", ts, bid, ask, size=1000, volume=10_000)


def test_day_order_expires_at_the_close_including_an_early_close(make_engine):
    engine = make_engine()
    ts = ms("2026-11-27T15:00:00")  # day after Thanksgiving: NYSE/Nasdaq close at 13:00 ET = 18:00 UTC
    engine.on_tick(tick(ts, aapl(ts)))
    engine.submit(
        {"symbol": "AAPL", "side": "buy", "qty": 1, "type": "limit", "limit_price": 200.0, "tif": "day"}, ts, "a"
    )
    order = engine.orders[1]
    assert order.expires_at == ms("2026-11-27T18:00:00")
    before = ms("2026-11-27T17:59:00")
    assert not [e for e in engine.on_tick(tick(before, aapl(before))) if isinstance(e, OrderDone)]
    after = ms("2026-11-30T14:31:00")
    done = [e for e in engine.on_tick(tick(after, aapl(after))) if isinstance(e, OrderDone)]
    assert done and done[0].status.value == "expired"


def test_resting_gtc_order_waits_for_the_open(make_engine):
    engine = make_engine()
    friday = ms("2026-03-06T20:00:00")  # 15:00 ET Friday
    engine.on_tick(tick(friday, aapl(friday)))
    engine.submit({"symbol": "AAPL", "side": "buy", "qty": 5, "type": "limit", "limit_price": 250.0}, friday, "a")
    # Over the weekend the quote crosses the limit, but the exchange is closed: no fill.
    saturday = ms("2026-03-07T15:00:00")
    assert not [e for e in engine.on_tick(tick(saturday, aapl(saturday, 244.99, 245.01))) if isinstance(e, Fill)]
    # DST began on 2026-03-08: Monday's open is 13:30 UTC, not 14:30.
    monday_open = ms("2026-03-09T13:30:00")
    filled = [e for e in engine.on_tick(tick(monday_open, aapl(monday_open, 244.99, 245.01))) if isinstance(e, Fill)]
    assert filled and filled[0].price <= 250.0


def test_the_same_new_york_time_is_open_or_closed_across_dst(make_engine):
    engine = make_engine()
    # 09:45 New York: 14:45 UTC in winter, 13:45 UTC in summer.
    for text, expect_open in (
        ("2026-03-06T14:45:00", True), ("2026-03-06T13:45:00", False),
        ("2026-03-09T13:45:00", True), ("2026-11-02T14:45:00", True), ("2026-10-30T13:45:00", True),
    ):  # fmt: skip
        ts = ms(text)
        engine.on_tick(tick(ts, aapl(ts)))
        events = engine.submit({"symbol": "AAPL", "side": "buy", "qty": 1}, ts, account="a")
        assert isinstance(events[0], OrderRejected) is not expect_open, text


def test_cme_daily_break_and_forex_weekend(make_engine):
    engine = make_engine({"max_position_fraction": 1.0})
    in_break = ms("2026-03-03T22:30:00")  # 16:30 Chicago: Globex maintenance break
    engine.on_tick(tick(in_break, ladder("GCZ26", in_break, 4099.9, 4100.1, step=0.1)))
    code = engine.submit({"symbol": "GCZ26", "side": "buy", "qty": 1}, in_break, "a")[0].rejection.code
    assert code == "EXCHANGE_CLOSED"
    saturday = ms("2026-03-07T12:00:00")
    engine.on_tick(tick(saturday, ladder("EURUSD", saturday, 1.15999, 1.16001, size=1e6, step=0.00001)))
    code = engine.submit({"symbol": "EURUSD", "side": "buy", "qty": 10_000}, saturday, "a")[0].rejection.code
    assert code == "EXCHANGE_CLOSED"
