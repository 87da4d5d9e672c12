"""Every bad CSV row is a FeedError naming the file, the line and a machine-readable code."""

from __future__ import annotations

import pickle

import pytest

from arena.feeds import FeedError, FeedErrorCode, ReplayFeed
from arena.feeds.csvfile import parse_ts

Q = "ts,symbol,bid,ask,bid_size,ask_size,last,volume\n"
QOK = "2026-03-02T14:30:00Z,AAPL,255.00,255.02,100,100,255.01,10\n"
B = "ts,symbol,open,high,low,close,volume\n"
BOK = "2013-01-02,ORCL,34.08,34.74,33.93,34.69,33758400\n"

C = FeedErrorCode
CASES = [
    # (name, content, code, line)
    ("no header", "", C.EMPTY_FILE, None),
    ("blank lines only", "\n\n  \n", C.EMPTY_FILE, None),
    ("header only", Q, C.EMPTY_FILE, 1),
    ("unknown layout", "when,what,price\n1,2,3\n", C.BAD_HEADER, 1),
    ("column twice", "ts,symbol,bid,ask,bid_size,ask_size,bid\n", C.BAD_HEADER, 1),
    ("quotes lack a column", "ts,symbol,bid,ask,bid_size\n" + "x\n", C.MISSING_COLUMN, 1),
    ("bars lack volume", "ts,symbol,open,high,low,close\n", C.MISSING_COLUMN, 1),
    ("too few fields", Q + QOK + "2026-03-02T14:30:01Z,AAPL,255.00\n", C.WRONG_FIELD_COUNT, 3),
    ("too many fields", B + BOK + BOK.strip() + ",7\n", C.WRONG_FIELD_COUNT, 3),
    ("bad date", B + "2013-13-01,ORCL,1,1,1,1,1\n", C.BAD_TIMESTAMP, 2),
    ("words for a date", Q + "yesterday,AAPL,1.00,1.01,1,1,,\n", C.BAD_TIMESTAMP, 2),
    ("YYYYMMDD", Q + "20260302,AAPL,1.00,1.01,1,1,,\n", C.BAD_TIMESTAMP, 2),
    ("epoch seconds", Q + "1772461800,AAPL,1.00,1.01,1,1,,\n", C.BAD_TIMESTAMP, 2),
    ("empty ts", Q + ",AAPL,1.00,1.01,1,1,,\n", C.BAD_TIMESTAMP, 2),
    ("overflowing offset", Q + "9999-12-31T23:59:59-01:00,AAPL,1.00,1.01,1,1,,\n", C.BAD_TIMESTAMP, 2),
    ("NaN price", Q + QOK + "2026-03-02T14:30:01Z,AAPL,NaN,255.02,100,100,,\n", C.BAD_NUMBER, 3),
    ("inf size", Q + "2026-03-02T14:30:01Z,AAPL,255.00,255.02,inf,100,,\n", C.BAD_NUMBER, 2),
    ("overflowing number", Q + "2026-03-02T14:30:01Z,AAPL,255.00,1e999,1,100,,\n", C.BAD_NUMBER, 2),
    ("negative volume", Q + "2026-03-02T14:30:01Z,AAPL,255.00,255.02,1,1,,-5\n", C.BAD_NUMBER, 2),
    ("zero price", B + "2013-01-02,ORCL,0,34.74,0,34.69,1\n", C.BAD_NUMBER, 2),
    ("zero size", Q + "2026-03-02T14:30:01Z,AAPL,255.00,255.02,0,1,,\n", C.BAD_NUMBER, 2),
    ("comma decimal", Q + '2026-03-02T14:30:01Z,AAPL,"255,00",255.02,1,1,,\n', C.BAD_NUMBER, 2),
    ("empty required number", B + "2013-01-02,ORCL,34.08,,33.93,34.69,1\n", C.BAD_NUMBER, 2),
    ("absurd price", B + "2013-01-02,ORCL,1e300,1e300,1e300,1e300,1\n", C.BAD_NUMBER, 2),
    ("locked quote", Q + "2026-03-02T14:30:01Z,AAPL,255.02,255.02,1,1,,\n", C.CROSSED_QUOTE, 2),
    ("crossed quote", Q + QOK + QOK + "2026-03-02T14:30:01Z,AAPL,255.03,255.02,1,1,,\n", C.CROSSED_QUOTE, 4),
    ("off the tick grid", Q + "2026-03-02T14:30:01Z,AAPL,255.005,255.02,1,1,,\n", C.OFF_TICK, 2),
    ("high below low", B + "2013-01-02,ORCL,34.08,33.00,34.00,34.50,1\n", C.BAD_OHLC, 2),
    ("close above high", B + BOK + "2013-01-03,ORCL,34.08,34.74,33.93,35.00,1\n", C.BAD_OHLC, 3),
    ("open below low", B + "2013-01-02,ORCL,30.00,34.74,33.93,34.00,1\n", C.BAD_OHLC, 2),
    ("unknown symbol", Q + QOK + "2026-03-02T14:30:01Z,ACME,1.00,1.01,1,1,,\n", C.UNKNOWN_SYMBOL, 3),
    ("lower-case symbol", B + "2013-01-02,orcl,34.08,34.74,33.93,34.69,1\n", C.UNKNOWN_SYMBOL, 2),
    ("quotes go backwards", Q + QOK + "2026-03-02T14:29:59Z,AAPL,255.00,255.02,1,1,,\n", C.OUT_OF_ORDER, 3),
    ("bar twice", B + BOK + "2013-01-03,ORCL,34,35,33,34,1\n" + BOK, C.DUPLICATE_ROW, 4),
    ("bar on Christmas", B + BOK + "2013-12-25,ORCL,34,35,33,34,1\n", C.NOT_A_SESSION, 3),
    ("bar on a Saturday", B + "2013-01-05,ORCL,34,35,33,34,1\n", C.NOT_A_SESSION, 2),
    ("unterminated quote", Q + QOK + '"2026-03-02T14:30:01Z,AAPL,255.00,255.02,1,1,,\n', C.BAD_CSV, 3),
    ("text after a quote", Q + QOK + '"2026-03-02T14:30:01Z"x,AAPL,255.00,255.02,1,1,,\n', C.BAD_CSV, 3),
    ("NUL byte", Q + QOK + "2026-03-02T14:30:01Z,AAPL,255.00\x00,255.02,1,1,,\n", C.BAD_NUMBER, 3),
]


