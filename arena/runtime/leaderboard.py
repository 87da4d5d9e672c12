"""Live leaderboards: one Redis sorted set per tournament, its final copy, history and a rate-limited change feed.

Keys (Redis Cluster safe). Every key of tournament ``T`` carries the hash tag ``{T}``, so a tournament lives
on one cluster slot and the multi-key operations here (the freeze script, MULTI blocks) never cross slots:

    arena:{T}:leaderboard           ZSET   live scores, member = bot id, score = the bot's score
    arena:{T}:leaderboard:final     ZSET   the copy taken by ``freeze()``; never written afterwards
    arena:{T}:leaderboard:frozen    STRING present once the tournament is frozen
    arena:{T}:leaderboard:history   LIST   JSON snapshots of the top N, newest last, capped (LTRIM)
    arena:{T}:leaderboard:changes   STREAM the change feed, capped (XADD MAXLEN ~), for spectators who resume
    arena:{T}:leaderboard:seq       STRING the feed's last sequence number
    arena:{T}:leaderboard:top       STRING the top ``TOP_SNAPSHOT`` rows as of the last whole write (netstrings),
                                    rewritten by the writer after each tick's ZADDs; ``top()`` reads it
    arena:{T}:leaderboard:updates   pub/sub channel carrying the same messages as the stream (a channel is
                                    not a key; it shares the tag so sharded pub/sub (SPUBLISH) can be used)

Ranking is competition ranking (1, 2, 2, 4): a bot's rank is 1 + the number of bots with a strictly higher
score, i.e. ``ZCOUNT key (score +inf``. Listing order is ZREVRANGE's: score descending, and equal scores in
*descending* byte order of the bot id (Redis orders ties by member ascending; ZREVRANGE reverses the whole
order). It is deterministic, and it is the order every read here returns.

Reads that need more than one command (a rank, a page that starts inside a run of ties) run as one Lua
script, so they are atomic and cost one round trip. Writes of a tick go out as variadic ZADDs on one
connection in one round trip; see ``Leaderboard.update`` for when a large tick may be seen half-applied.

Reads of the top of the board (what spectators ask for most) come from a snapshot the writer publishes at the
end of each tick's writes, in the same round trip: one GET of a small string, which never waits behind a
ZADD's skiplist work the way ZREVRANGE + ZCOUNT do, and always shows a whole tick.
"""

from __future__ import annotations

import bisect
import json
import math
import numbers
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from arena.runtime.streams import entry_field, streams

__all__ = [
    "Change",
    "Leaderboard",
    "LeaderboardFrozen",
    "LeaderboardKeys",
    "LeaderboardPublisher",
    "LeaderboardSubscription",
    "Snapshot",
    "Standing",
    "read_changes",
    "validate_tournament_id",
]

MAX_TOURNAMENT_ID_CHARS = 64
MAX_BOT_ID_CHARS = 256
# Letters, digits and . _ - : ; no braces (they would break the hash tag) and no whitespace.
_TOURNAMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
# Members per ZADD. A ZADD blocks the server for its whole length (~0.6 µs per member), so 256 keeps a
# reader's wait behind it near 0.15 ms; and packing the next chunk overlaps the server applying this one,
# which made 10,000-member ticks ~1.6x faster than one ZADD here (1000 or 2500 were no faster).
ZADD_CHUNK = 256
# Every finite double printed as "%024.17g" is exactly 24 characters (zero padded, 17 significant digits:
# exact round trip), so one ``%`` over a template formats a whole tick in C; strtod accepts leading zeros.
_SCORE_FORMAT = "%024.17g"
_SCORE_WIDTH = 24
_FRAGMENT_CACHE_MAX = 100_000
# Rows kept in the top snapshot: the API's largest page (100) plus the row that says whether a next page follows.
TOP_SNAPSHOT = 101


