"""The Recorder against a real engine (no sandbox), on SQLite and PostgreSQL: orders with the terms their
OrderAccepted carries, sampled equity, the market's ticks, the end, and a database that refuses writes for a while."""

from __future__ import annotations

import random
from datetime import date

import pytest
from sqlalchemy import func, select

from arena.catalog import load_catalog
from arena.engine.engine import Engine
from arena.engine.events import AccountUpdate, Fill
from arena.engine.orders import OrderType
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick
from arena.runtime.tournament import BotState, Standing
from arena.service.recorder import Recorder
from arena.store import record, tournaments
from arena.store.db import make_engine, make_sessionmaker
from arena.store.models import EntryStatus, EquitySnapshot, LogStream, TournamentStatus
from tests.engine.builders import T0, ladder
from tests.recorded import market_rows, show, trade
from tests.store.conftest import World


@pytest.fixture
def cup(sessions):
    """A running tournament of 100 ticks with two entries: (tournament id, bot keys)."""
    with sessions.begin() as session:
        world = World(session)
        alice, bob = world.contestant("alice"), world.contestant("bob")
        t = world.tournament("cup", ticks=100)
        tournaments.enter(session, t, world.version(alice, "a"), alice)
        tournaments.enter(session, t, world.version(bob, "b"), bob)
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        session.flush()
        return t.id, sorted(tournaments.entry_map(session, t))


def test_recorder_waits_out_a_database_that_refuses_writes(tmp_path):
    """SQLite locked by another writer for a second (longer than the recorder's busy timeout here): the
    batches are retried, the engine is held back by the bounded queue, and no row is lost."""
    import sqlite3
    import threading

    from sqlalchemy import event

    from arena.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    db = make_engine(url)

    @event.listens_for(db, "connect")
    def _impatient(connection, _record):  # after make_engine's own: fail fast instead of waiting 10 s
        connection.execute("PRAGMA busy_timeout=20")

    sessions = make_sessionmaker(db)
    with sessions.begin() as session:
        world = World(session)
        alice = world.contestant("alice")
        t = world.tournament("cup", ticks=30)
        tournaments.enter(session, t, world.version(alice, "a"), alice)
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        session.flush()
        t_id, (key,) = t.id, sorted(tournaments.entry_map(session, t))
    engine = Engine(load_catalog(), SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 10)))
    engine.open_account(key, None)
    recorder = Recorder(sessions, t_id, flush_ticks=3, flush_every_s=3600)
    blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")  # nobody else may write (or read) until it ends
    release = threading.Timer(1.0, lambda: blocker.execute("COMMIT"))
    release.start()
    fills = 0
    for n in range(1, 31):
        ts = T0 + n * 60_000
        book = ladder("AAPL", ts, 254.99, 255.01, size=100, volume=50_000)
        batch = [(key, {"symbol": "AAPL", "side": "buy" if n % 2 else "sell", "qty": 1, "client_order_id": f"c{n}"})]
        for events, requests in ((engine.on_tick(Tick(ts, (book,))), []),
                                 (engine.submit_batch(batch, ts, random.Random(n)), batch)):  # fmt: skip
            recorder.events(n, ts, events, requests)
            fills += sum(isinstance(e, Fill) for e in events)
    account = engine.accounts[key]
    recorder.finished([Standing(key, 1, account.score, account.nav, account.max_drawdown, "finished", account.fills,
                                account.fees_paid)],
                      {key: BotState(key, "finished", {"status": "exited", "exit_code": 0})})  # fmt: skip
    recorder.close()
    release.join()
    blocker.close()
    assert recorder.failures == [] and recorder.retries > 0  # it was refused, and waited it out
    with sessions.begin() as session:
        entry_id = tournaments.entry_map(session, tournaments.get_tournament(session, t_id))[key]
        assert len(record.fills_of(session, entry_id, limit=1000)) == fills == account.fills > 10
        assert len(record.orders_of(session, entry_id, limit=1000)) == 30
        assert [s.entry_id for s in record.standings_of(session, t_id)] == [entry_id]
    db.dispose()


