"""Whatever a CSV file holds, reading it ends in ticks or a FeedError, never another exception."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.feeds import FeedError, ReplayFeed

_counter = itertools.count()

LAYOUTS = [
    "ts,symbol,bid,ask,bid_size,ask_size,last,volume",
    "ts,symbol,bid,ask,bid_size,ask_size",
    "ts,symbol,open,high,low,close,volume",
    "date,symbol,open,high,low,close,volume,adj",
    "symbol,ts,close,low,high,open,volume",
    "ts,symbol,bid",
    "ts,,",
]
# Good values repeat so that whole files come out valid often enough to exercise the replay too.
TIMES = (
    ["2013-01-02"] * 4
    + ["2013-01-03"] * 3
    + ["1357137000000"] * 3
    + [
        "2013-01-05",
        "2013-12-25",
        "2026-03-02T14:30:00Z",
        "2013-01-02 14:30",
        "20130102",
        "0001-01-01",
        "9999-12-31",
        "2013-02-30",
        "",
        "x",
    ]
)
SYMBOLS = ["ORCL"] * 6 + ["AAPL"] * 3 + ["BTC-USD", "EURUSD", "GCZ26", "ACME", "", "orcl"]
NUMBERS = (
    ["34.08"] * 8
    + ["34.09"] * 4
    + ["1"] * 2
    + [
        "0",
        "-1",
        "1.5",
        "255.005",
        "1e308",
        "1e-300",
        "nan",
        "inf",
        "1e16",
        "",
        "\x00",
        '""',
        "é",
        " 7 ",
    ]
)
KIND = {"ts": TIMES, "date": TIMES, "symbol": SYMBOLS}


@st.composite
def structured(draw: st.DrawFn) -> str:
    """A header and rows of about the right shape, with plausible and implausible values mixed."""
    header = draw(st.sampled_from(LAYOUTS))
    columns = header.split(",")
    lines = [header]
    for _ in range(draw(st.integers(0, 6))):
        fields = [draw(st.sampled_from(KIND.get(c, NUMBERS))) for c in columns]
        if draw(st.integers(0, 9)) == 0:  # now and then, a field too few or too many
            fields = fields[:-1] if draw(st.booleans()) else [*fields, "1"]
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


# Arbitrary printable junk, weighted towards CSV-ish characters.
junk = st.text(
    alphabet=st.sampled_from(list(',"\n\r0123456789.-:TZ abcdefghijklmnopqrstuvwxyzé\x00')), max_size=300
)


def read(directory, data: bytes, catalog, calendars) -> None:
    path = directory / f"fuzz-{next(_counter)}.csv"
    path.write_bytes(data)
    try:
        feed = ReplayFeed([path], catalog, calendars=calendars)
        feed.validate()
        ticks = list(feed)
        assert all(a.ts <= b.ts for a, b in itertools.pairwise(ticks))
    except FeedError as error:
        assert error.path == str(path) and error.code.value in str(error)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(content=structured())
def test_structured_junk(tmp_path_factory, catalog, calendars_2013, content):
    read(tmp_path_factory.getbasetemp(), content.encode(), catalog, calendars_2013)


@FUZZ
@given(content=junk)
def test_text_junk(tmp_path_factory, catalog, calendars_2013, content):
    read(tmp_path_factory.getbasetemp(), content.encode(), catalog, calendars_2013)


@FUZZ
@given(content=st.binary(max_size=300))
def test_binary_junk(tmp_path_factory, catalog, calendars_2013, content):
    read(tmp_path_factory.getbasetemp(), content, catalog, calendars_2013)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=structured())
def test_structured_junk_building_its_own_calendars(tmp_path_factory, catalog, content):
    read(tmp_path_factory.getbasetemp(), content.encode(), catalog, None)


quote_rows = st.lists(
    st.tuples(
        st.integers(0, 5_000),  # ms after the previous row
        st.sampled_from(["AAPL", "MSFT", "BTC-USD"]),
        st.integers(1, 10_000_000),  # bid in ticks
        st.integers(1, 50),  # spread in ticks
        st.integers(1, 10_000),  # bid size
        st.integers(1, 10_000),  # ask size
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=quote_rows)
def test_valid_quotes_replay_as_written(tmp_path_factory, catalog, rows):
    ts = 1_772_461_800_000
    lines = ["ts,symbol,bid,ask,bid_size,ask_size"]
    expected: dict[tuple[int, str], tuple[float, float, float, float]] = {}
    for gap, symbol, bid, spread, bid_size, ask_size in rows:
        ts += gap
        bid_price, ask_price = f"{bid / 100:.2f}", f"{(bid + spread) / 100:.2f}"
        lines.append(f"{ts},{symbol},{bid_price},{ask_price},{bid_size},{ask_size}")
        expected[ts, symbol] = (float(bid_price), float(ask_price), float(bid_size), float(ask_size))
    path = tmp_path_factory.getbasetemp() / f"quotes-{next(_counter)}.csv"
    path.write_text("\n".join(lines) + "\n")
    books = [b for t in ReplayFeed([path], catalog) for b in t.books]
    assert {(b.ts, b.symbol): (*b.bids[0], *b.asks[0]) for b in books} == {
        k: (bid, bid_size, ask, ask_size) for k, (bid, ask, bid_size, ask_size) in expected.items()
    }
    assert len(books) == len(expected)
