"""Sliding-window rate limits kept in Redis, so every API process shares them.

A bucket is a sorted set of request times (milliseconds); a request fits when fewer than its ``limit`` fall
inside the last ``window_s``. A request may have to fit several buckets at once (a sign-in: its name, its
address, everyone's): it is counted in all of them or, when one is full, in none — a refused request spends
nothing, so a client that is over one budget cannot drain another. Answers carry the IETF rate-limit fields
(draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Policy: "default";q=<limit>;w=<window s>`` and
``RateLimit: "default";r=<remaining>;t=<s>``, where ``t`` is when the oldest request counted leaves the window
(one more request fits then; in a sliding window nothing resets all at once); a refusal adds ``Retry-After``,
when the oldest request in the full bucket leaves its window.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS: the buckets; ARGV: now, the member to add, then each bucket's window and limit.
# Answers {1, count in the first bucket, its oldest time} or {0, the full bucket's index (1-based), its oldest time}.
_SCRIPT = """
local now, member = tonumber(ARGV[1]), ARGV[2]
local first, first_oldest = 0, now
for i, key in ipairs(KEYS) do
  local window, limit = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {0, i, tonumber(oldest[2])}
  end
  if i == 1 and count > 0 then
    first = count
    first_oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, tonumber(ARGV[1 + 2 * i]))
end
return {1, first + 1, first_oldest}
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    limit: int
    window_s: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    window_s: float
    remaining: int
    reset_s: int  # whole seconds (rounded up) until the oldest request counted leaves the window
    retry_after_s: int
    refused_by: Bucket | None = None  # the full bucket, when refused

    def headers(self, policy: str = "default") -> dict[str, str]:
        """The IETF ``RateLimit-Policy`` and ``RateLimit`` fields (and ``Retry-After`` on a refusal)."""
        headers = {
            "RateLimit-Policy": f'"{policy}";q={self.limit};w={_seconds(self.window_s)}',
            "RateLimit": f'"{policy}";r={self.remaining};t={self.reset_s}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


def _seconds(value: float) -> int:
    """Whole seconds, rounded up: a client that waits that long is never early."""
    return max(0, -(-int(value * 1000) // 1000))


class Buckets:
    """Counts requests against buckets in Redis (``hit``: all of them, or none)."""

    def __init__(self, client: aioredis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._script = client.register_script(_SCRIPT)

    async def hit(self, buckets: Sequence[Bucket]) -> Decision:
        """Count one request in every bucket, or refuse it (counted nowhere) naming the first full one. The
        allowed answer's figures are the first bucket's."""
        now = int(self.clock() * 1000)
        windows = [int(b.window_s * 1000) for b in buckets]
        args: list[int | str] = [now, f"{now}-{uuid.uuid4().hex[:8]}"]
        for bucket, window in zip(buckets, windows, strict=True):
            args += [window, bucket.limit]
        allowed, value, oldest = await self._script(keys=[f"arena:ratelimit:{b.key}" for b in buckets], args=args)
        index = 0 if allowed else int(value) - 1
        bucket, wait_ms = buckets[index], int(oldest) + windows[index] - now
        reset_s = _seconds(wait_ms / 1000)
        if allowed:
            return Decision(True, bucket.limit, bucket.window_s, max(0, bucket.limit - int(value)), reset_s, 0)
        return Decision(False, bucket.limit, bucket.window_s, 0, reset_s, max(1, reset_s), bucket)


class RateLimiter:
    """One bucket per client key, all of the same size."""

    def __init__(
        self, client: aioredis.Redis, limit: int, window_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit, self.window_s = limit, window_s
        self.buckets = Buckets(client, clock)

    async def hit(self, key: str) -> Decision:
        return await self.buckets.hit([Bucket(key, self.limit, self.window_s)])
