"""The statistics people compare between backtests, from an equity curve and fills (pure: numbers in, numbers out).

Definitions (docs in README's "Backtest a bot"):

- The curve is the NAV at the close of each tick, after the starting balance (so the first tick's trades count);
  its returns are the simple returns from one point to the next.
- Annualisation uses the curve's own pace: ``periods_per_year`` = returns per elapsed calendar time (first to
  last tick) × one year of 365.25 days. Daily bars on weekdays give about 252; minute ticks of one session,
  which never see a night, extrapolate as if the market traded round the clock.
- Volatility = sample standard deviation of the returns × √periods_per_year; Sharpe = mean / standard deviation ×
  √periods_per_year (risk-free rate 0); Sortino = mean / downside deviation × √periods_per_year, the downside
  deviation being √(mean of min(r, 0)²) over every return. Undefined figures (no returns, a flat curve, no losing
  tick) are None.
- Max drawdown: the largest fall from a running peak, as a fraction of the peak; its duration: the longest time
  spent below a peak, from the peak's tick to the first tick back at or above it (or the last tick).
- A round trip is a position in one symbol from flat back to flat (a fill that flips the side closes one and
  opens the next, as backtrader's trades do); its P&L is the realised P&L at average cost minus its fills' fees.
  Win rate = round trips with P&L > 0 / closed round trips; a position still open at the end is not counted.
- Turnover = notional traded (buys and sells) / average NAV; fees = the sum of every fill's fee.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

YEAR_MS = 365.25 * 86_400_000
_DUST = 1e-9  # a position left below this fraction of its size by float arithmetic counts as flat


@dataclass(frozen=True)
class RoundTrip:
    symbol: str
    opened_ts: int
    closed_ts: int
    pnl: float  # realised at average cost, net of the fees of its fills


@dataclass(frozen=True)
class Statistics:
    start_nav: float
    end_nav: float
    total_return: float
    annualized_return: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_duration_s: float
    periods: int  # returns in the curve
    periods_per_year: float | None
    round_trips: int
    win_rate: float | None
    turnover: float
    traded_notional: float
    fees: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def simple_returns(navs: Sequence[float]) -> list[float]:
    """Period-to-period returns; a period that starts at a NAV of 0 or below has none (it cannot be a fraction)."""
    return [b / a - 1.0 for a, b in pairwise(navs) if a > 0]


def drawdowns(navs: Sequence[float]) -> list[float]:
    """The fall below the running peak at each point, as a fraction of the peak (0 at a new high)."""
    out: list[float] = []
    peak = -math.inf
    for nav in navs:
        peak = max(peak, nav)
        out.append(1.0 - nav / peak if peak > 0 else 0.0)
    return out


def max_drawdown(ts: Sequence[int], navs: Sequence[float]) -> tuple[float, int]:
    """The deepest drawdown (fraction) and the longest time below a peak (ms)."""
    deepest, longest = 0.0, 0
    peak, peak_ts, below = -math.inf, 0, False
    for moment, nav in zip(ts, navs, strict=True):
        if nav >= peak:
            if below:  # back at the peak: the stretch below it ends here
                longest = max(longest, moment - peak_ts)
            peak, peak_ts, below = nav, moment, False
        else:
            below = True
            if peak > 0:
                deepest = max(deepest, 1.0 - nav / peak)
    if below:
        longest = max(longest, ts[-1] - peak_ts)  # still below the peak at the end
    return deepest, longest


def round_trips(fills: Iterable[Mapping[str, Any]], multipliers: Mapping[str, float] | None = None) -> list[RoundTrip]:
    """Positions from flat back to flat, per symbol, in fill order (see the module's definitions)."""
    multipliers = multipliers or {}
    open_: dict[str, list[float]] = {}  # symbol -> [qty (signed), avg price, pnl so far, opened ts]
    closed: list[RoundTrip] = []
    for fill in fills:
        symbol, qty, price, fee = fill["symbol"], float(fill["qty"]), float(fill["price"]), float(fill["fee"])
        ts = int(fill["ts"])
        signed = qty if fill["side"] == "buy" else -qty
        mult = multipliers.get(symbol, 1.0)
        trade = open_.get(symbol)
        if trade is None:
            open_[symbol] = [signed, price, -fee, ts]
            continue
        held, avg = trade[0], trade[1]
        if held * signed > 0:  # adds to the position
            trade[1] = (held * avg + signed * price) / (held + signed)
            trade[0] = held + signed
            trade[2] -= fee
            continue
        closing = min(abs(signed), abs(held))
        share = closing / abs(signed)  # the part of this fill (and of its fee) that closes
        trade[2] += closing * (price - avg) * mult * (1.0 if held > 0 else -1.0) - fee * share
        if abs(held) - closing > _DUST * abs(held):
            trade[0] = held + signed  # reduced, still open
            continue
        closed.append(RoundTrip(symbol, int(trade[3]), ts, trade[2]))
        del open_[symbol]
        rest = abs(signed) - closing
        if rest > _DUST * abs(signed):  # flipped: the remainder opens the next round trip
            open_[symbol] = [math.copysign(rest, signed), price, -fee * (1.0 - share), ts]
    return closed


def statistics(
    ts: Sequence[int],
    navs: Sequence[float],
    fills: Sequence[Mapping[str, Any]] = (),
    multipliers: Mapping[str, float] | None = None,
    start_nav: float | None = None,
) -> Statistics:
    """Every figure of the report, from the NAV at each tick's close and the run's fills.

    ``start_nav`` is the NAV before the first point (the starting balance), so that the first tick's trades
    count; it is taken to be at the first point's time.
    """
    if len(ts) != len(navs) or not navs:
        raise ValueError("the equity curve needs at least one point, with as many timestamps as NAVs")
    multipliers = multipliers or {}
    intervals = len(navs) - 1  # the pace of the points in time (a start_nav point shares the first one's time)
    if start_nav is not None:
        ts, navs = [ts[0], *ts], [start_nav, *navs]
    start, end = navs[0], navs[-1]
    returns = simple_returns(navs)
    elapsed = ts[-1] - ts[0]
    per_year = intervals / (elapsed / YEAR_MS) if intervals > 0 and elapsed > 0 else None
    total = end / start - 1.0 if start > 0 else 0.0
    annualized = None
    if elapsed > 0 and start > 0:
        try:
            annualized = (end / start) ** (YEAR_MS / elapsed) - 1.0 if end > 0 else -1.0
        except OverflowError:  # a gain extrapolated from minutes to a year can outgrow a float
            annualized = None
        if annualized is not None and not math.isfinite(annualized):
            annualized = None
    volatility = sharpe = sortino = None
    if len(returns) >= 2 and per_year is not None:
        mean = math.fsum(returns) / len(returns)
        std = math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
        downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns))
        scale = math.sqrt(per_year)
        volatility = std * scale
        sharpe = mean / std * scale if std > 0 else None
        sortino = mean / downside * scale if downside > 0 else None
    depth, duration_ms = max_drawdown(ts, navs)
    trips = round_trips(fills, multipliers)
    notional = math.fsum(abs(float(f["qty"]) * float(f["price"])) * multipliers.get(f["symbol"], 1.0) for f in fills)
    average_nav = math.fsum(navs) / len(navs)
    return Statistics(
        start_nav=start,
        end_nav=end,
        total_return=total,
        annualized_return=annualized,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=depth,
        max_drawdown_duration_s=duration_ms / 1000,
        periods=len(returns),
        periods_per_year=per_year,
        round_trips=len(trips),
        win_rate=sum(1 for t in trips if t.pnl > 0) / len(trips) if trips else None,
        turnover=notional / average_nav if average_nav > 0 else 0.0,
        traded_notional=notional,
        fees=math.fsum(float(f["fee"]) for f in fills),
    )


def downsample(ts: Sequence[int], navs: Sequence[float], limit: int) -> list[tuple[int, float]]:
    """At most ``limit`` points of the curve (≥ 2): the first, then the last point of each of equal stretches."""
    n = len(ts)
    if n <= limit:
        return list(zip(ts, navs, strict=True))
    limit = max(limit, 2)
    picks = [0] + [round(i * (n - 1) / (limit - 1)) for i in range(1, limit)]
    return [(ts[i], navs[i]) for i in picks]
