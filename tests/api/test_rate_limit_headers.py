"""The IETF RateLimit and RateLimit-Policy fields: the remaining count and the time until a request fits again,
right across requests (a real Redis; the limiter's clock is set by the test), and as a live server sends them."""

from __future__ import annotations

import asyncio
import re

import redis.asyncio as aioredis

from arena.api.ratelimit import Decision, RateLimiter


def _decisions(redis_url: str, at: list[float], limit: int = 3, window_s: float = 60) -> list[Decision]:
    """One request from the same client at each of the times ``at`` (seconds)."""

    async def run() -> list[Decision]:
        client = aioredis.Redis.from_url(redis_url)
        now = [0.0]
        limiter = RateLimiter(client, limit, window_s, clock=lambda: now[0])
        decisions = []
        for t in at:
            now[0] = t
            decisions.append(await limiter.hit("someone"))
        await client.aclose()
        return decisions

    return asyncio.run(run())


def test_remaining_and_reset_follow_the_oldest_request_in_the_window(redis_url):
    start = 1_000_000.0
    # limit 3 per 60 s: requests at 0, 10, 20 fill it; 30 is refused; at 60.5 the first has left, so one fits
    decisions = _decisions(redis_url, [start + t for t in (0, 10, 20, 30, 60.5, 61)])
    assert [d.allowed for d in decisions] == [True, True, True, False, True, False]
    assert [d.headers()["RateLimit"] for d in decisions] == [
        '"default";r=2;t=60',  # only itself in the window: it leaves in 60 s
        '"default";r=1;t=50',  # the first leaves at 60
        '"default";r=0;t=40',
        '"default";r=0;t=30',  # refused: room again when the first leaves
        '"default";r=0;t=10',  # the oldest now is the one at 10, leaving at 70
        '"default";r=0;t=9',
    ]
    assert [d.headers().get("Retry-After") for d in decisions] == [None, None, None, "30", None, "9"]
    assert {d.headers()["RateLimit-Policy"] for d in decisions} == {'"default";q=3;w=60'}


def test_a_reset_in_part_of_a_second_is_rounded_up(redis_url):
    decisions = _decisions(redis_url, [500.0, 500.25, 500.5], limit=2, window_s=1.5)
    assert [d.headers()["RateLimit"] for d in decisions] == ['"default";r=1;t=2', '"default";r=0;t=2',
                                                             '"default";r=0;t=1']  # fmt: skip
    assert decisions[2].headers()["Retry-After"] == "1"  # the first leaves at 501.5, 1 s after 500.5
    assert decisions[0].headers()["RateLimit-Policy"] == '"default";q=2;w=2'


def test_a_live_server_sends_the_fields_and_drops_the_old_ones(api, http):
    server = api(rate_limit=3, rate_window_s=60)
    url = f"{server.url}/api/v1/tournaments"
    answers = [http.get(url) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    fields = [re.fullmatch(r'"default";r=(\d+);t=(\d+)', a.headers["RateLimit"]) for a in answers]
    assert [int(f[1]) for f in fields] == [2, 1, 0, 0]
    resets = [int(f[2]) for f in fields]
    assert resets[0] == 60 and all(58 <= t <= 60 for t in resets) and resets == sorted(resets, reverse=True)
    assert int(answers[3].headers["Retry-After"]) == resets[3]
    assert all(a.headers["RateLimit-Policy"] == '"default";q=3;w=60' for a in answers)
    assert not any(name.lower().startswith("x-ratelimit") for a in answers for name in a.headers)
