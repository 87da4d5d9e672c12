"""A bar file read whole, column by column (CsvFile._quick_bars), gives what the line-by-line reading gives, row for
row and tick for tick; a file that needs the careful reading takes it, and fails with the same code, line and message.
A replay's daily sessions, found for all its days at once (VenueSchedule.regular_days), are the ones each day's own
queries give; a ladder's books of a run of daily bars (Ladder.day_books: rounding by adding 1.5 * 2**52, prices
remembered by mid) are the ones its plain arithmetic gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.engine.book import L2Book
from arena.engine.sessions import DAY_MS, SessionCalendars, SessionRangeError, VenueSchedule
from arena.feeds import FeedError, ReplayFeed, csvfile, ladder
from arena.feeds.csvfile import CsvFile

from .conftest import DATA, EQUITIES_SAMPLE

HEADER = "ts,symbol,open,high,low,close,volume\n"
ORCL = (DATA.parent.parent / "bench" / "data" / "orcl-daily-2005-2014.csv").read_text()
BODY = ORCL.splitlines(keepends=True)[1:400]
MID = 200  # where a variant changes a row


def variant(lines: list[str], at: int, row: str) -> str:
    return HEADER + "".join(lines[:at]) + row + "".join(lines[at:])


# Files the quick reading takes whole, each with something the careful reading tidies the same way.
QUICK = {
    "plain": HEADER + "".join(BODY),
    "CRLF": (HEADER + "".join(BODY)).replace("\n", "\r\n"),
    "BOM": "\ufeff" + HEADER + "".join(BODY),
    "padded fields": HEADER + "".join(" " + row.replace(",", " ,\t").replace("\n", " \n") for row in BODY),
    "odd whitespace": variant(BODY[:MID] + BODY[MID + 1 :], MID, "\u00a0" + BODY[MID].replace("\n", "\x0c\n")),
    "blank lines at the end": HEADER + "".join(BODY) + "\n  \n\n",
    "no line feed at the end": HEADER + "".join(BODY).rstrip("\n"),
    "newest first": HEADER + "".join(reversed(BODY)),
    "aliases, extra columns": "Symbol,Date,Close,Open,High,Low,Adj Close,Volume\n"
    + "".join("{1},{0},{5},{2},{3},{4},1.5,{6}\n".format(*row.strip().split(",")) for row in BODY),
    "date-times": HEADER + "".join(row.replace(",ORCL", "T15:00:00-05:00,ORCL") for row in BODY),
    "epoch ms": HEADER + "".join(f"{1104762600000 + i * 60_000},{row.split(',', 1)[1]}" for i, row in enumerate(BODY)),
    "several symbols, one not wanted": HEADER
    + "".join(row + row.replace("ORCL", "AAPL") + row.replace("ORCL", "ACME") for row in BODY[:100]),
    "crypto": HEADER + "".join(row.replace("ORCL", "BTC-USD") for row in BODY),
    "futures": HEADER + "".join(row.replace("ORCL", "GCZ26") for row in BODY),
}
QUOTED = '"' + BODY[MID].strip().replace(",", '","') + '"\n'  # row MID, every field quoted
HUGE = "2005-10-20,ORCL,1,1,1,1," + "1" * 140_000 + "\n"  # a volume longer than csv's field limit
# Files the quick reading leaves to the careful one, and what that makes of them (None: they read fine).
CAREFUL = {
    "quoted fields": (variant(BODY[:MID] + BODY[MID + 1 :], MID, QUOTED), None),
    "a blank line inside": (variant(BODY, MID, ",,,,,,\n") + "\n", None),
    "CR CR LF": ((HEADER + "".join(BODY)).replace("\n", "\r\r\n"), None),
    "a lone CR": (variant(BODY, MID, "2005-10-20,ORCL,12.5,13\r,12,12.5,100\n"), ("BAD_CSV", MID + 2)),
    "an unterminated quote": (variant(BODY, MID, '"2005-10-20,ORCL,12.5,13,12,12.5,100\n'), ("BAD_CSV", None)),
    "a NUL": (variant(BODY, MID, "2005-10-20,ORCL,12.5\x00,13,12,12.5,100\n"), ("BAD_NUMBER", MID + 2)),
    "a field beyond csv's limit": (variant(BODY, MID, HUGE), ("BAD_CSV", MID + 2)),
    "a row too short": (variant(BODY, MID, "2005-10-20,ORCL,12.5,13,12,12.5\n"), ("WRONG_FIELD_COUNT", MID + 2)),
    "NaN": (variant(BODY, MID, "2005-10-20,ORCL,nan,13,12,12.5,100\n"), ("BAD_NUMBER", MID + 2)),
    "an underscore": (variant(BODY, MID, "2005-10-20,ORCL,12_5,13,12,12.5,100\n"), ("BAD_NUMBER", MID + 2)),
    "close above high": (variant(BODY, MID, "2005-10-20,ORCL,12.5,13,12,13.5,100\n"), ("BAD_OHLC", MID + 2)),
    "a bad date": (variant(BODY, MID, "2005-13-20,ORCL,12.5,13,12,12.5,100\n"), ("BAD_TIMESTAMP", MID + 2)),
    "YYYYMMDD": (variant(BODY, MID, "20051020,ORCL,12.5,13,12,12.5,100\n"), ("BAD_TIMESTAMP", MID + 2)),
    "an unknown symbol": (variant(BODY, MID, "2005-10-20,ACME,12.5,13,12,12.5,100\n"), ("UNKNOWN_SYMBOL", MID + 2)),
    "an absurd price": (variant(BODY, MID, "2005-10-20,ORCL,1e300,1e300,1e300,1e300,1\n"), ("BAD_NUMBER", MID + 2)),
}


def outcome(make, *args):
    try:
        return make(*args)
    except FeedError as exc:
        return (exc.code, exc.line, str(exc))


def read(path: Path, catalog, symbols: list[str] | None):
    """Every row and every tick of ``path`` (books as their fields), or the error."""
    wanted = None if symbols is None else frozenset(symbols)
    rows = outcome(lambda: list(CsvFile(path, catalog, wanted).rows()))
    ticks = outcome(lambda: [(t.ts, [(b.symbol, b.ts, b.bids, b.asks, b.last, b.volume, b.halted) for b in t.books])
                             for t in ReplayFeed([path], catalog, symbols)])  # fmt: skip
    return rows, ticks


@pytest.fixture
def careful(monkeypatch):
    """Reading line by line only."""

    def off():
        monkeypatch.setattr(CsvFile, "_quick_bars", lambda self: None)

    return off


@pytest.mark.parametrize("name", list(QUICK))
def test_the_quick_reading_gives_the_careful_ones_rows_and_ticks(tmp_path, catalog, careful, name):
    path = tmp_path / "bars.csv"
    path.write_bytes(QUICK[name].encode())
    symbols = ["ORCL", "AAPL"] if "several" in name else None
    assert CsvFile(path, catalog, symbols and frozenset(symbols))._quick_bars() is not None, "read whole"
    quick = read(path, catalog, symbols)
    assert not isinstance(quick[1], tuple) and len(quick[1]) > 0, quick[1]
    careful()
    assert read(path, catalog, symbols) == quick


@pytest.mark.parametrize("name", list(CAREFUL))
def test_what_needs_care_is_read_line_by_line(tmp_path, catalog, careful, name):
    content, expected = CAREFUL[name]
    path = tmp_path / "bars.csv"
    path.write_bytes(content.encode())
    assert CsvFile(path, catalog)._quick_bars() is None
    given = read(path, catalog, None)
    if expected is None:
        assert all(isinstance(part, list) and part for part in given), given
    else:
        code, line = expected
        assert given[0][:2] == (code, line or len(BODY) + 2), given[0]
    careful()
    assert read(path, catalog, None) == given


def test_the_ascii_spaces_are_what_strip_takes_off():
    assert "".join(c for c in map(chr, range(128)) if not c.strip()) == csvfile._ASCII_SPACE


def test_a_file_not_utf8_names_its_line(tmp_path, catalog):
    path = tmp_path / "latin1.csv"
    latin1 = "2005-10-20,ORCL,12.5,13,12,12.5,100 caf\xe9\n".encode("latin-1")
    path.write_bytes(variant(BODY, MID, "").encode() + latin1)
    assert CsvFile(path, catalog)._quick_bars() is None
    assert read(path, catalog, None)[0][:2] == ("ENCODING", len(BODY) + 2)


def test_the_real_files_read_the_same_both_ways(catalog, careful):
    files = [EQUITIES_SAMPLE, DATA.parent.parent / "bench" / "data" / "orcl-daily-2005-2014.csv"]
    quick = [read(path, catalog, None) for path in files]
    careful()
    assert [read(path, catalog, None) for path in files] == quick


def day_by_day(schedule: VenueSchedule, day: int) -> tuple[int, int] | None:
    """The regular session trading on a UTC day, clipped to it, from the schedule's queries of one instant."""
    if schedule.phase(day) == "regular":
        opens = day
    else:
        opens = schedule.next_open(day)  # type: ignore[assignment]
        if opens is None or opens >= day + DAY_MS:
            return None
    closes = schedule.session_end(opens)
    return opens, day + DAY_MS if closes is None else min(closes, day + DAY_MS)


