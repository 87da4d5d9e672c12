"""Bot protocol v1, host side: validating bot lines, fuzzing the channel, MarketView, builders, flood control."""

from __future__ import annotations

import json
import os
import threading

import pytest
from arena_bot import Book
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.engine.book import L2Book
from arena.engine.orders import OrderError, TradingSession, parse_order
from arena.engine.rejections import RejectionCode
from arena.engine.rules import resolve_ruleset
from arena.runtime.protocol import (
    CHANNELS,
    ERROR_CODES,
    MAX_LINE_BYTES,
    PROTOCOL_VERSION,
    FloodGuard,
    FloodPolicy,
    MarketView,
    ProtocolViolation,
    encode_line,
    end_message,
    error_message,
    hello_message,
    margin_warning_message,
    order_request,
    parse_bot_message,
    ping_message,
    system_status_message,
    tick_message,
)
from sandbox.channel import JsonLineChannel
from sandbox.errors import ProtocolError

# -- parse_bot_message --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            {"type": "subscribe", "symbols": ["SPY", "SPY", "BTC-USD"]},
            {"type": "subscribe", "symbols": ["SPY", "BTC-USD"], "channels": list(CHANNELS)},
        ),
        (
            {"type": "unsubscribe", "symbols": ["SPY"], "channels": ["trades", "ticker"]},
            {"type": "unsubscribe", "symbols": ["SPY"], "channels": ["ticker", "trades"]},
        ),
        ({"type": "cancel", "client_order_id": "o1"}, {"type": "cancel", "client_order_id": "o1"}),
        ({"type": "cancel", "order_id": 7, "extra": 1}, {"type": "cancel", "order_id": 7}),
        ({"type": "pong", "id": 3}, {"type": "pong", "id": 3}),
        ({"type": "pong", "id": "hb-1"}, {"type": "pong", "id": "hb-1"}),
        ({"type": "done", "n": 12}, {"type": "done", "n": 12}),
        ({"type": "done"}, {"type": "done", "n": None}),
        ({"type": "log", "message": "hi"}, {"type": "log", "message": "hi", "level": "info"}),
        (
            {"type": "log", "message": "x" * 5000, "level": "error"},
            {"type": "log", "message": "x" * 1000, "level": "error"},
        ),
        ({"type": "resync", "symbol": "ETH-USD", "context": "t2"}, {"type": "resync", "symbol": "ETH-USD"}),
    ],
)
def test_valid_messages_are_normalised(line, expected):
    assert parse_bot_message(line) == expected


def test_a_log_keeps_no_nul():
    assert parse_bot_message({"type": "log", "message": "a\x00b"})["message"] == "a\ufffdb"


def test_an_order_keeps_unknown_fields_for_the_engine_but_never_a_context_or_account():
    line = {"type": "order", "symbol": "SPY", "side": "buy", "qty": 1, "order_type": "market", "colour": "red",
            "context": {"tournament": "other"}, "account": "someone-else"}  # fmt: skip
    message = parse_bot_message(line)
    assert "context" not in message and "account" not in message and message["colour"] == "red"
    request = order_request(message)
    assert request == {"symbol": "SPY", "side": "buy", "qty": 1, "type": "market", "colour": "red"}
    assert line["context"] == {"tournament": "other"}  # the caller's object is not mutated


