"""The service end to end on SQLite and PostgreSQL: admins, contestants, uploads with smoke tests, auth
boundaries, tournament lifecycle, results. Real uvicorn, Redis, database and runc sandbox."""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from arena.store import accounts
from arena.store.db import make_engine
from arena.store.migrate import upgrade
from tests.api.conftest import enrol

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc"),
]


def admin_key(database_url: str) -> str:
    """The first admin comes from the command line (`arena admin create`); here, straight from the store."""
    upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        admin = accounts.create_contestant(session, "root", is_admin=True)
        _, key = accounts.create_api_key(session, admin)
    engine.dispose()
    return key


def poll(fetch, done, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)  # polling the service for a background verdict, bounded by the deadline


@pytest.fixture
def service(api, database_url):
    key = admin_key(database_url)
    server = api(database_url=database_url, rate_limit=1_000_000)  # the tests poll; the limit has its own test
    client, admin, people = enrol(server.url, key)
    yield client, admin, people
    client.close()


def upload(client: httpx.Client, headers: dict, bot: str, filename: str, data: bytes) -> httpx.Response:
    return client.post(f"/bots/{bot}/versions", files={"file": (filename, data)}, headers=headers)


def test_upload_smoke_test_and_owner_only_access(service):
    client, _, people = service
    alice, bob = people["alice"], people["bob"]
    source = (ROOT / "examples/bots/buy_and_hold.py").read_bytes()
    answer = upload(client, alice, "holder", "buy_and_hold.py", source)
    assert answer.status_code == 202 and answer.json()["status"] == "pending"
    version = poll(lambda: client.get("/bots/holder/versions/1", headers=alice).json(),
                   lambda v: v["status"] != "pending")  # fmt: skip
    assert version["status"] == "ready", version["smoke_log"]
    assert version["end_classification"] == "exited" and "practice ticks" in version["smoke_log"]
    # The same content again is a new version with the same content hash.
    again = upload(client, alice, "holder", "main.py", source).json()
    assert again["version"] == 2 and again["sha256"] == version["sha256"]
    # Bob sees none of it.
    assert client.get("/bots", headers=bob).json()["items"] == []
    assert client.get("/bots/holder", headers=bob).status_code == 404
    assert client.get("/bots/holder/versions/1", headers=bob).json()["error"]["code"] == "UNKNOWN_BOT"


def test_a_bot_that_never_answers_fails_its_smoke_test(service):
    client, _, people = service
    silent = b"import sys\nfor line in sys.stdin:\n    pass\n"
    upload(client, people["alice"], "silent", "silent.py", silent)
    version = poll(lambda: client.get("/bots/silent/versions/1", headers=people["alice"]).json(),
                   lambda v: v["status"] != "pending")  # fmt: skip
    assert version["status"] == "failed" and "no 'done' for hello" in version["smoke_log"]


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "data", "status", "code"),
    [
        ("bot.py", b"def broken(:\n", 422, "SYNTAX_ERROR"),
        ("bot.zip", _zip({"../evil.py": b"x = 1\n", "main.py": b"x = 1\n"}), 422, "PATH_TRAVERSAL"),
        ("bot.zip", _zip({"helper.py": b"x = 1\n"}), 422, "MISSING_ENTRY_POINT"),
        ("bot.zip", b"not a zip at all", 422, "TYPE_MISMATCH"),
        ("bot.py", b"\xff\xfe x = 1", 422, "NOT_UTF8"),
        ("bot.exe", b"MZ", 422, "UNSUPPORTED_TYPE"),
    ],
)
def test_bad_uploads_are_refused_and_change_nothing(service, filename, data, status, code):
    client, _, people = service
    answer = upload(client, people["alice"], "bad", filename, data)
    assert answer.status_code == status and answer.json()["error"]["code"] == code, answer.text
    assert client.get("/bots", headers=people["alice"]).json()["items"] == []


def test_authentication_and_admin_boundaries(service):
    client, _, people = service
    assert client.get("/bots").json()["error"]["code"] == "UNAUTHENTICATED"
    assert client.get("/bots", headers={"X-API-Key": "arena_nope_nope"}).json()["error"]["code"] == "INVALID_API_KEY"
    denied = client.post("/admin/tournaments", json={"slug": "t", "name": "T"}, headers=people["alice"])
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ADMIN_ONLY"
    assert client.post("/admin/contestants", json={"name": "eve"}, headers=people["bob"]).status_code == 403


