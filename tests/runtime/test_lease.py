"""A tournament's lease in real Redis: one holder at a time, renewals, expiry, fencing tokens, vacancy."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from arena.runtime.journal import Fenced, Journal, TickRecord
from arena.runtime.lease import Lease, LeaseHeld, holder, last_beat, vacancy


@pytest.fixture
def client(redis_url: str):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_one_holder_at_a_time_and_each_acquisition_gets_a_higher_token(client) -> None:
    first = Lease(client, "cup", owner="engine-a", ttl_s=5)
    assert first.acquire() == 1
    assert Lease(client, "cup", owner="engine-b", ttl_s=5).acquire() is None
    with pytest.raises(LeaseHeld, match="engine-a#1"):
        Lease(client, "cup", owner="engine-b", ttl_s=5).hold()
    assert holder(client, "cup") == "engine-a#1"
    first.release()
    assert holder(client, "cup") is None
    assert Lease(client, "cup", owner="engine-b", ttl_s=5).acquire() == 2  # fencing: the token only grows


def test_an_expired_lease_is_lost_and_its_holder_told(client) -> None:
    told = threading.Event()
    stale = Lease(client, "cup", owner="paused", ttl_s=0.2, on_lost=told.set)
    assert stale.acquire() == 1
    deadline = time.monotonic() + 5
    while holder(client, "cup") is not None and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for Redis to expire the key, bounded
    assert Lease(client, "cup", owner="spare", ttl_s=5).acquire() == 2  # another worker takes over
    assert stale.renew() is False and told.is_set() and stale.lost.is_set()
    stale.release()  # must not delete the new holder's lease
    assert holder(client, "cup") == "spare#2"


def test_a_held_lease_is_renewed_in_the_background(client) -> None:
    with Lease(client, "cup", owner="engine", ttl_s=0.3) as lease:
        first = last_beat(client, "cup")
        deadline = time.monotonic() + 5
        while last_beat(client, "cup") == first and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for a renewal, bounded
        assert last_beat(client, "cup")["at"] > first["at"]
        time.sleep(0.5)  # longer than the TTL: only renewals keep it  (sleep as the thing under test)
        assert holder(client, "cup") == f"engine#{lease.token}"
    assert holder(client, "cup") is None


def test_vacancy_names_why_nobody_runs_it(client) -> None:
    now = time.time()
    assert vacancy(client, "cup", running_since=now - 1, now=now, grace_s=5) is None  # may still start
    assert "never started" in vacancy(client, "cup", running_since=now - 10, now=now, grace_s=5)
    lease = Lease(client, "cup", owner="engine-a", ttl_s=5)
    lease.acquire()
    assert vacancy(client, "cup", running_since=now - 60, now=now, grace_s=5) is None  # held
    lease.release()
    assert vacancy(client, "cup", running_since=now - 60, now=time.time(), grace_s=5) is None  # beat is recent
    reason = vacancy(client, "cup", running_since=now - 60, now=time.time() + 30, grace_s=5)
    assert reason and "no heartbeat since" in reason and "engine-a" in reason


def test_a_stale_engine_cannot_write_the_journal_once_its_lease_is_taken(redis_url):
    client = redis.Redis.from_url(redis_url)
    old = Lease(client, "fenced-t", ttl_s=0.2)
    old.acquire()
    Journal(client, "fenced-t", fence=old.value).append(TickRecord(0, "0-0"))
    client.delete("arena:{fenced-t}:lease")  # its lease expired while it was paused
    new = Lease(client, "fenced-t", ttl_s=5)
    assert new.acquire() == old.token + 1
    with pytest.raises(Fenced):
        Journal(client, "fenced-t", fence=old.value).append(TickRecord(1, "0-0"))
    Journal(client, "fenced-t", fence=new.value).append(TickRecord(1, "0-0"))
    assert [r.n for r in Journal(client, "fenced-t").records()] == [0, 1]
    client.close()