def test_an_order_carries_its_session_tag_to_the_engine_which_judges_its_value():
    line = {"type": "order", "symbol": "SPY", "side": "buy", "qty": 1, "order_type": "limit", "limit_price": 500.0}
    assert parse_order(order_request(parse_bot_message(line)), "a").session is TradingSession.REGULAR  # optional
    tagged = order_request(parse_bot_message(line | {"session": "extended"}))
    assert tagged["session"] == "extended"
    assert parse_order(tagged, "a").session is TradingSession.EXTENDED
    # Like tif, an unknown value reaches the engine, whose INVALID_ORDER rejection names it (an order_update)...
    with pytest.raises(OrderError) as caught:
        parse_order(order_request(parse_bot_message(line | {"session": "overnight"})), "a")
    rejection = caught.value.rejection
    assert rejection.code is RejectionCode.INVALID_ORDER and "'overnight'" in rejection.message
    # ...but an oversized one stops at the protocol (INVALID_MESSAGE), before anything is stored.
    with pytest.raises(ProtocolViolation) as violation:
        parse_bot_message(line | {"session": "x" * 33})
    assert violation.value.code == "INVALID_MESSAGE" and "session" in str(violation.value)


@pytest.mark.parametrize(
    ("line", "code", "needle"),
    [
        ([1, 2], "NOT_AN_OBJECT", "list"),
        ("order", "NOT_AN_OBJECT", "str"),
        (None, "NOT_AN_OBJECT", "NoneType"),
        ({}, "INVALID_MESSAGE", "type"),
        ({"type": 5}, "INVALID_MESSAGE", "type"),
        ({"type": "buy"}, "UNKNOWN_TYPE", "buy"),
        ({"type": "hello"}, "UNKNOWN_TYPE", "hello"),
        ({"type": "subscribe"}, "INVALID_MESSAGE", "symbols"),
        ({"type": "subscribe", "symbols": []}, "INVALID_MESSAGE", "symbols"),
        ({"type": "subscribe", "symbols": "SPY"}, "INVALID_MESSAGE", "symbols"),
        ({"type": "subscribe", "symbols": [1]}, "INVALID_MESSAGE", "symbol"),
        ({"type": "subscribe", "symbols": ["x" * 33]}, "INVALID_MESSAGE", "symbol"),
        ({"type": "subscribe", "symbols": [f"S{i}" for i in range(257)]}, "INVALID_MESSAGE", "at most 256"),
        ({"type": "subscribe", "symbols": ["SPY"], "channels": ["level3"]}, "INVALID_MESSAGE", "level3"),
        ({"type": "subscribe", "symbols": ["SPY"], "channels": [["ticker"]]}, "INVALID_MESSAGE", "channel"),
        ({"type": "unsubscribe", "symbols": ["SPY"], "channels": []}, "INVALID_MESSAGE", "channels"),
        ({"type": "cancel"}, "INVALID_MESSAGE", "name the order"),
        ({"type": "cancel", "client_order_id": 5}, "INVALID_MESSAGE", "client_order_id"),
        ({"type": "cancel", "client_order_id": ""}, "INVALID_MESSAGE", "client_order_id"),
        ({"type": "cancel", "order_id": "5"}, "INVALID_MESSAGE", "order_id"),
        ({"type": "cancel", "order_id": True}, "INVALID_MESSAGE", "order_id"),
        ({"type": "done", "n": "3"}, "INVALID_MESSAGE", "'n'"),
        ({"type": "done", "n": -1}, "INVALID_MESSAGE", "'n'"),
        ({"type": "done", "n": 1.5}, "INVALID_MESSAGE", "'n'"),
        ({"type": "log"}, "INVALID_MESSAGE", "message"),
        ({"type": "log", "message": {"a": 1}}, "INVALID_MESSAGE", "message"),
        ({"type": "log", "message": "x", "level": "shout"}, "INVALID_MESSAGE", "level"),
        ({"type": "pong"}, "INVALID_MESSAGE", "id"),
        ({"type": "pong", "id": [1]}, "INVALID_MESSAGE", "id"),
        ({"type": "resync"}, "INVALID_MESSAGE", "symbol"),
        ({"type": "resync", "symbol": 3}, "INVALID_MESSAGE", "symbol"),
        # Strings that would not fit the record's columns (or that PostgreSQL refuses) stop here.
        ({"type": "order", "symbol": "S" * 33, "side": "buy", "qty": 1}, "INVALID_MESSAGE", "symbol"),
        ({"type": "order", "symbol": "SP\x00Y", "side": "buy", "qty": 1}, "INVALID_MESSAGE", "symbol"),
        ({"type": "order", "symbol": 5, "side": "buy", "qty": 1}, "INVALID_MESSAGE", "symbol"),
        ({"type": "order", "symbol": "SPY", "client_order_id": "o" * 65}, "INVALID_MESSAGE", "client_order_id"),
        ({"type": "order", "symbol": "SPY", "client_order_id": "o 1"}, "INVALID_MESSAGE", "client_order_id"),
        ({"type": "order", "symbol": "SPY", "side": "b" * 33}, "INVALID_MESSAGE", "'side'"),
        ({"type": "order", "symbol": "SPY", "f" * 33: 1}, "INVALID_MESSAGE", "field name"),
        ({"type": "order", "symbol": "SPY", **{f"f{i}": 1 for i in range(16)}}, "INVALID_MESSAGE", "at most 16"),
        ({"type": "cancel", "client_order_id": "o\x00"}, "INVALID_MESSAGE", "client_order_id"),
        ({"type": "resync", "symbol": "S" * 33}, "INVALID_MESSAGE", "symbol"),
        ({"type": "pong", "id": "hb\x00"}, "INVALID_MESSAGE", "id"),
    ],
)
def test_bad_messages_are_refused_with_a_code(line, code, needle):
    with pytest.raises(ProtocolViolation) as info:
        parse_bot_message(line)
    assert info.value.code == code and code in ERROR_CODES
    assert needle in info.value.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "order", "cancel", "pong", "done", "log", "resync", "x"])},
    optional={
        "symbols": json_values | st.lists(st.text(max_size=40), max_size=5),
        "channels": json_values | st.lists(st.sampled_from([*CHANNELS, "foo"]), max_size=4),
        "client_order_id": json_values,
        "order_id": json_values,
        "n": json_values,
        "id": json_values,
        "message": json_values,
        "level": json_values,
        "symbol": json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(json_values, message_like))
