from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from arena.engine.tick import Tick
from arena.feeds import Feed, ReplayFeed, ladder
from arena.feeds.replay import DEPTH_DECAY

from .conftest import EQUITIES_SAMPLE, QUOTES_SAMPLE, ms

REAL_FILE = Path("/work/shared/data/equities-daily-1995-2014.csv")
NEW_YORK = ZoneInfo("America/New_York")


def sample_rows() -> list[dict[str, str]]:
    with EQUITIES_SAMPLE.open(newline="") as f:
        return list(csv.DictReader(f))


def check_ordered(ticks: list[Tick]) -> None:
    assert all(a.ts < b.ts for a, b in itertools.pairwise(ticks))
    for tick in ticks:
        symbols = [b.symbol for b in tick.books]
        assert len(symbols) == len(set(symbols))
        assert all(b.ts == tick.ts for b in tick.books)


@pytest.fixture(scope="module")
def sample_ticks(catalog, calendars_2013) -> list[Tick]:
    return list(ReplayFeed([EQUITIES_SAMPLE], catalog, calendars=calendars_2013))


def test_daily_bars_give_two_ticks_per_trading_day(catalog, sample_ticks):
    rows = sample_rows()
    assert len(rows) == 1512
    days = {r["ts"] for r in rows}
    assert len(sample_ticks) == 2 * len(days)
    assert sum(len(t.books) for t in sample_ticks) == 2 * len(rows)
    check_ordered(sample_ticks)


def test_daily_bars_keep_the_files_prices_and_volume(catalog, sample_ticks):
    by_symbol = defaultdict(list)
    for tick in sample_ticks:
        for book in tick.books:
            by_symbol[book.symbol].append(book)
    for row in sample_rows():
        opening, closing = by_symbol[row["symbol"]][:2]
        del by_symbol[row["symbol"]][:2]
        inst = catalog[row["symbol"]]
        assert opening.last == float(row["open"]) and closing.last == float(row["close"])
        assert opening.volume + closing.volume == float(row["volume"])
        for book, price in ((opening, float(row["open"])), (closing, float(row["close"]))):
            assert book.best_bid <= price + inst.tick_size and book.best_ask >= price - inst.tick_size
            assert book.best_ask - book.best_bid <= 3 * inst.tick_size + price * inst.spread_bps * 1e-4
            assert len(book.bids) == len(book.asks) == ladder.LEVELS
        local_open = datetime.fromtimestamp(opening.ts / 1000, NEW_YORK)
        local_close = datetime.fromtimestamp(closing.ts / 1000, NEW_YORK)
        assert local_open.date().isoformat() == row["ts"] and local_open.strftime("%H:%M") == "09:30"
        assert local_close.date().isoformat() == row["ts"]
        assert local_close.strftime("%H:%M") in {"15:59", "12:59"}  # 12:59 on early-close days
    assert not any(by_symbol.values())


def test_early_close_day(sample_ticks):
    # 2013-11-29, the day after Thanksgiving, closed at 13:00 New York.
    stamps = [
        t.ts
        for t in sample_ticks
        if datetime.fromtimestamp(t.ts / 1000, NEW_YORK).date().isoformat() == "2013-11-29"
    ]
    assert stamps == [ms("2013-11-29T14:30:00"), ms("2013-11-29T17:59:00")]


def test_bar_file_in_any_row_order_replays_the_same(tmp_path, catalog, calendars_2013, sample_ticks):
    rows = sample_rows()
    grouped = sorted(rows, key=lambda r: (r["symbol"], r["ts"]), reverse=True)  # by symbol, newest first
    path = tmp_path / "grouped.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(grouped)
    assert list(ReplayFeed([path], catalog, calendars=calendars_2013)) == sample_ticks


def test_symbols_filter_and_discovery(catalog, calendars_2013):
    feed = ReplayFeed([EQUITIES_SAMPLE], catalog, symbols=["ORCL"], calendars=calendars_2013)
    assert feed.symbols == ("ORCL",)
    ticks = list(feed)
    assert len(ticks) == 2 * 504 and all(len(t.books) == 1 and t.books[0].symbol == "ORCL" for t in ticks)
    everything = ReplayFeed([EQUITIES_SAMPLE], catalog, calendars=calendars_2013)
    assert isinstance(everything, Feed)
    assert everything.symbols == ("NVDA", "ORCL", "YHOO")


def test_builds_calendars_itself(catalog, sample_ticks):
    assert list(ReplayFeed([EQUITIES_SAMPLE], catalog)) == sample_ticks


