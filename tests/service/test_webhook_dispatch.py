"""Webhooks in the service layer, on SQLite and PostgreSQL, without a tournament (no sandbox): the observer
fans out and queues each event once per subscribed endpoint; the dispatcher retries, gives up and records
each attempt against loopback receivers that check signatures with the documented snippet."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from typing import Any

import pytest

from arena.runtime.protocol import system_status_message
from arena.runtime.tournament import BotState, Observer, Standing
from arena.service.webhook_dispatch import Dispatcher, Observers, WebhookObserver
from arena.store import accounts
from arena.store import webhooks as webhook_repo
from arena.store.models import WebhookDelivery, WebhookEndpoint
from arena.store.types import utcnow
from arena.webhooks import RetryPolicy, WebhookEvent
from arena.webhooks.delivery import UNREACHABLE
from arena.webhooks.events import event_id
from arena.webhooks.keyring import SecretKeyring
from arena.webhooks.signing import new_secret
from tests.api.test_service import poll
from tests.webhooks.receiver import LOOPBACK, Receiver, Slowloris, serve, serve_slowloris
from tests.webhooks.test_webhook_docs import snippet

# Retries in milliseconds, not seconds: the schedule's shape (backoff, attempts running out) stays the same.
FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)
KEYRING = SecretKeyring.generate()  # seals the secrets people_with_hooks stores; the dispatchers open them


class WallClock:
    """The receiver's clock: real time, as a contestant's server has (the 300 s window is checked)."""

    def time(self) -> float:
        return time.time()


def documented_verify() -> Any:
    """verify_arena_webhook from docs/webhooks.md, as a contestant would paste it."""
    namespace: dict[str, Any] = {"__name__": "contestant_code"}
    exec(compile(snippet(), "docs/webhooks.md", "exec"), namespace)
    verify = namespace["verify_arena_webhook"]
    return lambda secrets, headers, body, now: verify(secrets, headers, body)  # the library's own clock


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


def people_with_hooks(sessions, hooks: dict[str, list[tuple[str, list[str]]]]) -> dict[str, Any]:
    """Contestants by name, each with webhooks (url, events); returns name -> (contestant id, [endpoint ids])."""
    made = {}
    with sessions.begin() as session:
        for name, endpoints in hooks.items():
            who = accounts.create_contestant(session, name)
            session.flush()
            hooks_of = [webhook_repo.create_webhook(session, who, u, e, seal=KEYRING.seal)[0] for u, e in endpoints]
            made[name] = (who.id, [hook.id for hook in hooks_of])
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
            flaky.secrets = [KEYRING.open(session.get(WebhookEndpoint, flaky_id).sealed_secret)]
            strict.secrets = [new_secret()]
        observer = WebhookObserver(sessions, "cup", {"alice:a": alice}, run_id="r")
        observer.messages({"alice:a": [fill(1)]})
        observer.close()
        dispatcher = Dispatcher(sessions, keyring=KEYRING, policy=FAST, addresses=LOOPBACK, poll_s=0.02).start()
        try:
            flaky_rows = poll(lambda: queued(sessions, flaky_id), lambda r: r[0].status.value != "pending", 10)
            strict_rows = poll(lambda: queued(sessions, strict_id), lambda r: r[0].status.value != "pending", 10)
        finally:
            dispatcher.stop()
    (got,), (refused,) = flaky_rows, strict_rows
    assert (got.status.value, got.attempts, got.last_error) == ("delivered", 3, "HTTP 500")
    assert [r.verdict for r in flaky.requests] == ["failed:503", "processed", "duplicate"]
    assert [r.headers["X-Arena-Delivery-Attempt"] for r in flaky.requests] == ["1", "2", "3"]
    assert len({r.headers["webhook-id"] for r in flaky.requests}) == 1  # one event, one id, every attempt
    assert (refused.status.value, refused.attempts) == ("failed", 1) and "400" in refused.last_error


def test_a_secret_from_before_standard_webhooks_still_verifies_in_its_wrapped_form(sessions) -> None:
    """A secret stored before Standard Webhooks (whsec_ + a url-safe token, its own bytes the key) is sent
    signed with that key; the official library verifies it given the documented wrapped form."""
    before = "whsec_Fq3-kD_zN0m7y8Wq1o2PbX4vR9sT6uLcAeHgJiKlMn0"
    with serve(Receiver(WallClock(), verifier=documented_verify())) as receiver:  # type: ignore[arg-type]
        receiver.secrets = ["whsec_" + base64.b64encode(before.encode()).decode()]
        with sessions.begin() as session:
            who = accounts.create_contestant(session, "alice")
            session.flush()
            hook, _ = webhook_repo.create_webhook(session, who, receiver.url, [], seal=lambda _: KEYRING.seal(before))
            alice, hook_id = who.id, hook.id
        observer = WebhookObserver(sessions, "cup", {"alice:a": alice}, run_id="r")
        observer.messages({"alice:a": [fill(1)]})
        observer.close()
        dispatcher = Dispatcher(sessions, keyring=KEYRING, policy=FAST, addresses=LOOPBACK, poll_s=0.02).start()
        try:
            (row,) = poll(lambda: queued(sessions, hook_id), lambda r: r[0].status.value != "pending", 10)
        finally:
            dispatcher.stop()
    assert row.status.value == "delivered" and [r.verdict for r in receiver.requests] == ["processed"]


# -- hostile endpoints: one slow endpoint holds only its own deliveries -----------------------------------

DEADLINE_S = 1.5


def enqueue_fills(sessions, endpoint_id: int, count: int, first: int = 0) -> None:
    with sessions.begin() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        for n in range(first, first + count):
            event = WebhookEvent(event_id(TS + n, n), "order.filled", TS + n, "cup", "mallory:m", {"n": n})
            webhook_repo.enqueue(session, endpoint, event.id, event.type, event.as_dict())


def secret_of(sessions, endpoint_id: int) -> str:
    with sessions.begin() as session:
        return KEYRING.open(session.get(WebhookEndpoint, endpoint_id).sealed_secret)


def latency_of_ten(sessions, fast: Receiver, endpoint_id: int, first: int) -> float:
    """Seconds from queueing ten deliveries to the fast endpoint until the last one arrived there."""
    before = len(fast.processed)
    queued_at = time.monotonic()
    enqueue_fills(sessions, endpoint_id, 10, first)
    poll(lambda: len(fast.processed), lambda n: n == before + 10, 20)
    assert len(fast.processed) == before + 10
    return max(r.at for r in fast.requests) - queued_at


@pytest.mark.parametrize(("slow_hooks", "cap"), [(1, "per_endpoint"), (3, "per_contestant")])
def test_a_slow_endpoint_stalls_no_one_else(sessions, slow_hooks: int, cap: str) -> None:
    """Mallory's endpoints accept and dribble their answer a byte at a time, forever; Alice's answers at once.
    Alice's deliveries arrive as fast while Mallory's stall as when nothing stalls; Mallory holds at most two
    attempts per endpoint (three over her three endpoints), each cut off at the attempt's deadline."""
    with serve_slowloris(Slowloris("dribble")) as slow, serve(Receiver(WallClock())) as fast:  # type: ignore[arg-type]
        made = people_with_hooks(sessions, {"mallory": [(f"{slow.url}?{i}", []) for i in range(slow_hooks)],
                                            "alice": [(fast.url, [])]})  # fmt: skip
        (_, mallorys), (_, (alices,)) = made["mallory"], made["alice"]
        fast.secrets = [secret_of(sessions, alices)]
        dispatcher = Dispatcher(sessions, keyring=KEYRING, policy=FAST, addresses=LOOPBACK, poll_s=0.05,
                                attempt_timeout_s=DEADLINE_S, workers=4, per_endpoint=2, per_contestant=3)  # fmt: skip
        dispatcher.start()
        try:
            normal = latency_of_ten(sessions, fast, alices, 0)
            for hook in mallorys:
                enqueue_fills(sessions, hook, 30, 1000 * hook)
            stalled = min(2 * slow_hooks, 3)  # two per endpoint, three for all of Mallory's
            assert poll(lambda: slow.open_now, lambda n: n == stalled, 10) == stalled
            under_attack = latency_of_ten(sessions, fast, alices, 100)
            lifetimes = poll(lambda: list(slow.lifetimes), lambda t: len(t) >= 2 * stalled, 20)
        finally:
            dispatcher.stop()
    print(f"\n{cap}: ten deliveries in {normal:.3f} s alone, {under_attack:.3f} s beside the slowloris; "
          f"slow attempts ended after {min(lifetimes):.2f}-{max(lifetimes):.2f} s")  # fmt: skip
    assert slow.most_open == stalled  # never more at once (a cut-off attempt's successor may not be open yet)
    assert under_attack < 2 * normal + 0.5, (normal, under_attack)
    assert len(lifetimes) >= 2 * stalled and max(lifetimes) < DEADLINE_S + 0.5, lifetimes
    failed = [d for hook in mallorys for d in queued(sessions, hook) if d.attempts]
    assert failed and {d.last_error for d in failed} == {UNREACHABLE}


def test_a_secret_no_key_opens_is_held_not_attempted(sessions) -> None:
    with serve(Receiver(WallClock())) as receiver:  # type: ignore[arg-type]
        made = people_with_hooks(sessions, {"alice": [(receiver.url, [])]})
        _, (hook,) = made["alice"]
        enqueue_fills(sessions, hook, 1)
        # The operator lost the key (or set a new one without the old): nothing is sent, nothing is spent.
        dispatcher = Dispatcher(sessions, keyring=SecretKeyring.generate(), addresses=LOOPBACK, poll_s=0.02,
                                hold_s=3600)  # fmt: skip
        dispatcher.start()
        try:
            (held,) = poll(lambda: queued(sessions, hook), lambda r: r[0].next_attempt_at > utcnow(), 10)
        finally:
            dispatcher.stop()
        assert held.status.value == "pending" and held.attempts == 0 and held.last_error == ""
        assert held.next_attempt_at > utcnow() + timedelta(minutes=59) and receiver.requests == []
