"""The spectator hub against the real redis-server fixture: a spectator that stops reading is dropped, not waited
for, and counted; the others keep receiving every change."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis

from arena.metrics import SPECTATORS_DROPPED
from arena.runtime.leaderboard import Change, LeaderboardKeys, _encode_change
from arena.service import hub as hubmod
from arena.service.hub import ChangeHub, TooSlow


def test_a_spectator_that_stops_reading_is_dropped_and_counted(redis_url: str, monkeypatch) -> None:
    monkeypatch.setattr(hubmod, "QUEUE_DEPTH", 5)
    key = LeaderboardKeys.for_tournament("T").changes

    async def scenario() -> tuple[list[int], str, float]:
        client = aioredis.Redis.from_url(redis_url)
        hub = ChangeHub(client)
        before = SPECTATORS_DROPPED._value.get()
        reader, stalled = hub.changes("T"), hub.changes("T")
        first = asyncio.ensure_future(anext(reader))
        stalled_first = asyncio.ensure_future(anext(stalled))
        await asyncio.sleep(0)  # each task runs to its first queue.get(): both are subscribed
        assert hub.subscribers() == 2
        hub._feeds["T"].last_id = "0-0"  # the feed reads from the stream's start, however late its XREAD begins
        got: list[int] = []
        for seq in range(1, 9):  # more than QUEUE_DEPTH + 1: the spectator that reads nothing falls behind
            await client.xadd(key, {"change": _encode_change(Change(seq, seq, {"a": float(seq)}))})
            change = await first if seq == 1 else await anext(reader)  # the other one keeps up
            while change is None:
                change = await anext(reader)
            got.append(change.seq)
        message, pending = "", stalled_first
        while not message:
            try:
                await pending
                pending = asyncio.ensure_future(anext(stalled))
            except TooSlow as exc:
                message = str(exc)
        dropped = SPECTATORS_DROPPED._value.get() - before
        await reader.aclose()
        await hub.close()
        await client.aclose()
        return got, message, dropped

    # A thread of its own: a browser test earlier in the run may leave an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        got, message, dropped = pool.submit(lambda: asyncio.run(asyncio.wait_for(scenario(), 30))).result()
    assert got == list(range(1, 9))  # the reading spectator lost nothing
    assert "more than 5 updates behind" in message
    assert dropped == 1
