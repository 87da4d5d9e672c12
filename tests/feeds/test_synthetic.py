from __future__ import annotations

import hashlib
import itertools
import math
import statistics
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from arena.engine.book import L2Book
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick
from arena.feeds import DEFAULT_START, Feed, FeedError, FeedErrorCode, SyntheticFeed, ladder

from .conftest import ms

MIXED = ["AAPL", "ORCL", "SPY", "SMSN.L", "BTC-USD", "DOGE-USD", "EURUSD", "GCZ26", "ESZ26", "SIZ26", "SPX"]


def digest(ticks: list[Tick]) -> str:
    return hashlib.sha256(repr(ticks).encode()).hexdigest()


def on_qty_grid(value: float, decimals: int) -> bool:
    # Relative tolerance: Instrument.is_valid_qty's absolute 1e-6 is too tight for 1e3 BTC-like sizes
    # at 8 decimals (one ulp of the scaled value is already ~1e-5).
    scaled = value * 10.0**decimals
    return abs(scaled - round(scaled)) <= 1e-9 * max(1.0, abs(scaled))


def check_book(book: L2Book, catalog, ts: int) -> None:
    inst = catalog[book.symbol]
    assert book.ts == ts
    assert len(book.bids) == ladder.LEVELS and len(book.asks) == ladder.LEVELS
    bid_prices = [p for p, _ in book.bids]
    ask_prices = [p for p, _ in book.asks]
    assert bid_prices == sorted(bid_prices, reverse=True) and len(set(bid_prices)) == ladder.LEVELS
    assert ask_prices == sorted(ask_prices) and len(set(ask_prices)) == ladder.LEVELS
    assert book.best_bid < book.best_ask
    for price, size in book.bids + book.asks:
        assert price > 0 and price == inst.round_price(price), (book.symbol, price)
        assert size > 0 and on_qty_grid(size, inst.qty_decimals), (book.symbol, size)
    assert book.volume >= 0 and on_qty_grid(book.volume, inst.qty_decimals)
    assert book.last is not None and book.last == inst.round_price(book.last)


def test_is_a_feed(catalog, calendars_2026):
    feed = SyntheticFeed(catalog, ["AAPL"], seed=1, ticks=3, calendars=calendars_2026)
    assert isinstance(feed, Feed)
    assert feed.symbols == ("AAPL",)
    assert SyntheticFeed(catalog, ticks=1, calendars=calendars_2026).symbols == tuple(catalog)


def test_same_seed_same_ticks_different_seed_different(catalog, calendars_2026):
    def run(seed: int) -> list[Tick]:
        return list(SyntheticFeed(catalog, MIXED, seed=seed, ticks=300, calendars=calendars_2026))

    first, again = run(7), run(7)
    assert first == again and digest(first) == digest(again)
    other = run(8)
    assert [t.ts for t in other] == [t.ts for t in first]  # the schedule is not random
    assert all(a.books != b.books for a, b in zip(first, other, strict=True))


def test_reiterating_a_feed_restarts_it(catalog, calendars_2026):
    feed = SyntheticFeed(catalog, MIXED, seed=3, ticks=50, calendars=calendars_2026)
    assert list(feed) == list(feed)


