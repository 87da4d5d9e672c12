"""Webhooks in the service layer, on SQLite and PostgreSQL, without a tournament (no sandbox): the observer
fans out and queues each event once per subscribed endpoint; the dispatcher retries, gives up and records
each attempt against loopback receivers that check signatures with the documented snippet."""

from __future__ import annotations

import time
from typing import Any

from arena.runtime.protocol import system_status_message
from arena.runtime.tournament import BotState, Observer, Standing
from arena.service.webhook_dispatch import Dispatcher, Observers, WebhookObserver
from arena.store import accounts
from arena.store import webhooks as webhook_repo
from arena.store.models import WebhookDelivery, WebhookEndpoint
from arena.webhooks import RetryPolicy
from tests.api.test_service import poll
from tests.webhooks.receiver import Receiver, serve
from tests.webhooks.test_webhook_docs import snippet

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
