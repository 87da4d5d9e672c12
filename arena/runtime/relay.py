"""Relay: one per bot host process and tournament; carries all its sandboxed bots' traffic with two threads.

Each supervisor used to spend two threads and a Redis round trip per tick on its bot: one blocking XREAD of the
market and its own stream, one blocking read of the bot's stdout and an XADD per report. With a hundred bots on a
host that is two hundred threads taking turns at one interpreter lock and a few hundred Redis commands per tick,
most of the host's CPU. The relay does the same work for every bot of the tournament on this host at once:

- one thread reads the market stream and every attached bot's stream in **one XREAD**, and hands each supervisor
  its share (``Supervisor.deliver``), which writes to the bot's stdin without ever waiting: what a pipe cannot take
  waits in the bot's channel (bounded; a bot that stops reading is cut off, not waited for);
- one thread **polls every bot's stdout** and hands each line to its supervisor (``Supervisor.take``: weighed,
  decoded, validated and stamped exactly as before);
- the reports those produce (orders, cancels, ``done``s, usage) are **sent in one pipeline** per round, in the
  order they were made.

The supervisors keep everything else (starting the sandbox, the hello, the end, the record). A remote bot has no
pipes: its supervisor keeps its own threads.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
import redis.client

from arena.runtime.bus import Bus, ReportItem
from arena.runtime.streams import Fields
from sandbox import ProtocolError

READ_BLOCK_MS = 200  # longest a read of the streams waits: how soon a newly attached bot is read for
BACKLOG_BLOCK_MS = 20  # ... while some bot's input is backed up: its queued lines are retried this often
POLL_MS = 200
SWEEP_S = 0.2  # how often every bot is looked at though nothing came for it (usage, heartbeat, gone)
GATHER_S = 0.002  # how long the bots' lines are gathered into one round of reports, at most

Write = Callable[[redis.client.Pipeline], Any]  # one queued write (a usage figure), added to the round's pipeline


class Relayed(Protocol):
    """What the relay needs of a supervisor (``arena.runtime.supervisor.Supervisor``)."""

    bot: str
    after_market: str
    after_bot: str
    ending: bool
    backlog: int
    finale: threading.Event
    drained: threading.Event

    @property
    def gone(self) -> bool: ...

    def deliver(self, market: list[tuple[str, Fields]], batches: list[tuple[str, list[dict[str, Any]]]]) -> bool: ...

    def take(self, size: int, item: bytes | ProtocolError | None) -> None: ...

    def host_failed(self, exc: Exception) -> None: ...

    def cut(self, reason: str) -> None: ...

    def output(self) -> Any: ...  # the channel the bot's lines arrive on: ``fileno`` and ``ready_lines``


class Relay:
    def __init__(self, client: redis.Redis, tournament: str, key: tuple[str, str] | None = None) -> None:
        self.client = client
        self._key = key  # its place in this process's relays
        self.bus = Bus(client, tournament)
        self._lock = threading.Lock()
        self._attached: list[Relayed] = []
        self._changed = threading.Event()  # a bot attached or left: the market thread re-reads its list
        self._next_sweep = 0.0
        self._market_running = self._pipes_running = False
        self._pipes_changed = True  # the pipes to poll are to be listed again
        self._wake: tuple[int, int] | None = None  # a pipe that wakes the polling thread
        self._queue_lock = threading.Lock()
        self._queued: list[Write] = []
        self._reports: list[ReportItem] = []
        self._flush_lock = threading.Lock()  # one round's reports go out before the next round's

    # -- what supervisors call ------------------------------------------------------------------

    def attach(self, supervisor: Relayed) -> None:
        """Carry ``supervisor``'s bot from now on (its hello is sent; its streams are read from its cursors)."""
        with self._lock:
            if self._wake is None:
                self._wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)  # (out of fds: raises, nothing changed)
            self._attached.append(supervisor)
            starting = [(loop, flag) for loop, flag, running in (
                (self._market_loop, "_market_running", self._market_running),
                (self._pipe_loop, "_pipes_running", self._pipes_running)) if not running]  # fmt: skip
            for loop, flag in starting:
                try:
                    threading.Thread(target=loop, name=f"relay-{self.bus.tournament}-{loop.__name__}",
                                     daemon=True).start()  # fmt: skip
                except RuntimeError:  # no thread to be had: this bot cannot be carried (the others still are)
                    self._attached.remove(supervisor)
                    raise
                setattr(self, flag, True)
            self._nudge()

    def detach(self, supervisor: Relayed) -> None:
        """Stop carrying ``supervisor``'s bot, once the reports it made are sent (if Redis refuses them, past the
        client's retries, the bot's run is the host's fault)."""
        with self._lock:
            if supervisor in self._attached:
                self._attached.remove(supervisor)
            self._nudge()
            self._retire()  # (only when nothing is attached and no thread runs)
        try:
            self.flush()
        except redis.RedisError as exc:
            supervisor.host_failed(exc)

    def queue(self, write: Write) -> None:
        """A write (a usage figure) to send with this round's pipeline."""
        with self._queue_lock:
            self._queued.append(write)

    def queue_report(self, report: ReportItem) -> None:
        """A bot's report to send with this round's: all of them in one stream entry."""
        with self._queue_lock:
            self._reports.append(report)

    def flush(self) -> None:
        """Send the queued reports, in one pipeline, in the order they were queued. If Redis fails them they stay
        queued, first, for the next flush: sent twice, a report is dropped by its number, a usage figure rewritten."""
        with self._flush_lock:
            with self._queue_lock:
                writes, self._queued = self._queued, []
                reports, self._reports = self._reports, []
            if not writes and not reports:
                return
            try:
                pipe = self.client.pipeline(transaction=False)
                for write in writes:
                    write(pipe)
                if reports:
                    self.bus.report_batch(reports, pipe)
                pipe.execute()
            except BaseException:
                with self._queue_lock:
                    self._queued[:0] = writes
                    self._reports[:0] = reports
                raise

    def _nudge(self) -> None:
        self._changed.set()
        self._pipes_changed = True
        if self._wake is not None:
            with contextlib.suppress(BlockingIOError):  # already full of wake-ups
                os.write(self._wake[1], b"x")

    # -- the streams: one read for every bot ----------------------------------------------------

    def _market_loop(self) -> None:
        stopped = False
        try:
            while (serving := self._serving()) is not None:
                try:
                    self._read_streams(serving)
                except Exception as exc:  # a fault of the host's: these bots cannot play on, the relay goes on
                    self._fail(serving, exc)
            stopped = True
        finally:
            if not stopped:  # an exception got out (KeyboardInterrupt, say): the next attach starts another
                with self._lock:
                    self._stopped("_market_running")

    def _serving(self) -> list[Relayed] | None:
        """The bots to read for (None: no bot is attached any more, and the thread has stopped: the next attach
        starts another)."""
        while True:
            with self._lock:
                if not self._attached:
                    self._stopped("_market_running")
                    return None
                serving = [s for s in self._attached if not s.finale.is_set()]
                self._changed.clear()
            if serving:
                return serving
            self._changed.wait(READ_BLOCK_MS / 1000)

    def _read_streams(self, serving: list[Relayed]) -> None:
        after = min((s.after_market for s in serving), key=_position)
        block = BACKLOG_BLOCK_MS if any(s.backlog for s in serving) else READ_BLOCK_MS
        market, batches = self.bus.read_for_bots(after, {s.bot: s.after_bot for s in serving}, block)
        # A bot is served when something came for it, or its pipe is backed up, or at a sweep (its usage, the
        # heartbeat, whether it is gone): a read that brought one bot its messages costs the others nothing.
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_S
        for supervisor in serving:
            mine = market
            if supervisor.after_market != after:  # it started later, or is ahead of a newcomer
                mine = [e for e in market if _position(e[0]) > _position(supervisor.after_market)]
            own = batches.get(supervisor.bot, [])
            if mine or own or sweep or supervisor.backlog:
                self._deliver(supervisor, mine, own)
        self._flush_or_fail(serving)

    def _deliver(self, supervisor: Relayed, market: list[tuple[str, Fields]],
                 batches: list[tuple[str, list[dict[str, Any]]]]) -> None:
        try:
            if supervisor.deliver(market, batches):
                supervisor.ending = True
                supervisor.finale.set()
            elif supervisor.gone:
                supervisor.finale.set()
        except ProtocolError as exc:  # the bot stopped reading its input
            supervisor.cut(f"protocol: {exc}")
        except Exception as exc:  # a fault of the host's (not the bot's): this bot is out, the others go on
            supervisor.host_failed(exc)

    # -- the pipes: one poll for every bot -------------------------------------------------------

    def _pipe_loop(self) -> None:
        poller = select.poll()
        with self._lock:
            assert self._wake is not None
            wake = self._wake[0]
        poller.register(wake, select.POLLIN)
        polled: dict[int, Relayed] = {}
        stopped = False
        try:
            while True:
                with self._lock:
                    if not self._attached:
                        self._stopped("_pipes_running")
                        stopped = True
                        return
                    if self._pipes_changed:  # (rare) a bot attached, left or finished writing
                        self._pipes_changed = False
                        wanted = {s.output().fileno(): s for s in self._attached if not s.drained.is_set()}
                        for fd in polled.keys() - wanted.keys():
                            poller.unregister(fd)
                        for fd in wanted.keys() - polled.keys():
                            poller.register(fd, select.POLLIN)
                        polled = wanted
                try:
                    self._read_pipes(poller, wake, polled)
                except Exception as exc:  # a fault of the host's: these bots cannot play on, the relay goes on
                    self._fail(list(polled.values()), exc)
                    for supervisor in polled.values():
                        self._drained(supervisor)
        finally:
            if not stopped:  # an exception got out (KeyboardInterrupt, say): the next attach starts another
                with self._lock:
                    self._stopped("_pipes_running")

    def _read_pipes(self, poller: select.poll, wake: int, polled: dict[int, Relayed]) -> None:
        ready = poller.poll(POLL_MS)
        # The bots answer a tick one after another: their lines are gathered for a moment (while more keep
        # coming) so that their reports go out in one pipeline, not one each.
        until = time.monotonic() + GATHER_S
        while ready:
            for fd, _events in ready:
                if fd == wake:
                    os.read(wake, 4096)
                elif (supervisor := polled.get(fd)) is not None and not supervisor.drained.is_set():
                    self._read(supervisor)
            if self._pipes_changed or (left := _ms_left(until)) == 0:
                break
            ready = poller.poll(left)
        self._flush_or_fail(list(polled.values()))

    def _read(self, supervisor: Relayed) -> None:
        """What the bot has written so far; at its end (or a host fault reading it), its output is drained."""
        try:
            lines, ended = supervisor.output().ready_lines()
            for size, item in lines:
                supervisor.take(size, item)
        except Exception as exc:  # OSError reading the pipe, say: the host's fault, and this bot's alone
            supervisor.host_failed(exc)
            ended = True
        if ended:
            self._drained(supervisor)

    def _drained(self, supervisor: Relayed) -> None:
        supervisor.drained.set()
        self._pipes_changed = True

    def _stopped(self, flag: str) -> None:
        """(Under the lock) a thread ends (no bot left, or a fault that escaped it): a later attach starts it
        again."""
        setattr(self, flag, False)
        if flag == "_pipes_running" and self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        self._retire()

    def _retire(self) -> None:
        """(Under the lock) nothing is attached and no thread runs: leave this process's relays, so a long-lived bot
        host keeps none per past tournament. A supervisor holding it still may attach again: that starts the
        threads again. (Its Redis client is left to close with it: a flush may still be using it.)"""
        if self._attached or self._market_running or self._pipes_running:
            return
        with _RELAYS_LOCK:
            if self._key is not None and _RELAYS.get(self._key) is self:
                del _RELAYS[self._key]

    # -- faults ---------------------------------------------------------------------------------

    def _flush_or_fail(self, supervisors: list[Relayed]) -> None:
        try:
            self.flush()
        except redis.RedisError as exc:  # nowhere to put the bots' reports, past the client's retries
            self._fail(supervisors, exc)

    @staticmethod
    def _fail(supervisors: list[Relayed], exc: Exception) -> None:
        for supervisor in supervisors:
            supervisor.host_failed(exc)
            supervisor.finale.set()


def _ms_left(until: float) -> int:
    return max(0, round((until - time.monotonic()) * 1000))


def _position(entry_id: str) -> tuple[int, int]:
    """A stream entry id as comparable numbers ("12-3" -> (12, 3))."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


_RELAYS: dict[tuple[str, str], Relay] = {}
_RELAYS_LOCK = threading.Lock()


def relay_for(redis_url: str, tournament: str, connect: Callable[[str], redis.Redis] = redis.Redis.from_url) -> Relay:
    """This process's relay for ``tournament`` on the Redis at ``redis_url``, made on first use (``connect`` makes
    its client). It is forgotten once it carries no bot, so a long-lived bot host keeps none per past tournament."""
    key = (redis_url, tournament)
    with _RELAYS_LOCK:
        relay = _RELAYS.get(key)
        if relay is None:
            relay = _RELAYS[key] = Relay(connect(redis_url), tournament, key)
        return relay
