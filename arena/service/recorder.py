"""Recorder: the tournament observer that keeps the durable record while a tournament runs.

What it writes (``arena.store.record``):

- every order (its side, type, tif, qty and prices from the accepted order its OrderAccepted carries), fill
  and rejection the engine reports;
- the market: every tick's books, per symbol the top of its book, its last trade and volume (one compact
  ``tick_batches`` row per written batch), with those ticks' orders, so the export has the prices the bots
  traded on;
- equity snapshots, *sampled*: the ticks are cut into windows of ``equity_every`` ticks and each entry gets
  at most one snapshot per window, its state at the window's end (only entries whose NAV moved in it). By
  default ``equity_every`` is ``ceil(ticks / EQUITY_POINTS)``, so a tournament keeps at most ~1,000
  snapshots per entry whatever its length: 10,000 ticks x 100 bots is ~100,000 rows, not 1,000,000. The
  sampled NAV can miss a peak or trough inside a window, but each snapshot's ``drawdown`` is the engine's
  exact max drawdown so far, and the final snapshot is the final standing;
- at the end: the final standings (trades = fills, fees = their sum, counted as the fills are recorded),
  each entry's end (status, sandbox classification, reason, resource use) and its log (``LogStream``s:
  ``system`` = the supervisor's summary of how the run ended, ``stderr`` = the tail of the bot's stderr,
  ``protocol`` = what came over the protocol channel: the count of malformed lines and the bot's own
  ``log`` messages).

The hooks run on the engine's thread and only append to a buffer. Every ``flush_ticks`` ticks (or
``flush_events`` events) the buffer goes on a bounded queue to one writer thread, which turns it into rows
and writes them in one transaction. The queue holds at most ``QUEUE_BATCHES`` batches: a database that falls
that far behind slows the engine down (back-pressure) instead of letting memory grow without bound. A
database that refuses writes for a while (unreachable, locked, restarting) is retried with backoff for up to
``retry_for_s``: meanwhile the queue fills and the tournament pauses rather than losing rows. A batch the
database rejects as invalid (IntegrityError, DataError: a value too long for its column, say) is written again
row by row, each in its own transaction, so one bad row costs only itself. A batch that still cannot be written,
and each row refused on its own, is logged and named in ``failures``, which the service surfaces on the
tournament (``end_reason``); the run itself never fails because of the record. ``close()`` hands over what is
left and waits for the writer: call it when the run is over.
"""

from __future__ import annotations

import functools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from arena.engine.events import AccountUpdate, Event
from arena.engine.tick import Tick
from arena.runtime.tournament import BotState, Observer, Standing
from arena.store import record
from arena.store import tournaments as tournament_repo
from arena.store.models import (
    Entry,
    EntryStatus,
    EquitySnapshot,
    FillRecord,
    LogLine,
    LogStream,
    OrderRecord,
    RejectionRecord,
    StandingRecord,
    TickBatch,
)

log = logging.getLogger("arena.recorder")

EQUITY_POINTS = 1000  # snapshots per entry, at most (plus the final one), when equity_every is derived
FLUSH_TICKS = 50
FLUSH_EVENTS = 50_000
FLUSH_EVERY_S = 1.0  # and at least this often, so cards of slow (realtime) tournaments keep up with the board
QUEUE_BATCHES = 32
RETRY_FOR_S = 300.0  # how long a batch is retried while the database is unavailable
FINISHED_SANDBOX = ("exited", "killed")  # how a bot's sandbox ends when the tournament tells it to stop

_Item = tuple[int, int, list[Event] | Tick]  # (n, ts, events), or (n, ts, the tick's market)


@dataclass
class _End:
    standings: list[Standing]
    bots: dict[str, tuple[str, dict[str, Any]]]  # bot key → (BotState.status, its end report)


@dataclass
class _WriterState:
    window: int = -1
    pending: dict[str, AccountUpdate] = field(default_factory=dict)  # latest update in the current window
    last: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # last written (nav, dd, score)
    last_ts: int = 0


class RecordTaken(RuntimeError):
    """Another engine run keeps the tournament's record now (it took the tournament over)."""


