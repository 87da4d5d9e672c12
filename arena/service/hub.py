"""ChangeHub: one reader of each tournament's leaderboard change stream, fanned out to every spectator.

Thousands of WebSocket/SSE spectators share one XREAD loop per tournament rather than one Redis
connection each. Spectators see changes ``delay_s`` after they were published (so rivals cannot
read positions live) and can resume after a stream id (SSE ``Last-Event-ID``, WebSocket ``after``).

Every reader holds a Redis connection while it blocks, so the hub is bounded: a feed exists only while it
has subscribers (its reader ends with the last one), feeds and subscribers are capped (``HubFull``), and a
resume reads its backlog in pages of ``PAGE`` entries, at most ``backlog`` in one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from arena.metrics import SPECTATORS_DROPPED
from arena.runtime.leaderboard import Change, LeaderboardKeys, decode_change
from arena.runtime.streams import entries, entry_field, streams

QUEUE_DEPTH = 1_000  # a spectator further behind than this is dropped: it reconnects and resumes
_DROPPED = Change(-1, 0, {})  # told to a spectator that fell too far behind
_ENDED = Change(-2, 0, {})  # told to every spectator of a feed that stopped or is being disconnected
PAGE = 500  # stream entries per XREAD/XRANGE
log = logging.getLogger(__name__)


def stream_ms(stream_id: str) -> int:
    """A Redis stream id's millisecond part: when the entry was added."""
    return int(stream_id.split("-", 1)[0])


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class HubFull(Exception):
    """A cap on feeds or subscribers is reached: the spectator should retry later."""


class TooSlow(Exception):
    """The spectator fell ``QUEUE_DEPTH`` changes behind and was dropped (never waited for): it reconnects and
    resumes from the last id it saw."""


@dataclass
class _Board:
    """The delayed board of one tournament, caught up by XRANGE on demand (no reader task of its own)."""

    last_id: str = "0-0"
    board: dict[str, float] = field(default_factory=dict)  # scores as of `delay` ago
    pending: list[Change] = field(default_factory=list)  # read, not yet old enough for the board


