"""Downloading a tournament's record over HTTP (GET /api/v1/tournaments/{slug}/export), on SQLite and PostgreSQL: a
contestant gets their own bots' rows before the end and another's bot is 404, an admin gets the whole record, and
everyone gets it once the tournament has finished; the zip holds what the database holds; bad requests and a busy or
oversized export are refused in the envelope with a code. The records are made by a real engine and Recorder
(tests/recorded.py), the server is a real uvicorn on the same database."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from arena.api import exports
from arena.store import accounts, tournaments
from arena.store.db import make_engine, make_sessionmaker
from arena.store.models import TournamentStatus
from tests.recorded import record_run
from tests.store.conftest import World

TICKS = 20


@pytest.fixture
def world(api, database_url):
    """Tournaments cup (running, alice's and bob's bots recorded), final (finished, the same two) and draft; keys
    for root (admin), alice, bob and eve (entered nowhere). Yields (client, keys, entry counts per bot of cup)."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    keys, ids = {}, {}
    with sessions.begin() as session:
        w = World(session)
        people = {name: w.contestant(name, is_admin=name == "root") for name in ("root", "alice", "bob", "eve")}
        for name, who in people.items():
            keys[name] = {"X-API-Key": accounts.create_api_key(session, who)[1]}
        for slug in ("cup", "final"):
            t = w.tournament(slug, ticks=TICKS)
            tournaments.enter(session, t, w.version(people["alice"], "a"), people["alice"])
            tournaments.enter(session, t, w.version(people["bob"], "b"), people["bob"])
            tournaments.transition(session, t, TournamentStatus.RUNNING)
            session.flush()
            ids[slug] = t.id
        w.tournament("draft", status=TournamentStatus.DRAFT)
    record_run(sessions, ids["cup"], TICKS, finish=False, reject_every=5)
    record_run(sessions, ids["final"], TICKS, reject_every=5)
    engine.dispose()
    server = api(database_url=database_url, rate_limit=100_000)
    with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as client:
        yield client, keys


def _zip(answer: httpx.Response) -> dict[str, bytes]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _bots(files: dict[str, bytes], slug: str, table: str) -> set[str]:
    return set(pq.read_table(io.BytesIO(files[f"{slug}/{table}.parquet"])).column("bot").to_pylist())


def _error(answer: httpx.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"]["code"] == code, body
    return body


def test_who_gets_what(world):
    client, keys = world
    # Before the end, a contestant: their own bot's rows, and the whole market.
    mine = _zip(client.get("/tournaments/cup/export", headers=keys["alice"]))
    assert set(mine) == {f"cup/{t}.parquet" for t in exports.store_export.TABLES} | {"cup/manifest.json"}
    manifest = json.loads(mine["cup/manifest.json"])
    assert manifest["scope"] == "entries" and manifest["bots"] == ["alice:a"]
    for table in ("orders", "fills", "rejections", "equity"):
        assert _bots(mine, "cup", table) == {"alice:a"}, table
    assert manifest["rows"]["ticks"] == 2 * TICKS and manifest["rows"]["rejections"] == TICKS // 5
    # Another contestant's bot is as if it did not exist; one's own by name is fine.
    _error(client.get("/tournaments/cup/export", params={"bot": "bob:b"}, headers=keys["alice"]), 404, "UNKNOWN_BOT")
    _error(client.get("/tournaments/cup/export", params={"bot": "nobody:x"}, headers=keys["alice"]), 404,
           "UNKNOWN_BOT")  # fmt: skip
    bobs = _zip(client.get("/tournaments/cup/export", params={"bot": "bob:b"}, headers=keys["bob"]))
    assert _bots(bobs, "cup", "fills") == {"bob:b"} and json.loads(bobs["cup/manifest.json"])["rows"]["rejections"] == 0
    _error(client.get("/tournaments/cup/export", headers=keys["eve"]), 404, "NOT_ENTERED")
    _error(client.get("/tournaments/cup/export"), 401, "UNAUTHENTICATED")
    # An admin: the whole record, drafts too.
    whole = _zip(client.get("/tournaments/cup/export", headers=keys["root"]))
    assert json.loads(whole["cup/manifest.json"])["scope"] == "whole"
    assert _bots(whole, "cup", "fills") == {"alice:a", "bob:b"}
    assert _zip(client.get("/tournaments/draft/export", headers=keys["root"]))
    _error(client.get("/tournaments/draft/export", headers=keys["alice"]), 404, "UNKNOWN_TOURNAMENT")
    # Once finished: everyone, signed in or not, gets the whole record, any bot's too.
    final = _zip(client.get("/tournaments/final/export"))
    assert _bots(final, "final", "standings") == {"alice:a", "bob:b"}
    assert _bots(_zip(client.get("/tournaments/final/export", params={"bot": "bob:b"}, headers=keys["eve"])),
                 "final", "orders") == {"bob:b"}  # fmt: skip


def test_one_table_as_csv_holds_the_database_rows(world, database_url):
    client, _ = world
    answer = client.get("/tournaments/final/export", params={"format": "csv", "table": "fills"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "final-fills.csv" in answer.headers["content-disposition"]
    assert answer.headers["RateLimit-Policy"]  # counted like any other route
    table = pacsv.read_csv(io.BytesIO(answer.content))
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        from arena.store.record import fills_of

        t = tournaments.get_tournament(session, "final")
        by_entry = {e.id: e.bot_key for e in t.entries}
        rows = [(by_entry[f.entry_id], f.order_id, f.qty, f.price, f.fee) for e in sorted(by_entry)
                for f in fills_of(session, e, limit=10_000)]  # fmt: skip
    engine.dispose()
    got = list(zip(*(table.column(c).to_pylist() for c in ("bot", "order_id", "qty", "price", "fee")), strict=True))
    assert sorted(got) == sorted(rows) and len(rows) > TICKS


def test_bad_requests_busy_and_oversized_exports_are_refused_with_codes(world, monkeypatch):
    client, keys = world
    _error(client.get("/tournaments/nope/export", headers=keys["root"]), 404, "UNKNOWN_TOURNAMENT")
    body = _error(client.get("/tournaments/final/export", params={"format": "xlsx"}), 422, "INVALID_REQUEST")
    assert body["error"]["fields"][0]["field"] == "query.format"
    body = _error(client.get("/tournaments/final/export", params={"table": "secrets"}), 422, "INVALID_REQUEST")
    assert body["error"]["fields"][0]["field"] == "query.table"
    _error(client.get("/tournaments/final/export", params={"bot": "x" * 65}), 422, "INVALID_REQUEST")
    _error(client.get("/tournaments/final/export", headers={"X-API-Key": "arena_nope_nope"}), 401, "INVALID_API_KEY")
    # Every slot taken (the server runs in this process): 503 with Retry-After, and the slots come back.
    held = [exports._slots.acquire(blocking=False) for _ in range(exports.EXPORT_SLOTS)]
    assert all(held)
    try:
        busy = client.get("/tournaments/final/export")
        _error(busy, 503, "EXPORT_BUSY")
        assert int(busy.headers["Retry-After"]) >= 1
    finally:
        for _ in held:
            exports._slots.release()
    assert client.get("/tournaments/final/export").status_code == 200
    monkeypatch.setattr(exports, "EXPORT_MAX_ROWS", 10)
    body = _error(client.get("/tournaments/final/export"), 409, "EXPORT_TOO_LARGE")
    assert "arena export final" in body["error"]["message"]
