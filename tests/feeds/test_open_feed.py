from __future__ import annotations

import pytest

from arena.feeds import DEFAULT_START, FeedError, FeedErrorCode, ReplayFeed, SyntheticFeed, open_feed

from .conftest import EQUITIES_SAMPLE, QUOTES_SAMPLE


def test_synthetic_specs(catalog, calendars_2026):
    feed = open_feed("synthetic", catalog, ["AAPL"], calendars=calendars_2026)
    assert isinstance(feed, SyntheticFeed) and feed.seed == 0 and feed.start == DEFAULT_START
    seeded = open_feed(
        " Synthetic:42 ", catalog, ["AAPL"], ticks=5, interval_ms=1000, calendars=calendars_2026
    )
    assert isinstance(seeded, SyntheticFeed) and seeded.seed == 42
    ticks = list(seeded)
    assert len(ticks) == 5 and ticks[1].ts - ticks[0].ts == 1000
    assert ticks == list(
        SyntheticFeed(catalog, ["AAPL"], 42, ticks=5, interval_ms=1000, calendars=calendars_2026)
    )


def test_csv_specs(catalog):
    one = open_feed(str(QUOTES_SAMPLE), catalog)
    assert isinstance(one, ReplayFeed) and one.paths == (QUOTES_SAMPLE,)
    two = open_feed(f"{EQUITIES_SAMPLE}, {QUOTES_SAMPLE}", catalog, ["ORCL", "AAPL"])
    assert isinstance(two, ReplayFeed) and two.symbols == ("ORCL", "AAPL")
    assert {b.symbol for t in two for b in t.books} == {"ORCL", "AAPL"}


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("", FeedErrorCode.BAD_SPEC),
        ("   ", FeedErrorCode.BAD_SPEC),
        ("synthetic:", FeedErrorCode.BAD_SPEC),
        ("synthetic:abc", FeedErrorCode.BAD_SPEC),
        ("synthetic:-3", FeedErrorCode.BAD_SPEC),
        ("synthetic:1.5", FeedErrorCode.BAD_SPEC),
        ("a.csv,,b.csv", FeedErrorCode.BAD_SPEC),
        (f"{QUOTES_SAMPLE},{QUOTES_SAMPLE}", FeedErrorCode.BAD_SPEC),
        ("missing.csv", FeedErrorCode.NO_SUCH_FILE),
        ("synthetics", FeedErrorCode.NO_SUCH_FILE),
    ],
)
def test_bad_specs(catalog, spec, code):
    with pytest.raises(FeedError) as info:
        open_feed(spec, catalog)
    assert info.value.code is code


def test_unknown_symbol(catalog):
    for spec in ("synthetic", str(QUOTES_SAMPLE)):
        with pytest.raises(FeedError) as info:
            open_feed(spec, catalog, ["AAPL", "NOPE"])
        assert info.value.code is FeedErrorCode.UNKNOWN_SYMBOL and "NOPE" in info.value.message


def test_empty_symbol_list(catalog):
    for spec in ("synthetic", str(QUOTES_SAMPLE)):
        with pytest.raises(FeedError) as info:
            open_feed(spec, catalog, [])
        assert info.value.code is FeedErrorCode.BAD_PARAMETER
