"""ChangeHub: one reader of each tournament's leaderboard change stream, fanned out to every spectator.

Thousands of WebSocket/SSE spectators share one XREAD loop per tournament rather than one Redis
connection each. Each change is encoded once (``spectator_frames``) and its frame handed to every spectator's
``Sink``, which writes it to the socket without waiting: there is no task or generator per spectator on the way.
Spectators see changes ``delay_s`` after they were published (so rivals cannot read positions live) and can resume
after a stream id (SSE ``Last-Event-ID``, WebSocket ``after``).

Every reader holds a Redis connection while it blocks, so the hub is bounded: a feed exists only while it
has subscribers (its reader ends with the last one), feeds and subscribers are capped (``HubFull``), and a
resume reads its backlog in pages of ``PAGE`` entries, at most ``backlog`` in one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis

from arena.metrics import SPECTATORS_DROPPED
from arena.runtime.leaderboard import Change, LeaderboardKeys, decode_change
from arena.runtime.streams import entries, entry_field, streams
from arena.service.spectator_frames import HEARTBEAT, Frames, encode

JOIN_DEPTH = 1_000  # live changes held for a spectator still catching up; more and it is dropped as too slow
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


class End(enum.Enum):
    """Why the hub ended a spectator's stream; in each case the spectator reconnects and resumes after the last id
    it saw."""

    TOO_SLOW = "too slow"  # its socket's buffer was full: dropped, never waited for
    ENDED = "ended"  # the feed stopped (Redis lost) or its tournament's spectators were disconnected
    BACKLOG = "backlog"  # it caught up on as many missed changes as one connection may


class Sink(Protocol):
    """One spectator's connection, as the hub writes to it."""

    def deliver(self, frames: Frames) -> bool:
        """Write the frame for this spectator without waiting; False if it is too far behind (nothing written)."""

    def end(self, why: End) -> None:
        """The hub is done with this spectator (it has already forgotten it)."""


@dataclass
class _Board:
    """The delayed board of one tournament, caught up by XRANGE on demand (no reader task of its own)."""

    last_id: str = "0-0"
    board: dict[str, float] = field(default_factory=dict)  # scores as of `delay` ago
    pending: list[Change] = field(default_factory=list)  # read, not yet old enough for the board


