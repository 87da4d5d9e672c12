"""Webhooks in the service, on SQLite and PostgreSQL: registration with its SSRF guard and owner-only access,
and end to end — a real tournament's fills and end reach a loopback receiver that checks each signature
with the documented snippet, through retries, de-duplicated by event id."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from arena.api.webhook_dispatch import Dispatcher, Observers, WebhookObserver
from arena.runtime.protocol import system_status_message
from arena.runtime.redis_server import free_port
from arena.runtime.tournament import BotState, Observer, Standing
from arena.store import accounts
from arena.store import webhooks as webhook_repo
from arena.store.db import make_engine, make_sessionmaker
from arena.store.models import WebhookDelivery, WebhookEndpoint
from arena.webhooks import RetryPolicy
from tests.api.conftest import enrol
from tests.api.test_service import admin_key, poll, upload
from tests.webhooks.receiver import Receiver, serve
from tests.webhooks.test_webhook_docs import snippet

ROOT = Path(__file__).resolve().parents[2]
# Retries in milliseconds, not seconds: the schedule's shape (backoff, attempts running out) stays the same.
FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)


class WallClock:
    """The receiver's clock: real time, as a contestant's server has (the 300 s window is checked)."""

    def time(self) -> float:
        return time.time()


def documented_verify() -> Any:
    """verify_arena_webhook from docs/webhooks.md, as a contestant would paste it."""
    namespace: dict[str, Any] = {"__name__": "contestant_code"}
    exec(compile(snippet(), "docs/webhooks.md", "exec"), namespace)
    verify = namespace["verify_arena_webhook"]
    return lambda secrets, ts, sig, body, now: verify(secrets, ts, sig, body, now=now)


def start(api, database_url: str, **overrides: Any):
    key = admin_key(database_url)
    server = api(database_url=database_url, **overrides)
    dispatcher = server.server.config.app.state.webhooks
    dispatcher.policy, dispatcher.poll_s = FAST, 0.05
    return enrol(server.url, key)


@pytest.fixture
def service(database_url, api):
    client, admin, people = start(api, database_url, webhooks_allow_loopback=True, rate_limit=1_000_000)
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
    listed = client.get("/webhooks", headers=alice).json()
    assert [h["id"] for h in listed] == [hook["id"], catch_all["id"]]
    assert all("secret" not in h for h in listed) and hook["secret"] not in json.dumps(listed)
    assert client.get(f"/webhooks/{hook['id']}/deliveries", headers=alice).json() == []
    # Bob sees none of it and cannot touch it; to him it does not exist.
    assert client.get("/webhooks", headers=bob).json() == []
    assert error(client.get(f"/webhooks/{hook['id']}/deliveries", headers=bob)) == (404, "UNKNOWN_WEBHOOK")
    assert error(client.delete(f"/webhooks/{hook['id']}", headers=bob)) == (404, "UNKNOWN_WEBHOOK")
    assert error(client.get("/webhooks")) == (401, "UNAUTHENTICATED")
    assert client.delete(f"/webhooks/{hook['id']}", headers=alice).status_code == 204
    assert [h["id"] for h in client.get("/webhooks", headers=alice).json()] == [catch_all["id"]]
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
        ({"url": "http://127.0.0.1:9/", "events": ["order.exploded"]}, "INVALID_EVENT_TYPE"),
    ],
)
def test_bad_endpoints_are_refused_with_a_code_and_change_nothing(service, body, code) -> None:
    client, _, people = service
    answer = client.post("/webhooks", json=body, headers=people["alice"])
    assert error(answer) == (422, code), answer.text
    assert client.get("/webhooks", headers=people["alice"]).json() == []


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


def test_observers_fan_out_in_order_and_survive_a_failing_one() -> None:
    calls: list[str] = []

    class Recording(Observer):
        def __init__(self, name: str) -> None:
            self.name = name

        def messages(self, out: dict) -> None:
            calls.append(f"{self.name}.messages")

        def finished(self, standings: list, bots: dict) -> None:
            calls.append(f"{self.name}.finished")

        def close(self) -> None:
            calls.append(f"{self.name}.close")

    class Broken(Observer):
        def messages(self, out: dict) -> None:
            raise RuntimeError("boom")

    fan = Observers([Recording("a"), Broken(), None, Recording("b")])
    fan.events(1, 0, [], [])  # the base class's no-op
    fan.messages({"x": []})
    fan.finished([], {})
    fan.close()
    assert calls == ["a.messages", "b.messages", "a.finished", "b.finished", "a.close", "b.close"]


# -- the observer and the dispatcher, without a tournament (no sandbox needed) ----------------------------

TS = 1_767_225_600_000


def fill(order_id: int, ts: int = TS) -> dict[str, Any]:
    return {"type": "order_update", "order_id": order_id, "client_order_id": f"c{order_id}", "symbol": "SPY",
            "side": "buy", "status": "filled", "ts": ts, "qty": 10.0, "price": 500.0, "fee": 0.1,
            "filled_qty": 10.0, "remaining": 0.0}  # fmt: skip


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def people_with_hooks(sessions, hooks: dict[str, list[tuple[str, list[str]]]]) -> dict[str, Any]:
    """Contestants by name, each with webhooks (url, events); returns name -> (contestant id, [endpoint ids])."""
    made = {}
    with sessions.begin() as session:
        for name, endpoints in hooks.items():
            who = accounts.create_contestant(session, name)
            session.flush()
            made[name] = (who.id, [webhook_repo.create_webhook(session, who, u, e)[0].id for u, e in endpoints])
    return made


def queued(sessions, endpoint_id: int) -> list[WebhookDelivery]:
    with sessions.begin() as session:
        rows = session.query(WebhookDelivery).filter_by(endpoint_id=endpoint_id).order_by(WebhookDelivery.id)
        return list(rows)


def test_observer_queues_each_event_once_for_its_owners_subscriptions(sessions) -> None:
    made = people_with_hooks(sessions, {
        "alice": [("http://127.0.0.1:9/a", ["order.filled", "tournament.finished"])],
        "bob": [("http://127.0.0.1:9/b", [])], "carol": []})  # fmt: skip
    (alice, (alice_hook,)), (bob, (bob_hook,)), (carol, _) = made["alice"], made["bob"], made["carol"]
    owners = {"alice:a": alice, "bob:b": bob, "carol:c": carol}
    observer = WebhookObserver(sessions, "cup", owners, run_id="run-1")
    portfolio = {"type": "portfolio", "ts": TS, "nav": 1.0}
    status = system_status_message("open", TS, venue="NYSE")
    tick = {
        "alice:a": [portfolio, fill(1), status],
        "bob:b": [fill(2), status],
        "eve:x": [fill(3)],
        "carol:c": [fill(4)],
    }
    observer.messages(tick)
    observer.messages(tick)  # the same facts again (a re-derived tick): the same ids, nothing queued twice
    board = [Standing(bot, rank, 1e6, 1e6, 0.0, "finished") for rank, bot in enumerate(owners, 1)]
    observer.finished(board, {bot: BotState(bot, "finished") for bot in owners})
    assert observer.failed == observer.dropped == 0
    mine = queued(sessions, alice_hook)
    assert [d.type for d in mine] == ["order.filled", "tournament.finished"]  # not system.status: not chosen
    assert mine[0].payload["bot"] == "alice:a" and mine[0].payload["data"]["order_id"] == 1
    assert mine[1].payload["data"]["standing"]["bot"] == "alice:a" and mine[1].payload["data"]["entrants"] == 3
    assert sorted(d.type for d in queued(sessions, bob_hook)) == [
        "order.filled",
        "system.status",
        "tournament.finished",
    ]
    # A re-run of the tournament is a new run: the same facts are new events.
    again = WebhookObserver(sessions, "cup", owners, run_id="run-2")
    again.messages({"alice:a": [fill(1)]})
    again.close()
    ids = [d.event_id for d in queued(sessions, alice_hook)]
    assert len(ids) == 3 and len(set(ids)) == 3


def test_dispatcher_retries_gives_up_and_records_each_attempt(sessions) -> None:
    with (
        serve(Receiver(WallClock(), secrets=[], verifier=documented_verify())) as flaky,  # type: ignore[arg-type]
        serve(Receiver(WallClock(), secrets=[], verifier=documented_verify())) as strict,  # type: ignore[arg-type]
    ):
        flaky.script = [("fail", 503, {"Retry-After": "0"}), ("process_then", 500)]
        strict.script = [("fail", 400)]  # a 4xx other than 429 is not retried
        made = people_with_hooks(sessions, {"alice": [(flaky.url, []), (strict.url, [])]})
        alice, (flaky_id, strict_id) = made["alice"]
        with sessions.begin() as session:
            flaky.secrets = [session.get(WebhookEndpoint, flaky_id).secret.encode()]
            strict.secrets = [b"unused"]
        observer = WebhookObserver(sessions, "cup", {"alice:a": alice}, run_id="r")
        observer.messages({"alice:a": [fill(1)]})
        observer.close()
        dispatcher = Dispatcher(sessions, policy=FAST, allow_loopback=True, poll_s=0.02).start()
        try:
            flaky_rows = poll(lambda: queued(sessions, flaky_id), lambda r: r[0].status.value != "pending", 10)
            strict_rows = poll(lambda: queued(sessions, strict_id), lambda r: r[0].status.value != "pending", 10)
        finally:
            dispatcher.stop()
    (got,), (refused,) = flaky_rows, strict_rows
    assert (got.status.value, got.attempts, got.last_error) == ("delivered", 3, "HTTP 500")
    assert [r.verdict for r in flaky.requests] == ["failed:503", "processed", "duplicate"]
    assert [r.headers["X-Arena-Delivery-Attempt"] for r in flaky.requests] == ["1", "2", "3"]
    assert len({r.headers["X-Arena-Event-Id"] for r in flaky.requests}) == 1  # one event, one id, every attempt
    assert (refused.status.value, refused.attempts) == ("failed", 1) and "400" in refused.last_error


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
    return client.get(f"/webhooks/{hook['id']}/deliveries", headers=who, params={"limit": 500}).json()


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
        for_alice.secrets = [hook["secret"].encode()]
        bobs = client.post("/webhooks", headers=bob, json={"url": for_bob.url}).json()
        for_bob.secrets = [bobs["secret"].encode()]
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
        final = poll(lambda: client.get("/admin/tournaments", headers=admin).json()[0],
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
