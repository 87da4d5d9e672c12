"""Builders for engine tests: timestamps, hand-made books and ticks, hand-made events."""

from __future__ import annotations

from datetime import UTC, datetime

from arena.engine.book import L2Book
from arena.engine.events import OrderAccepted
from arena.engine.orders import Order, OrderType, Side, TradingSession
from arena.engine.tick import Tick


def ms(text: str) -> int:
    """ISO-8601 UTC (naive means UTC) to epoch milliseconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# Monday 2026-03-02 15:00 UTC = 10:00 New York: every venue in the catalog is open.
T0 = ms("2026-03-02T15:00:00")


def ladder(
    symbol: str, ts: int, bid: float, ask: float, size: float = 10.0, step: float = 0.01, volume: float = 100.0
) -> L2Book:
    """A 10-level book: best bid/ask, then one ``step`` apart, each level ``size`` deep."""
    bids = tuple((round(bid - i * step, 6), size) for i in range(10))
    asks = tuple((round(ask + i * step, 6), size) for i in range(10))
    return L2Book(symbol, ts, bids, asks, round((bid + ask) / 2, 8), volume)


def tick(ts: int, *books: L2Book) -> Tick:
    return Tick(ts, books)


def accepted(
    ts: int,
    order_id: int,
    account: str,
    client_order_id: str | None,
    symbol: str,
    side: Side = Side.BUY,
    qty: float = 10.0,
    type: OrderType = OrderType.MARKET,
    limit_price: float | None = None,
    session: TradingSession = TradingSession.REGULAR,
) -> OrderAccepted:
    """An OrderAccepted as the engine makes it, with the accepted order it carries."""
    order = Order(account, symbol, side, type, qty, limit_price=limit_price, client_order_id=client_order_id,
                  id=order_id, ts=ts, session=session)  # fmt: skip
    return OrderAccepted(ts, order_id, account, client_order_id, symbol, order)