@dataclass
class _Feed:
    key: str
    sinks: set[Sink] = field(default_factory=set)  # live: each fan-out writes to them
    joining: dict[Sink, list[tuple[str, Frames]]] = field(default_factory=dict)  # catching up: live changes held
    task: asyncio.Task[None] | None = None
    last_id: str = "$"
    idle_s: float = 0.0  # since the last frame sent (a heartbeat is due at heartbeat_s)

    def __len__(self) -> int:
        return len(self.sinks) + len(self.joining)


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
        heartbeat_s: float = 15.0,
    ) -> None:
        self.client, self.delay_ms, self.clock = client, int(delay_s * 1000), clock
        self.max_feeds, self.max_per_feed, self.max_total, self.backlog = max_feeds, max_per_feed, max_total, backlog
        self.heartbeat_s = heartbeat_s
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
        if feed is not None and len(feed) >= self.max_per_feed:
            raise HubFull(f"{self.max_per_feed} spectators are watching {tournament!r}; retry later")

    async def join(self, tournament: str, sink: Sink, after: str | None = None) -> None:
        """Start writing ``tournament``'s changes to ``sink`` (``HubFull`` over a cap); returns once it is live.

        With ``after`` (a stream id) the missed changes are written first, then the live ones, without gaps or
        repeats: live changes that arrive meanwhile are held for it. A backlog of ``backlog`` changes or more ends
        the stream after that many (``End.BACKLOG``): the spectator resumes from its last id.
        """
        self.admit(tournament)
        feed = self._feeds.get(tournament)
        if feed is None:
            feed = self._feeds[tournament] = _Feed(LeaderboardKeys.for_tournament(tournament).changes)
        if not after:
            feed.sinks.add(sink)
        else:
            feed.joining[sink] = []
        if feed.task is None or feed.task.done():
            feed.task = asyncio.get_running_loop().create_task(self._read(feed))
        if after:
            await self._catch_up(tournament, feed, sink, after)

    async def _catch_up(self, tournament: str, feed: _Feed, sink: Sink, seen: str) -> None:
        caught_up = 0
        try:
            async with contextlib.aclosing(self._backlog(feed.key, seen)) as backlog:
                async for change in backlog:  # encoded for this spectator alone: not the hot path
                    await self._hold(change)
                    if sink not in feed.joining:
                        return  # it left, or was ended, meanwhile
                    if not sink.deliver(encode(change)):
                        self._end(feed, sink, End.TOO_SLOW)
                        return
                    seen = change.stream_id or seen
                    caught_up += 1
        except BaseException:
            self.leave(tournament, sink)
            raise
        held = feed.joining.pop(sink, None)
        if held is None:
            return
        if caught_up >= self.backlog:
            self._forget(feed, tournament)
            sink.end(End.BACKLOG)  # more is missed than one connection may read: resume from `seen`
            return
        for stream_id, frames in held:
            if _id_key(stream_id) > _id_key(seen) and not sink.deliver(frames):
                self._forget(feed, tournament)
                sink.end(End.TOO_SLOW)
                return
        feed.sinks.add(sink)

    def leave(self, tournament: str, sink: Sink) -> None:
        """Forget a spectator; the last one out stops the feed's reader and frees its connection."""
        feed = self._feeds.get(tournament)
        if feed is None:
            return
        feed.sinks.discard(sink)
        feed.joining.pop(sink, None)
        self._forget(feed, tournament)

    def _forget(self, feed: _Feed, tournament: str) -> None:
        """Drop the feed once nobody watches it."""
        if not len(feed) and self._feeds.get(tournament) is feed:
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
            self._end_all(feed, End.ENDED)

    async def _read_until_alone(self, feed: _Feed) -> None:
        while len(feed):
            reply = await self.client.xread({feed.key: feed.last_id}, block=1000, count=PAGE)
            if not reply:
                feed.idle_s += 1.0  # a quiet second
                if feed.idle_s >= self.heartbeat_s:
                    self._fan_out(feed, HEARTBEAT, None)
                continue
            for _key, found in streams(reply):
                for raw_id, fields in found:
                    stream_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                    change = decode_change(entry_field(fields, "change"), stream_id)
                    feed.last_id = stream_id
                    await self._hold(change)
                    self._fan_out(feed, encode(change), stream_id)

    def _fan_out(self, feed: _Feed, frames: Frames, stream_id: str | None) -> None:
        """The hot path: one encoded frame written to every live spectator; those whose buffer is full are dropped."""
        feed.idle_s = 0.0
        slow = [sink for sink in feed.sinks if not sink.deliver(frames)]
        for sink in slow:
            self._end(feed, sink, End.TOO_SLOW)
        if stream_id is None:
            return  # a heartbeat: those catching up are being written to anyway
        for sink, held in list(feed.joining.items()):
            held.append((stream_id, frames))
            if len(held) > JOIN_DEPTH:
                self._end(feed, sink, End.TOO_SLOW)

    def _end(self, feed: _Feed, sink: Sink, why: End) -> None:
        """Forget one spectator and tell it why; its route closes the connection."""
        if why is End.TOO_SLOW:
            SPECTATORS_DROPPED.inc()
        feed.sinks.discard(sink)
        feed.joining.pop(sink, None)
        sink.end(why)

    def _end_all(self, feed: _Feed, why: End) -> None:
        for sink in [*feed.sinks, *feed.joining]:
            self._end(feed, sink, why)

    def disconnect(self, tournament: str) -> None:
        """End every spectator stream of ``tournament``; they reconnect and resume where they were. Safe to
        call from any thread (the streams are ended on the hub's event loop)."""
        feed = self._feeds.get(tournament)
        if feed is None or feed.task is None:
            return
        feed.task.get_loop().call_soon_threadsafe(self._end_all, feed, End.ENDED)

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

    async def _backlog(self, key: str, after: str) -> AsyncGenerator[Change, None]:
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

    async def _hold(self, change: Change) -> None:
        """Wait until the change is ``delay`` old."""
        wait_ms = stream_ms(change.stream_id or "0-0") + self.delay_ms - self.clock() * 1000
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)

    def subscribers(self) -> int:
        return sum(len(f) for f in self._feeds.values())

    async def close(self) -> None:
        """Stop every feed and end its spectators' streams (they resume from another process, or later)."""
        for feed in list(self._feeds.values()):
            self._end_all(feed, End.ENDED)
            if feed.task is not None:
                feed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feed.task