def test_identical_in_another_process(catalog):
    code = (
        "import hashlib; from arena.catalog import load_catalog; from arena.feeds import SyntheticFeed;"
        f"t = list(SyntheticFeed(load_catalog(), {MIXED!r}, seed=11, ticks=200));"
        "print(hashlib.sha256(repr(t).encode()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = list(SyntheticFeed(catalog, MIXED, seed=11, ticks=200))
    assert out.stdout.strip() == digest(here)


def test_a_symbols_path_does_not_depend_on_its_neighbours(catalog, calendars_2026):
    alone = list(SyntheticFeed(catalog, ["NVDA"], seed=5, ticks=100, calendars=calendars_2026))
    crowd = list(
        SyntheticFeed(catalog, ["AAPL", "NVDA", "BTC-USD"], seed=5, ticks=100, calendars=calendars_2026)
    )
    assert [t.books[0] for t in alone] == [b for t in crowd for b in t.books if b.symbol == "NVDA"]


def test_books_are_well_formed_across_the_catalog(catalog, calendars_2026):
    # From Friday afternoon through the weekend into Monday: regular, post, closed, pre, FX and CME reopen.
    start = ms("2026-03-06T19:00:00")
    ticks = list(SyntheticFeed(catalog, seed=2, start=start, ticks=1500, calendars=calendars_2026))
    assert len(ticks) == 1500
    previous = start - 1
    for tick in ticks:
        assert tick.ts > previous and (tick.ts - start) % 60_000 == 0
        previous = tick.ts
        assert tick.books, "a tick is emitted only when some book changed"
        symbols = [b.symbol for b in tick.books]
        assert len(symbols) == len(set(symbols))
        for book in tick.books:
            check_book(book, catalog, tick.ts)


def test_touch_shows_a_few_seconds_of_volume_and_depth_grows(catalog, calendars_2026):
    feed = SyntheticFeed(catalog, ["MSFT"], seed=4, ticks=390, calendars=calendars_2026, extended_hours=False)
    books = [t.books[0] for t in feed]
    per_second = catalog["MSFT"].daily_volume / (6.5 * 3600)
    top = statistics.median(b.bids[0][1] for b in books)
    assert 1.5 * per_second < top < 6 * per_second
    deep = statistics.median(b.bids[-1][1] for b in books)
    assert deep > 3 * top
    day_volume = sum(b.volume for b in books)
    assert 0.8 < day_volume / catalog["MSFT"].daily_volume < 1.2


@pytest.mark.parametrize(("symbol", "days"), [("AAPL", 40), ("BTC-USD", 10), ("EURUSD", 10), ("ESZ26", 10)])
def test_realised_volatility_matches_the_instrument(catalog, calendars_2026, symbol, days):
    inst = catalog[symbol]
    ticks_per_day = int(ladder.session_ms_per_day(inst) // 60_000)
    feed = SyntheticFeed(
        catalog, [symbol], seed=9, ticks=days * ticks_per_day, calendars=calendars_2026, extended_hours=False
    )
    mids = [t.books[0].mid for t in feed]
    returns = [math.log(b / a) for a, b in itertools.pairwise(mids)]
    per_year = ladder.session_ms_per_year(inst) / 60_000
    realised = math.sqrt(sum(r * r for r in returns) / len(returns) * per_year)
    assert 0.9 * inst.annual_volatility < realised < 1.1 * inst.annual_volatility, realised


def test_equities_trade_only_in_session_crypto_always(catalog, calendars_2026):
    saturday = ms("2026-03-07T00:00:00")
    ticks = list(
        SyntheticFeed(
            catalog, ["AAPL", "BTC-USD"], seed=1, start=saturday, ticks=3 * 1440, calendars=calendars_2026
        )
    )
    # BTC-USD trades every minute, so no minute is skipped and every tick carries it.
    assert [t.ts for t in ticks] == [saturday + i * 60_000 for i in range(3 * 1440)]
    assert all(any(b.symbol == "BTC-USD" for b in t.books) for t in ticks)
    aapl = [t.ts for t in ticks if any(b.symbol == "AAPL" for b in t.books)]
    schedule = calendars_2026["XNAS"]
    assert aapl and all(str(schedule.phase(ts)) != "closed" for ts in aapl)
    new_york = [datetime.fromtimestamp(ts / 1000, ZoneInfo("America/New_York")) for ts in aapl]
    assert new_york[0].isoformat() == "2026-03-06T19:00:00-05:00"  # Friday's post-market, still open
    assert new_york[-1].isoformat() == "2026-03-09T19:59:00-04:00"  # Monday's post-market close (EDT now)
    assert not [t for t in new_york if t.weekday() >= 5], "no book on a New York Saturday or Sunday"
    assert not [t for t in new_york if t.hour < 4], "no book before the 04:00 pre-market"
    assert ms("2026-03-09T07:00:00") not in aapl  # 03:00 New York on Monday
    assert ms("2026-03-09T08:00:00") in aapl  # 04:00 New York: the pre-market opens


def test_regular_hours_only_and_skipping_closed_stretches(catalog, calendars_2026):
    friday_evening = ms("2026-03-06T21:30:00")
    feed = SyntheticFeed(
        catalog,
        ["AAPL"],
        seed=1,
        start=friday_evening,
        ticks=391,
        calendars=calendars_2026,
        extended_hours=False,
    )
    ticks = list(feed)
    assert ticks[0].ts == ms("2026-03-09T13:30:00")  # Monday 09:30 EDT
    assert ticks[389].ts == ms("2026-03-09T19:59:00")
    assert ticks[390].ts == ms("2026-03-10T13:30:00")  # next morning, not the evening


def test_extended_hours_are_thinner_and_wider(catalog, calendars_2026):
    ticks = list(
        SyntheticFeed(
            catalog,
            ["AAPL"],
            seed=6,
            start=ms("2026-03-10T08:00:00"),
            ticks=16 * 60,
            calendars=calendars_2026,
        )
    )
    schedule = calendars_2026["XNAS"]
    pre = [t.books[0] for t in ticks if str(schedule.phase(t.ts)) == "pre"]
    regular = [t.books[0] for t in ticks if str(schedule.phase(t.ts)) == "regular"]
    assert len(pre) == 330 and len(regular) == 390
    assert statistics.median(b.spread for b in pre) > 2 * statistics.median(b.spread for b in regular)
    assert statistics.median(b.bids[0][1] for b in pre) < 0.5 * statistics.median(
        b.bids[0][1] for b in regular
    )
    assert statistics.mean(b.volume for b in pre) < 0.2 * statistics.mean(b.volume for b in regular)
    # Spreads are wider just after the opening bell than at midday.
    opening = statistics.mean(b.spread for b in regular[:10])
    midday = statistics.mean(b.spread for b in regular[150:250])
    assert opening > 1.5 * midday


def test_expired_contract_stops_updating(catalog, calendars_2026):
    # GCQ26 expires 2026-08-27: its last book is that day; with nothing else to trade the feed ends.
    start = ms("2026-08-26T12:00:00")
    ticks = list(
        SyntheticFeed(catalog, ["GCQ26"], seed=1, start=start, ticks=10_000, calendars=calendars_2026)
    )
    assert ticks and len(ticks) < 10_000
    assert max(t.ts for t in ticks) < ms("2026-08-28T00:00:00")
    mixed = list(
        SyntheticFeed(catalog, ["GCQ26", "GCZ26"], seed=1, start=start, ticks=3000, calendars=calendars_2026)
    )
    assert len(mixed) == 3000
    assert all(b.symbol == "GCZ26" for t in mixed if t.ts >= ms("2026-08-28T00:00:00") for b in t.books)


def test_small_catalog_corners(small_catalog):
    # A 5-cent stock cannot show ten bid levels above zero; a coarse-ticked coin still forms books.
    ticks = list(SyntheticFeed(small_catalog, ["COIN"], seed=1, ticks=200))
    for tick in ticks:
        check_book(tick.books[0], small_catalog, tick.ts)
    penny = list(SyntheticFeed(small_catalog, ["PENNY"], seed=1, ticks=50, extended_hours=False))
    for tick in penny:
        book = tick.books[0]
        assert 1 <= len(book.bids) <= ladder.LEVELS and len(book.asks) == ladder.LEVELS
        assert all(p > 0 for p, _ in book.bids) and book.best_bid < book.best_ask


def test_default_start_is_the_monday_opening_bell():
    assert ms("2026-03-02T14:30:00") == DEFAULT_START


def test_zero_ticks(catalog, calendars_2026):
    assert list(SyntheticFeed(catalog, ["AAPL"], ticks=0, calendars=calendars_2026)) == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"seed": -1}, FeedErrorCode.BAD_PARAMETER),
        ({"seed": 1.5}, FeedErrorCode.BAD_PARAMETER),
        ({"ticks": -1}, FeedErrorCode.BAD_PARAMETER),
        ({"interval_ms": 0}, FeedErrorCode.BAD_PARAMETER),
        ({"start": "2026-03-02"}, FeedErrorCode.BAD_PARAMETER),
        ({"symbols": ["NOPE"]}, FeedErrorCode.UNKNOWN_SYMBOL),
        ({"symbols": []}, FeedErrorCode.BAD_PARAMETER),
    ],
)
def test_bad_parameters(catalog, kwargs, code):
    with pytest.raises(FeedError) as info:
        SyntheticFeed(catalog, **{"symbols": ["AAPL"], **kwargs})
    assert info.value.code is code


def test_calendars_must_cover_the_venues_and_the_time(catalog):
    only_crypto = SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 3), venues=["CRYPTO"])
    with pytest.raises(FeedError) as info:
        SyntheticFeed(catalog, ["AAPL"], calendars=only_crypto)
    assert info.value.code is FeedErrorCode.UNKNOWN_VENUE
    short = SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 3), venues=["XNAS"])
    with pytest.raises(FeedError) as info:
        list(SyntheticFeed(catalog, ["AAPL"], ticks=5000, calendars=short))
    assert info.value.code is FeedErrorCode.CALENDAR


def test_builds_its_own_calendars_as_far_as_it_runs(catalog):
    # 40 trading days of minutes is more than one calendar stretch for a regular-hours-only feed.
    feed = SyntheticFeed(catalog, ["KO"], seed=1, ticks=40 * 390, extended_hours=False)
    feed.validate()
    ticks = list(feed)
    assert len(ticks) == 40 * 390