def test_tournament_lifecycle_from_creation_to_results(service):
    client, admin, people = service
    invalid = {"slug": "cup", "name": "Cup", "rules": {"fees": {"crypto": {"taker_bps": -5}}}}
    bad = client.post("/admin/tournaments", headers=admin, json=invalid)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_RULESET"
    assert bad.json()["error"]["fields"][0]["field"] == "rules.fees.crypto.taker_bps"
    created = client.post("/admin/tournaments", headers=admin, json={
        "slug": "cup", "name": "Cup", "rules": {"max_leverage": 1, "symbols": ["SPY", "BTC-USD", "ETH-USD"]},
        "feed": "synthetic:3", "ticks": 30, "seed": 3})  # fmt: skip
    assert created.status_code == 201 and created.json()["status"] == "draft"
    for who, bot, path in (("alice", "holder", "buy_and_hold.py"), ("bob", "maker", "market_maker.py")):
        upload(client, people[who], bot, path, (ROOT / "examples/bots" / path).read_bytes())
        poll(lambda w=who, b=bot: client.get(f"/bots/{b}/versions/1", headers=people[w]).json(),
             lambda v: v["status"] != "pending")  # fmt: skip
    early = client.post("/tournaments/cup/entries", json={"bot": "holder"}, headers=people["alice"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "TOURNAMENT_NOT_OPEN"
    assert client.post("/admin/tournaments/cup/open", headers=admin).json()["status"] == "open"
    assert client.post("/tournaments/cup/entries", json={"bot": "holder"}, headers=people["alice"]).status_code == 201
    assert client.post("/tournaments/cup/entries", json={"bot": "maker"}, headers=people["bob"]).status_code == 201
    # Bob cannot enter Alice's bot: to him it does not exist.
    assert client.post("/tournaments/cup/entries", json={"bot": "holder"}, headers=people["bob"]).status_code == 404
    assert client.post("/admin/tournaments/cup/start", headers=admin).json()["status"] == "running"
    listed = lambda: client.get("/admin/tournaments", headers=admin).json()["items"]  # noqa: E731
    final = poll(lambda: next(t for t in listed() if t["slug"] == "cup"), lambda t: t["status"] == "finished")
    assert final["status"] == "finished" and final["frozen"]
    board = client.get("/tournaments/cup/leaderboard").json()
    assert board["final"] and {s["bot"] for s in board["items"]} == {"alice:holder", "bob:maker"}
    entries = client.get("/entries", headers=people["alice"]).json()["items"]
    assert [(e["bot_key"], e["status"]) for e in entries] == [("alice:holder", "finished")]
    # The run happened in the service's process: its metrics show it.
    metrics = httpx.get(str(client.base_url).split("/api/v1")[0] + "/metrics").text
    accepted = [line for line in metrics.splitlines() if line.startswith('arena_orders_total{result="accepted"}')]
    assert accepted and float(accepted[0].split()[-1]) > 0
    assert 'arena_sandbox_ends_total{classification="' in metrics


def test_api_keys_are_shown_once_and_can_be_revoked(service):
    client, _, people = service
    alice = people["alice"]
    created = client.post("/keys", json={"name": "laptop"}, headers=alice).json()
    second = {"X-API-Key": created["api_key"]}
    assert client.get("/bots", headers=second).status_code == 200
    listed = client.get("/keys", headers=alice).json()["items"]
    assert all(k["api_key"] is None for k in listed) and {k["name"] for k in listed} >= {"laptop"}
    assert client.delete(f"/keys/{created['id']}", headers=people["bob"]).status_code == 404  # not bob's
    assert client.delete(f"/keys/{created['id']}", headers=alice).json()["revoked_at"] is not None
    assert client.get("/bots", headers=second).json()["error"]["code"] == "INVALID_API_KEY"


def test_edit_stop_and_rerun_from_the_recorded_seed(service):
    client, admin, people = service
    created = client.post("/admin/tournaments", headers=admin, json={
        "slug": "long", "name": "Long", "rules": {"symbols": ["SPY", "BTC-USD", "ETH-USD"]}, "feed": "synthetic:9",
        "ticks": 20, "seed": 9})  # fmt: skip
    assert created.status_code == 201
    edited = client.patch("/admin/tournaments/long", headers=admin, json={"ticks": 25, "name": "Longer"})
    assert edited.json()["ticks"] == 25 and edited.json()["name"] == "Longer"
    bad = client.patch("/admin/tournaments/long", headers=admin, json={"rules": {"max_leverage": 0}})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "rules.max_leverage"
    upload(client, people["alice"], "maker", "mm.py", (ROOT / "examples/bots/market_maker.py").read_bytes())
    poll(lambda: client.get("/bots/maker/versions/1", headers=people["alice"]).json(),
         lambda v: v["status"] != "pending")  # fmt: skip
    client.post("/admin/tournaments/long/open", headers=admin)
    client.post("/tournaments/long/entries", json={"bot": "maker"}, headers=people["alice"])
    assert client.post("/admin/tournaments/long/stop", headers=admin).json()["error"]["code"] == "NOT_RUNNING"
    client.post("/admin/tournaments/long/start", headers=admin)

    def tournaments() -> dict:
        return {t["slug"]: t for t in client.get("/admin/tournaments", headers=admin).json()["items"]}

    poll(tournaments, lambda ts: ts["long"]["status"] == "finished")
    original = client.get("/tournaments/long/leaderboard").json()["items"]
    rerun = client.post("/admin/tournaments/long/rerun", headers=admin)
    assert rerun.status_code == 201 and rerun.json()["slug"] == "long-rerun-1"
    poll(tournaments, lambda ts: ts["long-rerun-1"]["status"] == "finished")
    again = client.get("/tournaments/long-rerun-1/leaderboard").json()["items"]
    assert again == original  # same seed, same bots: the same standings


def test_replay_feed_upload_is_validated_and_usable(service):
    client, admin, _ = service
    good = (ROOT / "tests/data/equities-daily-sample.csv").read_bytes()
    stored = client.post("/admin/feeds", files={"file": ("bars.csv", good)}, headers=admin)
    assert stored.status_code == 201 and {"NVDA", "ORCL", "YHOO"} <= set(stored.json()["symbols"])
    bad = good.replace(b"12.720000", b"-1", 1)
    refused = client.post("/admin/feeds", files={"file": ("bars.csv", bad)}, headers=admin)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "BAD_NUMBER"
    assert "line 2" in refused.json()["error"]["message"] or ":2" in refused.json()["error"]["message"]
    replay = {"slug": "replay", "name": "Replay", "feed": stored.json()["feed"], "symbols": ["NVDA"], "ticks": 10}
    created = client.post("/admin/tournaments", headers=admin, json=replay)
    assert created.status_code == 201 and created.json()["feed"] == stored.json()["feed"]


def test_disqualified_bot_stays_on_the_board_marked(service):
    client, admin, people = service
    client.post("/admin/tournaments", headers=admin, json={
        "slug": "dq", "name": "DQ", "rules": {"symbols": ["SPY", "BTC-USD", "ETH-USD"]}, "feed": "synthetic:2",
        "ticks": 400, "seed": 2})  # fmt: skip
    for who, bot, path in (("alice", "maker", "market_maker.py"), ("bob", "holder", "buy_and_hold.py")):
        upload(client, people[who], bot, path, (ROOT / "examples/bots" / path).read_bytes())
        poll(lambda w=who, b=bot: client.get(f"/bots/{b}/versions/1", headers=people[w]).json(),
             lambda v: v["status"] != "pending")  # fmt: skip
    client.post("/admin/tournaments/dq/open", headers=admin)
    entry = client.post("/tournaments/dq/entries", json={"bot": "maker"}, headers=people["alice"]).json()
    client.post("/tournaments/dq/entries", json={"bot": "holder"}, headers=people["bob"])
    client.post("/admin/tournaments/dq/start", headers=admin)
    out = client.post(f"/admin/tournaments/dq/entries/{entry['id']}/disqualify", headers=admin)
    assert out.status_code == 200 and out.json()["disqualified"]

    def cup() -> dict:
        return next(t for t in client.get("/admin/tournaments", headers=admin).json()["items"] if t["slug"] == "dq")

    assert poll(cup, lambda t: t["status"] == "finished")["status"] == "finished"
    board = {s["bot"] for s in client.get("/tournaments/dq/leaderboard").json()["items"]}
    assert board == {"alice:maker", "bob:holder"}  # still on the board
    mine = client.get("/entries", headers=people["alice"]).json()["items"]
    assert mine[0]["disqualified"] is True


def test_an_open_tournament_starts_by_itself_at_its_start_time(service):
    client, admin, people = service
    starts = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    client.post("/admin/tournaments", headers=admin, json={
        "slug": "timed", "name": "Timed", "rules": {"symbols": ["SPY", "BTC-USD"]}, "feed": "synthetic:4",
        "ticks": 10, "starts_at": starts})  # fmt: skip
    upload(client, people["bob"], "holder", "bh.py", (ROOT / "examples/bots/buy_and_hold.py").read_bytes())
    poll(lambda: client.get("/bots/holder/versions/1", headers=people["bob"]).json(),
         lambda v: v["status"] != "pending")  # fmt: skip
    client.post("/admin/tournaments/timed/open", headers=admin)
    client.post("/tournaments/timed/entries", json={"bot": "holder"}, headers=people["bob"])

    def timed() -> dict:
        return next(t for t in client.get("/admin/tournaments", headers=admin).json()["items"] if t["slug"] == "timed")

    assert poll(timed, lambda t: t["status"] == "finished")["status"] == "finished"  # nobody pressed start