class Recorder(Observer):
    """Keeps tournament ``tournament_id``'s record (see the module's docstring). ``fresh`` first deletes an
    earlier record of the same tournament, so a re-run records afresh; otherwise (a takeover) the record goes on
    from ``recorded_through``, the last tick it holds whole.

    Each written batch holds whole ticks and advances ``tournaments.recorded_tick`` in its transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        tournament_id: int | str,
        *,
        equity_every: int | None = None,
        flush_ticks: int = FLUSH_TICKS,
        flush_events: int = FLUSH_EVENTS,
        flush_every_s: float = FLUSH_EVERY_S,
        fresh: bool = True,
        retry_for_s: float = RETRY_FOR_S,
        holder: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.holder = holder  # the engine run keeping the record (its lease value); None: no other run may
        self.retry_for_s = retry_for_s
        self.retries = 0  # writes that failed for a moment and were tried again
        with sessions.begin() as session:
            t = tournament_repo.get_tournament(session, tournament_id)
            if holder is not None:
                tournament_repo.take_record(session, t, holder)
            self.tournament_id, self.slug = t.id, t.slug
            self.entry_map = tournament_repo.entry_map(session, t)
            ticks = t.ticks or 200
            if fresh:
                _forget(session, t.id)
                t.recorded_tick = 0
            self.recorded_through = t.recorded_tick
        self.equity_every = max(1, equity_every or math.ceil(ticks / EQUITY_POINTS))
        self.flush_ticks, self.flush_events = max(1, flush_ticks), max(1, flush_events)
        self.flush_every_s = flush_every_s
        self._handed_at = time.monotonic()
        self.failures: list[str] = []
        self.ends: dict[str, tuple[str, dict[str, Any]]] = {}  # bot key → (status, end report) recorded
        self._buffer: list[_Item] = []
        self._buffered = 0
        self._flushed_at = 0  # tick of the last hand-over
        self._queue: queue.Queue[list[_Item] | _End | None] = queue.Queue(QUEUE_BATCHES)
        self._state = _WriterState()
        self._closed = False
        self.handing_over = False  # set before close(): another engine goes on with this record
        self.taken = False  # another engine run took the record over: this one writes no more
        self._writer = threading.Thread(target=self._write_all, name=f"recorder-{self.slug}", daemon=True)
        self._writer.start()

    # -- the engine's thread: buffer and hand over ------------------------------------------------------

    def market(self, n: int, tick: Tick) -> None:
        """Buffer tick ``n``'s books (shown before its events)."""
        self._begin(n)
        self._buffer.append((n, tick.ts, tick))
        self._buffered += len(tick.books)

    def events(self, n: int, ts: int, events: list[Event], requests: list[tuple[str, Any]]) -> None:
        """Buffer a tick's events (the requests are not needed: each OrderAccepted carries its order)."""
        self._begin(n)
        self._buffer.append((n, ts, events))
        self._buffered += len(events)

    def _begin(self, n: int) -> None:
        """A batch is handed over when a new tick begins, so each holds whole ticks."""
        if self._buffer and n != self._buffer[-1][0] and (
            n - 1 - self._flushed_at >= self.flush_ticks
            or self._buffered >= self.flush_events
            or time.monotonic() - self._handed_at >= self.flush_every_s
        ):
            self._hand_over(self._buffer[-1][0])

    def replayed(self, n: int, ts: int, updates: list[AccountUpdate]) -> None:
        """A takeover's replay of a tick the record holds: the equity samples it already wrote (``last``) and the
        window still open at ``recorded_through`` (its pending samples were the dead engine's, never written), so
        the record goes on with the samples an uninterrupted run writes. Called before any ``events``, while the
        writer waits for its first batch, so the writer's state is not shared yet."""
        state, every = self._state, self.equity_every
        state.window = (self.recorded_through - 1) // every
        state.last_ts = max(state.last_ts, ts)
        for u in updates:
            if (n - 1) // every == state.window:
                state.pending[u.account] = u
            else:
                state.last[u.account] = (u.nav, u.max_drawdown, u.score)

    def finished(self, standings: list[Standing], bots: dict[str, BotState]) -> None:
        self._hand_over(self._flushed_at)
        ends = {key: (state.status, dict(state.report)) for key, state in bots.items()}
        self._queue.put(_End(list(standings), ends))

    def close(self, timeout: float = 120.0) -> None:
        """Hand over what is left, write it and stop the writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._hand_over(self._flushed_at)
        self._queue.put(None)
        self._writer.join(timeout)
        if self._writer.is_alive():
            self._fail(f"the writer did not finish within {timeout} s")

    def keep_full_logs(self, reports: Mapping[str, Any]) -> int:
        """Replace an entry's log with the one from its full SupervisorReport (``run_local``'s reports) where
        that says more than the end report that came over the bus, which carries only the last 20 of the bot's
        log lines. Call after ``close()``. Returns the entries rewritten."""
        rewritten = 0
        with self.sessions.begin() as session:
            for key, report in reports.items():
                entry_id, seen = self.entry_map.get(key), self.ends.get(key)
                if entry_id is None or seen is None:
                    continue
                status, bus_report = seen
                logs = list(getattr(report, "logs", None) or ())
                if len(logs) <= len(bus_report.get("logs") or ()):
                    continue
                session.execute(delete(LogLine).where(LogLine.entry_id == entry_id))
                record.append_logs(session, entry_id, log_lines(bus_report | {"logs": logs}, status))
                rewritten += 1
        return rewritten

    def _hand_over(self, n: int) -> None:
        if self._buffer:
            batch, self._buffer, self._buffered = self._buffer, [], 0
            self._queue.put(batch)  # blocks when the writer is QUEUE_BATCHES behind: back-pressure
        self._flushed_at = max(n, self._flushed_at)
        self._handed_at = time.monotonic()

    # -- the writer's thread ----------------------------------------------------------------------------

    def _write_all(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.taken:
                continue  # another engine run keeps the record: it records these ticks itself (its replay)
            try:
                # Digested once (equity windows advance), then written in one transaction,
                # which is what is retried.
                if isinstance(item, _End):
                    equity, trades, fees = self._digest_end(item)
                    write = functools.partial(self._write_end_rows, end=item, equity=equity, trades=trades, fees=fees)
                else:
                    recordable, equity, market = self._digest(item)
                    write = functools.partial(self._write_rows, recordable=recordable, equity=equity,
                                              through=item[-1][0], market=market)  # fmt: skip
                try:
                    self._persistently(write)
                except (DataError, IntegrityError) as exc:  # a row the database refuses: keep every other one
                    if isinstance(item, _End):
                        raise
                    self._write_row_by_row(recordable, equity, market, item[-1][0], exc)
            except RecordTaken:
                log.warning("tournament %s: another engine run keeps the record now; this one writes no more",
                            self.slug)
                self.taken = True
            except Exception as exc:  # still failing after the retries, or invalid: log, remember, carry on
                log.exception("recording tournament %s failed", self.slug)
                self._fail(f"{type(exc).__name__}: {exc}")
        # Closed without an end: the run failed (keep the equity sampled so far), or it is handed over to another
        # engine, which goes on with the open window's samples (replayed) and writes them when the window ends.
        if self.handing_over or self.taken:
            return
        try:
            rows = self._take_pending()
            if rows:
                self._persistently(lambda session: record.record_equity(session, self.tournament_id, self.entry_map,
                                                                        rows))  # fmt: skip
        except RecordTaken:
            self.taken = True
        except Exception as exc:
            log.exception("recording tournament %s failed", self.slug)
            self._fail(f"{type(exc).__name__}: {exc}")

    def _persistently(self, write: Callable[[Session], object]) -> None:
        """``write`` in a transaction, tried again with backoff while the database is unavailable (a failed
        try is rolled back whole, so nothing is written twice)."""

        def note(state: RetryCallState) -> None:
            self.retries += 1
            log.warning("recording tournament %s: the database is unavailable (%s); trying again",
                        self.slug, state.outcome.exception() if state.outcome else "?")

        transient = retry_if_exception_type((OperationalError, InterfaceError))
        backoff = wait_exponential(multiplier=0.05, max=5.0)
        for attempt in Retrying(retry=transient, wait=backoff, stop=stop_after_delay(self.retry_for_s),
                                before_sleep=note, reraise=True):
            with attempt, self.sessions.begin() as session:
                if self.holder is not None and not tournament_repo.holds_record(session, self.tournament_id,
                                                                                self.holder):  # fmt: skip
                    raise RecordTaken(self.slug)
                write(session)

    def _fail(self, what: str) -> None:
        self.failures.append(what)

    def _write_row_by_row(self, recordable: list[Event], equity: list[AccountUpdate], market: list[tuple[int, Tick]],
                          through: int, exc: Exception) -> None:  # fmt: skip
        """The batch was refused as invalid (one row too long for its column, say): write each row (each tick's
        market) in its own transaction so that one bad row costs only itself, and name each that still cannot be
        written."""
        log.warning("recording tournament %s: a batch through tick %s was refused (%s); writing it row by row",
                    self.slug, through, type(exc).__name__)
        rows: list[tuple[object, Callable[[Session], Any]]] = [
            (e, functools.partial(record.record_events, tournament=self.tournament_id, entry_map=self.entry_map,
                                  events=[e])) for e in recordable
        ] + [
            (u, functools.partial(record.record_equity, tournament=self.tournament_id, entry_map=self.entry_map,
                                  updates=[u])) for u in equity
        ] + [
            (f"the market of tick {n}", functools.partial(record.record_ticks, tournament=self.tournament_id,
                                                          ticks=[(n, tick)])) for n, tick in market
        ]  # fmt: skip
        for row, write in rows:
            try:
                self._persistently(write)
            except (DataError, IntegrityError) as error:
                self._fail(f"not recorded (tick <= {through}): {row!r:.300} ({type(error).__name__})")
        self._persistently(lambda session: tournament_repo.set_recorded_tick(session, self.tournament_id, through))

    def _write_rows(self, session: Session, recordable: list[Event], equity: list[AccountUpdate],
                    through: int | None = None, market: list[tuple[int, Tick]] | None = None) -> None:  # fmt: skip
        if through is not None:
            tournament_repo.set_recorded_tick(session, self.tournament_id, through)
        if market:
            record.record_ticks(session, self.tournament_id, market)
        if recordable:
            record.record_events(session, self.tournament_id, self.entry_map, recordable)
        if equity:
            record.record_equity(session, self.tournament_id, self.entry_map, equity)

    def _digest(self, batch: list[_Item]) -> tuple[list[Event], list[AccountUpdate], list[tuple[int, Tick]]]:
        """Engine events to record, equity samples due, and the ticks' markets."""
        state = self._state
        recordable: list[Event] = []
        equity: list[AccountUpdate] = []
        market: list[tuple[int, Tick]] = []
        every = self.equity_every
        for n, ts, events in batch:
            if isinstance(events, Tick):
                market.append((n, events))
                continue
            window = (n - 1) // every
            if window != state.window:
                equity.extend(self._take_pending())
                state.window = window
            state.last_ts = max(state.last_ts, ts)
            for event in events:
                if isinstance(event, AccountUpdate):
                    state.pending[event.account] = event
                    continue
                recordable.append(event)
        return recordable, equity, market

    def _take_pending(self) -> list[AccountUpdate]:
        state = self._state
        rows = list(state.pending.values())
        state.pending.clear()
        for u in rows:
            state.last[u.account] = (u.nav, u.max_drawdown, u.score)
        return rows

    def _digest_end(self, end: _End) -> tuple[list[AccountUpdate], dict[str, int], dict[str, float]]:
        state = self._state
        equity = self._take_pending()
        # Every entry ends on its final standing, even one whose NAV never moved (it then has one point).
        for s in end.standings:
            if s.bot in self.entry_map and state.last.get(s.bot) != (s.nav, s.max_drawdown, s.score):
                equity.append(AccountUpdate(state.last_ts, s.bot, s.nav, s.max_drawdown, s.score))
                state.last[s.bot] = (s.nav, s.max_drawdown, s.score)
        # The engine's own counts (replayed on a takeover): the same bits whichever engine ended the run.
        trades = {s.bot: s.trades for s in end.standings}
        fees = {s.bot: s.fees for s in end.standings}
        return equity, trades, fees

    def _write_end_rows(self, session: Session, end: _End, equity: list[AccountUpdate], trades: dict[str, int],
                        fees: dict[str, float]) -> None:
        """The end, in one transaction (the caller's, retried whole): standings, entries' ends and logs."""
        self._write_rows(session, [], equity)
        known = [s for s in end.standings if s.bot in self.entry_map]
        record.record_standings(session, self.tournament_id, self.entry_map, known, trades, fees)
        entries = {
            e.bot_key: e for e in session.scalars(select(Entry).where(Entry.tournament_id == self.tournament_id))
        }
        for key, (status, report) in end.bots.items():
            entry = entries.get(key)
            if entry is None:
                continue
            report = report | {"status": report.get("status") or status}
            tournament_repo.record_entry_end(session, entry, entry_status(status, report), report)
            record.append_logs(session, entry.id, log_lines(report, status))
            self.ends[key] = (status, report)
        for key, entry in entries.items():
            if key not in end.bots and entry.status is EntryStatus.ENTERED:  # left out of the run
                why = "disqualified before the start" if entry.disqualified else "not in the run"
                tournament_repo.record_entry_end(
                    session, entry, EntryStatus.OUT, {"status": "not_run", "reason": why}
                )


