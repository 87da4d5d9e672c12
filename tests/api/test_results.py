"""The durable record of a tournament and the results API, on SQLite and PostgreSQL.

A real tournament (runc sandboxes, Redis, uvicorn): the record agrees with the standings, results and cards
show it, logs are for the owner and admins only, and the leaderboard rebuilt from the record is the one the
tournament left. (The Recorder itself, without HTTP: tests/service/test_recorder.py.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
import redis

from arena.api.results import PointOut, downsample
from arena.runtime.leaderboard import Leaderboard
from tests.api.conftest import walk
from tests.api.test_service import admin_key, poll, upload

ROOT = Path(__file__).resolve().parents[2]
needs_runc = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc")


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
    poll(lambda: client.get("/tournaments", params={"status": "finished"}).json()["items"], lambda ts: len(ts) == 1)
    yield client, admin, people, redis_url
    client.close()


def _entries(client, people):
    return {who: client.get("/entries", headers=people[who]).json()["items"][0] for who in ("alice", "bob")}


@pytest.mark.sandbox
@needs_runc
def test_the_record_of_a_tournament_and_its_results(finished_cup):
    client, admin, people, _ = finished_cup
    listed = client.get("/tournaments").json()["items"]
    assert [t["slug"] for t in listed] == ["cup"]  # drafts are not public
    assert listed[0]["status"] == "finished" and listed[0]["entries"] == 2
    assert listed[0]["ruleset"]["max_leverage"] == 1 and listed[0]["ruleset"]["starting_balance"] == 1_000_000
    results = client.get("/tournaments/cup/results").json()
    assert results["tournament"] == "cup" and results["next"] is None and len(results["items"]) == 2
    assert walk(client, "/tournaments/cup/results", limit=1) == results["items"]  # a page at a time, in order
    assert [(s["rank"], s["bot"]) for s in results["items"]] == sorted((s["rank"], s["bot"]) for s in results["items"])
    standings = {s["bot"]: s for s in results["items"]}
    assert {(s["name"], s["contestant"]) for s in standings.values()} == {("chatty", "alice"), ("maker", "bob")}
    assert set(standings) == {"alice:chatty", "bob:maker"}
    assert sorted(s["rank"] for s in standings.values()) in ([1, 2], [1, 1])
    entries = _entries(client, people)
    for who, bot in (("alice", "alice:chatty"), ("bob", "bob:maker")):
        entry, standing = entries[who], standings[bot]
        assert entry["status"] == "finished" and standing["status"] == "finished"
        fills = walk(client, f"/entries/{entry['id']}/fills", people[who], limit=7)
        assert len(fills) == standing["trades"] > 0
        assert not any(f["liquidation"] for f in fills)  # the bots' own fills (the engine's are marked)
        assert sum(f["fee"] for f in fills) == pytest.approx(standing["fees"]) and standing["fees"] > 0
        orders = walk(client, f"/entries/{entry['id']}/orders", people[who], limit=500)
        assert orders and all(o["side"] and o["type"] and o["qty"] and o["session"] == "regular" for o in orders)
        assert {f["order_id"] for f in fills} <= {o["order_id"] for o in orders}
        card = client.get(f"/tournaments/cup/bots/{bot}").json()
        assert card["final"] and card["rank"] == standing["rank"] and card["trades"] == standing["trades"]
        assert (card["bot"], card["contestant"], card["name"]) == (bot, who, bot.split(":")[1])
        assert card["fees"] == pytest.approx(standing["fees"]) and 0 < len(card["equity"]) == card["points"] <= 31
        last = card["equity"][-1]
        assert last["nav"] == standing["nav"] and last["max_drawdown"] == standing["max_drawdown"]
        assert all(0 <= p["drawdown"] <= p["max_drawdown"] + 1e-9 for p in card["equity"])
    refused = client.get(f"/entries/{entries['alice']['id']}/rejections", headers=people["alice"]).json()["items"]
    assert [r["symbol"] for r in refused] == ["BTC-USD"]

    # Logs: the owner and admins see them, nobody else.
    alice_entry = entries["alice"]["id"]
    mine = client.get(f"/entries/{alice_entry}/logs", params={"limit": 500}, headers=people["alice"]).json()
    lines = [(x["stream"], x["text"]) for x in mine["items"]]
    assert lines[0][0] == "system" and lines[0][1].startswith("ended: finished")
    assert ("protocol", "1 protocol error(s): lines that were not valid protocol messages") in lines
    assert [t for s, t in lines if t.startswith("log: ")] == [f"log: chatty {n}" for n in range(1, 26)]
    assert ("stderr", "chatty writes to stderr") in lines
    assert mine["resource_use"]["protocol_errors"] == 1 and mine["end_classification"] in ("exited", "killed")
    protocol = walk(client, f"/entries/{alice_entry}/logs", people["alice"], limit=1, stream="protocol")
    assert len(protocol) >= 2 and protocol == [x for x in mine["items"] if x["stream"] == "protocol"]
    assert client.get(f"/entries/{alice_entry}/logs", headers=admin).json()["items"] == mine["items"][:50]
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
    assert client.get("/tournaments/cup/leaderboard").json()["items"] == live["items"]
    # Redis lost the board: gone, then rebuilt from the record, final and frozen as it was.
    r = redis.Redis.from_url(redis_url)
    Leaderboard(r, "cup").clear()
    lost = client.get("/tournaments/cup/leaderboard")
    assert lost.status_code == 404 and lost.json()["error"]["code"] == "NO_LEADERBOARD"
    rebuilt = client.post("/admin/tournaments/cup/rebuild-leaderboard", headers=admin)
    assert rebuilt.status_code == 200, rebuilt.text
    assert [(s["bot"], s["score"]) for s in rebuilt.json()["top"]] == [
        (s["bot"], s["score"]) for s in live["items"]
    ]
    board = client.get("/tournaments/cup/leaderboard").json()
    assert board["final"] and board["items"] == live["items"]
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