def test_fuzz_parse_raises_only_protocol_violations(value):
    try:
        message = parse_bot_message(value)
    except ProtocolViolation as exc:
        assert exc.code in ERROR_CODES
        return
    assert message["type"] in ("subscribe", "unsubscribe", "order", "cancel", "pong", "done", "log", "resync")
    assert "context" not in message and "account" not in message
    json.dumps(message)  # still plain JSON


def _read_lines_through_channel(lines: list[bytes]) -> list[dict | ProtocolError]:
    """Write raw lines into a real pipe and read them back through the host's JsonLineChannel."""
    read_fd, write_fd = os.pipe()
    dummy_read, dummy_write = os.pipe()  # the channel's writer side (the bot's stdin), unused here
    channel = JsonLineChannel(dummy_write, read_fd, max_line_bytes=MAX_LINE_BYTES - 1)

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as out:
            for line in lines:
                out.write(line)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        return list(channel)
    finally:
        writer.join()
        channel.close()
        os.close(dummy_read)


raw_line = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    message_like.map(lambda v: json.dumps(v).encode()),
    st.just(b"\xff\xfe{}"),
    st.just(b'{"type":"log","message":"' + b"a" * MAX_LINE_BYTES + b'"}'),
    st.just(b"[" * 5000 + b"]" * 5000),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(raw_line, max_size=8))
def test_fuzz_random_lines_through_a_pipe_yield_only_messages_or_coded_errors(lines):
    items = _read_lines_through_channel([line.replace(b"\n", b" ") + b"\n" for line in lines])
    counted = 0
    for item in items:
        if isinstance(item, ProtocolError):
            assert item.code in ERROR_CODES  # the channel's codes are protocol error codes too
            counted += 1
            continue
        try:
            parse_bot_message(item)
        except ProtocolViolation as exc:
            assert exc.code in ERROR_CODES
    # Every non-blank line comes out as exactly one item: nothing is lost and nothing slips through silently.
    assert len(items) == sum(1 for line in lines if line.replace(b"\n", b" ").strip())


