"""ChangeHub: one reader of each tournament's leaderboard change stream, fanned out to every spectator.

Thousands of WebSocket/SSE spectators share one XREAD loop per tournament rather than one Redis
connection each. Spectators see changes ``delay_s`` after they were published (so rivals cannot
read positions live) and can resume after a stream id (SSE ``Last-Event-ID``, WebSocket ``after``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from arena.runtime.leaderboard import Change, LeaderboardKeys, decode_change

QUEUE_DEPTH = 1_000  # a spectator further behind than this is dropped: it reconnects and resumes
_DROPPED = Change(-1, 0, {})  # told to a spectator that fell too far behind


def stream_ms(stream_id: str) -> int:
    """A Redis stream id's millisecond part: when the entry was added."""
    return int(stream_id.split("-", 1)[0])


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Feed:
    key: str
    subscribers: set[asyncio.Queue[Change | None]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    last_id: str = "$"
    board: dict[str, float] = field(default_factory=dict)  # scores as of `delay` ago
    pending: list[Change] = field(default_factory=list)  # read, not yet old enough for the board


class ChangeHub:
    def __init__(self, client: aioredis.Redis, delay_s: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        self.client, self.delay_ms, self.clock = client, int(delay_s * 1000), clock
        self._feeds: dict[str, _Feed] = {}

    def _feed(self, tournament: str) -> _Feed:
        feed = self._feeds.get(tournament)
        if feed is None:
            feed = self._feeds[tournament] = _Feed(LeaderboardKeys.for_tournament(tournament).changes)
        if feed.task is None or feed.task.done():
            feed.task = asyncio.get_running_loop().create_task(self._read(feed))
        return feed

    async def _read(self, feed: _Feed) -> None:
        while True:
            reply = await self.client.xread({feed.key: feed.last_id}, block=1000, count=500)
            if not reply:
                # A quiet second: wake every spectator with None (its chance to send a heartbeat). One
                # broadcast here is far cheaper than a timeout around every spectator's queue.get().
                for queue in list(feed.subscribers):
                    if not queue.full():
                        queue.put_nowait(None)
            for _key, entries in _entries(reply):
                for raw_id, fields in entries:
                    stream_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                    change = decode_change(fields.get(b"change", fields.get("change")), stream_id)
                    feed.last_id = stream_id
                    feed.pending.append(change)
                    for queue in list(feed.subscribers):
                        if queue.full():
                            _drop(feed, queue)
                        else:
                            queue.put_nowait(change)
            self._release_due(feed)  # keeps `pending` bounded by the delay, whether or not anyone asks

    def disconnect(self, tournament: str) -> None:
        """End every spectator stream of ``tournament``; they reconnect and resume where they were. Safe to
        call from any thread (the streams are ended on the hub's event loop)."""
        feed = self._feeds.get(tournament)
        if feed is None or feed.task is None:
            return

        def drop_all() -> None:
            for queue in list(feed.subscribers):
                _drop(feed, queue)

        feed.task.get_loop().call_soon_threadsafe(drop_all)

    def _release_due(self, feed: _Feed) -> None:
        cutoff = self.clock() * 1000 - self.delay_ms
        while feed.pending and stream_ms(feed.pending[0].stream_id or "0-0") <= cutoff:
            feed.board.update(feed.pending.pop(0).scores)

    async def delayed_board(self, tournament: str) -> dict[str, float] | None:
        """Scores as spectators may see them now (None until this hub has read the whole history)."""
        feed = self._feed(tournament)
        if not feed.board and not feed.pending:
            for change in await self._backlog(feed.key, "0-0"):
                feed.pending.append(change)
                feed.last_id = change.stream_id or feed.last_id
        self._release_due(feed)
        return feed.board

    async def _backlog(self, key: str, after: str) -> list[Change]:
        start = "(" + after if after not in ("0-0", "0") else "-"
        entries = await self.client.xrange(key, min=start, max="+")
        out = []
        for raw_id, fields in entries:
            stream_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            out.append(decode_change(fields.get(b"change", fields.get("change")), stream_id))
        return out

    async def changes(self, tournament: str, after: str | None = None) -> AsyncIterator[Change | None]:
        """Changes as they become visible; ``None`` items are heartbeat opportunities (each quiet second).

        With ``after`` (a stream id) the missed changes come first, then the live ones, without gaps
        or repeats.
        """
        feed = self._feed(tournament)
        queue: asyncio.Queue[Change | None] = asyncio.Queue(QUEUE_DEPTH)
        feed.subscribers.add(queue)
        seen = after or None
        try:
            if after:
                for change in await self._backlog(feed.key, after):
                    await self._hold(change)
                    seen = change.stream_id
                    yield change
            while True:
                change = await queue.get()
                if change is None:
                    yield None
                    continue
                if change is _DROPPED:
                    return  # too slow: the spectator reconnects with its last id and resumes
                if seen is not None and _id_key(change.stream_id or "0-0") <= _id_key(seen):
                    continue
                await self._hold(change)
                seen = change.stream_id
                yield change
        finally:
            feed.subscribers.discard(queue)

    async def _hold(self, change: Change) -> None:
        """Wait until the change is ``delay`` old."""
        wait_ms = stream_ms(change.stream_id or "0-0") + self.delay_ms - self.clock() * 1000
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)

    def subscribers(self) -> int:
        return sum(len(f.subscribers) for f in self._feeds.values())

    async def close(self) -> None:
        for feed in self._feeds.values():
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feed.task


def _drop(feed: _Feed, queue: asyncio.Queue[Change | None]) -> None:
    """Tell one spectator its stream is over (it fell behind, or is being disconnected)."""
    feed.subscribers.discard(queue)
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(_DROPPED)


def _entries(reply: object) -> list[tuple[object, list[tuple[object, dict]]]]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items()]
    return list(reply)  # type: ignore[arg-type]
