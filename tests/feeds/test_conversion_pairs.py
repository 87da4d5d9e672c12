"""Feeds of symbols quoted in another currency carry the pair that converts it to the USD account."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.feeds import FeedError, FeedErrorCode, ReplayFeed, SyntheticFeed

QUOTES = "ts,symbol,bid,ask,bid_size,ask_size\n"
EURJPY = "2026-03-02T15:00:00Z,EURJPY,180.001,180.004,1000000,1000000\n"
USDJPY = "2026-03-02T15:00:00Z,USDJPY,150.001,150.003,1000000,1000000\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_synthetic_feed_of_a_cross_carries_its_conversion_pair(catalog, calendars_2026):
    feed = SyntheticFeed(catalog, ["EURGBP", "GBPJPY", "AAPL"], seed=3, ticks=5, calendars=calendars_2026)
    assert feed.symbols == ("EURGBP", "GBPJPY", "AAPL", "GBPUSD", "USDJPY")
    ticks = list(feed)
    assert {"EURGBP", "GBPUSD", "GBPJPY", "USDJPY"} <= {b.symbol for b in ticks[0].books}
    # The pair rides along without changing the others' paths.
    alone = SyntheticFeed(catalog, ["EURGBP"], seed=3, ticks=5, calendars=calendars_2026)
    assert [b for t in alone for b in t.books if b.symbol == "EURGBP"] == [
        b for t in ticks for b in t.books if b.symbol == "EURGBP"
    ]


def test_a_replay_of_a_cross_without_its_conversion_pair_is_refused_with_a_code(catalog, tmp_path):
    crosses = write(tmp_path, "eurjpy.csv", QUOTES + EURJPY)
    for feed in (ReplayFeed([crosses], catalog), ReplayFeed([crosses], catalog, ["EURJPY"])):
        with pytest.raises(FeedError) as err:
            feed.validate()
        assert err.value.code is FeedErrorCode.NO_CONVERSION_DATA
        assert "EURJPY is quoted in JPY, but the files have no rows for USDJPY" in str(err.value)


def test_a_replay_with_the_conversion_pair_reads_it_too(catalog, tmp_path):
    crosses = write(tmp_path, "eurjpy.csv", QUOTES + EURJPY)
    pair = write(tmp_path, "usdjpy.csv", QUOTES + USDJPY)
    feed = ReplayFeed([crosses, pair], catalog, ["EURJPY"])
    feed.validate()
    assert feed.symbols == ("EURJPY", "USDJPY")
    assert [b.symbol for t in feed for b in t.books] == ["EURJPY", "USDJPY"]