def test_an_oversize_line_is_reported_and_the_next_line_still_parses():
    big = b'{"type":"log","message":"' + b"a" * MAX_LINE_BYTES + b'"}\n'
    items = _read_lines_through_channel([big, b'{"type":"done","n":1}\n'])
    assert isinstance(items[0], ProtocolError) and items[0].code == "LINE_TOO_LONG"
    assert parse_bot_message(items[1]) == {"type": "done", "n": 1}


def test_a_line_of_exactly_the_limit_is_accepted():
    prefix, suffix = b'{"type":"log","message":"', b'"}\n'
    line = prefix + b"a" * (MAX_LINE_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(line) == MAX_LINE_BYTES
    (item,) = _read_lines_through_channel([line])
    assert parse_bot_message(item)["type"] == "log"


# -- MarketView -----------------------------------------------------------------------------------------


def book(symbol: str, ts: int, bids, asks, last: float | None = 100.0, volume: float = 0.0) -> L2Book:
    return L2Book(symbol, ts, tuple(bids), tuple(asks), last, volume)


B1 = book("SPY", 1, [(99.0, 5.0), (98.0, 7.0)], [(101.0, 4.0), (102.0, 6.0)], last=100.0, volume=3.0)
B2 = book("SPY", 2, [(99.0, 6.0)], [(101.0, 4.0), (102.0, 6.0), (103.0, 1.0)], last=100.5)


def of(messages, kind):
    return [m for m in messages if m["type"] == kind]


def test_a_snapshot_then_deltas_of_changed_levels_only():
    view = MarketView(["SPY"])
    (snap,) = of(view.messages([B1]), "orderbook")
    assert snap["snapshot"] is True and snap["seq"] == 1
    assert snap["bids"] == [[99.0, 5.0], [98.0, 7.0]] and snap["asks"] == [[101.0, 4.0], [102.0, 6.0]]
    (delta,) = of(view.messages([B2]), "orderbook")
    assert delta["snapshot"] is False and delta["seq"] == 2
    assert delta["bids"] == [[99.0, 6.0], [98.0, 0.0]] and delta["asks"] == [[103.0, 1.0]]
    assert delta["last"] == 100.5 and delta["ts"] == 2
    assert of(view.messages([B2]), "orderbook") == []  # nothing changed: no message, no seq used
    assert of(view.messages([B1]), "orderbook")[0]["seq"] == 3


def test_ticker_and_trades():
    view = MarketView(["SPY"])
    messages = view.messages([B1])
    assert [m["type"] for m in messages] == ["ticker", "orderbook", "trades"]
    (ticker,) = of(messages, "ticker")
    assert ticker == {"type": "ticker", "symbol": "SPY", "seq": 1, "ts": 1, "bid": 99.0, "bid_size": 5.0,
                      "ask": 101.0, "ask_size": 4.0, "mid": 100.0, "last": 100.0}  # fmt: skip
    assert of(messages, "trades") == [
        {"type": "trades", "symbol": "SPY", "seq": 1, "ts": 1, "price": 100.0, "qty": 3.0}
    ]
    assert of(view.messages([B2]), "trades") == []  # no volume this tick
    one_sided = view.messages([book("SPY", 3, [], [(101.0, 1.0)])])
    assert of(one_sided, "ticker")[0]["bid"] is None and of(one_sided, "ticker")[0]["mid"] is None


def test_default_subscription_is_everything_and_a_subscribe_replaces_it():
    view = MarketView(["SPY", "BTC-USD"])
    btc = book("BTC-USD", 1, [(50000.0, 1.0)], [(50010.0, 1.0)])
    assert {m["symbol"] for m in view.messages([B1, btc])} == {"SPY", "BTC-USD"}
    assert view.subscribe(["BTC-USD", "NOPE"], ["orderbook"]) == ["NOPE"]
    messages = view.messages([B2, btc])
    assert [(m["type"], m["symbol"]) for m in messages] == []  # BTC book unchanged; SPY no longer wanted
    messages = view.messages([B2, book("BTC-USD", 3, [(50000.0, 2.0)], [(50010.0, 1.0)])])
    assert [(m["type"], m["symbol"], m["snapshot"]) for m in messages] == [("orderbook", "BTC-USD", False)]
    assert view.channels("SPY") == frozenset() and view.channels("BTC-USD") == {"orderbook"}


def test_resync_sends_a_snapshot_even_without_a_new_book():
    view = MarketView(["SPY"])
    view.messages([B1])
    assert view.resync("SPY") is True
    (snap,) = view.messages([])
    assert snap["snapshot"] is True and snap["seq"] == 2 and snap["bids"] == [[99.0, 5.0], [98.0, 7.0]]
    assert view.resync("NOPE") is False


def test_unsubscribe_stops_messages_and_resubscribing_starts_with_a_snapshot():
    view = MarketView(["SPY"])
    view.messages([B1])
    assert view.unsubscribe(["SPY"]) == []
    assert view.messages([B2]) == []
    assert view.resync("SPY") is False
    view.subscribe(["SPY"], ["orderbook", "ticker"])
    messages = view.messages([])  # the latest book, at once
    assert [m["type"] for m in messages] == ["ticker", "orderbook"]
    assert messages[1]["snapshot"] is True and messages[1]["seq"] == 2  # seq never goes back
    view.unsubscribe(["SPY"], ["ticker"])
    assert [m["type"] for m in view.messages([B1])] == ["orderbook"]


_LEVELS = st.lists(st.tuples(st.sampled_from([98.0, 99.0, 100.0, 101.0, 102.0]), st.sampled_from([0.0, 1.0, 2.0])),
                   max_size=4)
_BOOK = st.builds(lambda symbol, bids, asks, last, volume: (symbol, bids, asks, last, volume),
                  st.sampled_from(["SPY", "BTC-USD"]), _LEVELS, _LEVELS, st.sampled_from([None, 100.0, 100.5]),
                  st.sampled_from([0.0, 2.0]))  # fmt: skip
_ACTION = st.one_of(
    st.tuples(st.just("tick"), st.lists(_BOOK, max_size=2, unique_by=lambda b: b[0])),
    st.tuples(st.just("subscribe"), st.integers(0, 2), st.sampled_from([["SPY"], ["BTC-USD"], ["SPY", "BTC-USD"]]),
              st.sampled_from([None, ["orderbook"], ["ticker", "trades"]])),
    st.tuples(st.just("unsubscribe"), st.integers(0, 2), st.sampled_from([["SPY"], ["BTC-USD"]]),
              st.sampled_from([None, ["orderbook"]])),
    st.tuples(st.just("resync"), st.integers(0, 2), st.sampled_from(["SPY", "BTC-USD"])),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ACTION, max_size=25))
