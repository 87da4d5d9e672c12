"""Trading halts: a symbol's halted book (a replay file's ``halted`` column) refuses new orders with
LIQUIDITY_HALT, holds its resting orders and any liquidation until it resumes, and every bot is told
(``system.status`` halt, then open, with the symbol)."""

from __future__ import annotations

from arena.engine.book import L2Book
from arena.engine.events import Fill, OrderAccepted, OrderRejected
from arena.engine.rejections import RejectionCode
from arena.feeds import ReplayFeed
from arena.runtime.bus import book_from_wire, book_to_wire
from arena.runtime.updates import SessionWatch
from tests.engine.builders import T0, ladder, tick

MINUTE = 60_000


def _btc(ts: int, mid: float = 50_000.0, halted: bool = False):
    book = ladder("BTC-USD", ts, mid - 0.5, mid + 0.5, size=100, step=1.0)
    return L2Book(book.symbol, book.ts, book.bids, book.asks, book.last, book.volume, halted)


def _buy(**fields) -> dict:
    return {"symbol": "BTC-USD", "side": "buy", "type": "market", "qty": 1} | fields


def test_a_halted_symbol_refuses_orders_and_holds_resting_ones_until_it_resumes(make_engine):
    engine = make_engine({"order_rate": {"max_orders": 100}})
    engine.on_tick(tick(T0, _btc(T0)))
    resting = engine.submit(_buy(type="limit", limit_price=49_000, client_order_id="rest"), T0, account="a")
    assert [type(e) for e in resting] == [OrderAccepted]
    engine.on_tick(tick(T0 + MINUTE, _btc(T0 + MINUTE, halted=True)))
    [refused] = engine.submit(_buy(client_order_id="x"), T0 + MINUTE, account="a")
    assert isinstance(refused, OrderRejected) and refused.rejection.code is RejectionCode.LIQUIDITY_HALT
    # The price falls through the resting limit while halted: nothing fills.
    held = engine.on_tick(tick(T0 + 2 * MINUTE, _btc(T0 + 2 * MINUTE, 48_000, halted=True)))
    assert not any(isinstance(e, Fill) for e in held)
    resumed = engine.on_tick(tick(T0 + 3 * MINUTE, _btc(T0 + 3 * MINUTE, 48_000)))
    assert [f.client_order_id for f in resumed if isinstance(f, Fill)] == ["rest"]
    assert any(isinstance(e, Fill) for e in engine.submit(_buy(client_order_id="y"), T0 + 3 * MINUTE, account="a"))


def test_bots_are_told_of_a_halt_and_of_the_resumption(make_engine):
    engine = make_engine()
    watch = SessionWatch(engine, ["CRYPTO"], extended_hours=False)
    watch.changes(T0, [_btc(T0)])  # the venue's first status
    halt = watch.changes(T0 + MINUTE, [_btc(T0 + MINUTE, halted=True)])
    assert [(m["status"], m["symbol"]) for m in halt] == [("halt", "BTC-USD")]
    assert watch.changes(T0 + 2 * MINUTE, [_btc(T0 + 2 * MINUTE, halted=True)]) == []  # said once
    resume = watch.changes(T0 + 3 * MINUTE, [_btc(T0 + 3 * MINUTE)])
    assert [(m["status"], m["symbol"]) for m in resume] == [("open", "BTC-USD")]


def test_a_halt_travels_on_the_wire_and_comes_from_a_replay_file(tmp_path, catalog):
    halted = _btc(T0, halted=True)
    assert book_from_wire(book_to_wire(halted)) == halted
    assert len(book_to_wire(_btc(T0))) == 6  # an ordinary book's wire form is unchanged
    path = tmp_path / "halts.csv"
    path.write_text("ts,symbol,bid,ask,bid_size,ask_size,halted\n"
                    "2026-03-02T15:00:00Z,BTC-USD,49999.5,50000.5,2,2,0\n"
                    "2026-03-02T15:01:00Z,BTC-USD,49999.5,50000.5,2,2,yes\n"
                    "2026-03-02T15:02:00Z,BTC-USD,49999.5,50000.5,2,2,\n")  # fmt: skip
    assert [t.books[0].halted for t in ReplayFeed([path], catalog)] == [False, True, False]


def test_a_halted_column_with_anything_else_is_refused_with_its_line(tmp_path, catalog):
    import pytest

    from arena.feeds import FeedError, FeedErrorCode

    path = tmp_path / "bad.csv"
    path.write_text("ts,symbol,bid,ask,bid_size,ask_size,halted\n2026-03-02T15:00:00Z,BTC-USD,49999.5,50000.5,2,2,maybe\n")
    with pytest.raises(FeedError) as info:
        ReplayFeed([path], catalog).validate()
    assert (info.value.code, info.value.line) == (FeedErrorCode.BAD_NUMBER, 2) and "halted" in str(info.value)
