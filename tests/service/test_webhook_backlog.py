"""arena_webhook_backlog: the dispatcher counts the pending deliveries (due or waiting for a retry) into it."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from arena.service.webhook_dispatch import Dispatcher, WebhookObserver
from arena.store import webhooks as webhook_repo
from arena.store.models import WebhookDelivery
from arena.store.types import utcnow
from tests.api.test_service import poll
from tests.service.test_webhook_dispatch import KEYRING, fill, people_with_hooks


def backlog() -> float | None:
    return REGISTRY.get_sample_value("arena_webhook_backlog")


def test_the_dispatcher_counts_pending_deliveries_into_the_backlog_gauge(sessions) -> None:
    made = people_with_hooks(sessions, {"alice": [("http://127.0.0.1:9/a", ["order.filled"])]})
    alice, _ = made["alice"]
    observer = WebhookObserver(sessions, "cup", {"alice:a": alice}, run_id="r")
    observer.messages({"alice:a": [fill(1), fill(2), fill(3)]})
    observer.close()
    with sessions.begin() as session:  # none due for an hour: the dispatcher claims nothing, only counts
        deliveries = session.query(WebhookDelivery).order_by(WebhookDelivery.id).all()
        assert len(deliveries) == 3
        for delivery in deliveries:
            delivery.next_attempt_at = utcnow() + timedelta(hours=1)
        webhook_repo.mark_delivered(session, deliveries[0])  # delivered: no longer pending

    dispatcher = Dispatcher(sessions, keyring=KEYRING, poll_s=0.02, backlog_every_s=0.05)
    assert dispatcher.measure_backlog() == 2 and backlog() == 2

    with sessions.begin() as session:
        webhook_repo.mark_attempt_failed(session, session.get(WebhookDelivery, deliveries[1].id), "HTTP 400", None)
    dispatcher.start()  # the loop counts again by itself
    try:
        assert poll(backlog, lambda value: value == 1, 10) == 1
    finally:
        dispatcher.stop()
