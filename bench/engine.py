"""Engine throughput: orders per second and marks per second, in-process on one core.

Prints one JSON object. Not part of the test run. Runs the compiled engine (mypyc, as installed) and the
pure-Python one (ARENA_PURE_ENGINE=1), each in a process of its own, and prints both side by side with the
ratio and each process's peak RSS (``--build compiled|pure`` runs one, in this process).

- orders_per_second: order requests (dicts, as a bot would send them) through the whole
  path: parse and validate -> pre-trade risk -> execute against the book -> account -> score.
- marks_per_second: position re-marks per second while ticks move every symbol's price and
  10,000 accounts hold 15 positions each (the reverse index re-marks only holders).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from datetime import date
from typing import Any

import arena.engine
from arena.engine.book import L2Book
from arena.engine.engine import Engine
from arena.engine.instruments import InstrumentCatalog
from arena.engine.rules import resolve_ruleset
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick

START = 1_772_461_800_000  # 2026-03-02 14:30 UTC, a Monday
SYMBOLS = [f"C{i:02d}-USD" for i in range(30)]


def catalog() -> InstrumentCatalog:
    return InstrumentCatalog.from_mapping(
        {
            "instruments": {
                s: {
                    "asset_class": "crypto",
                    "sector": "crypto",
                    "venue": "CRYPTO",
                    "tick_size": 0.01,
                    "qty_decimals": 8,
                }
                for s in SYMBOLS
            }
        }
    )


def book(symbol: str, ts: int, mid: float) -> L2Book:
    bids = tuple((round(mid - 0.01 * (i + 1), 2), 1_000.0 * (i + 1)) for i in range(10))
    asks = tuple((round(mid + 0.01 * (i + 1), 2), 1_000.0 * (i + 1)) for i in range(10))
    return L2Book(symbol, ts, bids, asks, mid, 50_000.0)


def make_engine(accounts: int) -> Engine:
    calendars = SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 31), venues=["CRYPTO"])
    rules = resolve_ruleset({"order_rate": {"max_orders": 100_000}})
    engine = Engine(catalog(), calendars, default_ruleset=rules, equity_sample_ms=3_600_000)
    engine.on_tick(Tick(START, tuple(book(s, START, 100.0) for s in SYMBOLS)))
    for i in range(accounts):
        engine.open_account(f"acct-{i}")
    return engine


def bench_orders(n: int) -> dict[str, float]:
    engine = make_engine(1_000)
    rng = random.Random(1)
    requests = []
    for i in range(n):
        side = "buy" if i % 2 == 0 else "sell"
        kind = rng.random()
        request = {"symbol": SYMBOLS[i % 30], "side": side, "qty": round(rng.uniform(1, 50), 4)}
        if kind < 0.3:  # a marketable limit
            request |= {"type": "limit", "limit_price": 101.0 if side == "buy" else 99.0, "tif": "ioc"}
        requests.append((f"acct-{(i // 2) % 1000}", request))
    ts = START + 1
    submit = engine.submit
    t0, c0 = time.perf_counter(), time.process_time()
    for account, request in requests:
        submit(request, ts, account=account)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    fills = sum(account.fills for account in engine.accounts.values())
    return {"orders": n, "fills": fills, "seconds": elapsed, "cpu_seconds": cpu, "orders_per_second": n / elapsed,
            "orders_per_cpu_second": n / cpu}  # fmt: skip


def bench_marks(accounts: int, positions: int, ticks: int) -> dict[str, float]:
    engine = make_engine(accounts)
    ts = START + 1
    for i in range(accounts):
        for j in range(positions):
            symbol = SYMBOLS[(i + j) % len(SYMBOLS)]
            engine.submit({"symbol": symbol, "side": "buy", "qty": 10}, ts, account=f"acct-{i}")
    held = sum(len(a.positions) for a in engine.accounts.values())
    assert held == accounts * positions, held
    rng = random.Random(2)
    mids = dict.fromkeys(SYMBOLS, 100.0)
    prepared = []
    for k in range(ticks):
        t = START + 1_000 * (k + 2)
        books = []
        for s in SYMBOLS:
            mids[s] = round(mids[s] + rng.choice((-0.01, 0.01)), 2) or 0.01
            books.append(book(s, t, mids[s]))
        prepared.append(Tick(t, tuple(books)))
    t0, c0 = time.perf_counter(), time.process_time()
    for tick in prepared:
        engine.on_tick(tick)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    marks = accounts * positions * ticks
    return {
        "accounts": accounts,
        "positions_each": positions,
        "ticks": ticks,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "marks_per_second": marks / elapsed,
        "marks_per_cpu_second": marks / cpu,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    orders = bench_orders(args.orders)
    marks = bench_marks(args.accounts, 15, args.ticks)
    return {
        "build": "compiled" if arena.engine.COMPILED else "pure",
        "orders_per_second": round(orders["orders_per_second"]),
        "marks_per_second": round(marks["marks_per_second"]),
        # CPU time of this process: what the machine's other load does not inflate (wall time is the target's).
        "orders_per_cpu_second": round(orders["orders_per_cpu_second"]),
        "marks_per_cpu_second": round(marks["marks_per_cpu_second"]),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "orders": orders,
        "marks": marks,
    }


def in_process(build: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "ARENA_PURE_ENGINE": "1" if build == "pure" else "0"}
    command = [sys.executable, __file__, "--build", build, "--orders", str(args.orders),
               "--accounts", str(args.accounts), "--ticks", str(args.ticks)]  # fmt: skip
    result: dict[str, Any] = json.loads(subprocess.run(command, env=env, check=True, capture_output=True,
                                                          text=True).stdout)  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--build", choices=("both", "compiled", "pure"), default="both")
    args = parser.parse_args()
    if args.build != "both":
        print(json.dumps(measure(args)))
        return
    compiled, pure = in_process("compiled", args), in_process("pure", args)
    print(
        json.dumps(
            {
                "orders_per_second": {"compiled": compiled["orders_per_second"], "pure": pure["orders_per_second"],
                                      "ratio": round(compiled["orders_per_second"] / pure["orders_per_second"], 2)},
                "marks_per_second": {"compiled": compiled["marks_per_second"], "pure": pure["marks_per_second"],
                                     "ratio": round(compiled["marks_per_second"] / pure["marks_per_second"], 2)},
                "per_cpu_second": {
                    "orders": {"compiled": compiled["orders_per_cpu_second"], "pure": pure["orders_per_cpu_second"]},
                    "marks": {"compiled": compiled["marks_per_cpu_second"], "pure": pure["marks_per_cpu_second"]},
                },
                "peak_rss_mib": {"compiled": compiled["peak_rss_mib"], "pure": pure["peak_rss_mib"]},
                "targets": {"orders_per_second": 100_000, "marks_per_second": 2_000_000},
                "compiled": compiled,
                "pure": pure,
                "python": platform.python_version(),
                "load_average": os.getloadavg(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
