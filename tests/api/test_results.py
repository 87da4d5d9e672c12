"""The durable record of a tournament and the results API, on SQLite and PostgreSQL.

The Recorder against a real engine (no sandbox): orders with their requests' details, sampled equity, the
end. Then a real tournament (runc sandboxes, Redis, uvicorn): the record agrees with the standings, results
and cards show it, logs are for the owner and admins only, and the leaderboard rebuilt from the record is
the one the tournament left.
"""

from __future__ import annotations

import math
import os
import random
import shutil
from datetime import date
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select

from arena.api.recorder import Recorder, match_requests
from arena.api.results import PointOut, downsample
from arena.catalog import load_catalog
from arena.engine.engine import Engine
from arena.engine.events import AccountUpdate, Fill, OrderAccepted, OrderRejected
from arena.engine.orders import OrderType, Side
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick
from arena.runtime.leaderboard import Leaderboard
from arena.runtime.tournament import BotState, Standing
from arena.store import record, tournaments
from arena.store.db import make_engine, make_sessionmaker
from arena.store.models import EntryStatus, EquitySnapshot, LogStream, TournamentStatus
from tests.api.test_service import admin_key, poll, upload
from tests.engine.builders import T0, ladder
from tests.store.conftest import World

ROOT = Path(__file__).resolve().parents[2]
needs_runc = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc")


# -- the Recorder against a real engine --------------------------------------------------------------------


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


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


