"""Quotas (issue 12, findings 5 and 8): what a contestant may hold and do, the admin's own limits for one
contestant, and the smoke-test queue's bound; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from arena.settings import Quotas
from arena.store import accounts, bots, quotas, tournaments
from arena.store.db import make_engine, make_sessionmaker
from arena.store.errors import InvalidValue
from arena.store.models import ApiKey, Contestant, VersionStatus
from arena.store.quotas import QuotaExceeded
from tests.store.conftest import World


def refused(call, *args, **kwargs) -> QuotaExceeded:
    with pytest.raises(QuotaExceeded) as caught:
        call(*args, **kwargs)
    return caught.value


def test_holdings_are_bounded_and_each_refusal_names_its_quota(world: World, session: Session) -> None:
    alice = world.contestant("alice")
    first = world.version(alice, "one")  # 1,234 bytes, ready
    limits = Quotas(bots=1, versions=2, stored_bytes=3000)
    over = refused(quotas.check_upload, session, alice, limits, new_bot=True)
    assert (over.code, over.quota, over.limit, over.used, over.retry_after_s) == ("QUOTA_EXCEEDED", "bots", 1, 1, None)
    quotas.check_upload(session, alice, limits, new_bot=False, size_bytes=1000)  # a version of bot "one" fits
    over = refused(quotas.check_upload, session, alice, limits, new_bot=False, size_bytes=2000)
    assert (over.quota, over.used) == ("stored_bytes", 1234)
    world.version(alice, "one")
    assert refused(quotas.check_upload, session, alice, limits, new_bot=False).quota == "versions"
    # Another contestant's holdings are theirs.
    quotas.check_upload(session, world.contestant("bob"), limits, new_bot=True, size_bytes=3000)
    assert quotas.usage(session, alice)["stored_bytes"] == 2 * 1234 and first.bot.owner_id == alice.id


def test_uploads_per_hour_and_waiting_smoke_tests_say_when_to_retry(world: World, session: Session) -> None:
    alice = world.contestant("alice")
    versions = [world.version(alice, "bot", ready=False) for _ in range(2)]
    uploaded = versions[0].created_at
    rate = refused(quotas.check_upload, session, alice, Quotas(uploads_per_hour=2), new_bot=False,
                   now=uploaded + timedelta(minutes=30))  # fmt: skip
    assert rate.quota == "uploads_per_hour" and 1799 <= rate.retry_after_s <= 1801
    quotas.check_upload(session, alice, Quotas(uploads_per_hour=2, pending_smoke_tests=9), new_bot=False,
                        now=uploaded + timedelta(minutes=61))  # the hour is over  # fmt: skip
    waiting = refused(quotas.check_upload, session, alice, Quotas(pending_smoke_tests=2), new_bot=False)
    assert waiting.quota == "pending_smoke_tests" and waiting.used == 2 and waiting.retry_after_s > 0
    full = refused(quotas.check_smoke_queue, session, 2)
    assert (full.code, full.quota, full.used) == ("SMOKE_QUEUE_FULL", "smoke_queue", 2)
    # A version still pending long after any smoke test would have ended lost its worker: it holds no place.
    quotas.check_smoke_queue(session, 2, now=uploaded + quotas.PENDING_HORIZON + timedelta(seconds=1))
    bots.set_version_verdict(session, versions[0], VersionStatus.READY, "ok")
    quotas.check_smoke_queue(session, 2)
    quotas.check_upload(session, alice, Quotas(pending_smoke_tests=2), new_bot=False)


def test_api_keys_and_entries_per_tournament(world: World, session: Session) -> None:
    alice = world.contestant("alice")
    limits = Quotas(api_keys=2, entries_per_tournament=1)
    keys = [accounts.create_api_key(session, alice)[0] for _ in range(2)]
    over = refused(quotas.check_api_key, session, alice, limits)
    assert (over.code, over.quota, over.used) == ("TOO_MANY_API_KEYS", "api_keys", 2)
    accounts.revoke_api_key(session, alice, keys[0].id)
    quotas.check_api_key(session, alice, limits)  # a revoked key holds no place
    cup, other = world.tournament("cup"), world.tournament("other")
    quotas.check_entry(session, alice, cup, limits)
    tournaments.enter(session, cup, world.version(alice, "one"), alice)
    assert refused(quotas.check_entry, session, alice, cup, limits).quota == "entries_per_tournament"
    quotas.check_entry(session, alice, other, limits)


def test_admins_set_a_contestants_own_limits_and_bad_ones_change_nothing(world: World, session: Session) -> None:
    alice = world.contestant("alice")
    defaults = Quotas()
    assert quotas.set_overrides(alice, {"bots": 50, "api_keys": 1}) == {"bots": 50, "api_keys": 1}
    session.commit()
    session.expire_all()
    alice = session.get(Contestant, alice.id)
    assert quotas.effective(alice, defaults).bots == 50 and quotas.effective(alice, defaults).versions == 200
    for changes, code in [({"bots": 1, "cpu": 3}, "UNKNOWN_QUOTA"), ({"bots": 1, "versions": -1}, "INVALID_QUOTA")]:
        with pytest.raises(InvalidValue) as caught:
            quotas.set_overrides(alice, changes)
        assert caught.value.code == code
        assert alice.quota_overrides == {"bots": 50, "api_keys": 1}
    quotas.set_overrides(alice, {"bots": None})  # back to the default
    assert quotas.effective(alice, defaults).bots == 20 and alice.quota_overrides == {"api_keys": 1}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: BEGIN IMMEDIATE serialises
def test_two_requests_at_once_cannot_both_take_the_last_place(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        alice_id = accounts.create_contestant(session, "alice").id
    limits = Quotas(api_keys=1)
    outcome: dict[str, object] = {}

    def take_a_key(session: Session, name: str) -> None:
        who = session.get(Contestant, alice_id)
        quotas.lock(session, who)
        quotas.check_api_key(session, who, limits)
        accounts.create_api_key(session, who, name)
        session.flush()

    def second() -> None:
        try:
            with sessions.begin() as session:
                take_a_key(session, "second")
            outcome["second"] = "created"
        except QuotaExceeded as exc:
            outcome["second"] = exc

    first = sessions()
    first.begin()
    take_a_key(first, "first")  # not committed yet
    thread = threading.Thread(target=second)
    thread.start()
    deadline = time.monotonic() + 10
    with engine.connect() as watcher:  # wait until the second is blocked on the lock (or, unlocked, done)
        while thread.is_alive() and time.monotonic() < deadline:
            if watcher.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")):
                break
            time.sleep(0.01)  # polling the server's view of waiters, bounded by the deadline
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert isinstance(outcome["second"], QuotaExceeded)
    with sessions() as session:
        assert session.scalar(select(func.count(ApiKey.id))) == 1
    engine.dispose()