def test_quotes_sample(catalog):
    feed = ReplayFeed([QUOTES_SAMPLE], catalog)
    ticks = list(feed)
    check_ordered(ticks)
    assert feed.symbols == ("AAPL", "BTC-USD", "EURUSD", "MSFT")
    assert [t.ts for t in ticks] == [
        ms("2026-03-02T14:30:00"),
        ms("2026-03-02T14:30:00.250"),
        ms("2026-03-02T14:30:01"),
        ms("2026-03-02T14:30:02"),
        ms("2026-03-02T14:30:03"),
        ms("2026-03-02T14:30:04"),
        ms("2026-03-02T14:30:05"),
    ]
    first = {b.symbol: b for b in ticks[0].books}
    assert list(first) == ["AAPL", "BTC-USD"]
    aapl = first["AAPL"]
    assert aapl.bids[0] == (255.10, 300.0) and aapl.asks[0] == (255.12, 200.0)
    assert aapl.last == 255.11 and aapl.volume == 1500
    assert [p for p, _ in aapl.bids] == [round(255.10 - 0.01 * k, 2) for k in range(ladder.LEVELS)]
    assert [p for p, _ in aapl.asks] == [round(255.12 + 0.01 * k, 2) for k in range(ladder.LEVELS)]
    assert [s for _, s in aapl.bids] == [round(300 * DEPTH_DECAY**k) for k in range(ladder.LEVELS)]
    btc = first["BTC-USD"]
    assert btc.bids[0] == (99990.0, 0.25) and btc.asks[0] == (99995.5, 0.4)
    msft = {b.symbol: b for b in ticks[2].books}["MSFT"]  # 09:30:01-05:00 is 14:30:01Z
    assert msft.last is None and msft.volume == 0.0
    assert {b.symbol for b in ticks[5].books} == {"EURUSD", "AAPL"}  # a naive date-time is UTC


def test_quotes_and_bars_merge_in_time_order(catalog, calendars_2013, tmp_path):
    quotes = tmp_path / "q.csv"
    quotes.write_text(
        "ts,symbol,bid,ask,bid_size,ask_size\n"
        "2013-01-02T14:30:00Z,AAPL,500.00,500.10,10,10\n"
        "2013-01-02T15:00:00Z,AAPL,500.10,500.20,10,10\n"
        "2013-01-03T21:00:00Z,AAPL,501.00,501.10,10,10\n"
    )
    feed = ReplayFeed([EQUITIES_SAMPLE, quotes], catalog, calendars=calendars_2013)
    ticks = list(feed)
    check_ordered(ticks)
    assert ticks[0].ts == ms("2013-01-02T14:30:00")
    assert [b.symbol for b in ticks[0].books] == ["NVDA", "ORCL", "YHOO", "AAPL"]  # file order on a tie
    assert ticks[1].ts == ms("2013-01-02T15:00:00") and ticks[1].books[0].symbol == "AAPL"
    assert sum(len(t.books) for t in ticks) == 2 * 1512 + 3
    assert list(feed) == ticks


def test_one_symbol_twice_at_one_time_later_row_wins(catalog, tmp_path):
    path = tmp_path / "q.csv"
    path.write_text(
        "ts,symbol,bid,ask,bid_size,ask_size,last,volume\n"
        "1772461800000,AAPL,255.00,255.02,1,1,255.01,10\n"
        "1772461800000,AAPL,255.01,255.03,2,2,255.03,5\n"
    )
    (tick,) = list(ReplayFeed([path], catalog))
    (book,) = tick.books
    assert book.bids[0] == (255.01, 2.0) and book.last == 255.03 and book.volume == 15


def test_intraday_bars_give_one_tick_at_the_close(catalog, tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(
        "ts,symbol,open,high,low,close,volume\n"
        "2026-03-02T14:35:00Z,AAPL,255.00,255.50,254.90,255.20,120000\n"
        "2026-03-02T14:30:00Z,AAPL,254.00,255.10,253.90,255.00,150000\n"
    )
    ticks = list(ReplayFeed([path], catalog))
    assert [t.ts for t in ticks] == [ms("2026-03-02T14:30:00"), ms("2026-03-02T14:35:00")]
    assert [t.books[0].last for t in ticks] == [255.00, 255.20]
    assert [t.books[0].volume for t in ticks] == [150000, 120000]


def test_crypto_daily_bars_open_at_midnight_utc(catalog, tmp_path):
    path = tmp_path / "btc.csv"
    path.write_text(
        "ts,symbol,open,high,low,close,volume\n2026-03-07,BTC-USD,90000,91000,89000,90500,1234.5\n"
    )
    ticks = list(ReplayFeed([path], catalog))
    assert [t.ts for t in ticks] == [ms("2026-03-07T00:00:00"), ms("2026-03-07T23:59:00")]


@pytest.mark.skipif(not REAL_FILE.exists(), reason="needs /work/shared/data")
def test_whole_real_file_replays(catalog):
    feed = ReplayFeed([REAL_FILE], catalog)
    feed.validate()
    with REAL_FILE.open() as f:
        rows = sum(1 for _ in f) - 1
    assert sum(len(t.books) for t in feed) == 2 * rows
