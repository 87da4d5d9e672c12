"""Orders for a closed venue: refused by default (EXCHANGE_CLOSED); with ``outside_session: queue`` accepted and
worked from the next open, as a broker queues them until the exchange opens."""

from __future__ import annotations

from arena.engine.events import Fill, OrderAccepted, OrderDone, OrderRejected
from arena.engine.orders import OrderStatus
from arena.engine.rejections import RejectionCode
from arena.engine.rulebook import describe
from arena.engine.rules import resolve_ruleset
from tests.engine.builders import T0, ladder, ms, tick

EVENING = ms("2026-03-02T22:00:00")  # Monday 17:00 New York: the regular session is over
NEXT_OPEN = ms("2026-03-03T14:31:00")  # Tuesday 09:31 New York
NEXT_CLOSE = ms("2026-03-03T21:00:00")  # Tuesday 16:00 New York


def _aapl(ts: int):
    return ladder("AAPL", ts, 254.99, 255.01, size=1_000)


def _engine(make_engine, rules: dict):
    engine = make_engine(rules)
    engine.on_tick(tick(T0, _aapl(T0)))
    engine.on_tick(tick(EVENING, _aapl(EVENING)))
    return engine


def _order(**fields) -> dict:
    return {"symbol": "AAPL", "side": "buy", "type": "market", "qty": 10} | fields


def test_by_default_an_order_for_a_closed_venue_is_refused(make_engine):
    engine = _engine(make_engine, {})
    [event] = engine.submit(_order(), EVENING, account="a")
    assert isinstance(event, OrderRejected) and event.rejection.code is RejectionCode.EXCHANGE_CLOSED


def test_queued_orders_wait_for_the_open_and_day_orders_expire_at_its_close(make_engine):
    engine = _engine(make_engine, {"outside_session": "queue"})
    queued = engine.submit(_order(client_order_id="m"), EVENING, account="a")
    assert [type(e) for e in queued] == [OrderAccepted]  # accepted, not filled while closed
    day = engine.submit(_order(type="limit", limit_price=200.0, tif="day", client_order_id="d"), EVENING, account="a")
    assert [type(e) for e in day] == [OrderAccepted]
    [ioc] = engine.submit(_order(tif="ioc", client_order_id="i"), EVENING, account="a")
    assert isinstance(ioc, OrderRejected) and ioc.rejection.code is RejectionCode.EXCHANGE_CLOSED
    assert not any(isinstance(e, Fill) for e in engine.on_tick(tick(EVENING + 60_000, _aapl(EVENING + 60_000))))

    at_open = engine.on_tick(tick(NEXT_OPEN, _aapl(NEXT_OPEN)))
    fills = [e for e in at_open if isinstance(e, Fill)]
    assert [f.client_order_id for f in fills] == ["m"] and fills[0].qty == 10
    assert engine.accounts["a"].positions["AAPL"].qty == 10
    closing = engine.on_tick(tick(NEXT_CLOSE, _aapl(NEXT_CLOSE)))
    assert [(e.client_order_id, e.status, e.reason) for e in closing if isinstance(e, OrderDone)] == [
        ("d", OrderStatus.EXPIRED, "DAY_ORDER_EXPIRED")
    ]


def test_the_rulebook_says_how_closed_venues_are_handled():
    assert any("queued until" in line for line in describe(resolve_ruleset({"outside_session": "queue"})))
    assert not any("queued until" in line for line in describe(resolve_ruleset({})))
