"""Synthetic feed throughput: books generated per second, in-process on one core. Prints one JSON object.

Not part of the test run. There is no peer to compare with; the figure to watch is books per second against a
tournament's need (100 symbols at 20 ticks per second is 2,000 books per second).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

from arena.catalog import load_catalog
from arena.engine.sessions import SessionCalendars
from arena.feeds.synthetic import SyntheticFeed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    catalog = load_catalog()
    calendars = SessionCalendars.build(date(2026, 1, 1), date(2026, 12, 31))
    rates = []
    for run in range(args.runs):
        feed = SyntheticFeed(catalog, seed=run + 1, ticks=args.ticks, calendars=calendars)
        began = time.perf_counter()
        books = sum(len(t.books) for t in feed)
        rates.append(books / (time.perf_counter() - began))
    print(json.dumps({"bench": "feeds", "python": platform.python_version(), "ticks": args.ticks,
                      "books_per_second": [round(r) for r in rates], "tournament_need_books_per_second": 2_000,
                      "ratio_to_need": round(min(rates) / 2_000, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