def test_recorder_samples_equity_and_records_the_end(sessions, cup):
    t_id, keys = cup
    engine, produced = trade(keys, 100)
    recorder = Recorder(sessions, t_id, equity_every=10, flush_ticks=7)
    assert recorder.equity_every == 10
    fills: dict[str, list[Fill]] = {k: [] for k in keys}
    updates = 0
    for n, ts, events, requests in produced:
        show(recorder, n, ts, events, requests)
        updates += sum(isinstance(e, AccountUpdate) for e in events)
        for e in events:
            if isinstance(e, Fill):
                fills[e.account].append(e)
    accounts = engine.accounts
    standings = [Standing(k, i + 1, accounts[k].score, accounts[k].nav, accounts[k].max_drawdown, "finished",
                          accounts[k].fills, accounts[k].fees_paid)
                 for i, k in enumerate(sorted(keys, key=lambda k: -accounts[k].score))]  # fmt: skip
    bots = {k: BotState(k, "finished", {"status": "exited", "exit_code": 0, "logs": ["hi"], "stderr": "oops\n"})
            for k in keys}  # fmt: skip
    recorder.finished(standings, bots)
    recorder.close()
    assert recorder.failures == []
    with sessions.begin() as session:
        entry_map = tournaments.entry_map(session, tournaments.get_tournament(session, t_id))
        for key, entry_id in entry_map.items():
            recorded = record.fills_of(session, entry_id, limit=10_000)
            assert len(recorded) == len(fills[key]) == accounts[key].fills > 50
            assert [(f.side, f.qty) for f in recorded] == [(f.side, f.qty) for f in fills[key]]
            orders = record.orders_of(session, entry_id, limit=10_000)
            assert len(orders) == 100 and all(o.type is OrderType.MARKET for o in orders)
            i = keys.index(key)  # each order's terms are the ones it was sent with
            assert [(o.side.value, o.qty) for o in orders] == [("buy" if (n + i) % 2 else "sell", 1 + i)
                                                               for n in range(1, 101)]  # fmt: skip
            curve = record.equity_curve(session, entry_id)
            # At most one snapshot per 10-tick window, plus the final standing; far fewer than the updates.
            assert 10 <= len(curve) <= 11 < updates / 2
            assert curve[-1].nav == accounts[key].nav and curve[-1].score == accounts[key].score
            standing = next(s for s in record.standings_of(session, t_id) if s.entry_id == entry_id)
            assert standing.trades == accounts[key].fills
            assert standing.fees == accounts[key].fees_paid
            entry = tournaments.get_entry(session, entry_id)
            assert entry.status is EntryStatus.FINISHED and entry.end_classification == "exited"
            lines = [(x.stream, x.text) for x in record.logs_of(session, entry_id)]
            assert (LogStream.PROTOCOL, "log: hi") in lines and (LogStream.STDERR, "oops") in lines
        assert record.standings_scores(session, t_id) == {k: accounts[k].score for k in keys}
    # Every tick's market, one row per symbol: the top of each book, its last trade and volume.
    market = market_rows(sessions, t_id)
    ticks = [requests for _, _, _, requests in produced if isinstance(requests, Tick)]
    assert len(market) == 2 * len(ticks) == 200
    assert market == [(n, tick.ts, b.symbol, b.bids[0][0], b.bids[0][1], b.asks[0][0], b.asks[0][1], b.last,
                       b.volume, False) for n, tick in enumerate(ticks, start=1)
                      for b in sorted(tick.books, key=lambda b: b.symbol)]  # fmt: skip
    # A second run of the same tournament records afresh.
    again = Recorder(sessions, t_id)
    again.close()
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(EquitySnapshot)) == 0
    assert market_rows(sessions, t_id) == []


def test_one_row_the_database_refuses_costs_only_itself(sessions, cup):
    """A rejection whose symbol is too long for its column (PostgreSQL refuses it; SQLite ignores lengths) and
    one with a NUL in its message (PostgreSQL refuses that too) in a batch with both bots' orders, fills, equity
    and the market: the batch is written row by row, everything else is kept, and the refused rows are named."""
    from arena.engine.events import OrderRejected
    from arena.engine.rejections import Rejection, RejectionCode

    t_id, keys = cup
    engine = Engine(load_catalog(), SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 10)))
    for key in keys:
        engine.open_account(key, None)
    recorder = Recorder(sessions, t_id, equity_every=1, flush_ticks=100, flush_every_s=3600)
    fills = 0
    for n in range(1, 11):
        ts = T0 + n * 60_000
        book = ladder("AAPL", ts, 254.99, 255.01, size=100, volume=50_000)
        batch = [(key, {"symbol": "AAPL", "side": "buy", "qty": 1, "client_order_id": f"c{n}"}) for key in keys]
        recorder.market(n, Tick(ts, (book,)))
        events = engine.on_tick(Tick(ts, (book,))) + engine.submit_batch(batch, ts, random.Random(n))
        if n == 5:
            bad = Rejection(RejectionCode.UNKNOWN_SYMBOL, "no such symbol")
            events = [*events, OrderRejected(ts, keys[0], "x", "S" * 5000, bad),
                      OrderRejected(ts, keys[0], "y", "AAPL", Rejection(RejectionCode.INVALID_ORDER, "nul\x00"))]
        fills += sum(isinstance(e, Fill) for e in events)
        recorder.events(n, ts, events, batch)
    recorder.close()
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    if postgres:
        assert len(recorder.failures) == 2 and all("OrderRejected" in f for f in recorder.failures)
        assert "SSSS" in recorder.failures[0] and "nul" in recorder.failures[1]
    with sessions.begin() as session:
        t = tournaments.get_tournament(session, t_id)
        assert t.recorded_tick == 10
        entry_map = tournaments.entry_map(session, t)
        for key in keys:
            entry_id = entry_map[key]
            assert len(record.orders_of(session, entry_id, limit=1000)) == 10
            assert session.scalar(select(func.count()).select_from(EquitySnapshot)
                                  .where(EquitySnapshot.entry_id == entry_id)) > 0  # fmt: skip
        assert sum(len(record.fills_of(session, e, limit=1000)) for e in entry_map.values()) == fills > 0
        assert len(record.rejections_of(session, entry_map[keys[0]])) == (0 if postgres else 2)
    assert [(row[0], row[2], row[3]) for row in market_rows(sessions, t_id)] == [(n, "AAPL", 254.99)
                                                                               for n in range(1, 11)]  # fmt: skip


