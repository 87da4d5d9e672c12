"""What the dashboard and spectator pages read: a tournament's public view (rules in plain words, progress,
entrants), the admin's detail with live CPU and memory per entrant, recent uploads, contestants. Real uvicorn,
Redis, database and runc sandbox."""

from __future__ import annotations

import pytest
import redis

from arena.engine.rules import DEFAULT_RULESET
from arena.runtime.leaderboard import read_changes
from tests.api import test_service
from tests.api.test_service import ROOT, poll, upload

pytestmark = test_service.pytestmark
service = test_service.service  # the fixture: a live service, its admin and two contestants

HOLDER = (ROOT / "examples/bots/buy_and_hold.py").read_bytes()
MAKER = (ROOT / "examples/bots/market_maker.py").read_bytes()


def ready(client, headers, bot: str, version: int = 1) -> dict:
    return poll(lambda: client.get(f"/bots/{bot}/versions/{version}", headers=headers).json(),
                lambda v: v["status"] != "pending")  # fmt: skip


def changes_ts(redis_url: str, tournament: str) -> list[int]:
    return [c.ts for c in read_changes(redis.Redis.from_url(redis_url), tournament)]


def test_public_view_before_and_after_a_run(service, redis_url) -> None:
    client, admin, people = service
    client.post("/admin/tournaments", headers=admin, json={
        "slug": "view", "name": "View", "rules": {"symbols": ["SPY", "BTC-USD"], "short_selling": False},
        "feed": "synthetic:4", "ticks": 25, "seed": 4})  # fmt: skip
    assert client.get("/tournaments/view").status_code == 404  # a draft is the admin's business
    client.post("/admin/tournaments/view/open", headers=admin)
    upload(client, people["alice"], "holder", "bh.py", HOLDER)
    assert ready(client, people["alice"], "holder")["status"] == "ready"
    client.post("/tournaments/view/entries", json={"bot": "holder"}, headers=people["alice"])
    before = client.get("/tournaments/view").json()
    assert before["status"] == "open" and before["progress"] is None and before["bots"] == ["alice:holder"]
    assert before["entrants"] == [{"bot": "alice:holder", "name": "holder", "contestant": "alice"}]  # for people
    assert "Only these symbols trade: BTC-USD and SPY." in before["rules_text"]
    assert "Short selling is not allowed." in before["rules_text"]
    client.post("/admin/tournaments/view/start", headers=admin)
    after = poll(lambda: client.get("/tournaments/view").json(), lambda t: t["status"] == "finished")
    assert after["progress"]["tick"] == 25 and after["progress"]["ticks"] == 25 and after["progress"]["ended"]
    assert after["progress"]["ts"] == changes_ts(redis_url, "view")[-1]  # the clock stops at the last tick
    changes = read_changes(redis.Redis.from_url(redis_url), "view")
    ticks = [c.tick for c in changes]
    assert ticks == sorted(ticks) and ticks[0] == 0 and ticks[-1] == 25  # tick 0: everyone at the start


def test_admin_sees_entrants_live_usage_then_their_final_figures(service) -> None:
    client, admin, people = service
    # Realtime: each tick lasts tick_deadline_s, so the run lasts long enough to watch it.
    client.post("/admin/tournaments", headers=admin, json={
        "slug": "watch", "name": "Watch", "rules": {"symbols": ["SPY", "BTC-USD", "ETH-USD"]},
        "feed": "synthetic:5", "ticks": 40, "clock": "realtime", "tick_deadline_s": 0.25})  # fmt: skip
    client.post("/admin/tournaments/watch/open", headers=admin)
    for who, bot, source in (("alice", "maker", MAKER), ("bob", "holder", HOLDER)):
        upload(client, people[who], bot, f"{bot}.py", source)
        assert ready(client, people[who], bot)["status"] == "ready"
        client.post("/tournaments/watch/entries", json={"bot": bot}, headers=people[who])
    client.post("/admin/tournaments/watch/start", headers=admin)

    def detail() -> dict:
        return client.get("/admin/tournaments/watch", headers=admin).json()

    def reported(entrant: dict) -> bool:
        usage = entrant["usage"]
        return bool(usage and usage["memory_bytes"] and usage["cpu_percent"] is not None)

    live = poll(detail, lambda d: d["status"] != "running" or all(reported(e) for e in d["entrants"]))
    assert live["status"] == "running", "the run ended before every entrant reported its usage"
    assert 0 < live["progress"]["tick"] < 40 and live["progress"]["ticks"] == 40
    for entrant in live["entrants"]:
        usage = entrant["usage"]
        assert 0 < usage["memory_bytes"] <= 256 << 20  # inside the sandbox's memory limit
        assert 0 <= usage["cpu_percent"] <= 100 and usage["cpu_seconds"] > 0
        assert entrant["status"] == "running" and entrant["end_classification"] is None
    mine = client.get("/entries", headers=people["alice"]).json()["items"]
    assert [(e["bot_key"], e["status"]) for e in mine] == [("alice:maker", "running")]  # the engine's word, live
    assert {(e["bot_key"], e["contestant"], e["version"]) for e in live["entrants"]} == {
        ("alice:maker", "alice", 1), ("bob:holder", "bob", 1)}  # fmt: skip

    done = poll(detail, lambda d: d["status"] == "finished")
    for entrant in done["entrants"]:
        assert entrant["status"] == "finished" and entrant["end_classification"] == "exited"
        assert entrant["usage"]["peak_memory_bytes"] > 0 and entrant["usage"]["cpu_percent"] is None


def test_recent_uploads_newest_first_with_owner_and_verdict(service) -> None:
    client, admin, people = service
    upload(client, people["alice"], "holder", "bh.py", HOLDER)
    upload(client, people["bob"], "broken", "broken.py", b"raise SystemExit(3)\n")
    assert ready(client, people["alice"], "holder")["status"] == "ready"
    assert ready(client, people["bob"], "broken")["status"] == "failed"
    rows = client.get("/admin/uploads", headers=admin).json()["items"]
    assert [(r["owner"], r["bot"], r["status"]) for r in rows] == [("bob", "broken", "failed"),
                                                                  ("alice", "holder", "ready")]  # fmt: skip
    # It exits at once; whether the smoke test sees it exit or kills it first is a race. Either way: failed.
    assert rows[0]["end_classification"] in ("exited", "killed") and rows[0]["smoke_log"]
    assert len(client.get("/admin/uploads?limit=1", headers=admin).json()["items"]) == 1
    assert client.get("/admin/uploads?limit=0", headers=admin).json()["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize("path", ["/admin/uploads", "/admin/contestants", "/admin/tournaments/none"])
def test_dashboard_reads_are_for_admins_only(service, path) -> None:
    client, _, people = service
    answer = client.get(path, headers=people["alice"])
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "ADMIN_ONLY"


def test_contestants_list_and_unknown_tournament(service) -> None:
    client, admin, _ = service
    rows = client.get("/admin/contestants", headers=admin).json()["items"]
    assert [(r["name"], r["is_admin"]) for r in rows] == [("root", True), ("alice", False), ("bob", False)]
    missing = client.get("/admin/tournaments/none", headers=admin)
    assert missing.status_code == 404


def test_the_default_ruleset_is_public_and_complete(service) -> None:
    client, _, _ = service
    body = client.get("/rules/default").json()
    assert body == {"ruleset": DEFAULT_RULESET.model_dump(mode="json")}
    assert set(body["ruleset"]["fees"]) == {"equity", "etf", "crypto", "forex", "future", "index"}