def test_lines_shared_between_bots_are_each_bots_own_messages_encoded(actions):
    """Three bots' views, each tick's encodings shared between them (as supervisors of one process share them):
    every line is exactly what the bot's own view, sharing nothing, would have sent it; whatever each subscribed to,
    resynced or dropped, and however the books changed."""
    shared_views = [MarketView(["SPY", "BTC-USD"]) for _ in range(3)]
    own_views = [MarketView(["SPY", "BTC-USD"]) for _ in range(3)]
    for ts, action in enumerate(actions, start=1):
        if action[0] == "tick":
            books = [book(symbol, ts, bids, asks, last, volume) for symbol, bids, asks, last, volume in action[1]]
            shared: dict = {}
            for mine, own in zip(shared_views, own_views, strict=True):
                assert mine.lines(books, shared) == [encode_line(m) for m in own.messages(books)]
        else:
            kind, who, *args = action
            for view in (shared_views[who], own_views[who]):
                getattr(view, kind)(*args)



def test_a_book_for_an_unknown_symbol_is_a_host_bug():
    with pytest.raises(ValueError, match="NOPE"):
        MarketView(["SPY"]).messages([book("NOPE", 1, [], [])])


def test_depth_limits_the_levels_sent():
    view = MarketView(["SPY"], depth=1)
    (snap,) = of(view.messages([B1]), "orderbook")
    assert snap["bids"] == [[99.0, 5.0]] and snap["asks"] == [[101.0, 4.0]]