# -- pure helpers ---------------------------------------------------------------------------------------


def entry_status(status: str, report: Mapping[str, Any]) -> EntryStatus:
    """The entry's end: finished when it ran to the end (a disqualified bot still runs; its orders stop)."""
    if status == "finished":
        return EntryStatus.FINISHED
    if status == "disqualified" and report.get("status") in FINISHED_SANDBOX:
        return EntryStatus.FINISHED
    return EntryStatus.OUT


def log_lines(report: Mapping[str, Any], status: str) -> list[tuple[LogStream, str]]:
    """An entry's log from its end report: a summary, the protocol channel, then the stderr tail."""
    parts = [f"ended: {status}"]
    if report.get("status") and report.get("status") != status:
        parts.append(f"sandbox: {report['status']}")
    if report.get("exit_code") is not None:
        parts.append(f"exit code {report['exit_code']}")
    if report.get("reason"):
        parts.append(f"reason: {report['reason']}")
    use = []
    if report.get("cpu_seconds") is not None:
        use.append(f"cpu {report['cpu_seconds']:.2f} s")
    if report.get("peak_memory_bytes") is not None:
        use.append(f"peak memory {report['peak_memory_bytes'] / 2**20:.1f} MiB")
    if report.get("wall_seconds"):
        use.append(f"wall {report['wall_seconds']:.1f} s")
    if report.get("orders") is not None:
        use.append(f"{report['orders']} orders sent")
    lines: list[tuple[LogStream, str]] = [(LogStream.SYSTEM, "; ".join(parts))]
    if use:
        lines.append((LogStream.SYSTEM, "resource use: " + ", ".join(use)))
    if report.get("host_fault"):
        lines.append((LogStream.SYSTEM, "the host was at fault, not the bot"))
    errors, limited = int(report.get("protocol_errors") or 0), int(report.get("rate_limited") or 0)
    if errors:
        lines.append((LogStream.PROTOCOL, f"{errors} protocol error(s): lines that were not valid protocol messages"))
    if limited:
        lines.append((LogStream.PROTOCOL, f"{limited} message(s) dropped or refused by the rate limits"))
    lines.extend((LogStream.PROTOCOL, f"log: {line}") for line in report.get("logs") or () if isinstance(line, str))
    stderr = report.get("stderr") or ""
    if isinstance(stderr, str) and stderr:
        lines.extend((LogStream.STDERR, line) for line in stderr.splitlines() if line.strip())
    # A bot's own text: PostgreSQL refuses NUL in text, which would cost the whole end of the record.
    return [(stream, text.replace("\x00", "\ufffd")) for stream, text in lines]


def _forget(session: Session, tournament_id: int) -> None:
    """Delete an earlier run's record of the tournament (its entries stay)."""
    for model in (FillRecord, OrderRecord, RejectionRecord, EquitySnapshot, StandingRecord, TickBatch):
        session.execute(delete(model).where(model.tournament_id == tournament_id))
    entries = select(Entry.id).where(Entry.tournament_id == tournament_id).scalar_subquery()
    session.execute(delete(LogLine).where(LogLine.entry_id.in_(entries)))
