"""Limit up-limit down volatility halts in the synthetic feed (arena/feeds/luld.py)."""

from __future__ import annotations

import itertools

import pytest

from arena.engine.instruments import InstrumentCatalog
from arena.feeds import SyntheticFeed
from arena.feeds.luld import PAUSE_MS, WINDOW_MS, LimitUpLimitDown, band

from .conftest import ms

MINUTE = 60_000


@pytest.mark.parametrize(
    ("reference", "since_open", "to_close", "expected"),
    [
        (100.0, 60, 120, 5.0),  # over $3: 5%
        (100.0, 10, 120, 10.0),  # doubled in the first 15 minutes
        (100.0, 60, 20, 10.0),  # and in the last 25
        (2.0, 60, 120, 0.4),  # $0.75 to $3: 20%
        (0.5, 60, 120, 0.15),  # below: the lesser of $0.15 and 75%
        (0.1, 60, 120, 0.075),
    ],
)
def test_band_by_price_and_time_of_day(reference, since_open, to_close, expected):
    assert band(reference, since_open, to_close) == pytest.approx(expected)


def test_a_move_out_of_the_band_pauses_five_minutes_and_restarts_the_window():
    luld = LimitUpLimitDown()
    t = ms("2026-03-03 15:00")
    for k, mid in enumerate([100.0, 101.0, 99.0, 100.0]):
        assert not luld.halted(t + k * MINUTE, mid, 60, 120)
    # The reference is the mean of the last five minutes (100.0): 104.9 is inside, 105.1 outside.
    assert not luld.halted(t + 4 * MINUTE, 104.9, 60, 120)
    # Now the window holds 101, 99, 100 and 104.9 (mean 101.225, band 5.06): 106.3 is outside.
    assert luld.halted(t + 5 * MINUTE, 106.3, 60, 120)
    for k in range(6, 10):  # paused for five minutes, whatever the price does
        assert luld.halted(t + k * MINUTE, 100.0, 60, 120)
    # Resumed: the first mid after the pause has no window to compare with, so even a jump passes.
    assert not luld.halted(t + 10 * MINUTE, 150.0, 60, 120)
    assert not luld.halted(t + 11 * MINUTE, 152.0, 60, 120)


def test_the_reference_forgets_mids_older_than_the_window():
    luld = LimitUpLimitDown()
    t = ms("2026-03-03 15:00")
    assert not luld.halted(t, 100.0, 60, 120)
    # Five minutes later the 100.0 has left the window: nothing to compare 200.0 with.
    assert not luld.halted(t + WINDOW_MS, 200.0, 60, 120)
    assert luld.halted(t + WINDOW_MS + MINUTE, 100.0, 60, 120)


def wild(asset_class: str, venue: str) -> dict:
    """An instrument whose one-minute moves often pass 5%: a meme stock or a thin coin."""
    return {"asset_class": asset_class, "sector": "test", "venue": venue, "tick_size": 0.01, "qty_decimals": 0,
            "reference_price": 50.0, "annual_volatility": 12.0, "spread_bps": 5, "daily_volume": 1e6}


@pytest.fixture
def wild_catalog() -> InstrumentCatalog:
    return InstrumentCatalog.from_mapping({"instruments": {
        "MEME": wild("equity", "XNYS"), "WILDX": wild("crypto", "CRYPTO"), "WILDL": wild("equity", "XLON")}})


def run(catalog, calendars, halts: bool):
    feed = SyntheticFeed(catalog, seed=3, start=ms("2026-03-03 09:00"), interval_ms=MINUTE, ticks=2000,
                         calendars=calendars, volatility_halts=halts)
    return list(feed)


def test_a_wild_us_equity_pauses_and_nothing_else_does(wild_catalog, calendars_2026):
    with_halts = run(wild_catalog, calendars_2026, True)
    without = run(wild_catalog, calendars_2026, False)
    assert [t.ts for t in with_halts] == [t.ts for t in without]
    schedule = calendars_2026["XNYS"]
    halted_ts = []
    previous_last: dict[str, float | None] = {}
    for tick, plain in zip(with_halts, without, strict=True):
        for book, same in zip(tick.books, plain.books, strict=True):
            # The latent price path is the same with or without halts: only trading stops.
            assert (book.symbol, book.bids, book.asks) == (same.symbol, same.bids, same.asks)
            assert not same.halted
            if book.halted:
                assert book.symbol == "MEME", "only US equities and ETFs have bands"
                assert str(schedule.phase(tick.ts)) == "regular", "bands apply in the regular session only"
                assert book.volume == 0 and book.last == previous_last["MEME"]
                halted_ts.append(tick.ts)
            previous_last[book.symbol] = book.last
    assert len(halted_ts) >= 10, "a 1200% volatility stock leaves a 5% band within a few sessions"
    # Each pause lasts five minutes of the grid, unless the session closes first.
    runs, start = [], halted_ts[0]
    for prev, ts in itertools.pairwise(halted_ts):
        if ts != prev + MINUTE:
            runs.append((start, prev))
            start = ts
    runs.append((start, halted_ts[-1]))
    for first, last in runs:
        end = schedule.session_end(first)
        assert last - first == PAUSE_MS - MINUTE or (end is not None and last + MINUTE >= end), (first, last)


def test_the_packaged_catalog_is_calm_enough_to_rarely_halt(catalog, calendars_2026):
    symbols = [s for s in ("AAPL", "SPY", "ORCL", "TSLA") if s in catalog]
    feed = SyntheticFeed(catalog, symbols, seed=1, start=ms("2026-03-03 14:30"), interval_ms=MINUTE, ticks=390 * 3,
                         calendars=calendars_2026)
    books = [b for t in feed for b in t.books]
    assert sum(b.halted for b in books) / len(books) < 0.01
