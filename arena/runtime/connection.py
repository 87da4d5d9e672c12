"""Connections to Redis that ride out a restart: each command is retried with backoff for up to ``patience_s``
while Redis cannot be reached, so an engine or a supervisor pauses through a Redis restart (persistence on: AOF
everysec, docs/operations.md) instead of failing, and goes on where it was once Redis is back."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

PATIENCE_S = 60.0
_CAP_S = 1.0  # at most this long between tries: a Redis back is noticed within a second


def connect(url: str, patience_s: float = PATIENCE_S) -> redis.Redis:
    # ~6 quick tries (50 ms doubling to 1 s), then one a second until patience_s: connects fail fast (1 s).
    retries = 6 + int(patience_s / _CAP_S)
    retry = Retry(ExponentialBackoff(cap=_CAP_S, base=0.05), retries)
    return redis.Redis.from_url(url, retry=retry, socket_connect_timeout=1.0, health_check_interval=5)
