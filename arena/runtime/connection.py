"""Connections to Redis that ride out a restart: each command is retried with backoff for up to ``patience_s``
while Redis cannot be reached, so an engine or a supervisor pauses through a Redis restart (persistence on: AOF
everysec, docs/operations.md) instead of failing, and goes on where it was once Redis is back.

Credentials travel in the URL, as redis-py and Celery read it everywhere Arena connects: ``redis://:PASSWORD@host``
for ``requirepass``, ``redis://USER:PASSWORD@host`` for an ACL user (``rediss://`` for TLS). ``check`` tells a
refused password (REDIS_AUTH) from an unreachable server, and ``redacted`` is the URL fit for a log line.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

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


class RedisRefused(RuntimeError):
    """Redis cannot be used with this URL: ``code`` is REDIS_AUTH (credentials refused) or REDIS_UNREACHABLE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def refused_credentials(exc: BaseException) -> bool:
    """Whether Redis turned the client away for its credentials (missing, wrong, or a user without rights)."""
    if isinstance(exc, redis.AuthenticationError):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM"))


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***`` (the user name kept): for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{f'[{host}]' if ':' in host else host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check(url: str, timeout_s: float = 3.0) -> None:
    """Raise RedisRefused unless Redis at ``url`` answers a PING with the URL's credentials."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    except ValueError as exc:
        raise RedisRefused("REDIS_UNREACHABLE", f"not a Redis URL: {redacted(url)}: {exc}") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        if refused_credentials(exc):
            raise RedisRefused("REDIS_AUTH", f"Redis at {redacted(url)} refused the credentials in the URL "
                               f"(redis://:PASSWORD@host or redis://USER:PASSWORD@host): {exc}") from None  # fmt: skip
        raise RedisRefused("REDIS_UNREACHABLE", f"cannot reach Redis at {redacted(url)}: {exc}") from None
    finally:
        client.close()
