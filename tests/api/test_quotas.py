"""Quotas over HTTP (issue 12, findings 5, 7 and 8): API keys, bots, versions, stored bytes, entries, uploads per
hour, waiting smoke tests and the service's smoke-test queue; each refusal names its quota and changes nothing.
The admin sets one contestant's own limits. Real uvicorn, Redis, SQLite/PostgreSQL and sandbox (smoke tests)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.api.conftest import enrol
from tests.api.test_service import admin_key, poll, upload

ROOT = Path(__file__).resolve().parents[2]
HOLDER = (ROOT / "examples/bots/buy_and_hold.py").read_bytes()
SILENT = b"import sys\nfor line in sys.stdin:\n    pass\n"  # no 'done' for hello: pending for 5 s, then failed


def sandboxed(test):
    """For tests whose uploads get smoke-tested."""
    needs = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc")
    return pytest.mark.sandbox(needs(test))


@pytest.fixture
def site(api, database_url):
    """start(**settings) -> (client, admin headers, {name: headers}) for alice and bob."""
    clients = []

    def start(**settings):
        server = api(database_url=database_url, rate_limit=1_000_000, **settings)
        client, admin, people = enrol(server.url, admin_key(database_url))
        clients.append(client)
        return client, admin, people

    yield start
    for client in clients:
        client.close()


def refusal(answer, status: int, code: str, quota: str) -> dict:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["quota"]) == (code, quota) and error["message"], error
    assert isinstance(error["limit"], int) and isinstance(error["used"], int)
    return error


def verdict(client, headers: dict, bot: str, version: int = 1) -> dict:
    return poll(lambda: client.get(f"/bots/{bot}/versions/{version}", headers=headers).json(),
                lambda v: v.get("status") != "pending")  # fmt: skip


def test_api_keys_are_capped_per_contestant(site):
    """Finding 5: a contestant could mint any number of keys (each a rate-limit identity of its own)."""
    client, _, people = site(quotas={"api_keys": 3})
    alice = people["alice"]
    made = [client.post("/keys", json={"name": f"k{i}"}, headers=alice) for i in range(2)]
    assert [m.status_code for m in made] == [201, 201]  # with the admin's first one: 3
    error = refusal(client.post("/keys", json={"name": "one too many"}, headers=alice), 409, "TOO_MANY_API_KEYS",
                    "api_keys")  # fmt: skip
    assert (error["limit"], error["used"]) == (3, 3)
    assert len(client.get("/keys", headers=alice).json()["items"]) == 3  # nothing was made
    assert client.delete(f"/keys/{made[0].json()['id']}", headers=alice).status_code == 200
    assert client.post("/keys", json={"name": "after revoking"}, headers=alice).status_code == 201
    assert client.post("/keys", json={}, headers=people["bob"]).status_code == 201  # bob's keys are his own


def test_admins_see_and_set_a_contestants_quotas(site):
    client, admin, people = site(quotas={"api_keys": 1})
    shown = client.get("/admin/contestants/alice/quotas", headers=admin).json()
    assert shown["quotas"]["api_keys"] == 1 and shown["overrides"] == {} and shown["usage"]["api_keys"] == 1
    assert client.get("/admin/contestants/alice/quotas", headers=people["alice"]).status_code == 403
    assert client.get("/admin/contestants/nobody/quotas", headers=admin).json()["error"]["code"] == "UNKNOWN_CONTESTANT"
    for body, code in [({"api_keys": 5, "gpus": 1}, "UNKNOWN_QUOTA"), ({"api_keys": -1}, "INVALID_REQUEST"),
                       ({"api_keys": "many"}, "INVALID_REQUEST")]:  # fmt: skip
        bad = client.patch("/admin/contestants/alice/quotas", json=body, headers=admin)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code, bad.text
    assert client.get("/quotas", headers=people["alice"]).json()["overrides"] == {}  # nothing changed
    raised = client.patch("/admin/contestants/alice/quotas", json={"api_keys": 2}, headers=admin)
    assert raised.status_code == 200 and raised.json()["overrides"] == {"api_keys": 2}
    assert client.post("/keys", json={}, headers=people["alice"]).status_code == 201
    assert client.post("/keys", json={}, headers=people["bob"]).status_code == 409  # bob still has the default
    mine = client.get("/quotas", headers=people["alice"]).json()
    assert mine["quotas"]["api_keys"] == 2 and mine["usage"]["api_keys"] == 2
    reset = client.patch("/admin/contestants/alice/quotas", json={"api_keys": None}, headers=admin).json()
    assert reset["overrides"] == {} and reset["quotas"]["api_keys"] == 1


@sandboxed
def test_holdings_are_bounded_and_a_refused_upload_stores_nothing(site):
    client, admin, people = site(quotas={"bots": 1, "versions": 2, "stored_bytes": 2 * len(HOLDER) + 100})
    alice = people["alice"]
    assert upload(client, alice, "one", "bot.py", HOLDER).status_code == 202
    refusal(upload(client, alice, "two", "bot.py", HOLDER), 409, "QUOTA_EXCEEDED", "bots")
    big = HOLDER + b"#" * 200  # over the stored bytes left
    refusal(upload(client, alice, "one", "bot.py", big), 409, "QUOTA_EXCEEDED", "stored_bytes")
    verdict(client, alice, "one")
    assert upload(client, alice, "one", "bot.py", HOLDER).status_code == 202
    refusal(upload(client, alice, "one", "bot.py", HOLDER), 409, "QUOTA_EXCEEDED", "versions")
    listed = client.get("/bots", headers=alice).json()["items"]
    assert [(b["name"], [v["version"] for v in b["versions"]]) for b in listed] == [("one", [1, 2])]
    usage = client.get("/quotas", headers=alice).json()["usage"]
    assert (usage["bots"], usage["versions"], usage["stored_bytes"]) == (1, 2, 2 * len(HOLDER))
    assert upload(client, people["bob"], "two", "bot.py", HOLDER).status_code == 202  # bob's quota is his own
    more = {"bots": 2, "versions": 3, "stored_bytes": 3 * len(HOLDER)}
    raised = client.patch("/admin/contestants/alice/quotas", json=more, headers=admin)
    assert raised.status_code == 200 and raised.json()["overrides"] == more
    accepted = upload(client, alice, "two", "bot.py", HOLDER)
    assert accepted.status_code == 202, accepted.text


@sandboxed
def test_uploads_per_hour_and_waiting_smoke_tests_are_429_with_retry_after(site):
    client, _, people = site(quotas={"uploads_per_hour": 2, "pending_smoke_tests": 1})
    alice = people["alice"]
    assert upload(client, alice, "quiet", "bot.py", SILENT).status_code == 202
    waiting = upload(client, alice, "quiet", "bot.py", SILENT)  # the first awaits its verdict for 5 s
    refusal(waiting, 429, "QUOTA_EXCEEDED", "pending_smoke_tests")
    assert int(waiting.headers["Retry-After"]) > 0
    assert verdict(client, alice, "quiet")["status"] == "failed"
    assert upload(client, alice, "quiet", "bot.py", HOLDER).status_code == 202
    verdict(client, alice, "quiet", 2)
    hourly = upload(client, alice, "quiet", "bot.py", HOLDER)
    error = refusal(hourly, 429, "QUOTA_EXCEEDED", "uploads_per_hour")
    assert 3500 < int(hourly.headers["Retry-After"]) <= 3600 and error["used"] == 2
    assert len(client.get("/bots/quiet", headers=alice).json()["versions"]) == 2


@sandboxed
def test_a_full_smoke_test_queue_is_503_until_it_drains(site):
    client, _, people = site(smoke_queue_max=2, quotas={"pending_smoke_tests": 5})
    for bot in ("a", "b"):
        assert upload(client, people["alice"], bot, "bot.py", SILENT).status_code == 202
    full = upload(client, people["bob"], "c", "bot.py", HOLDER)
    refusal(full, 503, "SMOKE_QUEUE_FULL", "smoke_queue")
    assert int(full.headers["Retry-After"]) > 0
    assert client.get("/bots", headers=people["bob"]).json()["items"] == []
    for bot in ("a", "b"):
        assert verdict(client, people["alice"], bot)["status"] == "failed"
    assert upload(client, people["bob"], "c", "bot.py", HOLDER).status_code == 202


@sandboxed
def test_entries_per_tournament(site):
    client, admin, people = site(quotas={"entries_per_tournament": 1})
    alice = people["alice"]
    for bot in ("one", "two"):
        upload(client, alice, bot, "bot.py", HOLDER)
        assert verdict(client, alice, bot)["status"] == "ready"
    for slug in ("cup", "plate"):
        assert client.post("/admin/tournaments", json={"slug": slug, "name": slug}, headers=admin).status_code == 201
        client.post(f"/admin/tournaments/{slug}/open", headers=admin)
    assert client.post("/tournaments/cup/entries", json={"bot": "one"}, headers=alice).status_code == 201
    refusal(client.post("/tournaments/cup/entries", json={"bot": "two"}, headers=alice), 409, "QUOTA_EXCEEDED",
            "entries_per_tournament")  # fmt: skip
    assert client.post("/tournaments/plate/entries", json={"bot": "two"}, headers=alice).status_code == 201
    assert [e["tournament"] for e in client.get("/entries", headers=alice).json()["items"]] == ["cup", "plate"]


@sandboxed
def test_a_smoke_log_is_capped_and_listings_return_the_capped_log(site):
    """Finding 7: one entry per bad line the bot writes; 20,000 bad lines made a 2 MB log, of which the last
    64 Ki characters were kept (from mid-line, with no sign of what was left out)."""
    client, _, people = site()
    alice = people["alice"]
    upload(client, alice, "junk", "bot.py", (ROOT / "tests/data/bots/bad_lines.py").read_bytes())
    version = verdict(client, alice, "junk")
    assert version["status"] == "ready", version["smoke_log"][-2000:]
    listed = client.get("/bots", headers=alice).json()["items"][0]
    for log in (version["smoke_log"], listed["versions"][0]["smoke_log"]):
        lines = log.split("\n")
        assert len(lines) <= 1000 and len(log.encode()) <= 64 * 1024
        assert lines[0].startswith("bad line from the bot") and "answered hello" in lines[-1]
        assert sum(line.startswith("[log truncated: ") for line in lines) == 1