def test_requests_are_matched_to_their_orders_per_account():
    engine = Engine(load_catalog(), SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 10)))
    engine.open_account("a", None)
    engine.open_account("b", None)
    engine.on_tick(Tick(T0, (ladder("AAPL", T0, 254.99, 255.01, size=100, volume=50_000),)))
    too_big = {"symbol": "AAPL", "side": "buy", "qty": 1_000_000}  # no client id, refused for its size
    fits = {"symbol": "AAPL", "side": "sell", "qty": 3, "type": "limit", "limit_price": 300.0}  # no client id
    requests = [("a", too_big), ("b", {**fits, "client_order_id": "x"}), ("a", fits), ("a", {"symbol": "NOPE"})]
    events = engine.submit_batch(requests, T0 + 1, random.Random(7))
    accepted = [e for e in events if isinstance(e, OrderAccepted)]
    assert len(accepted) == 2 and sum(isinstance(e, OrderRejected) for e in events) == 2
    orders = match_requests(requests, events)
    # a's refused market buy must not lend its side and size to a's accepted limit sell on the same symbol.
    assert {(o.account, o.side, o.type, o.qty, o.limit_price) for o in orders.values()} == {
        ("a", Side.SELL, OrderType.LIMIT, 3.0, 300.0),
        ("b", Side.SELL, OrderType.LIMIT, 3.0, 300.0),
    }
    assert set(orders) == {e.order_id for e in accepted}


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
    recorder.finished([Standing(key, 1, account.score, account.nav, account.max_drawdown, "finished")],
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
    engine = Engine(load_catalog(), SessionCalendars.build(date(2026, 3, 1), date(2026, 3, 10)))
    for key in keys:
        engine.open_account(key, None)
    recorder = Recorder(sessions, t_id, equity_every=10, flush_ticks=7)
    assert recorder.equity_every == 10
    fills: dict[str, list[Fill]] = {k: [] for k in keys}
    updates = 0
    for n in range(1, 101):
        ts = T0 + n * 60_000
        mid = 255.0 + 5 * math.sin(n / 7)
        book = ladder("AAPL", ts, mid - 0.01, mid + 0.01, size=100, volume=50_000)
        batch = [(key, {"symbol": "AAPL", "side": "buy" if (n + i) % 2 else "sell", "qty": 1 + i,
                        "client_order_id": f"c{n}"}) for i, key in enumerate(keys)]  # fmt: skip
        for events, requests in (
            (engine.on_tick(Tick(ts, (book,))), []),
            (engine.submit_batch(batch, ts, random.Random(n)), batch),
        ):
            recorder.events(n, ts, events, requests)
            updates += sum(isinstance(e, AccountUpdate) for e in events)
            for e in events:
                if isinstance(e, Fill):
                    fills[e.account].append(e)
    accounts = engine.accounts
    standings = [Standing(k, i + 1, accounts[k].score, accounts[k].nav, accounts[k].max_drawdown, "finished")
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
            assert len(orders) == 100 and all(o.type is OrderType.MARKET and o.qty for o in orders)
            curve = record.equity_curve(session, entry_id)
            # At most one snapshot per 10-tick window, plus the final standing; far fewer than the updates.
            assert 10 <= len(curve) <= 11 < updates / 2
            assert curve[-1].nav == accounts[key].nav and curve[-1].score == accounts[key].score
            standing = next(s for s in record.standings_of(session, t_id) if s.entry_id == entry_id)
            assert standing.trades == accounts[key].fills
            assert standing.fees == pytest.approx(accounts[key].fees_paid)
            entry = tournaments.get_entry(session, entry_id)
            assert entry.status is EntryStatus.FINISHED and entry.end_classification == "exited"
            lines = [(x.stream, x.text) for x in record.logs_of(session, entry_id)]
            assert (LogStream.PROTOCOL, "log: hi") in lines and (LogStream.STDERR, "oops") in lines
        assert record.standings_scores(session, t_id) == {k: accounts[k].score for k in keys}
    # A second run of the same tournament records afresh.
    again = Recorder(sessions, t_id)
    again.close()
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(EquitySnapshot)) == 0


def test_downsampling_keeps_the_ends_and_the_extremes():
    points = [PointOut(ts=i, nav=1000 + (500 if i == 777 else 0) - (300 if i == 4321 else 0) + i % 3, score=0,
                       drawdown=0, max_drawdown=0) for i in range(10_000)]  # fmt: skip
    kept = downsample(points)
    assert len(kept) <= 500 and kept[0] == points[0] and kept[-1] == points[-1]
    assert points[777] in kept and points[4321] in kept
    assert [p.ts for p in kept] == sorted(p.ts for p in kept)
    assert downsample(points[:20]) == points[:20]


# -- a real tournament through the API ------------------------------------------------------------------

# A bot that trades, is refused once, logs more than the 20 lines an end report carries over the bus,
# writes to stderr and sends one line that is not a protocol message.
CHATTY = b"""
import sys
from arena_bot import Bot, run


class Chatty(Bot):
    symbols = ("SPY",)
    channels = ("orderbook",)

    def on_tick(self, ts):
        n = self.tick_n
        if n <= 25:
            self.log(f"chatty {n}")
        if n == 1:
            print("chatty writes to stderr", file=sys.stderr)
            self._outbox.append({"type": "bogus"})
            self.buy("BTC-USD", 1_000_000)
        book = self.books.get("SPY")
        if book is not None and book.mid and not self.portfolio.position("SPY") and not self.open_orders:
            self.buy("SPY", int(self.portfolio.nav * 0.2 / book.mid))


if __name__ == "__main__":
    run(Chatty)
"""


@pytest.fixture
def finished_cup(api, database_url, redis_url):
    """A finished 30-tick tournament: alice's Chatty against bob's market maker."""
    key = admin_key(database_url)
    server = api(database_url=database_url, rate_limit=100_000)
    client = httpx.Client(base_url=server.url + "/api/v1", timeout=30)
    admin = {"X-API-Key": key}
    people = {}
    for name in ("alice", "bob", "eve"):
        answer = client.post("/admin/contestants", json={"name": name}, headers=admin)
        people[name] = {"X-API-Key": answer.json()["api_key"]}
    client.post("/admin/tournaments", headers=admin, json={
        "slug": "cup", "name": "Cup", "rules": {"max_leverage": 1, "symbols": ["SPY", "BTC-USD", "ETH-USD"]},
        "feed": "synthetic:3", "ticks": 30, "seed": 3})  # fmt: skip
    client.post("/admin/tournaments", headers=admin, json={"slug": "draft", "name": "Draft"})
    for who, bot, name, source in (
        ("alice", "chatty", "chatty.py", CHATTY),
        ("bob", "maker", "mm.py", (ROOT / "examples/bots/market_maker.py").read_bytes()),
    ):
        upload(client, people[who], bot, name, source)
        version = poll(lambda w=who, b=bot: client.get(f"/bots/{b}/versions/1", headers=people[w]).json(),
                       lambda v: v["status"] != "pending")  # fmt: skip
        assert version["status"] == "ready", version["smoke_log"]
    client.post("/admin/tournaments/cup/open", headers=admin)
    for who, bot in (("alice", "chatty"), ("bob", "maker")):
        assert client.post("/tournaments/cup/entries", json={"bot": bot}, headers=people[who]).status_code == 201
    early = client.get("/tournaments/cup/results")
    assert early.status_code == 404 and early.json()["error"]["code"] == "RESULTS_NOT_READY"
    assert client.post("/admin/tournaments/cup/start", headers=admin).status_code == 200
    poll(lambda: client.get("/tournaments", params={"status": "finished"}).json(), lambda ts: len(ts) == 1)
    yield client, admin, people, redis_url
    client.close()


def _entries(client, people):
    return {who: client.get("/entries", headers=people[who]).json()[0] for who in ("alice", "bob")}


@pytest.mark.sandbox
@needs_runc
def test_the_record_of_a_tournament_and_its_results(finished_cup):
    client, admin, people, _ = finished_cup
    listed = client.get("/tournaments").json()
    assert [t["slug"] for t in listed] == ["cup"]  # drafts are not public
    assert listed[0]["status"] == "finished" and listed[0]["entries"] == 2
    assert listed[0]["ruleset"]["max_leverage"] == 1 and listed[0]["ruleset"]["starting_balance"] == 1_000_000
    results = client.get("/tournaments/cup/results").json()
    standings = {s["bot"]: s for s in results["standings"]}
    assert set(standings) == {"alice:chatty", "bob:maker"}
    assert sorted(s["rank"] for s in standings.values()) in ([1, 2], [1, 1])
    entries = _entries(client, people)
    for who, bot in (("alice", "alice:chatty"), ("bob", "bob:maker")):
        entry, standing = entries[who], standings[bot]
        assert entry["status"] == "finished" and standing["status"] == "finished"
        fills = client.get(f"/entries/{entry['id']}/fills", headers=people[who]).json()["items"]
        assert len(fills) == standing["trades"] > 0
        assert sum(f["fee"] for f in fills) == pytest.approx(standing["fees"]) and standing["fees"] > 0
        orders = client.get(f"/entries/{entry['id']}/orders", headers=people[who]).json()["items"]
        assert orders and all(o["side"] and o["type"] and o["qty"] for o in orders)
        assert {f["order_id"] for f in fills} <= {o["order_id"] for o in orders}
        card = client.get(f"/tournaments/cup/bots/{bot}").json()
        assert card["final"] and card["rank"] == standing["rank"] and card["trades"] == standing["trades"]
        assert card["fees"] == pytest.approx(standing["fees"]) and 0 < len(card["equity"]) == card["points"] <= 31
        last = card["equity"][-1]
        assert last["nav"] == standing["nav"] and last["max_drawdown"] == standing["max_drawdown"]
        assert all(0 <= p["drawdown"] <= p["max_drawdown"] + 1e-9 for p in card["equity"])
    refused = client.get(f"/entries/{entries['alice']['id']}/rejections", headers=people["alice"]).json()["items"]
    assert [r["symbol"] for r in refused] == ["BTC-USD"]

    # Logs: the owner and admins see them, nobody else.
    alice_entry = entries["alice"]["id"]
    mine = client.get(f"/entries/{alice_entry}/logs", params={"limit": 500}, headers=people["alice"]).json()
    lines = [(x["stream"], x["text"]) for x in mine["lines"]]
    assert lines[0][0] == "system" and lines[0][1].startswith("ended: finished")
    assert ("protocol", "1 protocol error(s): lines that were not valid protocol messages") in lines
    assert [t for s, t in lines if t.startswith("log: ")] == [f"log: chatty {n}" for n in range(1, 26)]
    assert ("stderr", "chatty writes to stderr") in lines
    assert mine["resource_use"]["protocol_errors"] == 1 and mine["end_classification"] in ("exited", "killed")
    page = client.get(f"/entries/{alice_entry}/logs", params={"limit": 2, "stream": "protocol"},
                      headers=people["alice"]).json()  # fmt: skip
    assert len(page["lines"]) == 2 and page["next_after_id"] == page["lines"][-1]["id"]
    assert client.get(f"/entries/{alice_entry}/logs", headers=admin).json()["lines"] == mine["lines"][:200]
    for path in ("logs", "fills", "orders", "rejections"):
        denied = client.get(f"/entries/{alice_entry}/{path}", headers=people["bob"])
        assert denied.status_code == 404 and denied.json()["error"]["code"] == "UNKNOWN_ENTRY"
        assert client.get(f"/entries/{alice_entry}/{path}").status_code == 401


@pytest.mark.sandbox
@needs_runc
def test_the_leaderboard_rebuilt_from_the_record_and_bad_requests(finished_cup):
    client, admin, people, redis_url = finished_cup
    live = client.get("/tournaments/cup/leaderboard").json()
    assert live["final"]
    denied = client.post("/admin/tournaments/cup/rebuild-leaderboard", headers=people["alice"])
    assert denied.status_code == 403
    # Rebuilt while the frozen board is still there: the same board.
    again = client.post("/admin/tournaments/cup/rebuild-leaderboard", headers=admin).json()
    assert again["source"] == "standings" and again["final"] and again["bots"] == 2
    assert client.get("/tournaments/cup/leaderboard").json()["standings"] == live["standings"]
    # Redis lost the board: gone, then rebuilt from the record, final and frozen as it was.
    r = redis.Redis.from_url(redis_url)
    Leaderboard(r, "cup").clear()
    lost = client.get("/tournaments/cup/leaderboard")
    assert lost.status_code == 404 and lost.json()["error"]["code"] == "NO_LEADERBOARD"
    rebuilt = client.post("/admin/tournaments/cup/rebuild-leaderboard", headers=admin)
    assert rebuilt.status_code == 200, rebuilt.text
    assert [(s["bot"], s["score"]) for s in rebuilt.json()["top"]] == [
        (s["bot"], s["score"]) for s in live["standings"]
    ]
    board = client.get("/tournaments/cup/leaderboard").json()
    assert board["final"] and board["standings"] == live["standings"]
    assert Leaderboard(r, "cup").is_frozen()
    r.close()

    def error(response: httpx.Response, status: int, code: str) -> None:
        assert response.status_code == status and response.json()["error"]["code"] == code, response.text

    error(client.get("/tournaments/nope/results"), 404, "UNKNOWN_TOURNAMENT")
    error(client.get("/tournaments/draft/results"), 404, "UNKNOWN_TOURNAMENT")
    error(client.get("/tournaments/bad slug!/results"), 422, "INVALID_REQUEST")
    error(client.get("/tournaments/cup/bots/nobody:nothing"), 404, "UNKNOWN_BOT")
    error(client.get("/tournaments/cup/bots/bad bot"), 422, "INVALID_REQUEST")
    error(client.get("/tournaments", params={"status": "draft"}), 422, "INVALID_REQUEST")
    error(client.get("/entries/abc/logs", headers=admin), 422, "INVALID_REQUEST")
    error(client.get("/entries/0/fills", headers=admin), 422, "INVALID_REQUEST")
    error(client.get("/entries/999999/logs", headers=admin), 404, "UNKNOWN_ENTRY")
    error(client.get("/entries/1/logs", params={"limit": 0}, headers=admin), 422, "INVALID_REQUEST")
    error(client.post("/admin/tournaments/nope/rebuild-leaderboard", headers=admin), 404, "UNKNOWN_TOURNAMENT")
    error(client.post("/admin/tournaments/draft/rebuild-leaderboard", headers=admin), 409, "NO_RECORD")