levels = st.dictionaries(st.integers(0, 12), st.sampled_from([0.5, 1.0, 2.0, 3.0, 0.0]), max_size=8)


@st.composite
def book_sequences(draw):
    symbols = ["AAA", "BBB"]
    ops = []
    for ts in range(1, draw(st.integers(1, 25)) + 1):
        kind = draw(st.sampled_from(["tick", "tick", "tick", "resync", "unsubscribe", "subscribe", "drop"]))
        if kind != "tick":
            ops.append((kind, draw(st.sampled_from(symbols))))
            continue
        books = []
        for symbol in draw(st.lists(st.sampled_from(symbols), unique=True, max_size=2)):
            bids = sorted(((100.0 - p * 0.25, s) for p, s in draw(levels).items()), reverse=True)
            asks = sorted((100.5 + p * 0.25, s) for p, s in draw(levels).items())
            last = draw(st.none() | st.sampled_from([99.5, 100.0, 100.25]))
            books.append(book(symbol, ts, bids, asks, last, draw(st.sampled_from([0.0, 1.5]))))
        ops.append(("tick", books))
    return ops


@settings(max_examples=300, deadline=None)
@given(book_sequences())
def test_property_deltas_applied_to_the_sdk_book_reproduce_the_host_book(ops):
    """Over random books, resyncs, lost messages and (un)subscriptions, the bot's Book equals the host's."""
    view = MarketView(["AAA", "BBB"])
    local = {s: Book(s) for s in ("AAA", "BBB")}
    latest: dict[str, L2Book] = {}
    seqs: dict[tuple[str, str], int] = {}
    drop_next: set[str] = set()
    for kind, arg in ops:
        if kind == "resync":
            view.resync(arg)
        elif kind == "unsubscribe":
            view.unsubscribe([arg], ["orderbook"])
        elif kind == "subscribe":
            view.subscribe([arg], ["orderbook"])
        elif kind == "drop":
            drop_next.add(arg)  # the bot misses this symbol's next orderbook message
        if kind != "tick":
            continue
        latest.update({b.symbol: b for b in arg})
        for message in json.loads(json.dumps(view.messages(arg))):  # over the wire and back
            key = (message["symbol"], message["type"])
            assert message["seq"] == seqs.get(key, 0) + 1  # strictly increasing, no holes
            seqs[key] = message["seq"]
            if message["type"] != "orderbook":
                continue
            symbol = message["symbol"]
            if symbol in drop_next:
                drop_next.discard(symbol)
                continue
            target = local[symbol]
            args = (message["seq"], message["bids"], message["asks"], message["ts"], message["last"])
            if message["snapshot"]:
                target.apply_snapshot(*args)
            else:
                try:
                    target.apply_delta(*args)
                except Exception:
                    view.resync(symbol)  # what the SDK asks for on a gap
                    continue
            host = latest[symbol]
            assert target.bids == sorted(((p, s) for p, s in host.bids if s > 0), reverse=True)
            assert target.asks == sorted((p, s) for p, s in host.asks if s > 0)
            assert target.last == host.last
    # Any book the bot still follows ends exact after one more (resync-driven) round.
    final = view.messages([])
    for message in final:
        if message["type"] == "orderbook":
            assert message["snapshot"]