class LeaderboardFrozen(RuntimeError):
    """The tournament's leaderboard is frozen: its final standings no longer change."""

    code = "LEADERBOARD_FROZEN"


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    bot: str
    score: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    ts: int
    size: int  # bots on the board when the snapshot was taken (the snapshot keeps only the top N)
    standings: tuple[Standing, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One fan-out message: the latest scores of the bots that changed since the previous message."""

    seq: int
    ts: int
    scores: dict[str, float]
    stream_id: str | None = None  # set when read from the stream; pass it to ``read_changes`` to resume
    tick: int = 0  # the tournament tick of the latest change (0: not told)


def validate_tournament_id(tournament: str) -> str:
    if not isinstance(tournament, str):
        raise ValueError(f"tournament id must be a string, not {type(tournament).__name__}")
    if not 1 <= len(tournament) <= MAX_TOURNAMENT_ID_CHARS:
        raise ValueError(f"tournament id must be 1 to {MAX_TOURNAMENT_ID_CHARS} characters, got {len(tournament)}")
    if _TOURNAMENT_ID.fullmatch(tournament) is None:
        raise ValueError(
            f"tournament id {tournament!r} may use only letters, digits and . _ - : and must start with a letter"
            " or digit (no braces, which would break the Redis Cluster hash tag, and no whitespace)"
        )
    return tournament


@dataclass(frozen=True, slots=True)
class LeaderboardKeys:
    live: str
    final: str
    frozen: str
    history: str
    changes: str
    seq: str
    channel: str
    top: str

    @classmethod
    def for_tournament(cls, tournament: str) -> LeaderboardKeys:
        base = f"arena:{{{validate_tournament_id(tournament)}}}:leaderboard"
        return cls(base, f"{base}:final", f"{base}:frozen", f"{base}:history", f"{base}:changes", f"{base}:seq",
                   f"{base}:updates", f"{base}:top")  # fmt: skip

    def all_keys(self) -> tuple[str, ...]:
        return (self.live, self.final, self.frozen, self.history, self.changes, self.seq, self.top)


def _check_bot(bot: object) -> str:
    if not isinstance(bot, str) or not 1 <= len(bot) <= MAX_BOT_ID_CHARS:
        raise ValueError(f"bot id must be a string of 1 to {MAX_BOT_ID_CHARS} characters, got {bot!r:.80}")
    return bot


def _check_scores(scores: Mapping[str, float]) -> None:
    """Reject NaN, infinities and non-numbers. The common case costs one C-level sum."""
    try:
        if math.isfinite(sum(scores.values(), 0.0)):
            return
    except (TypeError, OverflowError):
        pass
    for bot, value in scores.items():  # slow path: find the culprit (or learn the sum merely overflowed)
        if not isinstance(value, numbers.Real):
            raise ValueError(f"score of bot {bot!r} must be a real number, got {value!r:.80}")
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite:
            raise ValueError(f"score of bot {bot!r} must be finite, got {value!r:.80}")


def _fragment(bot: str) -> str:
    """RESP for ``<score> <bot>`` with the score left as a fixed-width ``%`` placeholder."""
    raw = _check_bot(bot).encode()
    member = f"${len(raw)}\r\n{bot}\r\n".replace("%", "%%")
    return f"${_SCORE_WIDTH}\r\n{_SCORE_FORMAT}\r\n{member}"


def _netstrings(data: bytes) -> list[bytes]:
    """Split ``<length>:<bytes>`` fields written back to back (the top snapshot's format)."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        colon = data.index(b":", at)
        start = colon + 1
        end = start + int(data[at:colon])
        out.append(data[start:end])
        at = end
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _standings(start: int, higher: int, flat: list[Any]) -> list[Standing]:
    """Rows of ZREVRANGE WITHSCORES from absolute position ``start``; ``higher`` = bots strictly above row 0.

    Row i's rank is its position + 1 unless it ties the row before it (then it shares that rank); only the
    first row of a page can tie a row we did not fetch, which is what ``higher`` (one ZCOUNT) is for.
    """
    out: list[Standing] = []
    prev_score = math.nan
    rank = 0
    for i in range(0, len(flat), 2):
        score = float(flat[i + 1])
        if i == 0:
            rank = higher + 1
        elif score != prev_score:
            rank = start + i // 2 + 1
        out.append(Standing(rank, _text(flat[i]), score))
        prev_score = score
    return out


_TOP = """
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local higher = 0
if tonumber(ARGV[1]) > 0 and #rows > 0 then
  higher = redis.call('ZCOUNT', KEYS[1], '(' .. rows[2], '+inf')
end
return {higher, rows}
"""
_STANDING = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return false end
return {redis.call('ZCOUNT', KEYS[1], '(' .. s, '+inf'), s}
"""
_AROUND = """
local r = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not r then return false end
local k = tonumber(ARGV[2])
local start = math.max(r - k, 0)
local rows = redis.call('ZREVRANGE', KEYS[1], start, r + k, 'WITHSCORES')
local higher = 0
if start > 0 then higher = redis.call('ZCOUNT', KEYS[1], '(' .. rows[2], '+inf') end
return {start, higher, rows}
"""
# The top rows as netstrings ("<bytes>:<text>"), the first one the row count asked for: member, score, ...
# Scores are Redis's own exact text of the double (as ZREVRANGE WITHSCORES returns them).
_PUBLISH_TOP = """
local rows = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local parts = {#ARGV[1] .. ':' .. ARGV[1]}
for i = 1, #rows do parts[i + 1] = #rows[i] .. ':' .. rows[i] end
redis.call('SET', KEYS[2], table.concat(parts))
return #rows
"""
# Idempotent: a second freeze must not overwrite the final board.
_FREEZE = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('ZUNIONSTORE', KEYS[2], 1, KEYS[1])
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""


class Leaderboard:
    """The live leaderboard of one tournament. The tournament's engine is its single writer."""

    def __init__(self, client: redis.Redis, tournament: str) -> None:
        self.tournament = validate_tournament_id(tournament)
        self.keys = LeaderboardKeys.for_tournament(tournament)
        self._client = client
        self._top = client.register_script(_TOP)
        self._standing = client.register_script(_STANDING)
        self._around = client.register_script(_AROUND)
        self._freeze = client.register_script(_FREEZE)
        self._publish_top = client.register_script(_PUBLISH_TOP)
        self._top_cache: tuple[bytes, int, list[Standing]] = (b"", 0, [])  # last snapshot read, parsed
        # Fast path: hand-packed ZADDs on a pooled connection. Other clients (e.g. RedisCluster) use a pipeline.
        self._raw = isinstance(client, redis.Redis) and hasattr(client, "connection_pool")
        self._fragments: dict[str, str] = {}
        self._frozen = False

    # -- writes -------------------------------------------------------------------------------------------

    def update(self, scores: Mapping[str, float]) -> None:
        """Set the scores of the bots that changed this tick. Empty input is a no-op.

        Raises ValueError (bad bot id, NaN/inf score; nothing is written) or LeaderboardFrozen. A tick of at
        most ZADD_CHUNK bots is one ZADD, so readers see it whole; a larger one is several ZADDs in one round
        trip, not a MULTI, so that reads interleave with it (a MULTI of 10,000 members would block every
        reader for ~6 ms), and a reader may see it part-applied for that long. The frozen check is one
        EXISTS before the write: only a freeze from another process racing this very call could let the
        call reach the live set, never the final one.
        """
        if not scores:
            return
        _check_scores(scores)
        self._check_not_frozen()
        self._write(scores, replace=False)

    def rebuild(self, scores: Mapping[str, float]) -> None:
        """Replace the live board with ``scores`` (e.g. from the store's durable records after losing Redis).

        For a finished tournament, rebuild then ``freeze()``.
        """
        _check_scores(scores)
        self._check_not_frozen()
        self._write(scores, replace=True)

    def clear(self) -> None:
        """Delete every key of this tournament's leaderboard, including the final board and the feed."""
        self._client.delete(*self.keys.all_keys())
        self._frozen = False

    def freeze(self) -> bool:
        """Copy the live board to the final one and mark the tournament frozen, atomically (one script).

        Later ``update``s raise LeaderboardFrozen. Returns False if it was already frozen (final untouched).
        """
        done = bool(self._freeze(keys=[self.keys.live, self.keys.final, self.keys.frozen], args=[int(time.time())]))
        self._frozen = True
        return done

    def is_frozen(self) -> bool:
        return bool(self._client.exists(self.keys.frozen))

    def _check_not_frozen(self) -> None:
        # Frozen is terminal (only clear() lifts it), so once seen it is not asked again.
        if self._frozen or self._client.exists(self.keys.frozen):
            self._frozen = True
            raise LeaderboardFrozen(f"the leaderboard of tournament {self.tournament!r} is frozen")

    def _write(self, scores: Mapping[str, float], *, replace: bool) -> None:
        items = list(scores.items())
        fragments = self._fragments
        if len(fragments) + len(items) > _FRAGMENT_CACHE_MAX:
            fragments.clear()
        for bot, _ in items:
            if bot not in fragments:
                fragments[bot] = _fragment(bot)  # also validates the bot id, once per bot
        chunks = [items[i : i + ZADD_CHUNK] for i in range(0, len(items), ZADD_CHUNK)]
        if not self._raw:
            pipe = self._client.pipeline(transaction=replace)
            if replace:
                pipe.delete(self.keys.live)
            for chunk in chunks:
                pipe.zadd(self.keys.live, dict(chunk))
            self._publish_top(keys=[self.keys.live, self.keys.top], args=[TOP_SNAPSHOT], client=pipe)
            pipe.execute()
            return
        for attempt in range(2):  # absolute scores: sending a tick twice is harmless, so retry a dropped link
            try:
                self._send_raw(chunks, replace)
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if attempt:
                    raise

    def _send_raw(self, chunks: list[list[tuple[str, float]]], replace: bool) -> None:
        """Hand-packed ZADDs, all sent before any reply is read: one round trip, packing overlapping the server."""
        fragment = self._fragments.__getitem__
        key = self.keys.live.encode()
        pool = self._client.connection_pool
        conn = pool.get_connection()
        try:
            packed = conn.pack_command
            sent = 0
            if replace:  # DEL + the ZADDs in one MULTI: a rebuild is seen whole or not at all
                conn.send_packed_command(packed("MULTI") + packed("DEL", key), check_health=False)
                sent += 2
            for chunk in chunks:
                head = b"*%d\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n" % (2 + 2 * len(chunk), len(key), key)
                body = "".join([fragment(bot) for bot, _ in chunk]) % tuple([value for _, value in chunk])
                conn.send_packed_command([head, body.encode()], check_health=False)
                sent += 1
            if replace:
                conn.send_packed_command(packed("EXEC"), check_health=False)
                sent += 1
            # The top snapshot, after the tick's last ZADD: a reader of it sees this tick whole or the last one.
            top = self.keys.top.encode()
            conn.send_packed_command(packed("EVAL", _PUBLISH_TOP, 2, key, top, TOP_SNAPSHOT), check_health=False)
            sent += 1
            replies = [conn.read_response() for _ in range(sent)]
            failed = [r for r in replies[-2] if isinstance(r, Exception)] if replace else []
            if failed:  # an error inside EXEC comes back as a value, not raised
                raise failed[0]
        except BaseException:
            conn.disconnect()  # replies may be left unread: never hand this connection out again
            raise
        finally:
            pool.release(conn)

    # -- reads --------------------------------------------------------------------------------------------

    def _key(self, final: bool) -> str:
        return self.keys.final if final else self.keys.live

    def top(self, n: int = 10, offset: int = 0, *, final: bool = False) -> list[Standing]:
        """Standings at positions offset+1 .. offset+n, best first (one script: ZREVRANGE + at most one ZCOUNT)."""
        if n < 0 or offset < 0:
            raise ValueError(f"n and offset must be >= 0, got n={n}, offset={offset}")
        if n == 0:
            return []
        if not final:
            snapshot = self._snapshot_rows(offset + n)
            if snapshot is not None:
                return snapshot[offset : offset + n]
        higher, flat = self._top(keys=[self._key(final)], args=[offset, offset + n - 1])
        return _standings(offset, int(higher), flat)

    def _snapshot_rows(self, needed: int) -> list[Standing] | None:
        """The live board's first rows from the writer's snapshot, if it holds ``needed`` rows or the whole board;
        None sends the read to the sorted set (no snapshot yet, or a page past it)."""
        data = self._client.get(self.keys.top)
        if not data:
            return None
        raw = _raw(data)
        cached, asked, rows = self._top_cache
        if raw != cached:
            fields = _netstrings(raw)
            asked = int(fields[0])
            rows = _standings(0, 0, fields[1:])
            self._top_cache = (raw, asked, rows)
        return rows if needed <= len(rows) or len(rows) < asked else None

    def after(self, score: float, bot: str, n: int, *, final: bool = False) -> list[Standing]:
        """Up to ``n`` standings listed after the row (score, bot), whether or not that bot is still there with
        that score: rows with a lower score, or the same score and a lower member (ZREVRANGE's order). A row
        added above the position meanwhile shifts nothing, so paging by it never repeats a row."""
        key = self._key(final)
        with self._client.pipeline(transaction=True) as pipe:
            pipe.zcount(key, f"({score!r}", "+inf")
            pipe.zrangebyscore(key, repr(score), repr(score))  # the ties, members ascending by bytes
            higher, ties = pipe.execute()
        member = bot.encode()
        start = int(higher) + len(ties) - bisect.bisect_left([_raw(t) for t in ties], member)
        return self.top(n, start, final=final)

    def standing(self, bot: str, *, final: bool = False) -> Standing | None:
        reply = self._standing(keys=[self._key(final)], args=[bot])
        if reply is None:
            return None
        higher, score = reply
        return Standing(int(higher) + 1, bot, float(score))

    def rank(self, bot: str, *, final: bool = False) -> int | None:
        """Competition rank (1 + bots with a strictly higher score), or None if the bot is not on the board."""
        found = self.standing(bot, final=final)
        return None if found is None else found.rank

    def score(self, bot: str, *, final: bool = False) -> float | None:
        value = self._client.zscore(self._key(final), bot)
        return None if value is None else float(value)

    def around(self, bot: str, k: int = 2, *, final: bool = False) -> list[Standing]:
        """The bot and up to k bots listed above and k below it (listing order); [] if it is not on the board."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        reply = self._around(keys=[self._key(final)], args=[bot, k])
        if reply is None:
            return []
        start, higher, flat = reply
        return _standings(int(start), int(higher), flat)

    def size(self, *, final: bool = False) -> int:
        return int(self._client.zcard(self._key(final)))

    # -- history ------------------------------------------------------------------------------------------

    def snapshot(self, ts: int, *, top_n: int = 100, keep: int = 1000) -> None:
        """Append the top ``top_n`` (bot, score) pairs at time ``ts`` to the history, keeping the last ``keep``.

        Ranks are not stored: the rows start at rank 1, so they are derived exactly on read.
        """
        if top_n < 1 or keep < 1:
            raise ValueError(f"top_n and keep must be >= 1, got top_n={top_n}, keep={keep}")
        pipe = self._client.pipeline(transaction=True)
        pipe.zrevrange(self.keys.live, 0, top_n - 1, withscores=True)
        pipe.zcard(self.keys.live)
        rows, size = pipe.execute()
        record = json.dumps({"ts": int(ts), "size": size, "top": [[_text(bot), score] for bot, score in rows]},
                            separators=(",", ":"), allow_nan=False)  # fmt: skip
        pipe = self._client.pipeline(transaction=True)
        pipe.rpush(self.keys.history, record)
        pipe.ltrim(self.keys.history, -keep, -1)
        pipe.execute()

    def history(self, limit: int = 100) -> list[Snapshot]:
        """The last ``limit`` snapshots, oldest first."""
        if limit < 1:
            return []
        out = []
        for raw in self._client.lrange(self.keys.history, -limit, -1):
            record = json.loads(raw)
            flat = [x for bot, score in record["top"] for x in (bot, score)]
            out.append(Snapshot(record["ts"], record["size"], tuple(_standings(0, 0, flat))))
        return out


# -- fan-out ------------------------------------------------------------------------------------------------


def _encode_change(change: Change) -> str:
    return json.dumps({"seq": change.seq, "ts": change.ts, "tick": change.tick, "scores": change.scores},
                      separators=(",", ":"), allow_nan=False)  # fmt: skip


def decode_change(data: bytes | str, stream_id: str | None = None) -> Change:
    record = json.loads(data)
    return Change(int(record["seq"]), int(record["ts"]), {str(b): float(s) for b, s in record["scores"].items()},
                  stream_id, int(record.get("tick", 0)))  # fmt: skip


class LeaderboardPublisher:
    """Coalesces per-tick score changes and fans them out at most ``max_rate`` times per second.

    Call ``changed(scores, ts)`` on every tick (an empty mapping is fine: it lets a due message out). Each
    message carries the latest score of every bot that changed since the previous message and a sequence
    number one above the previous one (kept in Redis, so it keeps increasing across publisher restarts).
    A message goes both to a capped stream (spectators resume from a stream id) and to a pub/sub channel
    (spectators who only want the live edge). ``flush()`` sends what is pending regardless of the rate.
    Successive messages are at least 1/max_rate apart on ``clock``, so any one-second window holds at most
    ``max_rate`` of them (``flush`` aside).
    """

    def __init__(
        self,
        client: redis.Redis,
        tournament: str,
        max_rate: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        stream_maxlen: int = 10_000,
    ) -> None:
        if not max_rate > 0:
            raise ValueError(f"max_rate must be > 0, got {max_rate}")
        self.keys = LeaderboardKeys.for_tournament(tournament)
        self._client = client
        self._interval = 1.0 / max_rate
        self._clock = clock
        self._maxlen = stream_maxlen
        self._pending: dict[str, float] = {}
        self._ts = self._tick = 0
        self._next_at = -math.inf
        self._seq = int(client.get(self.keys.seq) or 0)
        self.published = 0

    @property
    def seq(self) -> int:
        """The sequence number of the last message sent."""
        return self._seq

    @property
    def pending(self) -> dict[str, float]:
        return dict(self._pending)

    def changed(self, scores: Mapping[str, float], ts: int, tick: int = 0) -> Change | None:
        """Record this tick's changes; publish if one is due. Returns the message sent, if any."""
        if scores:
            _check_scores(scores)
            self._pending.update(scores)
            self._ts, self._tick = int(ts), int(tick)
        if self._pending and self._clock() >= self._next_at:
            return self._publish()
        return None

    def flush(self) -> Change | None:
        """Send whatever is pending now, ignoring the rate (at the end of a tournament)."""
        return self._publish() if self._pending else None

    def _publish(self) -> Change:
        change = Change(self._seq + 1, self._ts, self._pending, tick=self._tick)
        payload = _encode_change(change)
        pipe = self._client.pipeline(transaction=True)
        pipe.set(self.keys.seq, change.seq)
        pipe.xadd(self.keys.changes, {"change": payload}, maxlen=self._maxlen, approximate=True)
        pipe.publish(self.keys.channel, payload)
        pipe.execute()
        self._seq = change.seq
        self._pending = {}
        self._next_at = self._clock() + self._interval
        self.published += 1
        return change


def read_changes(
    client: redis.Redis, tournament: str, after: str = "0-0", count: int = 1000, block_ms: int | None = None
) -> list[Change]:
    """Messages of the change stream after stream id ``after`` (``"$"``: only new ones), oldest first.

    A spectator that reconnects passes the ``stream_id`` of the last Change it saw. If the stream was
    trimmed past it, the first returned seq jumps: fetch ``Leaderboard.top`` again and carry on.
    """
    key = LeaderboardKeys.for_tournament(tournament).changes
    found = streams(client.xread({key: after}, count=count, block=block_ms))
    return [decode_change(entry_field(fields, "change"), _text(stream_id))
            for _key, entries in found for stream_id, fields in entries]  # fmt: skip


class LeaderboardSubscription:
    """A pub/sub listener on one tournament's change channel: ``get(timeout)`` returns the next Change."""

    def __init__(self, client: redis.Redis, tournament: str) -> None:
        self.channel = LeaderboardKeys.for_tournament(tournament).channel
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(self.channel)

    def get(self, timeout: float = 1.0) -> Change | None:
        deadline = time.monotonic() + timeout
        while True:
            message = self._pubsub.get_message(timeout=max(deadline - time.monotonic(), 0.0))
            if message is not None and message["type"] == "message":
                return decode_change(message["data"])
            if time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        self._pubsub.close()

    def __enter__(self) -> LeaderboardSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
