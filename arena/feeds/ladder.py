"""Ladder: the depth-of-book geometry shared by the feeds that have to invent levels.

A synthetic or bar-replayed book has no real depth behind its touch, so both build it the same way:

* the touch straddles the mid at the requested relative spread, each side rounded to the nearest
  tick of the instrument's grid, never locked or crossed (at least one tick wide);
* deeper levels are ``gap`` ticks apart, where ``gap`` is about half the instrument's typical spread (one
  tick for a liquid stock, many for BTC-USD whose tick is tiny against its price);
* the touch shows about :data:`TOP_SECONDS` seconds of the instrument's average regular-session volume,
  and level ``k`` shows ``1 + LEVEL_GROWTH·k`` times that, so depth grows away from the touch and a side's
  ten levels add up to about 84 seconds of average volume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import repeat
from operator import truediv

from arena.engine.book import L2Book
from arena.engine.instruments import AssetClass, Instrument

LEVELS = 10
TOP_SECONDS = 3.0
LEVEL_GROWTH = 0.4
_GROWTH = tuple(1.0 + LEVEL_GROWTH * k for k in range(LEVELS))  # level k's multiple of the touch's size
_G1, _G2, _G3, _G4, _G5, _G6, _G7, _G8, _G9 = _GROWTH[1:]
# x + _WHOLE - _WHOLE is float(round(x)) for 0 <= x < 2**51: the sum lies in [2**52, 2**53), where doubles are the
# whole numbers, so the addition rounds x half to even (_WHOLE is even) as round() does, and the subtraction is exact.
_WHOLE = 1.5 * 2.0**52
_WHOLE_LIMIT = 2.0**50  # below which numbers are rounded so, with room to spare
_WHOLE_TOP = _WHOLE_LIMIT / _GROWTH[-1]  # a touch size whose every level rounds so
_MAX_SPAN = 1 << 18  # ticks of prices made at once for a run of daily books (8 MiB for the while), at most

# Regular trading hours per day and trading days per year by venue; the volatility and volume of an
# instrument are quoted per year / per day, and a tick lasts a fraction of that time.
_VENUE_HOURS = {"XNYS": 6.5, "XNAS": 6.5, "XLON": 8.5, "CME": 23.0, "FOREX": 24.0, "CRYPTO": 24.0}
_VENUE_DAYS = {"CRYPTO": 365.0, "FOREX": 260.0}
_CLASS_HOURS = {AssetClass.CRYPTO: 24.0, AssetClass.FOREX: 24.0, AssetClass.FUTURE: 23.0}


def session_ms_per_day(inst: Instrument) -> float:
    hours = _VENUE_HOURS.get(inst.venue, _CLASS_HOURS.get(inst.asset_class, 6.5))
    return hours * 3_600_000.0


def session_ms_per_year(inst: Instrument) -> float:
    days = _VENUE_DAYS.get(inst.venue, 365.0 if inst.asset_class is AssetClass.CRYPTO else 252.0)
    return session_ms_per_day(inst) * days


def top_size(inst: Instrument, daily_volume: float | None = None) -> float:
    """Typical size at the touch: a few seconds of the average regular-session volume."""
    volume = inst.daily_volume if daily_volume is None else daily_volume
    return volume / (session_ms_per_day(inst) / 1000.0) * TOP_SECONDS


def level_gap_ticks(inst: Instrument, price: float) -> int:
    """Ticks between adjacent levels: about half the typical spread at ``price``, at least one."""
    return max(1, round(0.5 * inst.spread_bps * 1e-4 * price / inst.tick_size))


def touch_ticks(mid: float, spread_rel: float, tick: float) -> tuple[int, int]:
    """Best bid and best ask as whole numbers of ticks around ``mid``; the ask is above the bid.

    Each side rounds to the nearest tick, so the average spread tracks the target instead of gaining a
    tick; a spread below one tick becomes the tick that contains the mid (no upward or downward bias).
    """
    half = mid * spread_rel / 2.0
    bid = round((mid - half) / tick)
    ask = round((mid + half) / tick)
    if ask <= bid:
        bid = math.floor(mid / tick + 1e-9)
        ask = bid + 1
    return bid if bid > 1 else 1, ask if ask > 2 else 2  # (conditional expressions: max() costs more)


def min_size(inst: Instrument) -> float:
    return round(max(inst.min_qty, inst.qty_step), inst.qty_decimals)


@lru_cache(maxsize=256)
def per_unit(tick: float) -> int:
    """``1 / tick`` when that is a whole number (0.01 -> 100, 0.25 -> 4), else 0."""
    units = round(1.0 / tick)
    return units if units and abs(units * tick - 1.0) < 1e-12 else 0


@lru_cache(maxsize=1 << 16)
def prices(first: int, step: int, tick: float, count: int = LEVELS) -> tuple[float, ...]:
    """Prices ``first``, ``first+step``, ... ticks, stopping before zero; equal to ``round_price``.

    ``n / (1/tick)`` is the double nearest the decimal price, as ``round_price`` gives it, without a
    slow ``round``. Memoised: replayed and synthetic touches revisit the same few ticks.
    """
    levels: Sequence[int] = range(first, first + step * count, step)
    if not (levels and levels[0] > 0 and levels[-1] > 0):  # a side reaching zero stops before it
        levels = [n for n in levels if n > 0]
    units = per_unit(tick)
    if units:  # (map, not a generator: this runs for each new touch of a replay)
        return tuple(map(truediv, levels, repeat(units)))
    return tuple([round(n * tick, 10) for n in levels])


@lru_cache(maxsize=1 << 16)
def sizes(top: float, growth: float, decimals: int, smallest: float, count: int = LEVELS) -> tuple[float, ...]:
    """``count`` sizes from ``top``, each ``growth`` times the one before, on the quantity grid."""
    return tuple(max(round(top * growth**k, decimals), smallest) for k in range(count))


@lru_cache(maxsize=1024)
def growing_sizes(top: float, decimals: int, smallest: float, count: int = LEVELS) -> tuple[float, ...]:
    """``count`` sizes from ``top``, level ``k`` showing ``1 + LEVEL_GROWTH·k`` times it, on the quantity grid.

    Memoised, and shared by both sides: a daily bar's open and close books have the same sizes.
    """
    factors = _GROWTH if count == LEVELS else tuple(1.0 + LEVEL_GROWTH * k for k in range(count))
    return tuple([max(round(top * factor, decimals), smallest) for factor in factors])


class Ladder:
    """The books of one instrument at one relative spread, with what they compute from the instrument alone worked
    out once: a replay of daily bars makes two books a bar, and this is most of the time it takes."""

    __slots__ = ("_decimals", "_gap_per_price", "_seconds", "_sides", "_smallest", "_spread", "_tick", "_top", "symbol")

    def __init__(self, inst: Instrument, spread_rel: float) -> None:
        self.symbol = inst.symbol
        self._tick = inst.tick_size
        self._spread = spread_rel
        self._gap_per_price = 0.5 * inst.spread_bps * 1e-4  # level_gap_ticks' factor, multiplied in its order
        self._decimals = inst.qty_decimals
        self._smallest = min_size(inst)
        self._seconds = session_ms_per_day(inst) / 1000.0
        self._top = top_size(inst)
        # Mid -> the prices of both sides: daily bars' opens and closes come back to the same prices again and again.
        self._sides: dict[float, tuple[tuple[float, ...], tuple[float, ...]]] = {}

    def typical_sizes(self) -> tuple[float, ...]:
        """The sizes of an ordinary moment: the touch shows ``top_size(inst)``, from its average daily volume."""
        return growing_sizes(self._top, self._decimals, self._smallest)

    def sizes(self, daily_volume: float) -> tuple[float, ...]:
        """``growing_sizes(top_size(inst, daily_volume), ...)``, the same floats, uncached (a bar's volume is its own).

        ``float(round(x))`` is ``round(x, 0)`` (both round half to even from the exact double) at a third of the
        cost; and since the factors grow from 1, only a touch below the smallest size needs any raised to it.
        """
        top = daily_volume / self._seconds * TOP_SECONDS
        decimals = self._decimals
        sizes: tuple[float, ...]
        if decimals == 0 and top < _WHOLE_TOP:  # written out, rounded by _WHOLE: a third of the time of a loop
            w = _WHOLE
            sizes = (
                top + w - w,
                top * _G1 + w - w,
                top * _G2 + w - w,
                top * _G3 + w - w,
                top * _G4 + w - w,
                top * _G5 + w - w,
                top * _G6 + w - w,
                top * _G7 + w - w,
                top * _G8 + w - w,
                top * _G9 + w - w,
            )
        elif decimals == 0:
            sizes = tuple([float(round(top * factor)) for factor in _GROWTH])
        else:
            sizes = tuple([round(top * factor, decimals) for factor in _GROWTH])
        smallest = self._smallest
        if sizes[0] < smallest:
            return tuple([max(size, smallest) for size in sizes])
        return sizes

    def halves(self, volume: float) -> tuple[float, float]:
        """``volume`` in two halves on the quantity grid (the second takes the rounding), as ``round(..., decimals)``
        gives them."""
        if self._decimals == 0:
            if volume < _WHOLE_LIMIT:
                w = _WHOLE
                first = volume / 2 + w - w
                return first, volume - first + w - w
            first = float(round(volume / 2))
            return first, float(round(volume - first))
        first = round(volume / 2, self._decimals)
        return first, round(volume - first, self._decimals)

    def book(self, ts: int, mid: float, depth: tuple[float, ...], last: float | None, volume: float) -> L2Book:
        """The book around ``mid`` with level sizes ``depth`` (``growing_sizes``, or ``sizes``, shared by a bar's
        two books)."""
        at = self._sides.get(mid)
        if at is None:
            at = self._prices(mid)
        # The book zips its levels when they are first read (most books of a backtest never are).
        return L2Book(self.symbol, ts, (), (), last, volume, sides=(at[0], at[1], depth))

    def day_books(self, opens_at: Iterable[int], closes_at: Iterable[int], opens: Iterable[float],
                  closes: Iterable[float], volumes: Iterable[float]) -> tuple[list[L2Book], list[L2Book]]:  # fmt: skip
        """The two books of each of a run of daily bars, given column by column: at the bar's open (``last`` the open,
        the first half of the volume) and at its close (``last`` the close, the second half), both showing
        ``sizes(volume)``. What ``book`` gives for each, in one loop: a bar file's replay is mostly this."""
        sides, symbol, sizes, halves = self._sides, self.symbol, self.sizes, self.halves
        opens, closes = list(opens), list(closes)
        self._price_all({*opens, *closes}.difference(sides))
        openings: list[L2Book] = []
        closings: list[L2Book] = []
        for open_ts, close_ts, bar_open, bar_close, volume in zip(opens_at, closes_at, opens, closes, volumes,
                                                                  strict=True):  # fmt: skip
            depth = sizes(volume)
            first, second = halves(volume)
            at = sides[bar_open]
            openings.append(L2Book(symbol, open_ts, (), (), bar_open, first, False, (at[0], at[1], depth)))
            at = sides[bar_close]
            closings.append(L2Book(symbol, close_ts, (), (), bar_close, second, False, (at[0], at[1], depth)))
        return openings, closings

    def _price_all(self, mids: set[float]) -> None:
        """``_prices`` of each of ``mids``, remembered: where their levels span few enough ticks, sliced from the
        prices of that span made at once (a decade of a stock's daily bars: 5,000 new touches, each otherwise made
        level by level, over a few thousand ticks). The same floats: ``n / (1/tick)`` either way."""
        tick, spread, per_price, units = self._tick, self._spread, self._gap_per_price, per_unit(self._tick)
        touches = []
        for mid in mids:
            bid, ask = touch_ticks(mid, spread, tick)
            gap = round(per_price * mid / tick)  # level_gap_ticks(inst, mid)
            touches.append((mid, bid, ask, gap if gap > 1 else 1))
        reach = LEVELS - 1
        lowest = min((bid - reach * gap for _, bid, _, gap in touches), default=1)
        lowest = lowest if lowest > 1 else 1  # (a side reaching zero stops before it: made on its own)
        highest = max((ask + reach * gap for _, _, ask, gap in touches), default=0)
        if not units or highest - lowest >= _MAX_SPAN:
            for mid in mids:
                self._prices(mid)
            return
        span = tuple(map(truediv, range(lowest, highest + 1), repeat(units)))
        sides = self._sides
        for mid, bid, ask, gap in touches:
            start = bid - lowest
            stop = start - gap * LEVELS
            bids = span[start : stop if stop >= 0 else None : -gap] if start >= reach * gap else prices(bid, -gap, tick)
            start = ask - lowest
            sides[mid] = bids, span[start : start + gap * LEVELS : gap]

    def _prices(self, mid: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The prices of the bid side and of the ask side around ``mid``, remembered."""
        tick = self._tick
        bid, ask = touch_ticks(mid, self._spread, tick)
        gap = round(self._gap_per_price * mid / tick)  # level_gap_ticks(inst, mid)
        gap = gap if gap > 1 else 1
        # A bid side that would reach zero or below stops early (a penny stock with a wide gap): its levels with it.
        at = self._sides[mid] = prices(bid, -gap, tick), prices(ask, gap, tick)
        return at