def test_the_same_calls_give_the_same_messages():
    def run():
        view = MarketView(["SPY", "BTC-USD"])
        out = view.messages([B1])
        view.subscribe(["SPY"])
        out += view.messages([B2])
        view.resync("SPY")
        return json.dumps(out + view.messages([B1]))

    assert run() == run()


# -- message builders and flood control --------------------------------------------------------------------


def test_builders():
    assert tick_message(3, 1000) == {"type": "tick", "n": 3, "ts": 1000}
    assert end_message()["type"] == "end"
    assert ping_message(9) == {"type": "ping", "id": 9}
    assert error_message("INVALID_JSON", "bad", line=4) == {"type": "error", "code": "INVALID_JSON",
                                                             "message": "bad", "line": 4}  # fmt: skip
    assert "line" not in error_message("UNKNOWN_TYPE", "x")
    warning = margin_warning_message(850_000.0, 1_000_000.0, 5, nav=500_000.0)
    assert warning["type"] == "risk.margin_warning" and warning["utilization"] == 0.85 and warning["threshold"] == 0.8
    assert system_status_message("halt", 7, symbol="SPY", reason="volatility")["symbol"] == "SPY"
    with pytest.raises(ValueError):
        system_status_message("paused", 7)
    for message in (tick_message(1, 1), end_message(), ping_message("a"), warning, system_status_message("open", 1)):
        assert len(json.dumps(message)) < MAX_LINE_BYTES


def test_hello_carries_the_protocol_version_and_limits(catalog):
    hello = hello_message("b1", "t1", resolve_ruleset(None), [catalog["SPY"]], tick_deadline_ms=250)
    assert hello["protocol"] == PROTOCOL_VERSION == 1
    assert hello["max_line_bytes"] == MAX_LINE_BYTES and hello["channels"] == list(CHANNELS)
    assert hello["clock"] == "lockstep" and hello["tick_deadline_ms"] == 250
    assert hello["instruments"][0]["symbol"] == "SPY"


def test_flood_guard_drops_over_the_tick_budget_and_cuts_off_floods():
    guard = FloodGuard(FloodPolicy(max_lines_per_tick=3, cut_off_lines_per_tick=6, max_bad_lines=2))
    assert [guard.line(10) for _ in range(4)] == ["accept"] * 3 + ["drop"]
    guard.next_tick()
    assert guard.line(10) == "accept" and guard.dropped == 1
    guard.next_tick()
    assert [guard.line(10) for _ in range(6)][-1] == "cut" and guard.cut_off and "6 lines" in guard.reason
    assert guard.line(1) == "cut"  # for ever
    bad = FloodGuard(FloodPolicy(max_bad_lines=2))
    assert [bad.line(1, bad=True) for _ in range(3)] == ["accept", "accept", "cut"]
    big = FloodGuard(FloodPolicy(max_bytes_per_tick=100))
    assert big.line(60) == "accept" and big.line(60) == "cut"


def test_flood_guard_weighs_a_line_before_it_is_decoded():
    """``line`` counts the real size before decoding, ``refused`` a line that then failed, ``discarded`` bytes that
    held no line (an oversize line's rest): each counts against the tick's byte budget."""
    guard = FloodGuard(FloodPolicy(max_bad_lines=1, max_bytes_per_tick=1000, max_lines_per_tick=2))
    assert guard.line(400) == "accept" and guard.refused() == "accept" and guard.bad_lines == 1
    assert guard.discarded(500) == "accept" and guard.window_bytes == 900 and guard.lines == 1
    assert guard.line(50) == "accept" and guard.line(10) == "drop"  # the line budget: no decoding at all
    assert guard.discarded(100) == "cut" and "bytes" in guard.reason
    second = FloodGuard(FloodPolicy(max_bad_lines=1))
    assert second.refused() == "accept" and second.refused() == "cut" and "invalid" in second.reason