@dataclass
class _Feed:
    key: str
    subscribers: set[asyncio.Queue[Change | None]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    last_id: str = "$"


class ChangeHub:
    def __init__(
        self,
        client: aioredis.Redis,
        delay_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        *,
        max_feeds: int = 64,
        max_per_feed: int = 2_000,
        max_total: int = 10_000,
        backlog: int = 5_000,
    ) -> None:
        self.client, self.delay_ms, self.clock = client, int(delay_s * 1000), clock
        self.max_feeds, self.max_per_feed, self.max_total, self.backlog = max_feeds, max_per_feed, max_total, backlog
        self._feeds: dict[str, _Feed] = {}
        self._boards: OrderedDict[str, _Board] = OrderedDict()  # least recently asked first

    def admit(self, tournament: str) -> None:
        """``HubFull`` if one more spectator of ``tournament`` is over a cap. Routes ask before answering, so a
        refusal is a 503 (or close 1013) rather than a stream that ends at once."""
        feed = self._feeds.get(tournament)
        if self.subscribers() >= self.max_total:
            raise HubFull(f"{self.max_total} spectators are watching; retry later")
        if feed is None and len(self._feeds) >= self.max_feeds:
            raise HubFull(f"{self.max_feeds} tournaments are being watched; retry later")
        if feed is not None and len(feed.subscribers) >= self.max_per_feed:
            raise HubFull(f"{self.max_per_feed} spectators are watching {tournament!r}; retry later")

    def subscribe(self, tournament: str) -> asyncio.Queue[Change | None]:
        """A new spectator's queue, its feed's reader started if need be (``HubFull`` over a cap)."""
        self.admit(tournament)
        feed = self._feeds.get(tournament)
        if feed is None:
            feed = self._feeds[tournament] = _Feed(LeaderboardKeys.for_tournament(tournament).changes)
        queue: asyncio.Queue[Change | None] = asyncio.Queue(QUEUE_DEPTH)
        feed.subscribers.add(queue)
        if feed.task is None or feed.task.done():
            feed.task = asyncio.get_running_loop().create_task(self._read(feed))
        return queue

    def unsubscribe(self, tournament: str, queue: asyncio.Queue[Change | None]) -> None:
        """Forget a spectator; the last one out stops the feed's reader and frees its connection."""
        feed = self._feeds.get(tournament)
        if feed is None:
            return
        feed.subscribers.discard(queue)
        if not feed.subscribers:
            del self._feeds[tournament]
            if feed.task is not None:
                feed.task.cancel()

    def readers(self) -> dict[str, bool]:
        """Tournament -> whether its reader task is still running (for tests and metrics)."""
        return {t: f.task is not None and not f.task.done() for t, f in self._feeds.items()}

    async def _read(self, feed: _Feed) -> None:
        try:
            await self._read_until_alone(feed)
        except Exception as exc:  # Redis lost or restarted: end the streams; spectators reconnect and resume
            log.warning("leaderboard feed %s stopped: %s", feed.key, exc)
            for queue in list(feed.subscribers):
                _drop(feed, queue, _ENDED)

    async def _read_until_alone(self, feed: _Feed) -> None:
        while feed.subscribers:
            reply = await self.client.xread({feed.key: feed.last_id}, block=1000, count=PAGE)
            if not reply:
                # A quiet second: wake every spectator with None (its chance to send a heartbeat). One
                # broadcast here is far cheaper than a timeout around every spectator's queue.get().
                for queue in list(feed.subscribers):
                    if not queue.full():
                        queue.put_nowait(None)
            for _key, found in streams(reply):
                for raw_id, fields in found:
                    stream_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                    change = decode_change(entry_field(fields, "change"), stream_id)
                    feed.last_id = stream_id
                    for queue in list(feed.subscribers):
                        if queue.full():
                            SPECTATORS_DROPPED.inc()
                            _drop(feed, queue, _DROPPED)
                        else:
                            queue.put_nowait(change)

    def disconnect(self, tournament: str) -> None:
        """End every spectator stream of ``tournament``; they reconnect and resume where they were. Safe to
        call from any thread (the streams are ended on the hub's event loop)."""
        feed = self._feeds.get(tournament)
        if feed is None or feed.task is None:
            return

        def drop_all() -> None:
            for queue in list(feed.subscribers):
                _drop(feed, queue, _ENDED)

        feed.task.get_loop().call_soon_threadsafe(drop_all)

    def _release_due(self, board: _Board) -> None:
        cutoff = self.clock() * 1000 - self.delay_ms
        while board.pending and stream_ms(board.pending[0].stream_id or "0-0") <= cutoff:
            board.board.update(board.pending.pop(0).scores)

    async def delayed_board(self, tournament: str) -> dict[str, float] | None:
        """Scores as spectators may see them now. Boards are kept for the ``max_feeds`` tournaments asked of
        most recently; each call reads what is new since the last (at most ``backlog`` entries)."""
        board = self._boards.pop(tournament, None) or _Board()
        self._boards[tournament] = board
        while len(self._boards) > self.max_feeds:
            self._boards.popitem(last=False)
        key = LeaderboardKeys.for_tournament(tournament).changes
        async for change in self._backlog(key, board.last_id):
            board.pending.append(change)
            board.last_id = change.stream_id or board.last_id
        self._release_due(board)
        return board.board

    async def _backlog(self, key: str, after: str) -> AsyncIterator[Change]:
        """The changes after ``after``, in pages, at most ``backlog`` of them."""
        read = 0
        while read < self.backlog:
            start = "(" + after if after not in ("0-0", "0") else "-"
            page = entries(await self.client.xrange(key, min=start, max="+", count=min(PAGE, self.backlog - read)))
            for raw_id, fields in page:
                after = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                yield decode_change(entry_field(fields, "change"), after)
            read += len(page)
            if len(page) < PAGE:
                return

    async def changes(self, tournament: str, after: str | None = None) -> AsyncIterator[Change | None]:
        """Changes as they become visible; ``None`` items are heartbeat opportunities (each quiet second).

        With ``after`` (a stream id) the missed changes come first, then the live ones, without gaps
        or repeats. A backlog longer than ``backlog`` ends the stream after that many: the spectator
        reconnects from its last id. The spectator is subscribed from the first item to the generator's end.
        """
        queue = self.subscribe(tournament)
        seen = after or None
        try:
            if after:
                key = LeaderboardKeys.for_tournament(tournament).changes
                caught_up = 0
                async for change in self._backlog(key, after):
                    await self._hold(change)
                    seen = change.stream_id
                    caught_up += 1
                    yield change
                if caught_up >= self.backlog:
                    return  # more is missed than one connection may read: resume from `seen`
            while True:
                live = await queue.get()
                if live is None:
                    yield None
                    continue
                if live is _DROPPED:
                    raise TooSlow(f"more than {QUEUE_DEPTH} updates behind; resume after {seen}")
                if live is _ENDED:
                    return  # the spectator reconnects with its last id and resumes
                if seen is not None and _id_key(live.stream_id or "0-0") <= _id_key(seen):
                    continue
                await self._hold(live)
                seen = live.stream_id
                yield live
        finally:
            self.unsubscribe(tournament, queue)

    async def _hold(self, change: Change) -> None:
        """Wait until the change is ``delay`` old."""
        wait_ms = stream_ms(change.stream_id or "0-0") + self.delay_ms - self.clock() * 1000
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)

    def subscribers(self) -> int:
        return sum(len(f.subscribers) for f in self._feeds.values())

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feed.task


def _drop(feed: _Feed, queue: asyncio.Queue[Change | None], why: Change) -> None:
    """Tell one spectator its stream is over: ``_DROPPED`` (it fell behind) or ``_ENDED``."""
    feed.subscribers.discard(queue)
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(why)