def test_an_entrys_log_holds_no_nul_which_postgresql_would_refuse():
    from arena.service.recorder import log_lines

    lines = log_lines({"logs": ["a\x00b"], "stderr": "c\x00\n", "reason": "d\x00"}, "finished")
    assert lines and not any("\x00" in text for _, text in lines)


def test_a_record_taken_over_mid_run_equals_an_uninterrupted_one(sessions):
    """A tournament taken over mid-run: the new engine run's recorder takes the record and goes on from what it
    holds (the replayed ticks' account updates, whose last equity window was never written, then new ticks),
    and the old run writes nothing more. The equity curves, the orders and fills and the standings (fees
    included) equal those of one recorder over the whole run, bit for bit."""
    with sessions.begin() as session:
        world = World(session)
        alice, bob = world.contestant("alice"), world.contestant("bob")
        ids = {}
        for slug in ("whole", "taken"):
            t = world.tournament(slug, ticks=30)
            tournaments.enter(session, t, world.version(alice, "a"), alice)
            tournaments.enter(session, t, world.version(bob, "b"), bob)
            tournaments.transition(session, t, TournamentStatus.RUNNING)
            session.flush()
            ids[slug] = t.id
        keys = sorted(tournaments.entry_map(session, t))
    engine, ticks = trade(keys, 30)
    accounts = engine.accounts
    standings = [Standing(k, i + 1, accounts[k].score, accounts[k].nav, accounts[k].max_drawdown, "finished",
                          accounts[k].fills, accounts[k].fees_paid) for i, k in enumerate(keys)]  # fmt: skip
    bots = {k: BotState(k, "finished", {"status": "exited", "exit_code": 0}) for k in keys}

    whole = Recorder(sessions, ids["whole"], equity_every=4, flush_ticks=3)
    for tick in ticks:
        show(whole, *tick)
    whole.finished(standings, bots)
    whole.close()

    # The first engine run has recorded some of ticks 1-12 (its writer may still hold the rest) when another
    # takes the tournament over; what the first still writes afterwards (ticks 13-14, its close) changes nothing.
    first = Recorder(sessions, ids["taken"], equity_every=4, flush_ticks=3, holder="engine-1#1")
    for tick in ticks:
        if tick[0] <= 12:
            show(first, *tick)
    second = Recorder(sessions, ids["taken"], equity_every=4, flush_ticks=3, fresh=False, holder="engine-2#2")
    assert second.recorded_through <= 12
    for tick in ticks:
        if 12 < tick[0] <= 14:
            show(first, *tick)
    first.close()
    for n, ts, events, requests in ticks:
        if n <= second.recorded_through:
            second.replayed(n, ts, [e for e in events if isinstance(e, AccountUpdate)])
        else:
            show(second, n, ts, events, requests)
    second.finished(standings, bots)
    second.close()
    assert whole.failures == first.failures == second.failures == []

    def curves_and_standings(t_id: int) -> tuple[dict, dict, dict, dict]:
        with sessions.begin() as session:
            entry_map = tournaments.entry_map(session, tournaments.get_tournament(session, t_id))
            curves = {k: [(p.ts, p.nav, p.score) for p in record.equity_curve(session, e)]
                      for k, e in entry_map.items()}  # fmt: skip
            rows = {s.entry_id: (s.rank, s.score, s.nav, s.trades, s.fees) for s in record.standings_of(session, t_id)}
            fills = {k: [(f.ts, f.side, f.qty, f.price) for f in record.fills_of(session, e, limit=10_000)]
                     for k, e in entry_map.items()}  # fmt: skip
            orders = {k: len(record.orders_of(session, e, limit=10_000)) for k, e in entry_map.items()}
            return curves, {k: rows[e] for k, e in entry_map.items()}, fills, orders

    expected, got = curves_and_standings(ids["whole"]), curves_and_standings(ids["taken"])
    assert all(len(curve) >= 8 for curve in expected[0].values())  # a point per 4-tick window, and the end
    assert got == expected
    assert first.taken  # and it knows
    # The market too: each tick once, whoever wrote it.
    market = market_rows(sessions, ids["taken"])
    assert market == market_rows(sessions, ids["whole"]) and len(market) == 2 * 30