def test_regular_days_are_each_days_own_sessions(calendars_2013: SessionCalendars):
    for venue, schedule in calendars_2013.items():
        days = range(schedule.lo, schedule.hi, DAY_MS) if venue != "CRYPTO" else range(0, 400 * DAY_MS, DAY_MS)
        found = schedule.regular_days(reversed(days))  # any order
        assert found == {day: day_by_day(schedule, day) for day in days}, venue
        assert sum(s is not None for s in found.values()) >= 400, venue
    schedule = calendars_2013["XNYS"]
    for outside in (schedule.lo - DAY_MS, schedule.hi):
        with pytest.raises(SessionRangeError) as exc:
            schedule.regular_days([schedule.lo, outside])
        with pytest.raises(SessionRangeError) as one:
            schedule.phase(outside)
        assert str(exc.value) == str(one.value)


VOLUMES = st.one_of(
    st.floats(min_value=0.0, max_value=1e18, allow_nan=False),
    st.integers(min_value=0, max_value=10**15).map(lambda n: n / 2),  # halves: ties to round to even
    st.integers(min_value=0, max_value=2**53).map(float),
)


MIDS = st.sampled_from([0.01, 0.05, 13.41, 34.69, 99.995, 1234.5, 61234.57])  # a mid comes back: remembered
# Mids a few thousand ticks apart at most, near zero too: their prices are sliced from one span made at once.
NEAR = st.integers(1, 6000).map(lambda cents: cents / 100)


