"""Bus: one tournament's Redis Streams — the single path market data and orders travel.

Keys are hash-tagged by tournament (``arena:{T}:...``), so one tournament lives on one Redis Cluster
slot and its streams stay ordered with one another:

- ``arena:{T}:market``  the engine's ticks (one entry per tick: its number, time and books) and the end;
- ``arena:{T}:orders``  everything supervisors report: ready, orders, cancels, done, ended;
- ``arena:{T}:bot:B``   the engine's messages for bot B (order updates, portfolio, risk, status).

The engine is the only writer of ``market`` and ``bot:*`` and the only reader of ``orders``. It gives its
entries explicit ids from the tick number (tick ``n`` is ``n-0`` in ``market``; its k-th batch to a bot is
``n-k``; the end is ``n-1`` in ``market``), so an engine that takes over a tournament and redoes the tick its
predecessor died in cannot deliver anything twice: Redis refuses an id not above the stream's last.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.typing import EncodableT, FieldT, KeyT, StreamIdT

from arena.engine.book import L2Book
from arena.engine.tick import Tick
from arena.runtime.protocol import compact_json
from arena.runtime.streams import Fields, entries, streams

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
STREAM_MAXLEN = 100_000  # approximate cap per stream: a bounded memory footprint per tournament
# The orders stream is the exception: a MAXLEN there would let one bot's flood trim other bots' unread orders
# and ``done``s. It is never trimmed by its writers; the engine trims what it has consumed and journaled
# (``trim_reports``), and each bot's share of it is bounded at the source by its supervisor (the line budget
# per tick and the order-rate cap, which cancels count against too).
# Longest a blocking read waits: callers loop on their own deadlines, and redis-py gives up on a
# socket silent for its socket_timeout (5 s by default), so blocks stay well under that.
MAX_BLOCK_MS = 1_000
USAGE_TTL_S = 86_400  # a finished tournament's last usage figures and statuses stay readable for a day


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{kind} id must be 1-64 characters of A-Z a-z 0-9 _ . : - (got {value!r})")
    return value


@dataclass(frozen=True, slots=True)
class Report:
    """One supervisor report read from the orders stream."""

    id: str
    bot: str
    kind: str  # ready | order | cancel | done | ended
    n: int  # the tick the bot was on
    body: dict[str, Any]
    q: int = 0  # the supervisor's number for it (1, 2, ...; 0: unnumbered)


ReportItem = tuple[str, str, int, Mapping[str, Any] | None, int]  # (bot, kind, n, body, q), as Bus.report takes


def book_to_wire(book: L2Book) -> list[Any]:
    wire = [book.symbol, book.ts, book.bids, book.asks, book.last, book.volume]
    return [*wire, True] if book.halted else wire


def book_from_wire(data: Sequence[Any]) -> L2Book:
    symbol, ts, bids, asks, last, volume, *halted = data  # a seventh field, true, only on a halted book
    return L2Book(symbol, ts, tuple(map(tuple, bids)), tuple(map(tuple, asks)), last, volume, bool(halted))


_DECODED: dict[tuple[str, str], tuple[tuple[L2Book, ...], dict[Any, Any]]] = {}  # (market key, entry id) -> ...


def tick_books(market_key: str, entry_id: str, raw: bytes | str) -> tuple[tuple[L2Book, ...], dict[Any, Any]]:
    """A market entry's books, decoded once per process however many supervisors it hosts; and a dict kept as long
    as they are, where its supervisors share the messages they make of them (``MarketView.lines``)."""
    key = (market_key, entry_id)
    found = _DECODED.get(key)
    if found is None:
        found = (tuple(book_from_wire(b) for b in json.loads(raw)), {})
        if len(_DECODED) >= 64:  # supervisors are within a tick or two of each other
            _DECODED.clear()
        _DECODED[key] = found
    return found


class Bus:
    def __init__(self, client: redis.Redis, tournament: str) -> None:
        self.client = client
        self.tournament = check_id("tournament", tournament)
        prefix = f"arena:{{{tournament}}}"
        self.market_key = f"{prefix}:market"
        self.orders_key = f"{prefix}:orders"
        self.config_key = f"{prefix}:config"
        self.control_key = f"{prefix}:control"  # admin commands to a running engine: stop, disqualify
        self.usage_key = f"{prefix}:usage"  # HASH bot -> its sandbox's latest CPU and memory use
        self.status_key = f"{prefix}:status"  # HASH bot -> running, finished, crashed, ... as the engine sees it
        self.journal_key = f"{prefix}:journal"  # what the engine consumed, tick by tick (arena.runtime.journal)
        self._bot_prefix = f"{prefix}:bot:"

    def bot_key(self, bot: str) -> str:
        return self._bot_prefix + bot

    # -- engine side ------------------------------------------------------------------

    def publish_config(self, config: Mapping[str, Any]) -> None:
        self.client.set(self.config_key, compact_json(config))

    def publish_tick(self, n: int, tick: Tick) -> None:
        books = [book_to_wire(b) for b in tick.books]
        self._add_once(self.client, self.market_key, f"{n}-0", {"n": n, "ts": tick.ts, "books": compact_json(books)})

    def publish_end(self, n: int, ts: int | None = None) -> None:
        """The end, after ``n`` ticks; ``ts`` is the last tick's time (spectators' clocks stop there)."""
        fields: dict[FieldT, EncodableT] = {"n": n, "end": 1}
        if ts is not None:
            fields["ts"] = ts
        self._add_once(self.client, self.market_key, f"{n}-1", fields)

    def end_now(self) -> None:
        """The end, after the last tick published (unless it is there already): every supervisor still
        running ends its bot instead of waiting for ticks that will never come."""
        progress = self.progress()
        if not (progress and progress[2]):
            self.publish_end(progress[0] if progress else 0)

    @staticmethod
    def _add_once(client: redis.Redis, key: str, entry_id: str, fields: dict[FieldT, EncodableT]) -> None:
        try:
            client.xadd(key, fields, id=entry_id, maxlen=STREAM_MAXLEN, approximate=True)
        except redis.ResponseError as exc:
            if not _already_there(exc):
                raise

    def publish_statuses(self, statuses: Mapping[str, str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.status_key, mapping={bot: status for bot, status in statuses.items()})
        pipe.expire(self.status_key, USAGE_TTL_S)
        pipe.execute()

    def statuses(self) -> dict[str, str]:
        return {_s(bot): _s(status) for bot, status in self.client.hgetall(self.status_key).items()}

    def retire(self, bots: Iterable[str], ttl_s: int = USAGE_TTL_S) -> None:
        """Let the tournament's streams expire ``ttl_s`` after its end (time to read them back, then memory back)."""
        pipe = self.client.pipeline(transaction=False)
        for key in (self.market_key, self.orders_key, self.config_key, self.control_key, self.usage_key,
                    self.status_key, self.journal_key, *(self.bot_key(b) for b in bots)):  # fmt: skip
            pipe.expire(key, ttl_s)
        pipe.execute()

    def clear(self, bots: Iterable[str]) -> None:
        """Forget what an earlier run under the same id left (streams, journal, statuses), before a fresh start.
        Admin commands stay: one sent before the engine started is for this run."""
        self.client.delete(self.market_key, self.orders_key, self.config_key, self.usage_key, self.status_key,
                           self.journal_key, *(self.bot_key(b) for b in bots))  # fmt: skip

    def send(self, messages: Mapping[str, list[dict[str, Any]]], n: int, k: int) -> None:
        """Queue messages to bots (bot -> messages), in one pipeline, as tick ``n``'s ``k``-th batch (k >= 1)."""
        if not messages:
            return
        pipe = self.client.pipeline(transaction=False)
        for bot, batch in messages.items():
            if batch:
                pipe.xadd(self.bot_key(bot), {"m": compact_json(batch)}, id=f"{n}-{k}", maxlen=STREAM_MAXLEN,
                          approximate=True)  # fmt: skip
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, redis.ResponseError) and not _already_there(result):
                raise result

    def trim_reports(self, through: str) -> None:
        """Forget the reports before ``through`` (the engine has consumed and journaled them; a takeover resumes
        after the journal's cursor). MINID never removes an entry at or after it, however approximate."""
        self.client.xtrim(self.orders_key, minid=through, approximate=True)

    def read_reports(self, after: str, block_ms: int | None) -> list[Report]:
        block = None if block_ms is None else min(block_ms, MAX_BLOCK_MS)
        reply = self.client.xread({self.orders_key: after}, block=block, count=10_000)
        reports: list[Report] = []
        for _key, found in streams(reply):
            for entry_id, fields in found:
                if b"batch" in fields:  # a relay's round: many bots' reports in one entry, in their order
                    reports.extend(Report(_s(entry_id), bot, kind, n, body, q)
                                   for bot, kind, n, body, q in json.loads(fields[b"batch"]))
                    continue
                reports.append(
                    Report(
                        _s(entry_id),
                        _s(fields[b"bot"]),
                        _s(fields[b"kind"]),
                        int(fields[b"n"]),
                        json.loads(fields.get(b"body", b"{}")),
                        int(fields.get(b"q", 0)),
                    )
                )
        return reports

    # -- supervisor side --------------------------------------------------------------

    def config(self) -> dict[str, Any] | None:
        raw = self.client.get(self.config_key)
        return json.loads(raw) if raw else None

    def report(self, bot: str, kind: str, n: int, body: Mapping[str, Any] | None = None, q: int = 0,
               pipe: redis.client.Pipeline | None = None) -> None:
        """One supervisor report; into ``pipe`` (sent with it) when given."""
        fields: dict[FieldT, EncodableT] = {"bot": bot, "kind": kind, "n": n}
        if q:
            fields["q"] = q
        if body:
            fields["body"] = compact_json(body)
        (self.client if pipe is None else pipe).xadd(self.orders_key, fields)

    def report_batch(self, reports: Sequence[ReportItem], pipe: redis.client.Pipeline) -> None:
        """Several reports (bot, kind, n, body, q) as one entry, into ``pipe``: one command for a relay's round
        instead of one per report. The engine reads them back as separate reports, in this order."""
        pipe.xadd(self.orders_key, {"batch": compact_json([[b, k, n, body or {}, q] for b, k, n, body, q in reports])})

    def report_many(self, bot: str, items: Iterable[tuple[str, int, Mapping[str, Any] | None]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for kind, n, body in items:
            self.report(bot, kind, n, body, pipe=pipe)
        pipe.execute()

    def report_usage(self, bot: str, usage: Mapping[str, Any], pipe: redis.client.Pipeline | None = None) -> None:
        """A bot's latest CPU and memory use; into ``pipe`` (sent with it) when given."""
        own = pipe is None
        pipe = self.client.pipeline(transaction=False) if pipe is None else pipe
        pipe.hset(self.usage_key, bot, compact_json(usage))
        pipe.expire(self.usage_key, USAGE_TTL_S)
        if own:
            pipe.execute()

    def usage(self) -> dict[str, dict[str, Any]]:
        """Each bot's latest CPU and memory use, as its supervisor reported it."""
        return {_s(bot): json.loads(raw) for bot, raw in self.client.hgetall(self.usage_key).items()}

    def read_for_bot(
        self, bot: str, after_market: str, after_bot: str, block_ms: int | None
    ) -> tuple[list[tuple[str, Fields]], list[tuple[str, list[dict[str, Any]]]]]:
        """New market entries and new messages for ``bot``: (market entries, bot batches)."""
        market, batches = self.read_for_bots(after_market, {bot: after_bot}, block_ms)
        return market, batches.get(bot, [])

    def read_for_bots(
        self, after_market: str, after_bots: Mapping[str, str], block_ms: int | None
    ) -> tuple[list[tuple[str, Fields]], dict[str, list[tuple[str, list[dict[str, Any]]]]]]:
        """New market entries and new messages for each of ``after_bots``, in one read (a bot host's supervisors
        share it): (market entries, bot -> its batches)."""
        block = None if block_ms is None else min(block_ms, MAX_BLOCK_MS)
        keys: dict[KeyT, StreamIdT] = {self.market_key: after_market}
        keys.update((self.bot_key(b), after) for b, after in after_bots.items())
        reply = self.client.xread(keys, block=block)
        market: list[tuple[str, Fields]] = []
        batches: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
        for key, found in streams(reply):
            name = _s(key)
            if name == self.market_key:
                market.extend((_s(i), f) for i, f in found)
            else:
                batches[name[len(self._bot_prefix):]] = [(_s(i), json.loads(f[b"m"])) for i, f in found]
        return market, batches

    def command(self, action: str, bot: str = "") -> None:
        """Ask the running engine to act (``stop``, or ``disqualify`` a bot) at its next tick."""
        self.client.sadd(self.control_key, f"{action}:{bot}")

    def commands(self) -> set[str]:
        return {_s(c) for c in self.client.smembers(self.control_key)}

    def progress(self) -> tuple[int, int | None, bool] | None:
        """(last tick published, its timestamp, ended?) from the market stream; None before the first tick."""
        last = entries(self.client.xrevrange(self.market_key, count=1))
        if not last:
            return None
        fields = last[0][1]
        ts = int(fields[b"ts"]) if b"ts" in fields else None
        return int(fields[b"n"]), ts, b"end" in fields

    def ended(self) -> bool:
        """True once the engine has published the tournament's end."""
        progress = self.progress()
        return progress is not None and progress[2]


def _already_there(exc: redis.ResponseError) -> bool:
    """Redis refused an explicit id because the stream already has it (or a later one): delivered before."""
    return "equal or smaller than the target stream top item" in str(exc)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
