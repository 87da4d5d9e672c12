"""The replay's shortcuts give what the long way gives: a bar row checked at once equals one checked field by field
(or fails the same way), and a replay followed by its backtest builds the session calendars once."""

from __future__ import annotations

from pathlib import Path

import pytest
from arena_bot import Bot
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.engine.rules import Ruleset
from arena.feeds import FeedError, FeedErrorCode, ReplayFeed
from arena.feeds import calendars as cal
from arena.feeds.csvfile import CsvFile
from arena.runtime.backtest import run_backtest

from .conftest import EQUITIES_SAMPLE

# Numbers a hostile or sloppy file holds: fine ones, and each way float() is laxer than a decimal number.
NUMBERS = ["34.08", "34.74", "33.93", "0", "-0", "-1", "1e999", "1e-400", "nan", "NaN", "inf", "-inf", "infinity",
           "1_0", "+3", ".5", "5.", " 34.5 ", "", "1e300", "3e15", "0x10", "١٢", "34,5", "1e3"]  # fmt: skip


@pytest.fixture(scope="module")
def bars(tmp_path_factory, catalog) -> CsvFile:
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    path.write_text("ts,symbol,open,high,low,close,volume\n2013-01-02,ORCL,34.08,34.74,33.93,34.69,33758400\n")
    return CsvFile(path, catalog, frozenset({"ORCL"}))


def outcome(parse, *args):
    try:
        return parse(*args)
    except FeedError as exc:
        return (exc.code, str(exc))


@settings(max_examples=300, deadline=None)
@given(numbers=st.lists(st.sampled_from(NUMBERS), min_size=5, max_size=5),
       symbol=st.sampled_from(["ORCL", "AAPL"]))  # fmt: skip
def test_a_bar_checked_at_once_equals_one_checked_field_by_field(bars, numbers, symbol):
    fields = ["2013-01-02", symbol, *numbers]
    ts, day = bars._ts(2, fields)
    inst = bars._inst(2, fields)
    assert outcome(bars._bar, 2, fields) == outcome(bars._bar_checked, 2, fields, ts, day, inst)


class Quiet(Bot):
    symbols = ("ORCL",)


def test_a_replay_and_its_backtest_build_the_calendars_once(catalog, monkeypatch):
    built: list[tuple[object, ...]] = []
    build = cal.build_calendars
    monkeypatch.setattr(cal, "build_calendars", lambda *args: built.append(args) or build(*args))
    cal.forget_calendars()
    ticks = list(ReplayFeed([EQUITIES_SAMPLE], catalog, ["ORCL"]))
    result = run_backtest(Quiet(), catalog, Ruleset(), ticks)
    assert result.ticks == len(ticks) > 0
    assert len(built) == 1, "the backtest found the replay's calendars"
    first, last, venues = built[0][:3]
    assert (venues, first < last) == (("XNYS",), True)
    cal.forget_calendars()
    run_backtest(Quiet(), catalog, Ruleset(), ticks)
    assert len(built) == 2, "forgotten: built (or read from the disk cache) again"


def test_bars_that_share_a_moment_still_merge(tmp_path: Path, catalog):
    """Two symbols' daily bars open and close at the same instants: each tick carries both books."""
    path = tmp_path / "two.csv"
    path.write_text("ts,symbol,open,high,low,close,volume\n2013-01-02,ORCL,34.08,34.74,33.93,34.69,1000\n"
                    "2013-01-02,AAPL,79.12,79.29,77.38,78.43,2000\n")  # fmt: skip
    ticks = list(ReplayFeed([path], catalog))
    assert [[b.symbol for b in t.books] for t in ticks] == [["AAPL", "ORCL"], ["AAPL", "ORCL"]]


def test_read_gives_the_ticks_from_one_reading_and_the_checks_of_validate(tmp_path: Path, catalog, monkeypatch):
    reads: list[Path] = []
    rows = CsvFile.rows
    monkeypatch.setattr(CsvFile, "rows", lambda self: reads.append(self.path) or rows(self))
    assert ReplayFeed([EQUITIES_SAMPLE], catalog).read() == list(ReplayFeed([EQUITIES_SAMPLE], catalog))
    assert reads == [EQUITIES_SAMPLE] * 2, "read() read the file once, as list() does"
    feed = ReplayFeed([EQUITIES_SAMPLE], catalog)
    feed.read()
    assert feed.symbols == ("NVDA", "ORCL", "YHOO"), "the symbols found, as validate() finds them"
    cross = tmp_path / "eurjpy.csv"
    cross.write_text("ts,symbol,bid,ask,bid_size,ask_size\n"
                     "2026-03-02T15:00:00Z,EURJPY,180.001,180.004,1000000,1000000\n")  # no USDJPY: refused
    for check in (ReplayFeed.validate, ReplayFeed.read):
        with pytest.raises(FeedError) as err:
            check(ReplayFeed([cross], catalog))
        assert err.value.code is FeedErrorCode.NO_CONVERSION_DATA
