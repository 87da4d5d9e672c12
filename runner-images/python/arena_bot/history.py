"""History: a rolling window of bars per symbol, for ``Bot.history(symbol, n)``.

A bot gets no candles, only book updates, tickers and traded volume between ticks; so a **bar** here is one
symbol's state at the close of one tick: its quote when the tick ended (the latest book or ticker, carried
over from an earlier tick when this one brought no update) and the volume traded during the tick. Every
symbol with a price gets one bar per tick, so the bars of different symbols line up tick for tick.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import NamedTuple

_tuple_new = tuple.__new__
MAX_HISTORY = 10_000  # bars kept per symbol at most (memory: about 200 bytes a bar)


class Bar(NamedTuple):
    """``close`` is the mark at the tick's close: the mid when both sides are quoted, else the last trade.
    (A named tuple: one is made per symbol and tick, and a tuple is the cheapest immutable record to make.)"""

    symbol: str
    ts: int  # the tick's time, ms since the epoch (UTC)
    close: float
    bid: float | None
    ask: float | None
    last: float | None
    volume: float  # traded during this tick (0.0 when nothing printed)


class History:
    """Quotes and volume seen since the last tick, closed into a bar per symbol at each ``tick``."""

    def __init__(self, size: int) -> None:
        if not 0 <= size <= MAX_HISTORY:
            raise ValueError(f"history_size must be between 0 and {MAX_HISTORY}, got {size}")
        self.size = size
        self._bars: dict[str, deque[Bar]] = {}
        self._quotes: dict[str, tuple[float | None, float | None, float | None]] = {}  # bid, ask, last
        self._volume: dict[str, float] = {}

    def quote(self, symbol: str, bid: float | None, ask: float | None, last: float | None) -> None:
        if self.size:
            if last is None:
                previous = self._quotes.get(symbol)
                if previous is not None:
                    last = previous[2]  # a quote without a trade keeps the last trade's price
            self._quotes[symbol] = (bid, ask, last)

    def trade(self, symbol: str, qty: float) -> None:
        if self.size:
            self._volume[symbol] = self._volume.get(symbol, 0.0) + qty

    def close_tick(self, ts: int) -> None:
        """Append this tick's bar for every symbol with a price."""
        if not self.size:
            return
        volume = self._volume
        if volume:  # (a tick without trades keeps the empty dict: one allocation less per tick)
            self._volume = {}
        for symbol, (bid, ask, last) in self._quotes.items():
            close = (bid + ask) / 2 if bid is not None and ask is not None else last
            if close is None:
                continue
            bars = self._bars.get(symbol)
            if bars is None:
                bars = self._bars[symbol] = deque(maxlen=self.size)
            # tuple.__new__: the same Bar as Bar(...), without the named tuple's Python-level __new__.
            bars.append(_tuple_new(Bar, (symbol, ts, close, bid, ask, last, volume.get(symbol, 0.0))))

    def last(self, symbol: str, n: int) -> list[Bar]:
        """The last ``n`` bars of ``symbol``, oldest first (fewer while the window fills)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive whole number, got {n!r}")
        if n > self.size:
            raise ValueError(f"history of {n} bars asked for, but the bot keeps {self.size}: set history_size")
        bars = self._bars.get(symbol)
        if bars is None:
            return []
        return list(islice(bars, max(len(bars) - n, 0), None))
