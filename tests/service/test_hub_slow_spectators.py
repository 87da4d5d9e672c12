"""The spectator hub against the real redis-server fixture: a spectator whose connection cannot take more is
dropped, not waited for, and counted; the others keep receiving every change, each encoded once."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis

from arena.metrics import SPECTATOR_ENCODES, SPECTATORS_DROPPED
from arena.runtime.leaderboard import Change, LeaderboardKeys, _encode_change
from arena.service.hub import ChangeHub, End
from arena.service.spectator_frames import Frames


class Spectator:
    """A sink whose connection takes ``room`` frames, then reports itself full (as a full transport buffer does)."""

    def __init__(self, room: int) -> None:
        self.room, self.frames, self.ended = room, list[Frames](), list[End]()

    def deliver(self, frames: Frames) -> bool:
        if len(self.frames) >= self.room:
            return False
        self.frames.append(frames)
        return True

    def end(self, why: End) -> None:
        self.ended.append(why)

    def seqs(self) -> list[int]:
        return [json.loads(f.text)["seq"] for f in self.frames if json.loads(f.text)["type"] == "leaderboard"]


def test_a_spectator_that_stops_reading_is_dropped_and_counted(redis_url: str) -> None:
    key = LeaderboardKeys.for_tournament("T").changes

    async def scenario() -> tuple[Spectator, Spectator, float, float, bool]:
        client = aioredis.Redis.from_url(redis_url)
        hub = ChangeHub(client)
        dropped, encodes = SPECTATORS_DROPPED._value.get(), SPECTATOR_ENCODES._value.get()
        reader, stalled = Spectator(room=1_000), Spectator(room=3)
        await hub.join("T", reader)
        await hub.join("T", stalled)
        assert hub.subscribers() == 2
        hub._feeds["T"].last_id = "0-0"  # the feed reads from the stream's start, however late its XREAD begins
        for seq in range(1, 9):  # more than the stalled one has room for
            await client.xadd(key, {"change": _encode_change(Change(seq, seq, {"a": float(seq)}))})
        while len(reader.seqs()) < 8:
            await asyncio.sleep(0.01)  # the feed's reader task runs meanwhile; bounded by the scenario's timeout
        still_watched = hub.subscribers() == 1
        await hub.close()
        await client.aclose()
        return (reader, stalled, SPECTATORS_DROPPED._value.get() - dropped,
                SPECTATOR_ENCODES._value.get() - encodes, still_watched)  # fmt: skip

    # A thread of its own: a browser test earlier in the run may leave an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        reader, stalled, dropped, encodes, still_watched = pool.submit(
            lambda: asyncio.run(asyncio.wait_for(scenario(), 30))).result()  # fmt: skip
    assert reader.seqs() == list(range(1, 9))  # the reading spectator lost nothing
    assert stalled.seqs() == [1, 2, 3] and stalled.ended == [End.TOO_SLOW]
    assert dropped == 1 and still_watched
    assert encodes == 8  # one per change, for both spectators
    assert all(a is b for a, b in zip(reader.frames, stalled.frames, strict=False))  # the same bytes, shared
