"""The tournament record: engine events in bulk, equity, standings, the leaderboard rebuild, logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from arena.engine.engine import Engine
from arena.engine.events import AccountUpdate, Fill, OrderDone, OrderRejected
from arena.engine.orders import OrderStatus, OrderType, Side, TradingSession
from arena.engine.rejections import Rejection, RejectionCode
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick
from arena.store import record, tournaments
from arena.store.errors import InvalidValue
from arena.store.models import FillRecord, LogStream, OrderRecord, TournamentStatus
from tests.engine.builders import T0, accepted, ladder


@dataclass(frozen=True)
class Standing:  # the shape of arena.runtime.tournament.Standing
    bot: str
    rank: int
    score: float
    nav: float
    max_drawdown: float
    status: str


@pytest.fixture
def cup(world):
    """A running tournament with two entries, and its entry map."""
    alice, bob = world.contestant("alice"), world.contestant("bob")
    t = world.tournament("cup")
    tournaments.enter(world.session, t, world.version(alice, "a"), alice)
    tournaments.enter(world.session, t, world.version(bob, "b"), bob)
    tournaments.transition(world.session, t, TournamentStatus.RUNNING)
    world.session.commit()
    return t, tournaments.entry_map(world.session, t)


def _fill(ts, order_id, account, qty, filled, remaining, fee=0.5, price=100.0, side=Side.BUY):
    return Fill(ts, order_id, account, f"c{order_id}", "AAPL", side, qty, price, fee, False, filled, remaining)


def test_orders_fills_rejections_and_order_state(session: Session, cup) -> None:
    t, entries = cup
    a = "alice:a"
    first = [
        accepted(T0, 1, a, "c1", "AAPL"),
        _fill(T0, 1, a, 4.0, 4.0, 6.0),  # partial, same batch as its acceptance
        accepted(T0, 2, a, "c2", "AAPL"),
        _fill(T0, 2, a, 10.0, 10.0, 0.0),  # filled at once
        accepted(T0, 3, "bob:b", None, "AAPL", side=Side.SELL, qty=5.0, type=OrderType.LIMIT, limit_price=99.0,
                 session=TradingSession.EXTENDED),
        OrderRejected(T0, "bob:b", "x", "ZZZ", Rejection(RejectionCode.UNKNOWN_SYMBOL, "no such symbol ZZZ")),
        AccountUpdate(T0, a, 1e6, 0.0, 1e6),  # left to record_equity
    ]
    assert record.record_events(session, t, entries, first) == record.Recorded(orders=3, fills=2, rejections=1)
    second = [
        _fill(T0 + 60_000, 1, a, 6.0, 10.0, 0.0, fee=0.25),  # order 1 completes a batch later
        OrderDone(T0 + 60_000, 3, "bob:b", None, OrderStatus.CANCELLED, "cancelled by the bot", 0.0),
    ]
    assert record.record_events(session, t, entries, second) == record.Recorded(updated=2, fills=1)
    session.commit()
    orders = {o.order_id: o for o in session.scalars(select(OrderRecord))}
    assert (orders[1].status, orders[1].filled_qty, orders[1].fees, orders[1].done_ts) == (
        OrderStatus.FILLED, 10.0, 0.75, T0 + 60_000)  # fmt: skip
    # The order's terms come from the order its OrderAccepted carries.
    assert (orders[1].side, orders[1].type, orders[1].qty) == (Side.BUY, OrderType.MARKET, 10.0)
    assert (orders[2].status, orders[2].done_ts) == (OrderStatus.FILLED, T0)
    assert (orders[3].status, orders[3].reason) == (OrderStatus.CANCELLED, "cancelled by the bot")
    three = orders[3]
    assert (three.side, three.type, three.qty, three.limit_price) == (Side.SELL, OrderType.LIMIT, 5.0, 99.0)
    assert (orders[1].session, three.session) == ("regular", "extended")
    assert [f.qty for f in record.fills_of(session, entries[a])] == [4.0, 10.0, 6.0]
    rejected = record.rejections_of(session, entries["bob:b"])
    assert [(r.code, r.symbol, r.client_order_id) for r in rejected] == [("UNKNOWN_SYMBOL", "ZZZ", "x")]
    assert [o.order_id for o in record.orders_of(session, entries[a])] == [1, 2]
    assert record.trade_stats(session, t) == {entries[a]: (3, 1.25)}


def test_unknown_account_is_refused(session: Session, cup) -> None:
    t, entries = cup
    with pytest.raises(InvalidValue) as caught:
        record.record_events(session, t, entries, [accepted(T0, 1, "mallory:x", None, "AAPL")])
    assert caught.value.code == "UNKNOWN_ACCOUNT"


def test_ten_thousand_fills_in_bulk(session: Session, cup) -> None:
    t, entries = cup
    events = []
    for i in range(10_000):
        account = "alice:a" if i % 2 else "bob:b"
        events.append(accepted(T0 + i, i, account, None, "AAPL"))
        events.append(_fill(T0 + i, i, account, 1.0, 1.0, 0.0, fee=0.01, price=100 + i % 7))
    statements = []
    # Counted, not timed (speed is for bench/): in bulk, a statement per page of rows, not one per row.
    listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
    event.listen(session.bind, "before_cursor_execute", listener)
    try:
        recorded = record.record_events(session, t, entries, events)
        session.commit()
    finally:
        event.remove(session.bind, "before_cursor_execute", listener)
    assert recorded == record.Recorded(orders=10_000, fills=10_000)
    assert session.scalar(select(func.count()).select_from(FillRecord)) == 10_000
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert 2 <= len(inserts) <= 60, f"{len(inserts)} INSERT statements for 20,000 rows"
    stats = record.trade_stats(session, t)
    assert stats[entries["alice:a"]][0] == 5_000 and stats[entries["alice:a"]][1] == pytest.approx(50.0)


def test_equity_then_standings_rebuild_the_leaderboard(session: Session, cup) -> None:
    t, entries = cup
    assert record.standings_scores(session, t) == {}
    updates = [
        AccountUpdate(T0, "alice:a", 1_000_000.0, 0.0, 1_000_000.0),
        AccountUpdate(T0, "bob:b", 990_000.0, 0.01, 980_100.0),
        AccountUpdate(T0 + 60_000, "alice:a", 1_010_000.5, 0.0, 1_010_000.5),
        accepted(T0, 1, "alice:a", None, "AAPL"),  # not an update: skipped
    ]
    assert record.record_equity(session, t, entries, updates) == 3
    session.commit()
    # Running: the latest snapshot of each entry.
    assert record.standings_scores(session, t) == {"alice:a": 1_010_000.5, "bob:b": 980_100.0}
    curve = record.equity_curve(session, entries["alice:a"])
    assert [(row.ts, row.nav) for row in curve] == [(T0, 1_000_000.0), (T0 + 60_000, 1_010_000.5)]
    assert [row.ts for row in record.equity_curve(session, entries["alice:a"], after_ts=T0)] == [T0 + 60_000]
    # Finished: the final standings win, and recording them again replaces them.
    final = [Standing("alice:a", 1, 1_020_000.25, 1_020_000.25, 0.0, "finished"),
             Standing("bob:b", 2, 970_000.0, 980_000.0, 0.0102, "oom")]  # fmt: skip
    record.record_events(session, t, entries, [accepted(T0, 9, "bob:b", None, "AAPL"),
                                               _fill(T0, 9, "bob:b", 1.0, 1.0, 0.0, fee=2.5)])  # fmt: skip
    assert record.record_standings(session, t, entries, final) == 2
    assert record.record_standings(session, t, entries, final) == 2
    session.commit()
    assert record.standings_scores(session, t) == {"alice:a": 1_020_000.25, "bob:b": 970_000.0}
    rows = record.standings_of(session, t)
    assert [(r.rank, r.entry.bot_key, r.status, r.trades, r.fees) for r in rows] == [
        (1, "alice:a", "finished", 0, 0.0), (2, "bob:b", "oom", 1, 2.5)]  # fmt: skip


def test_record_from_a_real_engine(session: Session, cup, catalog) -> None:
    """Events straight from the engine: the record agrees with its accounts."""
    t, entries = cup
    engine = Engine(catalog, SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 10)))
    for key in entries:
        engine.open_account(key, None)
    events = list(engine.on_tick(Tick(T0, (ladder("AAPL", T0, 254.99, 255.01, size=100, volume=50_000),))))
    for i, key in enumerate(entries):
        events += engine.submit({"symbol": "AAPL", "side": "buy", "qty": 150 + i}, T0 + 1, account=key)
        events += engine.submit({"symbol": "AAPL", "side": "sell", "qty": 5, "type": "limit", "limit_price": 300.0},
                                T0 + 1, account=key)  # fmt: skip
        events += engine.submit({"symbol": "NOPE", "side": "buy", "qty": 1}, T0 + 1, account=key)
    record.record_events(session, t, entries, events)
    record.record_equity(session, t, entries, events)
    session.commit()
    stats = record.trade_stats(session, t)
    for key, entry_id in entries.items():
        account = engine.accounts[key]
        assert stats[entry_id][0] == account.fills
        assert stats[entry_id][1] == pytest.approx(account.fees_paid)
        assert len(record.rejections_of(session, entry_id)) == 1
        resting = [o for o in record.orders_of(session, entry_id) if o.status is OrderStatus.OPEN]
        assert [(o.type.value, o.limit_price, o.qty) for o in resting] == [("limit", 300.0, 5.0)]
    scores = record.standings_scores(session, t)
    assert scores == {key: engine.accounts[key].score for key in entries}


def test_logs_are_capped(session: Session, cup) -> None:
    _, entries = cup
    entry_id = entries["alice:a"]
    assert record.append_logs(session, entry_id, [("stderr", "boom"), (LogStream.PROTOCOL, "x" * 10_000)]) == 2
    assert record.append_logs(session, entry_id, [("system", f"line {i}") for i in range(10)], cap=7) == 5
    assert record.append_logs(session, entry_id, [("stderr", "more")], cap=7) == 0
    session.commit()
    lines = record.logs_of(session, entry_id)
    assert len(lines) == 7 and lines[-1].text == "log truncated at 7 lines"
    assert len(lines[1].text) == 4096 and lines[1].text.endswith("[truncated]")
    assert lines[0].ts.tzinfo is not None
    assert [x.text for x in record.logs_of(session, entry_id, stream=LogStream.STDERR)] == ["boom"]
    assert [x.text for x in record.logs_of(session, entry_id, after_id=lines[4].id, limit=1)] == [lines[5].text]
    with pytest.raises(ValueError):
        record.append_logs(session, entry_id, [("stdout", "not a stream")])


def test_a_liquidation_fill_is_recorded_as_one(session: Session, cup) -> None:
    t, entries = cup
    a = "alice:a"
    forced = _fill(T0, 7, a, 2.0, 2.0, 0.0)._replace(client_order_id=None, side=Side.SELL, liquidation=True)
    own = [accepted(T0, 6, a, "c6", "AAPL"), _fill(T0, 6, a, 2.0, 2.0, 0.0)]
    record.record_events(session, t, entries, [*own, accepted(T0, 7, a, None, "AAPL", side=Side.SELL, qty=2.0), forced])
    session.commit()
    rows = {f.order_id: f.liquidation for f in record.fills_of(session, entries[a], limit=10)}
    assert rows == {6: False, 7: True}
