"""Watchdog: every engine worker watches the tournaments engine workers run and queues a takeover for any whose
lease is vacant (its engine died, or handed it over while stopping).

Why leases and not Celery redelivery: a tournament task is acknowledged when it starts (it runs for hours;
redelivery would wait out the broker's visibility timeout, set past the longest tournament), so nothing in
Celery notices a dead engine soon. The lease expires ``ttl`` after the last renewal; each watchdog looks every
third of that; the first to claim the takeover (``SET NX`` on ``arena:{T}:takeover``) queues it, and any engine
worker with a free slot takes it. If none does, the service's scheduler marks the tournament failed once the
lease has been vacant for longer (``arena.service.scheduler``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from arena.runtime.lease import holder
from arena.service.engine_worker import RUNNING_KEY

log = logging.getLogger("arena.watchdog")


def takeover_key(slug: str) -> str:
    return f"arena:{{{slug}}}:takeover"


def vacant(client: redis.Redis, owner: str, ttl_s: float) -> list[tuple[str, int]]:
    """The running tournaments nobody holds, each claimed for one takeover by ``owner``: (slug, id)."""
    claimed = []
    for raw_slug, raw_id in client.hgetall(RUNNING_KEY).items():
        slug = raw_slug.decode() if isinstance(raw_slug, bytes) else raw_slug
        if holder(client, slug) is None and client.set(takeover_key(slug), owner, nx=True, px=int(ttl_s * 1000)):
            claimed.append((slug, int(raw_id)))
    return claimed


class Watchdog:
    def __init__(self, redis_url: str, owner: str, ttl_s: float, requeue: Callable[[int], object]) -> None:
        """``requeue(tournament id)`` hands a claimed tournament on (a Celery task's ``delay``; its result unused)."""
        self.client = redis.Redis.from_url(redis_url)
        self.owner, self.ttl_s, self.requeue = owner, ttl_s, requeue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                for slug, tournament_id in vacant(self.client, self.owner, self.ttl_s):
                    log.warning("tournament %s has no engine: queueing its takeover", slug)
                    self.requeue(tournament_id)
            except redis.RedisError as exc:  # Redis away for a moment: look again next time
                log.warning("watchdog: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ttl_s)
        self.client.close()
