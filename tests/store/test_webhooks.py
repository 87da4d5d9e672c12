"""Webhook endpoints and the delivery queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.orm import Session

from arena.service.webhook_dispatch import webhook_dispatcher
from arena.settings import Settings
from arena.store import migrate, webhooks
from arena.store.db import make_engine, make_sessionmaker
from arena.store.errors import InvalidValue, NotFound
from arena.store.models import DeliveryStatus
from arena.store.types import utcnow
from arena.webhooks import signing
from arena.webhooks.keyring import KeyringError, SecretKeyring

KEYRING = SecretKeyring.generate()


def test_endpoints_are_scoped_and_validated(world) -> None:
    s: Session = world.session
    alice, bob = world.contestant("alice"), world.contestant("bob")
    endpoint, secret = webhooks.create_webhook(s, alice, "https://alice.example/hook", ["order.filled"],
                                               seal=KEYRING.seal)  # fmt: skip
    s.commit()
    assert secret.startswith("whsec_") and secret not in endpoint.sealed_secret  # sealed, not in plain text
    assert len(signing.key(secret)) == 32  # Standard Webhooks: whsec_ + base64 of 32 random bytes
    assert KEYRING.open(endpoint.sealed_secret) == secret  # HMAC signing needs it back
    assert [e.id for e in webhooks.webhooks_of(s, alice)] == [endpoint.id] and webhooks.webhooks_of(s, bob) == []
    with pytest.raises(NotFound):
        webhooks.get_webhook(s, endpoint.id, bob)
    with pytest.raises(NotFound):
        webhooks.delete_webhook(s, endpoint.id, bob)
    for url, events, code in [("ftp://x", [], "INVALID_URL"), ("https://x", ["order.exploded"], "INVALID_EVENT_TYPE")]:
        with pytest.raises(InvalidValue) as caught:
            webhooks.create_webhook(s, alice, url, events, seal=KEYRING.seal)
        assert caught.value.code == code
    catch_all, _ = webhooks.create_webhook(s, alice, "http://127.0.0.1:9/all", seal=KEYRING.seal)
    assert {e.id for e in webhooks.subscribers(s, alice.id, "order.filled")} == {endpoint.id, catch_all.id}
    assert [e.id for e in webhooks.subscribers(s, alice.id, "system.status")] == [catch_all.id]
    webhooks.delete_webhook(s, endpoint.id, alice)
    assert [e.id for e in webhooks.webhooks_of(s, alice)] == [catch_all.id]


def test_delivery_queue(world) -> None:
    s: Session = world.session
    alice = world.contestant("alice")
    endpoint, _ = webhooks.create_webhook(s, alice, "https://alice.example/hook", seal=KEYRING.seal)
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


def test_due_deliveries_take_a_few_of_each_endpoint_and_skip_busy_ones(world) -> None:
    s: Session = world.session
    alice, bob = world.contestant("alice"), world.contestant("bob")
    a1, _ = webhooks.create_webhook(s, alice, "https://alice.example/1", seal=KEYRING.seal)
    a2, _ = webhooks.create_webhook(s, alice, "https://alice.example/2", seal=KEYRING.seal)
    b1, _ = webhooks.create_webhook(s, bob, "https://bob.example/1", seal=KEYRING.seal)
    for endpoint, name, count in [(a1, "a1", 50), (a2, "a2", 3), (b1, "b1", 3)]:  # a1's backlog comes first
        for n in range(count):
            webhooks.enqueue(s, endpoint, f"evt_{name}_{n}", "order.filled", {})
    s.commit()
    now = utcnow() + timedelta(seconds=1)

    def due(limit: int = 100, **caps: object) -> list[str]:
        return [d.event_id for d in webhooks.due_deliveries(s, now, limit, **caps)]  # type: ignore[arg-type]

    assert due(6) == [f"evt_a1_{n}" for n in range(6)]  # uncapped: one backlog fills the answer
    two_each = ["evt_a1_0", "evt_a1_1", "evt_a2_0", "evt_a2_1", "evt_b1_0", "evt_b1_1"]
    assert due(per_endpoint=2) == two_each
    assert due(per_endpoint=2, skip_endpoints={a1.id}) == two_each[2:]
    assert due(per_endpoint=2, skip_contestants={alice.id}) == two_each[4:]
    assert due(3, per_endpoint=2) == two_each[:3]


def test_secrets_are_resealed_under_the_newest_key(world) -> None:
    s: Session = world.session
    alice = world.contestant("alice")
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    under_old, secret = webhooks.create_webhook(s, alice, "https://alice.example/1", seal=SecretKeyring([old_key]).seal)
    legacy, _ = webhooks.create_webhook(s, alice, "https://alice.example/2", seal=lambda plain: "whsec_legacy")
    lost, _ = webhooks.create_webhook(s, alice, "https://alice.example/3", seal=KEYRING.seal)  # a key not configured
    s.commit()
    lost_before = lost.sealed_secret
    rotated = SecretKeyring([new_key, old_key])
    assert webhooks.reseal_secrets(s, rotated.reseal) == 2
    s.commit()
    newest = SecretKeyring([new_key])  # the old key can go now
    assert newest.open(under_old.sealed_secret) == secret and newest.open(legacy.sealed_secret) == "whsec_legacy"
    assert lost.sealed_secret == lost_before  # no key opens it: left as it was (and logged)
    assert webhooks.reseal_secrets(s, rotated.reseal) == 0  # nothing left to do


def test_the_migration_keeps_plain_secrets_for_the_start_to_seal_and_a_downgrade_opens_them(
    empty_database_url: str, tmp_path, monkeypatch
) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0003")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO contestants (id, name, is_admin, created_at) "
                              "VALUES (1, 'alice', false, CURRENT_TIMESTAMP)"))  # fmt: skip
            conn.execute(text("INSERT INTO webhook_endpoints (id, contestant_id, url, secret, events, active, "
                              "created_at) VALUES (1, 1, 'https://a.example/', 'whsec_from_before', '[]', true, "
                              "CURRENT_TIMESTAMP)"))  # fmt: skip
        migrate.upgrade(url)
        key = Fernet.generate_key().decode()
        settings = Settings(database_url=url, data_dir=tmp_path, webhooks_secret_keys=key)
        webhook_dispatcher(settings, make_sessionmaker(engine)).stop()  # as the API starts: reseals, then runs
        with engine.connect() as conn:
            sealed = conn.execute(text("SELECT sealed_secret FROM webhook_endpoints")).scalar_one()
        assert "whsec_from_before" not in sealed and SecretKeyring([key]).open(sealed) == "whsec_from_before"
        engine.dispose()

        # A downgrade past 0004 needs the key: with another one it refuses and changes nothing.
        migrate.downgrade(url, "0004")  # later revisions' own steps first (SQLite commits each)
        monkeypatch.setenv("ARENA_WEBHOOKS_SECRET_KEYS", Fernet.generate_key().decode())
        with pytest.raises(KeyringError):
            migrate.downgrade(url, "0003")
        assert migrate.current(engine) == "0004"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT sealed_secret FROM webhook_endpoints")).scalar_one() == sealed
        engine.dispose()
        monkeypatch.setenv("ARENA_WEBHOOKS_SECRET_KEYS", key)
        migrate.downgrade(url, "0003")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one() == "whsec_from_before"
    finally:
        engine.dispose()
