"""A sliding-window rate limit per client key, kept in Redis so every API process shares it.

Each key has a sorted set of request times (milliseconds); a request is allowed when fewer than
``limit`` fall inside the last ``window_s``. Answers carry the usual rate-limit headers, and a refusal
``Retry-After`` — when the oldest request in the window leaves it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

_SCRIPT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, count, tonumber(oldest[2])}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return {1, count + 1, 0}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the window has room again
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(max(0, round(self.reset_s))),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimiter:
    def __init__(
        self, client: aioredis.Redis, limit: int, window_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.client, self.limit, self.window_ms, self.clock = client, limit, int(window_s * 1000), clock
        self._script = client.register_script(_SCRIPT)

    async def hit(self, key: str) -> Decision:
        now = int(self.clock() * 1000)
        allowed, count, oldest = await self._script(
            keys=[f"arena:ratelimit:{key}"], args=[now, self.window_ms, self.limit, f"{now}-{uuid.uuid4().hex[:8]}"]
        )
        if allowed:
            return Decision(True, self.limit, max(0, self.limit - int(count)), self.window_ms / 1000, 0)
        wait_ms = int(oldest) + self.window_ms - now
        retry = max(1, -(-wait_ms // 1000))
        return Decision(False, self.limit, 0, wait_ms / 1000, retry)
