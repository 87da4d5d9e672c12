"""Who runs a tournament's engine: a lease in Redis that its holder renews, with a fencing token.

The holder sets ``arena:{T}:lease`` (its owner id and token) with a time to live and renews it every third
of that; each renewal also stamps ``arena:{T}:lease:beat`` (kept without expiry: the evidence of the last
heartbeat). The token comes from ``arena:{T}:lease:fence``, incremented on every acquisition, so a holder
that lost its lease (paused, partitioned) can tell, and its late writes can be refused. Whoever finds a
running tournament with no lease long enough knows its engine is gone (the service's scheduler marks it
failed).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from arena.runtime.bus import check_id

DEFAULT_TTL_S = 10.0

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. token, 'PX', ARGV[2])
return token
"""
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


def _keys(tournament: str) -> list[str]:
    prefix = f"arena:{{{check_id('tournament', tournament)}}}:lease"
    return [prefix, f"{prefix}:fence", f"{prefix}:beat"]


def lease_key(tournament: str) -> str:
    """The key whose value (``owner#token``) names the current holder: fenced writes compare against it."""
    return _keys(tournament)[0]


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def holder(client: redis.Redis, tournament: str) -> str | None:
    """The current holder's ``owner#token``, or None when nobody holds the lease."""
    value = client.get(_keys(tournament)[0])
    return value.decode() if isinstance(value, bytes) else value


def last_beat(client: redis.Redis, tournament: str) -> dict[str, Any] | None:
    """The last heartbeat any holder stamped: ``{"owner", "token", "at"}`` (Unix seconds), or None."""
    value = client.get(_keys(tournament)[2])
    return json.loads(value) if value else None


def vacancy(client: redis.Redis, tournament: str, running_since: float, now: float,
            grace_s: float = 2 * DEFAULT_TTL_S) -> str | None:
    """Why nobody is running ``tournament`` (running since ``running_since``, Unix seconds), or None while
    a holder has the lease or might still take it (within ``grace_s`` of the start or the last beat)."""
    if holder(client, tournament) is not None:
        return None
    beat = last_beat(client, tournament)
    if beat and beat.get("at"):
        if now - float(beat["at"]) < grace_s:
            return None
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(beat["at"])))
        return f"its engine stopped: no heartbeat since {when} (last holder {beat.get('owner')})"
    if now - running_since < grace_s:
        return None
    return f"its engine never started within {grace_s:g} s of the start"


class Lease:
    """The lease on one tournament. ``with Lease(...) as lease:`` acquires and keeps it renewed."""

    def __init__(self, client: redis.Redis, tournament: str, owner: str | None = None,
                 ttl_s: float = DEFAULT_TTL_S, on_lost: Callable[[], None] | None = None) -> None:
        self.client, self.tournament, self.ttl_s = client, tournament, ttl_s
        self.owner = owner or default_owner()
        self.on_lost = on_lost
        self.token: int | None = None
        self.lost = threading.Event()
        self._renewed_at = time.monotonic()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self._acquire, self._renew, self._release = (client.register_script(s) for s in (_ACQUIRE, _RENEW, _RELEASE))

    @property
    def value(self) -> str:
        """``owner#token``: what fenced writes compare with the lease key."""
        return f"{self.owner}#{self.token}"

    def age(self) -> float:
        """Seconds since this holder last renewed the lease."""
        return time.monotonic() - self._renewed_at

    def _beat(self) -> str:
        return json.dumps({"owner": self.owner, "token": self.token, "at": time.time()})

    def acquire(self) -> int | None:
        """Take the lease if nobody holds it: the fencing token, or None."""
        token = self._acquire(keys=_keys(self.tournament)[:2], args=[self.owner, int(self.ttl_s * 1000)])
        if token is None:
            return None
        self.token = int(token)
        self.renew()  # stamps the first heartbeat with the token
        return self.token

    def renew(self) -> bool:
        """Extend the lease; False once it is no longer ours (expired and perhaps taken by another)."""
        if self.token is None or self.lost.is_set():
            return False
        self._renewed_at = time.monotonic()
        ours = bool(self._renew(keys=_keys(self.tournament), args=[self.value, int(self.ttl_s * 1000), self._beat()]))
        if not ours:
            self.lost.set()
            if self.on_lost is not None:
                self.on_lost()
        return ours

    def release(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=self.ttl_s)
        if self.token is not None and not self.lost.is_set():
            self._release(keys=_keys(self.tournament), args=[self.value])

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.renew():
                    return
            except redis.RedisError:  # Redis away for a moment: the lease lasts ttl_s; try again
                continue

    def hold(self) -> Lease:
        """Acquire the lease and keep renewing it in the background until ``release``; LeaseHeld if taken."""
        if self.acquire() is None:
            raise LeaseHeld(f"tournament {self.tournament} is already run by {holder(self.client, self.tournament)}")
        self._keeper = threading.Thread(target=self._keep, name=f"lease-{self.tournament}", daemon=True)
        self._keeper.start()
        return self

    def __enter__(self) -> Lease:
        return self.hold()

    def __exit__(self, *exc: object) -> None:
        self.release()


class LeaseHeld(RuntimeError):
    """Another process holds the tournament's lease: a tournament never runs twice at once."""

    code = "TOURNAMENT_ALREADY_RUNNING"
