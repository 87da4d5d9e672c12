"""Webhook endpoints and the delivery queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from arena.store import webhooks
from arena.store.errors import InvalidValue, NotFound
from arena.store.models import DeliveryStatus
from arena.store.types import utcnow


def test_endpoints_are_scoped_and_validated(world) -> None:
    s: Session = world.session
    alice, bob = world.contestant("alice"), world.contestant("bob")
    endpoint, secret = webhooks.create_webhook(s, alice, "https://alice.example/hook", ["order.filled"])
    s.commit()
    assert secret.startswith("whsec_") and endpoint.secret == secret  # kept: HMAC signing needs it
    assert [e.id for e in webhooks.webhooks_of(s, alice)] == [endpoint.id] and webhooks.webhooks_of(s, bob) == []
    with pytest.raises(NotFound):
        webhooks.get_webhook(s, endpoint.id, bob)
    with pytest.raises(NotFound):
        webhooks.delete_webhook(s, endpoint.id, bob)
    for url, events, code in [("ftp://x", [], "INVALID_URL"), ("https://x", ["order.exploded"], "INVALID_EVENT_TYPE")]:
        with pytest.raises(InvalidValue) as caught:
            webhooks.create_webhook(s, alice, url, events)
        assert caught.value.code == code
    catch_all, _ = webhooks.create_webhook(s, alice, "http://127.0.0.1:9/all")
    assert {e.id for e in webhooks.subscribers(s, alice.id, "order.filled")} == {endpoint.id, catch_all.id}
    assert [e.id for e in webhooks.subscribers(s, alice.id, "system.status")] == [catch_all.id]
    webhooks.delete_webhook(s, endpoint.id, alice)
    assert [e.id for e in webhooks.webhooks_of(s, alice)] == [catch_all.id]


def test_delivery_queue(world) -> None:
    s: Session = world.session
    alice = world.contestant("alice")
    endpoint, _ = webhooks.create_webhook(s, alice, "https://alice.example/hook")
    payload = {"event": "order.filled", "order": {"id": 7, "qty": 1.5}, "tags": ["a", None]}
    first = webhooks.enqueue(s, endpoint, "evt_1", "order.filled", payload)
    again = webhooks.enqueue(s, endpoint, "evt_1", "order.filled", payload)  # a retried publish: de-duplicated
    second = webhooks.enqueue(s, endpoint, "evt_2", "system.status", {"status": "open"})
    s.commit()
    assert again.id == first.id
    now = utcnow() + timedelta(seconds=1)
    assert [d.event_id for d in webhooks.due_deliveries(s, now)] == ["evt_1", "evt_2"]
    webhooks.mark_delivered(s, first, now)
    webhooks.mark_attempt_failed(s, second, "503 Service Unavailable", now + timedelta(seconds=30))
    s.commit()
    assert webhooks.due_deliveries(s, now) == []
    assert [d.id for d in webhooks.due_deliveries(s, now + timedelta(seconds=31))] == [second.id]
    webhooks.mark_attempt_failed(s, second, "timeout", None)
    s.commit()
    s.expire_all()
    assert (first.status, first.attempts, first.payload) == (DeliveryStatus.DELIVERED, 1, payload)
    assert (second.status, second.attempts, second.last_error) == (DeliveryStatus.FAILED, 2, "timeout")
    assert first.delivered_at.tzinfo is not None
    assert webhooks.due_deliveries(s, now + timedelta(days=1)) == []