@pytest.mark.parametrize(("content", "code", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file(tmp_path, catalog, calendars_2013, content, code, line):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FeedError) as info:
        feed = ReplayFeed([path], catalog, calendars=calendars_2013)
        feed.validate()
    error = info.value
    assert (error.code, error.path, error.line) == (code, str(path), line), str(error)
    assert str(path) in str(error) and code.value in str(error)
    if line is not None:
        assert f":{line}:" in str(error)
    # Iterating hits the same error (never a bare exception).
    with pytest.raises(FeedError) as again:
        list(ReplayFeed([path], catalog, calendars=calendars_2013))
    assert (again.value.code, again.value.line) == (code, line)


def test_not_utf8_names_the_line(tmp_path, catalog):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (Q + QOK + QOK).encode() + "2026-03-02T14:30:01Z,AAPL,255.00,255.02,1,1,,,caf\xe9\n".encode("latin-1")
    )
    with pytest.raises(FeedError) as info:
        ReplayFeed([path], catalog).validate()
    assert (info.value.code, info.value.line) == (C.ENCODING, 4)


def test_byte_order_mark_and_crlf_are_fine(tmp_path, catalog):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (Q + QOK).replace("\n", "\r\n").encode())
    (tick,) = list(ReplayFeed([path], catalog))
    assert tick.books[0].bids[0] == (255.0, 100.0)


def test_header_aliases_extra_columns_and_any_order(tmp_path, catalog):
    path = tmp_path / "alias.csv"
    path.write_text(
        "Symbol,Date,Close,Open,High,Low,Adj Close,Volume\nORCL,2013-01-02,34.69,34.08,34.74,33.93,30,1\n"
    )
    ticks = list(ReplayFeed([path], catalog))
    assert [t.books[0].last for t in ticks] == [34.08, 34.69]


def test_missing_file_and_directory(tmp_path, catalog):
    with pytest.raises(FeedError) as info:
        ReplayFeed([tmp_path / "nope.csv"], catalog)
    assert info.value.code is C.NO_SUCH_FILE and info.value.path == str(tmp_path / "nope.csv")
    with pytest.raises(FeedError) as info:
        ReplayFeed([tmp_path], catalog)
    assert info.value.code is C.UNREADABLE


def test_unwanted_symbols_are_checked_for_form_but_not_the_catalog(tmp_path, catalog):
    path = tmp_path / "mixed.csv"
    path.write_text(Q + QOK + "2026-03-02T14:30:01Z,ACME,1.00,1.01,1,1,,\n")
    assert len(list(ReplayFeed([path], catalog, symbols=["AAPL"]))) == 1
    path.write_text(Q + QOK + "2026-03-02T14:30:01Z,ACME,1.01,1.00,1,1,,\n")
    with pytest.raises(FeedError) as info:
        list(ReplayFeed([path], catalog, symbols=["AAPL"]))
    assert (info.value.code, info.value.line) == (C.CROSSED_QUOTE, 3)
    with pytest.raises(FeedError) as info:
        ReplayFeed([path], catalog, symbols=["ACME"])
    assert info.value.code is C.UNKNOWN_SYMBOL


def test_validate_finds_a_late_error_before_any_tick(tmp_path, catalog):
    rows = [f"{1772461800000 + i * 1000},AAPL,255.00,255.02,1,1,,\n" for i in range(5000)]
    rows[4000] = "1772461800000,AAPL,255.00,255.02,1,1,,\n"
    path = tmp_path / "late.csv"
    path.write_text(Q + "".join(rows))
    feed = ReplayFeed([path], catalog)
    with pytest.raises(FeedError) as info:
        feed.validate()
    assert (info.value.code, info.value.line) == (C.OUT_OF_ORDER, 4002)
    # Streaming hands out the ticks before the bad row, and none at or after the row before it.
    seen = []
    with pytest.raises(FeedError):
        for tick in feed:
            seen.append(tick.ts)
    assert len(seen) < 4000


def test_error_survives_pickling_and_serialises():
    error = FeedError(C.BAD_NUMBER, "bid 'x' is not a finite number", "a.csv", 7)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.message, copy.path, copy.line) == (C.BAD_NUMBER, error.message, "a.csv", 7)
    assert str(copy) == "a.csv:7: BAD_NUMBER: bid 'x' is not a finite number"
    assert error.as_dict() == {"code": "BAD_NUMBER", "message": error.message, "path": "a.csv", "line": 7}
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2013-01-02", 1357084800000),
        ("2013-01-02T14:30:00Z", 1357137000000),
        ("2013-01-02T09:30:00-05:00", 1357137000000),
        ("2013-01-02 14:30:00", 1357137000000),
        ("2013-01-02T14:30:00.123456Z", 1357137000123),
        (" 1357137000000 ", 1357137000000),
    ],
)
def test_timestamps(text, expected):
    assert parse_ts(text)[0] == expected
