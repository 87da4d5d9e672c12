"""Execution: the price and size of a fill against displayed depth.

Price follows the design's slippage model, P_exec = P_mid · (1 ± [spread/2 + γ·(Q/V_avg)^α]);
size is bounded by the depth the account has not yet consumed, times the participation cap.
"""

from __future__ import annotations

import math

from arena.engine.book import Level
from arena.engine.instruments import pow10
from arena.engine.rules import SlippageParams


def impact_price(mid: float, spread: float, qty: float, v_avg: float, params: SlippageParams, sign: int) -> float:
    """The slippage model's execution price; ``sign`` is +1 for a buy, −1 for a sell."""
    impact = params.gamma * (qty / v_avg) ** params.alpha if v_avg > 0 else 0.0
    return mid * (1.0 + sign * (spread * 0.5 + impact))


def round_to_tick(price: float, tick: float, sign: int) -> float:
    """Round away from the trader's favour: buys up, sells down, so rounding never helps them."""
    exact = price / tick
    ticks = math.ceil(exact - 1e-9) if sign > 0 else math.floor(exact + 1e-9)
    if tick < 1.0:
        # Dividing by the integer ticks-per-unit gives the double nearest the decimal price
        # (100.01, not 100.01000000000001), and is much cheaper than round(x, ndigits).
        return ticks / round(1.0 / tick)
    return ticks * tick


def floor_qty(qty: float, decimals: int) -> float:
    scale = pow10(decimals)
    return math.floor(qty * scale + 1e-9) / scale


def ceil_qty(qty: float, decimals: int) -> float:
    scale = pow10(decimals)
    return math.ceil(qty * scale - 1e-9) / scale


def crossing_levels(levels: tuple[Level, ...], limit: float | None, sign: int) -> tuple[Level, ...]:
    """The opposite side's levels a buy (+1) or sell (−1) at ``limit`` may take.

    A limit fills only when the other side crosses it, never on a touch: a buy limit takes asks
    strictly below its price, a sell limit bids strictly above.
    """
    if limit is None:
        return levels
    if sign > 0:
        return tuple(level for level in levels if level[0] < limit)
    return tuple(level for level in levels if level[0] > limit)
