"""Webhooks through the API, on SQLite and PostgreSQL: registration with its SSRF guard and owner-only access,
and end to end — a real tournament's fills and end reach a loopback receiver that checks each signature
with the documented snippet, through retries, de-duplicated by event id. (The observer and the dispatcher
on their own: tests/service/test_webhook_dispatch.py.)"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from arena.runtime.redis_server import free_port
from arena.store import webhooks as webhook_repo
from arena.store.db import make_engine, make_sessionmaker
from arena.store.models import WebhookEndpoint
from arena.webhooks import WebhookEvent
from arena.webhooks.delivery import UNREACHABLE
from arena.webhooks.events import event_id
from arena.webhooks.keyring import KEY_FILE, SecretKeyring
from tests.api.conftest import enrol
from tests.api.test_service import admin_key, poll, upload
from tests.service.test_webhook_dispatch import FAST, WallClock, documented_verify
from tests.webhooks.receiver import Receiver, Slowloris, serve, serve_slowloris

ROOT = Path(__file__).resolve().parents[2]


def start(api, database_url: str, **overrides: Any):
    key = admin_key(database_url)
    server = api(database_url=database_url, **overrides)
    dispatcher = server.server.config.app.state.webhooks
    dispatcher.policy, dispatcher.poll_s = FAST, 0.05
    return enrol(server.url, key)


@pytest.fixture
def service(database_url, api):
    client, admin, people = start(api, database_url, webhooks_allow_loopback=True, webhooks_allowed_ports="1-65535",
                                  webhooks_attempt_timeout_s=3.0, rate_limit=1_000_000)  # receivers on free ports
    yield client, admin, people
    client.close()


def error(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_register_list_delete_only_by_the_owner(service) -> None:
    client, _, people = service
    alice, bob = people["alice"], people["bob"]
    created = client.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["order.filled"]},
                          headers=alice)  # fmt: skip
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["order.filled"] and hook["active"]
    catch_all = client.post("/webhooks", json={"url": "http://[::1]:9/all"}, headers=alice).json()
    assert catch_all["events"] == [] and catch_all["secret"] != hook["secret"]
    # The secret is shown once: never in a listing.
    listed = client.get("/webhooks", headers=alice).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"], catch_all["id"]]
    assert all("secret" not in h for h in listed) and hook["secret"] not in json.dumps(listed)
    assert client.get(f"/webhooks/{hook['id']}/deliveries", headers=alice).json()["items"] == []
    # Bob sees none of it and cannot touch it; to him it does not exist.
    assert client.get("/webhooks", headers=bob).json()["items"] == []
    assert error(client.get(f"/webhooks/{hook['id']}/deliveries", headers=bob)) == (404, "UNKNOWN_WEBHOOK")
    assert error(client.delete(f"/webhooks/{hook['id']}", headers=bob)) == (404, "UNKNOWN_WEBHOOK")
    assert error(client.get("/webhooks")) == (401, "UNAUTHENTICATED")
    assert client.delete(f"/webhooks/{hook['id']}", headers=alice).status_code == 204
    assert [h["id"] for h in client.get("/webhooks", headers=alice).json()["items"]] == [catch_all["id"]]
    assert error(client.delete(f"/webhooks/{hook['id']}", headers=alice)) == (404, "UNKNOWN_WEBHOOK")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "FORBIDDEN_ADDRESS"),  # cloud metadata
        ({"url": "http://[::ffff:169.254.169.254]/"}, "FORBIDDEN_ADDRESS"),  # the same, IPv4-mapped
        ({"url": "http://10.1.2.3/hook"}, "FORBIDDEN_ADDRESS"),  # private network
        ({"url": "http://0.0.0.0:8080/"}, "FORBIDDEN_ADDRESS"),
        ({"url": "ftp://127.0.0.1/hook"}, "BAD_SCHEME"),
        ({"url": "file:///etc/passwd"}, "BAD_SCHEME"),
        ({"url": "http:// spaced.example/"}, "BAD_URL"),
        ({"url": "http://127.0.0.1:99999/"}, "BAD_URL"),  # port out of range
        ({"url": "http://" + "a" * 70 + ".example/"}, "BAD_URL"),  # a label over 63 characters (was a 500)
        ({"url": "http://127.0.0.1:9/", "events": ["order.exploded"]}, "INVALID_EVENT_TYPE"),
    ],
)
def test_bad_endpoints_are_refused_with_a_code_and_change_nothing(service, body, code) -> None:
    client, _, people = service
    answer = client.post("/webhooks", json=body, headers=people["alice"])
    assert error(answer) == (422, code), answer.text
    assert client.get("/webhooks", headers=people["alice"]).json()["items"] == []


def test_loopback_is_refused_unless_the_operator_allows_it(database_url, api) -> None:
    client, _, people = start(api, database_url)  # webhooks_allow_loopback defaults to False
    try:
        for url in ("http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://127.1.2.3/"):
            answer = client.post("/webhooks", json={"url": url}, headers=people["alice"])
            assert error(answer) == (422, "FORBIDDEN_ADDRESS"), url
    finally:
        client.close()


def test_a_contestant_has_at_most_ten_webhooks(service) -> None:
    client, _, people = service
    for i in range(10):
        assert client.post("/webhooks", json={"url": f"http://127.0.0.1:9/{i}"}, headers=people["alice"]).is_success
    too_many = client.post("/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=people["alice"])
    assert error(too_many) == (409, "TOO_MANY_WEBHOOKS")
    assert client.post("/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=people["bob"]).is_success


def ready_bot(client: httpx.Client, who: dict, bot: str, source: bytes) -> None:
    """Upload until a version is ready. On PostgreSQL the smoke test can start before the upload's transaction
    commits, miss its version and leave it pending (a race in the upload route, not in webhooks): then a new
    upload gets a new smoke test. Drop the retry once the route schedules after its commit."""
    for _ in range(3):
        number = upload(client, who, bot, "main.py", source).json()["version"]
        path = f"/bots/{bot}/versions/{number}"
        version = poll(lambda p=path: client.get(p, headers=who).json(), lambda v: v["status"] != "pending", 15)
        if version["status"] != "pending":
            assert version["status"] == "ready", version["smoke_log"]
            return
    pytest.fail(f"no version of {bot} got a smoke-test verdict")


def deliveries(client: httpx.Client, who: dict, hook: dict) -> list[dict]:
    return client.get(f"/webhooks/{hook['id']}/deliveries", headers=who, params={"limit": 500}).json()["items"]


def settled(rows: list[dict]) -> bool:
    return bool(rows) and all(r["status"] != "pending" for r in rows)


@pytest.mark.sandbox
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None, reason="needs root and runc")
def test_a_tournament_sends_each_owner_signed_events_through_retries(service) -> None:
    client, admin, people = service
    alice, bob = people["alice"], people["bob"]
    with (
        serve(Receiver(WallClock(), secrets=[], verifier=documented_verify())) as for_alice,  # type: ignore[arg-type]
        serve(Receiver(WallClock(), secrets=[], verifier=documented_verify())) as for_bob,  # type: ignore[arg-type]
    ):
        # Alice's receiver is down once (503), then processes an event but its answer is lost (500): the
        # event comes again and is recognised as a duplicate. Afterwards it answers 200.
        for_alice.script = [("fail", 503), ("process_then", 500)]
        hook = client.post("/webhooks", headers=alice, json={
            "url": for_alice.url, "events": ["order.filled", "tournament.finished"]}).json()  # fmt: skip
        for_alice.secrets = [hook["secret"]]
        bobs = client.post("/webhooks", headers=bob, json={"url": for_bob.url}).json()
        for_bob.secrets = [bobs["secret"]]
        # An endpoint that never answers (nothing listens): its attempts run out.
        dead = client.post("/webhooks", headers=alice, json={
            "url": f"http://127.0.0.1:{free_port()}/gone", "events": ["tournament.finished"]}).json()  # fmt: skip

        for who in (alice, bob):
            ready_bot(client, who, "holder", (ROOT / "examples/bots/buy_and_hold.py").read_bytes())
        created = client.post("/admin/tournaments", headers=admin, json={
            "slug": "hooked", "name": "Hooked", "rules": {"symbols": ["SPY", "BTC-USD", "ETH-USD"]},
            "feed": "synthetic:3", "ticks": 20, "seed": 3})  # fmt: skip
        assert created.status_code == 201, created.text
        client.post("/admin/tournaments/hooked/open", headers=admin)
        for who in (alice, bob):
            assert client.post("/tournaments/hooked/entries", json={"bot": "holder"}, headers=who).status_code == 201
        assert client.post("/admin/tournaments/hooked/start", headers=admin).json()["status"] == "running"
        final = poll(lambda: client.get("/admin/tournaments", headers=admin).json()["items"][0],
                     lambda t: t["status"] == "finished", timeout_s=120)  # fmt: skip
        assert final["status"] == "finished"

        rows = poll(lambda: deliveries(client, alice, hook), settled, timeout_s=30)
        dead_rows = poll(lambda: deliveries(client, alice, dead), settled, timeout_s=30)
        bob_rows = poll(lambda: deliveries(client, bob, bobs), settled, timeout_s=30)

    # Alice's endpoint: every event delivered, each once per event id, only the types she chose.
    assert rows and all(r["status"] == "delivered" for r in rows), rows
    ids = [r["event_id"] for r in rows]
    assert len(ids) == len(set(ids))
    types = [r["type"] for r in rows]
    assert types.count("tournament.finished") == 1 and "order.filled" in types
    assert set(types) <= {"order.filled", "tournament.finished"}
    # The receiver: every request verified with the documented snippet; each event processed exactly once.
    verdicts = [r.verdict for r in for_alice.requests]
    assert not [v for v in verdicts if v.startswith("bad_signature")], verdicts
    assert "failed:503" in verdicts and "duplicate" in verdicts  # the down answer, and the lost one
    assert set(for_alice.processed) == set(ids) and set(for_alice.processed.values()) == {1}
    retried = [r for r in rows if r["attempts"] > 1]
    assert retried and all(r["last_error"].startswith("HTTP 5") for r in retried), rows
    assert max(int(r.headers["X-Arena-Delivery-Attempt"]) for r in for_alice.requests) >= 2
    bodies = [json.loads(r.body) for r in for_alice.requests if r.verdict == "processed"]
    assert {(b["tournament"], b["bot"]) for b in bodies} == {("hooked", "alice:holder")}  # her bot's, not bob's
    finished = next(b for b in bodies if b["type"] == "tournament.finished")["data"]
    assert finished["standing"]["bot"] == "alice:holder" and finished["entrants"] == 2
    assert {s["bot"] for s in finished["standings"]} == {"alice:holder", "bob:holder"}
    fill = next(b for b in bodies if b["type"] == "order.filled")["data"]
    assert fill["symbol"] == "SPY" and fill["side"] == "buy" and fill["remaining"] == 0
    # Bob's catch-all endpoint got his bot's events only.
    assert bob_rows and all(r["status"] == "delivered" for r in bob_rows)
    assert {json.loads(r.body)["bot"] for r in for_bob.requests} == {"bob:holder"}
    assert "tournament.finished" in {r["type"] for r in bob_rows}
    # The dead endpoint: retried with backoff until the attempts ran out, then failed for good.
    (gone,) = dead_rows
    assert gone["status"] == "failed" and gone["attempts"] == FAST.max_attempts and gone["last_error"]


def test_only_allowed_ports_and_the_secret_is_sealed_at_rest(database_url, api, tmp_path) -> None:
    client, _, people = start(api, database_url, webhooks_allow_loopback=True, rate_limit=1_000_000)  # default ports
    try:
        for url in ("http://127.0.0.1:6379/", "http://127.0.0.1:22/", "https://127.0.0.1:8444/", "http://[::1]:25/"):
            answer = client.post("/webhooks", json={"url": url}, headers=people["alice"])
            assert error(answer) == (422, "FORBIDDEN_PORT") and "80, 443, 8080-8443" in answer.text, url
        created = client.post("/webhooks", json={"url": "https://127.0.0.1:8443/hook"}, headers=people["alice"])
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
    finally:
        client.close()
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(WebhookEndpoint.sealed_secret)).scalar_one()
    finally:
        engine.dispose()
    key_file = tmp_path / "data" / KEY_FILE  # no key configured: generated, readable by this user only
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert secret not in stored and SecretKeyring.from_settings("", key_file.parent).open(stored) == secret


def test_a_failed_delivery_reads_unreachable_whatever_the_cause(service, database_url) -> None:
    client, _, people = service
    alice = people["alice"]
    with serve_slowloris(Slowloris("silent")) as silent:
        hooks = {
            "closed": client.post("/webhooks", json={"url": f"http://127.0.0.1:{free_port()}/"}, headers=alice),
            "silent": client.post("/webhooks", json={"url": silent.url}, headers=alice),
        }
        engine = make_engine(database_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                for n, hook in enumerate(hooks.values()):
                    endpoint = session.get(WebhookEndpoint, hook.json()["id"])
                    event = WebhookEvent(event_id(1_767_225_600_000, n), "order.filled", 1_767_225_600_000, "c", "b")
                    webhook_repo.enqueue(session, endpoint, event.id, event.type, event.as_dict())
        finally:
            engine.dispose()
        errors = {
            name: poll(lambda h=hook: deliveries(client, alice, h.json())[0], lambda d: d["attempts"] > 0, 30)
            for name, hook in hooks.items()
        }
    assert {name: d["last_error"] for name, d in errors.items()} == {"closed": UNREACHABLE, "silent": UNREACHABLE}
