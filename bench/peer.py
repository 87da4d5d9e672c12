"""Arena's backtest against backtrader's: one strategy, the same bars, the same costs. Prints one JSON object.

The strategy: an SMA(10/30) crossover on daily closes of ORCL (real bars, 2005-2014, bench/data), long all-in
(95% of the account, whole shares) while SMA(10) > SMA(30), flat otherwise; decided at a bar's close, filled at the
next bar's open by a market order; 10 bps commission on every fill. backtrader does this with its defaults (a
market order fills at the next bar's open); Arena's replay turns a daily bar into two ticks (the open, and the
close a minute before the session ends), so its bot decides on the close tick and sends on the next open tick.

Figures: bars per second of each (data parsing included, interpreter start-up and imports excluded), their ratio,
and both final account values. The values differ by what Arena models and backtrader does not: Arena fills a
market order against a book around the price (half its 1 bp spread, paid on each fill), and its impact term is
set to zero here. Run: ``python bench/peer.py [--repeat N]`` (backtrader: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import deque
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

# Running this file puts bench/ first on sys.path, where bench/sandbox.py would shadow the sandbox package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

try:
    import backtrader as bt
except ImportError:
    sys.exit("bench/peer.py needs backtrader, the peer it measures against: pip install -e '.[bench]'")
from arena_bot import Book, Bot, Ticker  # noqa: E402

from arena.catalog import load_catalog  # noqa: E402
from arena.engine.rules import Ruleset  # noqa: E402
from arena.feeds import ladder, open_feed  # noqa: E402
from arena.feeds.calendars import forget_calendars  # noqa: E402
from arena.runtime.backtest import run_backtest  # noqa: E402

BARS = Path(__file__).resolve().parent / "data" / "orcl-daily-2005-2014.csv"
SYMBOL = "ORCL"
FAST, SLOW = 10, 30
INVEST = 0.95  # of the account's value, in whole shares
DAY_MS = 86_400_000
COMMISSION = 0.001  # 10 bps of each fill's notional
CASH = 100_000.0
RULES = Ruleset(
    starting_balance=CASH,
    max_position_fraction=1.0,
    fees={"equity": {"taker_bps": COMMISSION * 1e4, "maker_bps": COMMISSION * 1e4}},
    slippage={"equity": {"gamma": 0.0, "alpha": 0.5}},  # no impact term: only the book's half spread remains
    liquidity={"participation_cap": 1.0},
)


class ArenaSma(Bot):
    """Reads the last price from the ``ticker`` channel: the strategy needs no depth, and a bot subscribes to
    what it reads (``ArenaSmaOnBooks`` keeps the whole order book instead: ``--channel orderbook``)."""

    symbols = (SYMBOL,)
    channels = ("ticker",)
    history_size = 0  # it keeps its own closes: the SDK's bars would go unread

    def on_start(self, info: dict[str, Any]) -> None:
        self.closes: deque[float] = deque(maxlen=SLOW)
        self.day = -1
        self.last: float | None = None
        self.order = 0.0  # shares to buy (> 0) or sell (< 0) at the next open, sized at the close as backtrader does

    def on_ticker(self, ticker: Ticker) -> None:
        self.last = ticker.last if ticker.last is not None else ticker.mid

    def on_tick(self, ts: int) -> None:
        day = ts // DAY_MS  # the UTC day
        if day != self.day:  # the day's first tick: the open, where yesterday's decision is carried out
            self.day = day
            if self.order > 0:
                self.buy(SYMBOL, self.order)
            elif self.order < 0:
                self.sell(SYMBOL, -self.order)
            self.order = 0.0
            return
        if self.last is None:  # the close: decide
            return
        self.closes.append(self.last)
        if len(self.closes) < SLOW:
            return
        fast = sum(islice(self.closes, SLOW - FAST, None)) / FAST
        slow = sum(self.closes) / SLOW
        held = self.portfolio.position(SYMBOL)
        if fast > slow and not held:
            self.order = int(self.portfolio.nav * INVEST / self.last)
        elif fast < slow and held > 0:
            self.order = -held


class ArenaSmaOnBooks(ArenaSma):
    channels = ("orderbook",)

    def on_book(self, book: Book) -> None:
        self.last = book.last if book.last is not None else book.mid


BOTS = {"ticker": ArenaSma, "orderbook": ArenaSmaOnBooks}


def _opens() -> dict[str, float]:
    with BARS.open() as rows:
        next(rows)
        return {row.split(",")[0]: float(row.split(",")[2]) for row in rows}


def _bps_past_open(fills: list[dict[str, Any]]) -> float:
    """How much worse than the bar's open Arena's fills were, on average (the half spread and tick rounding)."""
    opens = _opens()
    worse = []
    for fill in fills:
        day = datetime.fromtimestamp(fill["ts"] / 1000, UTC).date().isoformat()
        sign = 1 if fill["side"] == "buy" else -1
        worse.append(sign * (fill["price"] / opens[day] - 1) * 1e4)
    return statistics.mean(worse) if worse else 0.0


def run_arena(bot: type[ArenaSma] = ArenaSma) -> dict[str, Any]:
    catalog = load_catalog()
    forget_calendars()  # each run reads its calendars, as a new process would
    ladder.prices.cache_clear()  # and works out its books' prices anew
    cpu = time.process_time()
    started = time.perf_counter()
    ticks = list(open_feed(str(BARS), catalog, [SYMBOL]))
    parsed = time.perf_counter()
    result = run_backtest(bot(), catalog, RULES, ticks)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    bars = len(ticks) // 2
    return {"bars": bars, "seconds": elapsed, "bars_per_second": bars / elapsed, "bars_per_cpu_second": bars / cpu,
            "run_only_bars_per_second": bars / (elapsed - (parsed - started)), "final_value": result.nav,
            "fills": len(result.fills), "fees": sum(f["fee"] for f in result.fills),
            "fill_bps_past_open": _bps_past_open(result.fills)}  # fmt: skip


class BacktraderSma(bt.Strategy):
    def __init__(self) -> None:
        self.fast = bt.indicators.SimpleMovingAverage(self.data.close, period=FAST)
        self.slow = bt.indicators.SimpleMovingAverage(self.data.close, period=SLOW)

    def next(self) -> None:  # at a bar's close; a market order fills at the next bar's open
        held = self.position.size
        if self.fast[0] > self.slow[0] and not held:
            qty = int(self.broker.getvalue() * INVEST / self.data.close[0])
            if qty > 0:
                self.buy(size=qty)
        elif self.fast[0] < self.slow[0] and held > 0:
            self.sell(size=held)


def run_backtrader() -> dict[str, Any]:
    cpu = time.process_time()
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)  # no observers: the peer at its fastest
    cerebro.adddata(bt.feeds.GenericCSVData(
        dataname=str(BARS), dtformat="%Y-%m-%d", datetime=0, open=2, high=3, low=4, close=5, volume=6,
        openinterest=-1,
    ))  # fmt: skip
    cerebro.addstrategy(BacktraderSma)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=COMMISSION)
    fills: list[float] = []

    class Counted(bt.Analyzer):
        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                fills.append(order.executed.comm)

    cerebro.addanalyzer(Counted)
    cerebro.run()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    bars = sum(1 for _ in BARS.open()) - 1
    return {"bars": bars, "seconds": elapsed, "bars_per_second": bars / elapsed, "bars_per_cpu_second": bars / cpu,
            "final_value": cerebro.broker.getvalue(), "fills": len(fills), "fees": sum(fills)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternated; medians are reported")
    parser.add_argument("--channel", choices=sorted(BOTS), default="ticker", help="the market data Arena's bot reads")
    args = parser.parse_args()
    arena: list[dict[str, Any]] = []
    peer: list[dict[str, Any]] = []
    for _ in range(args.repeat):  # alternated, so each pair of runs sees the same load on a noisy machine
        arena.append(run_arena(BOTS[args.channel]))
        peer.append(run_backtrader())
    arena_rate = statistics.median(r["bars_per_second"] for r in arena)
    peer_rate = statistics.median(r["bars_per_second"] for r in peer)
    ratios = [a["bars_per_second"] / p["bars_per_second"] for a, p in zip(arena, peer, strict=True)]
    # The same per second of each one's own CPU time: this shared machine's load swings wall time several-fold.
    cpu_ratios = [a["bars_per_cpu_second"] / p["bars_per_cpu_second"] for a, p in zip(arena, peer, strict=True)]
    a, p = arena[-1], peer[-1]
    print(json.dumps({
        "bars": a["bars"],
        "arena_channel": args.channel,
        "arena_bars_per_second": round(arena_rate),
        "arena_run_only_bars_per_second": round(statistics.median(r["run_only_bars_per_second"] for r in arena)),
        "backtrader_bars_per_second": round(peer_rate),
        "arena_to_backtrader": round(statistics.median(ratios), 3),  # the median of the pairs' ratios
        "arena_to_backtrader_spread": [round(r, 3) for r in ratios],
        "arena_to_backtrader_cpu": round(statistics.median(cpu_ratios), 3),
        "arena_to_backtrader_cpu_spread": [round(r, 3) for r in cpu_ratios],
        "arena_final_value": round(a["final_value"], 2),
        "backtrader_final_value": round(p["final_value"], 2),
        "final_value_difference": round(a["final_value"] / p["final_value"] - 1, 5),
        "fills": {"arena": a["fills"], "backtrader": p["fills"]},
        "fees": {"arena": round(a["fees"], 2), "backtrader": round(p["fees"], 2)},
        "arena_fill_bps_past_open": round(a["fill_bps_past_open"], 2),  # backtrader fills at the open: 0
        "spread_bars_per_second": {"arena": [round(r["bars_per_second"]) for r in arena],
                                   "backtrader": [round(r["bars_per_second"]) for r in peer]},
        "targets": {"arena_to_backtrader": 2.0},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