@settings(max_examples=400, deadline=None)
@given(volumes=st.lists(VOLUMES, min_size=1, max_size=5),
       mids=st.one_of(st.lists(MIDS, min_size=2, max_size=10), st.lists(NEAR, min_size=2, max_size=10)),
       symbol=st.sampled_from(["ORCL", "BTC-USD", "DOGE-USD"]))  # fmt: skip
def test_a_ladders_day_books_are_its_plain_arithmetic(catalog, volumes, mids, symbol):
    inst = catalog[symbol]
    books = ladder.Ladder(inst, inst.spread_bps * 1e-4)
    decimals, smallest = inst.qty_decimals, ladder.min_size(inst)
    count = min(len(volumes), len(mids) // 2)
    opens, closes, volumes = mids[:count], mids[count : 2 * count], volumes[:count]
    openings, closings = books.day_books(range(count), range(count), opens, closes, volumes)
    for i, volume in enumerate(volumes):
        depth = ladder.growing_sizes(ladder.top_size(inst, volume), decimals, smallest)
        assert books.sizes(volume) == depth
        first = round(volume / 2, decimals)
        assert books.halves(volume) == (first, round(volume - first, decimals))
        for book, mid, half in (
            (openings[i], opens[i], first),
            (closings[i], closes[i], round(volume - first, decimals)),
        ):
            bid, ask = ladder.touch_ticks(mid, inst.spread_bps * 1e-4, inst.tick_size)
            gap = ladder.level_gap_ticks(inst, mid)
            sides = ladder.prices(bid, -gap, inst.tick_size), ladder.prices(ask, gap, inst.tick_size)
            bids, asks = (tuple(zip(side, depth, strict=False)) for side in sides)
            assert book == L2Book(symbol, i, bids, asks, mid, half), (volume, mid)
            assert book._sides[:2] == sides  # (not one price more: the totals count them)
            assert book == books.book(i, mid, depth, mid, half)


def test_a_run_of_nearby_daily_books_takes_its_prices_from_one_span(catalog, monkeypatch):
    """What the property test above checks for the floats, here for the way: a stock's daily books make no side
    level by level, except a side that reaches zero."""
    inst = catalog["ORCL"]
    mids = [round(10 + 0.37 * i, 2) for i in range(200)]
    expected = ladder.Ladder(inst, inst.spread_bps * 1e-4).day_books(range(200), range(200), mids, mids, [1e6] * 200)
    made: list[int] = []
    plain = ladder.prices
    monkeypatch.setattr(ladder, "prices", lambda first, *rest: made.append(first) or plain(first, *rest))
    books = ladder.Ladder(inst, inst.spread_bps * 1e-4)
    assert books.day_books(range(200), range(200), mids, mids, [1e6] * 200) == expected
    assert made == []
    books.day_books([0], [0], [0.02], [0.02], [1e6])  # a bid side that reaches zero
    assert len(made) == 1


@settings(max_examples=300, deadline=None)
@given(first=st.integers(-50, 10**9), step=st.sampled_from([-100, -7, -1, 1, 3, 12]), count=st.integers(0, 12),
       tick=st.sampled_from([0.01, 0.25, 1e-5, 0.005, 0.0001, 1e-8, 0.3, 0.07]))  # fmt: skip
def test_a_sides_prices_are_its_ticks_on_the_grid(first, step, count, tick):
    levels = [n for n in range(first, first + step * count, step) if n > 0]  # stopping before zero
    units = ladder.per_unit(tick)
    expected = tuple(n / units for n in levels) if units else tuple(round(n * tick, 10) for n in levels)
    got = ladder.prices.__wrapped__(first, step, tick, count)
    assert [p.hex() for p in got] == [p.hex() for p in expected]
