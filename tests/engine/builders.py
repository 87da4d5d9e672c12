"""Builders for engine tests: timestamps, hand-made books and ticks."""

from __future__ import annotations

from datetime import UTC, datetime

from arena.engine.book import L2Book
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
