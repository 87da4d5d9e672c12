"""Tournament: the engine service of one tournament, the single consumer and writer of its streams.

Each tick it applies the market to the engine, queues the resulting updates to each bot, publishes
the tick, waits (lockstep) for every live bot's ``done`` or the per-tick deadline, processes that
tick's orders in a seeded deterministic order, and writes the changed scores to the leaderboard.
In realtime mode ticks follow the wall clock and orders are processed as they arrive.

Every change to the engine's state goes through a step the tournament journals when its tick is complete
(``arena.runtime.journal``). An engine started on a tournament whose journal is not empty (its predecessor
died) replays it to the same state, bit for bit, without telling the bots anything twice, then goes on.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from arena.engine.engine import Engine
from arena.engine.events import AccountUpdate, Event, OrderAccepted, OrderRejected
from arena.engine.instruments import InstrumentCatalog
from arena.engine.orders import Cancel
from arena.engine.ranking import competition_ranks
from arena.engine.rules import Ruleset
from arena.engine.tick import Tick
from arena.metrics import (
    BOTS,
    HOSTS_LOST,
    LAST_TICK,
    LEADERBOARD_UPDATE,
    ORDER_LATENCY,
    ORDERS,
    SANDBOX_ENDS,
    TICK_DURATION,
)
from arena.runtime.backtest import calendars_for
from arena.runtime.bus import Bus, Report, check_id
from arena.runtime.hosts import HostWatch
from arena.runtime.journal import Journal, TickRecord, decode_request, encode_request
from arena.runtime.leaderboard import Leaderboard, LeaderboardPublisher
from arena.runtime.protocol import hello_message
from arena.runtime.remote import DROPPED, grace_s, live_key
from arena.runtime.updates import SessionWatch, Updates
from sandbox import Limits
from sandbox.limits import MiB


@dataclass(frozen=True)
class Entry:
    bot: str
    path: Path
    remote: bool = False  # its supervisor runs in the bot gateway, not on a bot host


@dataclass
class TournamentConfig:
    id: str
    ruleset: Ruleset
    ticks: list[Tick]
    seed: int = 0
    clock: str = "lockstep"  # or "realtime"
    tick_deadline_s: float = 2.0  # lockstep: how long a tick waits for every bot's done
    realtime_tick_s: float = 0.5  # realtime: wall-clock seconds per tick
    start_timeout_s: float = 60.0
    end_timeout_s: float = 15.0
    snapshot_every: int = 50  # ticks between leaderboard history snapshots
    limits: Limits = field(default_factory=Limits)
    remote_grace_s: float = field(default_factory=grace_s)  # how long a remote bot's dropped connection is waited for

    def __post_init__(self) -> None:
        check_id("tournament", self.id)
        if self.clock not in ("lockstep", "realtime"):
            raise ValueError(f"clock must be lockstep or realtime, got {self.clock!r}")


@dataclass
class BotState:
    bot: str
    status: str = "starting"  # starting, running, finished, or how its sandbox ended
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Standing:
    bot: str
    rank: int
    score: float
    nav: float
    max_drawdown: float
    status: str
    trades: int = 0  # fills
    fees: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Observer:
    """Hooks for what a tournament produces, for the durable record and webhooks. Override what you need;
    they run on the engine's thread, so keep them quick (queue the work)."""

    def market(self, n: int, tick: Tick) -> None:
        """Tick ``n``'s books, as the engine is about to apply them (before that tick's ``events``)."""

    def events(self, n: int, ts: int, events: list[Event], requests: list[tuple[str, Any]]) -> None:
        """Engine events of tick ``n``; ``requests`` are the (bot, order or cancel) that caused them."""

    def messages(self, out: dict[str, list[dict[str, Any]]]) -> None:
        """Messages just queued to bots (order updates, portfolio, risk, status), by bot."""

    def finished(self, standings: list[Standing], bots: dict[str, BotState]) -> None:
        """The tournament is over: final standings and each bot's end report."""

    def replayed(self, n: int, ts: int, updates: list[AccountUpdate]) -> None:
        """On a takeover, the account updates of a replayed tick the observer had already been shown (``n`` <=
        ``observed_through``), in order: what it needs to go on as it would have (e.g. a sampling window)."""


@dataclass(frozen=True)
class TickReport:
    n: int
    ts: int
    total: int
    standings: list[Standing]
    waited_s: float


class Handover(RuntimeError):
    """This engine stopped mid-tournament on purpose (``halt``): another engine takes it over."""


class Tournament:
    def __init__(
        self,
        client: redis.Redis,
        config: TournamentConfig,
        entries: Sequence[Entry],
        catalog: InstrumentCatalog,
        on_tick: Callable[[TickReport], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: Observer | None = None,
        resume: bool = False,
        fence: str | None = None,
        observed_through: int = 0,
        hosts: HostWatch | None = None,
        halt: threading.Event | None = None,
    ) -> None:
        """``resume``: go on from the tournament's journal if it has one (a takeover); otherwise start afresh,
        clearing what an earlier run under the same id left. ``fence``: the lease value the journal's appends
        must match (None: unfenced). ``observed_through``: on a takeover, the last tick the observer's durable
        record already holds; replayed ticks after it are shown to the observer again (what the dead engine's
        observer had not yet written). ``hosts``: where the bots were placed, watched for lost bot hosts.
        ``halt``: set when this engine must stop and leave the tournament to another (its worker is stopping,
        or its lease was lost): the run raises ``Handover`` at the next tick, publishing no end."""
        self.config = config
        self.bus = Bus(client, config.id)
        self.journal = Journal(client, config.id, fence)
        self.observed_through = observed_through
        self._steps: list[list[Any]] = []  # what the engine did in the current tick, for the journal
        self._seen: dict[str, int] = {}  # bot -> the last report number consumed
        self._k = 0  # batches sent to bots in the current tick
        self._replaying = False
        self.resumed_at: int | None = None  # the tick a takeover resumed after
        self.hosts = hosts
        self.halt = halt or threading.Event()
        self.replayed_s = 0.0  # how long a takeover's replay took
        self.leaderboard = Leaderboard(client, config.id)
        self.publisher = LeaderboardPublisher(client, config.id)
        self.on_tick = on_tick
        self.observer = observer or Observer()
        self.clock = clock
        symbols = sorted({book.symbol for tick in config.ticks for book in tick.books})
        self.symbols = symbols
        self.calendars = calendars_for(config.ticks, (catalog[s].venue for s in symbols))
        self.engine = Engine(catalog, self.calendars, rulesets={config.id: config.ruleset})
        self.bots: dict[str, BotState] = {}
        self._remote = {entry.bot for entry in entries if entry.remote}
        self._away: dict[str, float] = {}  # remote bot -> since when its connection is gone (the grace runs)
        self._remote_checked = float("-inf")
        self._dropped: dict[str, dict[str, Any]] = {}  # remote bot -> its supervisor's report of the drop
        self._marked: set[str] = set()  # remote bots whose live mark was seen (a bot run without a gateway has none)
        for entry in entries:
            check_id("bot", entry.bot)
            self.engine.open_account(entry.bot, config.id)
            self.bots[entry.bot] = BotState(entry.bot)
        self._after = "0-0"
        self._rng = random.Random(config.seed)
        self.updates = Updates(self.engine)
        self.sessions = SessionWatch(self.engine, [catalog[s].venue for s in symbols], config.ruleset.extended_hours)
        self._shared: dict[str, str] = {}  # bot statuses as last published
        self._carry: list[tuple[str, Any]] = []  # requests read that belong to the next tick's batch
        self._arrived: dict[int, tuple[Any, float]] = {}  # id(request) -> (request, when it was read)
        if not resume:
            self.bus.clear(self.bots)
        self.bus.publish_config(
            {
                "tournament": config.id,
                "clock": config.clock,
                "ticks": len(config.ticks),
                "symbols": symbols,
                "order_rate": config.ruleset.order_rate.model_dump(),
                # The bots are told the clock and (lockstep) the deadline they answer each tick within: a remote bot
                # plans its round trip by it.
                "hello": hello_message("", config.id, config.ruleset, [catalog[s] for s in symbols], clock=config.clock,
                                       tick_deadline_ms=round(config.tick_deadline_s * 1000)
                                       if config.clock == "lockstep" else None,
                                       memory_mib=config.limits.memory_bytes // MiB),
            }
        )

    # -- the run ----------------------------------------------------------------------

    def run(self) -> list[Standing]:
        try:
            return self._run()
        except BaseException:
            self._count_bots(ended=True)  # handed over, fenced or failed: its bots leave this process's census
            raise

    def _run(self) -> list[Standing]:
        records = self.journal.records()
        if records:  # a takeover: the same state as the engine that died, then on from its last complete tick
            replay_started = time.perf_counter()
            first = self._replay(records)
            self.resumed_at, self.replayed_s = first, time.perf_counter() - replay_started
        else:
            first = 0
            self._await_ready()
            self._journal(0)
        ticks = self.config.ticks
        at = ticks[first - 1].ts if first else ticks[0].ts if ticks else 0
        self._board_everyone(at, first)  # the whole field: before any trade, or as rebuilt on a takeover
        total = done = len(ticks)
        for n, tick in enumerate(ticks[first:], start=first + 1):
            if self.halt.is_set():
                raise Handover(f"engine halted after tick {n - 1}: the tournament is left to another engine")
            if self._obey_commands():
                done = n - 1
                break
            self._watch_remote(n)
            started = self.clock()
            self._watch_hosts(n)
            self._market(n, tick)
            self.bus.publish_tick(n, tick)
            if self.config.clock == "lockstep":
                self._lockstep(n, tick)
            else:
                self._realtime(n, tick, started)
            self._journal(n)
            TICK_DURATION.observe(self.clock() - started)
            LAST_TICK.set_to_current_time()
            self._publish_scores(n, tick.ts)
            self._share_statuses()
            if self.on_tick is not None:
                self.on_tick(TickReport(n, tick.ts, total, self.standings(), self.clock() - started))
        return self._finish(done)

    def _await_ready(self) -> None:
        pending = set(self.bots)
        deadline = self.clock() + self.config.start_timeout_s
        while pending and self.clock() < deadline:
            pending -= self._watch_hosts(0)
            for report in self._reports(block_ms=_ms(deadline - self.clock())):
                # A bot is in once it has answered hello (tick 0) with done: its subscriptions are in place.
                if report.kind == "done" and report.n == 0 and self.bots[report.bot].status == "starting":
                    self.bots[report.bot].status = "running"
                    pending.discard(report.bot)
                elif report.kind in ("order", "cancel") and report.bot in self.bots:
                    self._carry.append((report.bot, _request(report)))
                elif report.kind == "ended":
                    pending.discard(report.bot)
                    self._collect(report, self._carry)
        for bot in sorted(pending):  # never came up: out of the tournament, not the host's problem to wait on
            self._out(bot, "no_show", {"reason": f"not ready within {self.config.start_timeout_s} s"}, 0)

    # -- the journal ------------------------------------------------------------------

    def _journal(self, n: int) -> None:
        """Tick ``n`` is complete: journal what the engine did in it (tick 0: the start-up)."""
        record = TickRecord(n, self._after, self._steps, carry=list(self._carry), seen=dict(self._seen))
        if n == 0:
            record.running = [b for b, s in self.bots.items() if s.status == "running"]
        self.journal.append(record)
        self._steps, self._k = [], 0
        self.bus.trim_reports(self._after)  # consumed and journaled: the orders stream keeps only what is unread

    def _replay(self, records: list[TickRecord]) -> int:
        """Redo every journaled step without telling the bots again; the last complete tick."""
        self._replaying = True
        try:
            for record in records:
                tick = self.config.ticks[record.n - 1] if record.n else None
                if record.n == 0:
                    for bot in record.running:
                        self.bots[bot].status = "running"
                for step in record.steps:
                    self._redo(record.n, tick, step)
                self._carry = list(record.carry)
                self._after = record.after
                self._seen = dict(record.seen)
        finally:
            self._replaying = False
            self._steps = []  # journaled already: the next record holds the next tick's steps only
        self.updates.take_changed()  # the whole board is written once replayed
        return records[-1].n

    def _redo(self, n: int, tick: Tick | None, step: list[Any]) -> None:
        kind = step[0]
        if kind == "dq":
            self.disqualify(step[1])
        elif kind == "out":
            self._out(step[1], step[2], step[3], step[4])
        elif tick is None:
            raise ValueError(f"journal step {kind!r} at tick 0")
        elif kind == "tick":
            self._market(n, tick)
        elif kind == "batch":
            self._batch(n, tick, [(bot, decode_request(r)) for bot, r in step[1]])
        elif kind == "one":
            self._one(n, tick, step[1], decode_request(step[2]))
        else:
            raise ValueError(f"unknown journal step {kind!r}")

    # -- what changes the engine's state (each a journaled step) ---------------------------

    def _market(self, n: int, tick: Tick) -> None:
        self._steps.append(["tick"])
        if n > self.observed_through:  # as with its events (_apply): the record holds the ticks up to there
            self.observer.market(n, tick)
        status = self.sessions.changes(tick.ts, tick.books)
        extra = {b: status for b, state in self.bots.items() if state.status == "running"} if status else {}
        self._apply(n, tick.ts, self.engine.on_tick(tick), [], extra)

    def _batch(self, n: int, tick: Tick, batch: list[tuple[str, Any]]) -> None:
        self._steps.append(["batch", [[bot, encode_request(r)] for bot, r in batch]])
        events = self.engine.submit_batch(batch, tick.ts, self._rng)
        self._apply(n, tick.ts, events, batch)

    def _one(self, n: int, tick: Tick, bot: str, request: Any) -> None:
        self._steps.append(["one", bot, encode_request(request)])
        if isinstance(request, Cancel):
            events = self.engine.cancel(bot, request, tick.ts)
        else:
            events = self.engine.submit(request, tick.ts, account=bot)
        self._apply(n, tick.ts, events, [(bot, request)])

    def _lockstep(self, n: int, tick: Tick) -> None:
        """A tick's batch is, for each bot, what it wrote up to its ``done`` for the tick; what it wrote after
        belongs to the next tick (carried). Read by where it stands in the bot's own reports, not by when it
        was read, the batch is the same whoever reads it: a takeover redoing this tick reads past the ``done``s
        the orders the bots sent in answer to the dead engine's results for it."""
        running = {b for b, s in self.bots.items() if s.status == "running"}
        waiting = running - self._watch_remote(n)  # a remote bot away is late: no orders this tick, no wait
        batch, self._carry = self._carry, []
        deadline = self.clock() + self.config.tick_deadline_s
        while waiting:
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            waiting -= self._watch_hosts(n) | self._watch_remote(n)
            for report in self._reports(block_ms=_ms(min(remaining, 1.0) if self._remote else remaining)):
                answered = report.bot in running and report.bot not in waiting
                self._collect(report, self._carry if answered else batch)
                if (report.kind == "done" and report.n == n) or report.kind == "ended":
                    waiting.discard(report.bot)
        self._batch(n, tick, batch)

    def _realtime(self, n: int, tick: Tick, started: float) -> None:
        """Orders in arrival order, each processed at once, until the tick's wall-clock time is up."""
        end = started + self.config.realtime_tick_s
        while (remaining := end - self.clock()) > 0:
            for report in self._reports(block_ms=_ms(remaining)):
                batch: list[tuple[str, Any]] = []
                self._collect(report, batch)
                for bot, request in batch:
                    self._one(n, tick, bot, request)

    def _apply(
        self,
        n: int,
        ts: int,
        events: list[Event],
        requests: list[tuple[str, Any]],
        extra: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        """Tell the bots what the engine did (and the observer), in one write. A replay tells no bot, and
        the observer only what its record does not hold yet."""
        out = self.updates.route(events)
        for bot, messages in (extra or {}).items():
            out[bot].extend(messages)
        if not self._replaying:
            _count_orders(events)
            self._k += 1
            self.bus.send(out, n, self._k)
            sent = time.perf_counter()
            for _bot, request in requests:  # each order's wait, from its arrival to its first update leaving
                if (arrived := self._arrived.pop(id(request), None)) is not None:
                    ORDER_LATENCY.observe(sent - arrived[1])
        if n <= self.observed_through:  # the record has it: a replayed tick, or one the dead engine recorded but
            # did not journal (it lost its lease mid-tick), redone now
            if n:
                self.observer.replayed(n, ts, [e for e in events if isinstance(e, AccountUpdate)])
            return
        if events:
            self.observer.events(n, ts, events, requests)
        if out:
            self.observer.messages(out)

    def _reports(self, block_ms: int | None) -> list[Report]:
        reports = self.bus.read_reports(self._after, block_ms)
        if reports:
            self._after = reports[-1].id
        fresh = []
        for report in reports:
            if report.kind == "ready" and report.bot in self._remote:
                self._seen.pop(report.bot, None)  # a remote bot's new connection: its new supervisor counts from 1
            if report.q:
                if report.q <= self._seen.get(report.bot, 0):
                    continue  # a second copy (a client's retry across a Redis restart)
                self._seen[report.bot] = report.q
            fresh.append(report)
        return fresh

    def _collect(self, report: Report, batch: list[tuple[str, Any]]) -> None:
        state = self.bots.get(report.bot)
        if state is None:
            return  # not an entrant: ignored
        if report.kind == "ready" and report.bot in self._remote:
            self._away.pop(report.bot, None)  # back within the grace
        elif report.kind == "ended" and report.bot in self._remote and state.status == "running" and (
                report.body.get("sandbox") or {}).get("connection") == DROPPED:  # fmt: skip
            self._away.setdefault(report.bot, self.clock())  # it may come back within the grace
            self._dropped[report.bot] = report.body
        elif report.kind == "ended":
            self._out(report.bot, report.body.get("status", "ended"), report.body, report.n)
        elif state.status != "running":
            return  # a disqualified or ended bot's orders stop here
        elif report.kind in ("order", "cancel"):
            request = _request(report)
            self._arrived[id(request)] = (request, time.perf_counter())  # the request kept: its id stays its own
            batch.append((report.bot, request))

    def _watch_hosts(self, n: int) -> set[str]:
        """End ``host_fault`` the bots whose bot host is gone (checked at most every watch interval): those."""
        if self.hosts is None:
            return set()
        ended = set()
        for host, evidence in self.hosts.newly_lost().items():
            HOSTS_LOST.inc()
            beat = evidence.get("last_heartbeat")
            last = time.strftime("%H:%M:%S UTC", time.gmtime(float(beat))) if isinstance(beat, float) else "never"
            for bot in self.hosts.bots_on(host):
                if bot in self.bots and self.bots[bot].status in ("running", "starting"):
                    reason = f"its bot host {host} was lost (last heartbeat {last})"
                    self._out(bot, "host_fault", {"status": "host_fault", "host_fault": True, "reason": reason,
                                                  **evidence}, n)  # fmt: skip
                    ended.add(bot)
        return ended

    def _watch_remote(self, n: int) -> set[str]:
        """The running remote bots whose connection is gone (its live mark lapsed: a dead API process, or their
        supervisor said it dropped); those gone past the grace are out, ``disconnected``. Checked once a second."""
        if not self._remote or self._replaying:
            return set()
        now = self.clock()
        if now - self._remote_checked >= 1.0:
            self._remote_checked = now
            running = sorted(b for b in self._remote if self.bots[b].status == "running")
            pipe = self.bus.client.pipeline(transaction=False)
            for bot in running:
                pipe.exists(live_key(self.config.id, bot))
            for bot, live in zip(running, pipe.execute(), strict=True):
                if live:
                    self._marked.add(bot)
                elif bot in self._marked:
                    self._away.setdefault(bot, now)
        for bot, since in list(self._away.items()):
            if self.bots[bot].status != "running":
                del self._away[bot]
            elif now - since > self.config.remote_grace_s:
                del self._away[bot]
                dropped = self._dropped.pop(bot, {})
                why = f" ({dropped['reason']})" if dropped.get("reason") else ""
                reason = (f"its connection dropped{why} and it did not come back within "
                          f"{self.config.remote_grace_s:g} s (the grace)")  # fmt: skip
                self._out(bot, "disconnected", {**dropped, "status": "disconnected", "reason": reason}, n)
        return set(self._away)

    def _out(self, bot: str, status: str, report: dict[str, Any], n: int) -> None:
        if not self._replaying:
            SANDBOX_ENDS.labels(classification=str(report.get("status", status))).inc()
        state = self.bots[bot]
        if state.status in ("running", "starting"):
            self._steps.append(["out", bot, status, report, n])
            state.status = "host_fault" if report.get("host_fault") else status
            state.report = report
            self.engine.disable_account(bot, self.config.ticks[max(n - 1, 0)].ts if self.config.ticks else 0)

    def disqualify(self, bot: str) -> None:
        """Stop a bot's orders; it stays on the board, marked."""
        state = self.bots.get(bot)
        if state is not None and state.status != "disqualified":
            self._steps.append(["dq", bot])
            state.status = "disqualified"
            self.engine.disable_account(bot, 0)

    def _obey_commands(self) -> bool:
        """Apply admins' commands; True when told to stop."""
        stop = False
        for command in self.bus.commands():
            action, _, bot = command.partition(":")
            if action == "disqualify":
                self.disqualify(bot)
            elif action == "stop":
                stop = True
        return stop

    # -- messages to bots and the leaderboard -------------------------------------------

    def _board_everyone(self, ts: int, tick: int) -> None:
        """Write every entrant's current score to the board and the change feed, traded or not. A board already
        frozen (a takeover of a run whose engine died after its end was published) keeps its final scores."""
        if self.resumed_at is not None and self.leaderboard.is_frozen():
            return
        scores = {b: self.engine.accounts[b].score for b in self.bots}
        self.leaderboard.update(scores)
        self.publisher.changed(scores, ts, tick)

    def _publish_scores(self, n: int, ts: int) -> None:
        changed = self.updates.take_changed()
        if changed:
            with LEADERBOARD_UPDATE.time():
                self.leaderboard.update(changed)
        self.publisher.changed(changed, ts, n)  # also releases a change held back by the rate cap
        if n % self.config.snapshot_every == 0:
            self.leaderboard.snapshot(ts)

    def _finish(self, done: int) -> list[Standing]:
        """End the run after ``done`` ticks (fewer than planned when stopped)."""
        last_ts = self.config.ticks[done - 1].ts if done else None
        self.bus.publish_end(done, last_ts)
        pending = {b for b, s in self.bots.items() if s.status in ("running", "starting")}
        deadline = self.clock() + self.config.end_timeout_s
        while pending and self.clock() < deadline:
            pending -= self._watch_hosts(done)
            for report in self._reports(block_ms=_ms(deadline - self.clock())):
                if report.kind == "ended" and report.bot in pending:
                    pending.discard(report.bot)
                    state = self.bots[report.bot]
                    state.report = report.body
                    if state.status != "disqualified":
                        state.status = "finished"  # ending when told to is finishing
        for bot in pending:
            if self.bots[bot].status != "disqualified":
                self.bots[bot].status = "finished"
        self._board_everyone(last_ts or 0, done)
        self.publisher.flush()
        self.leaderboard.freeze()
        standings = self.standings()
        for state in self.bots.values():
            if state.status in ("finished", "disqualified") and state.report.get("status"):
                SANDBOX_ENDS.labels(classification=str(state.report["status"])).inc()
        self._share_statuses()
        self._count_bots(ended=True)
        self.bus.retire(self.bots)
        self.observer.finished(standings, self.bots)
        return standings

    def _share_statuses(self) -> None:
        """Publish bots' statuses when they change, so the admin dashboard shows who is running or out."""
        changed = {b: s.status for b, s in self.bots.items() if self._shared.get(b) != s.status}
        if changed:
            self.bus.publish_statuses(changed)
            self._shared.update(changed)
            self._count_bots()

    def _count_bots(self, ended: bool = False) -> None:
        """This process's census of bots by status, over its running tournaments (an ended one leaves it)."""
        counts: dict[str, int] = {}
        for state in self.bots.values():
            counts[state.status] = counts.get(state.status, 0) + 1
        _CENSUS.count(self.config.id, None if ended else counts)

    def standings(self) -> list[Standing]:
        accounts = self.engine.accounts
        return [
            Standing(bot, rank, score, accounts[bot].nav, accounts[bot].max_drawdown, self.bots[bot].status,
                     accounts[bot].fills, accounts[bot].fees_paid)
            for rank, bot, score in competition_ranks({b: accounts[b].score for b in self.bots})
        ]


class _Census:
    """Bots by status over the tournaments this process runs now: each tournament's counts replace its own
    earlier ones, and leave with it, so the gauge neither mixes tournaments up nor keeps stale numbers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_tournament: dict[str, dict[str, int]] = {}
        self._seen: set[str] = set()  # every status ever set: set back to 0 when none are left

    def count(self, tournament: str, counts: dict[str, int] | None) -> None:
        with self._lock:
            if counts is None:
                self._by_tournament.pop(tournament, None)
            else:
                self._by_tournament[tournament] = counts
            totals: dict[str, int] = {}
            for each in self._by_tournament.values():
                for status, n in each.items():
                    totals[status] = totals.get(status, 0) + n
            self._seen |= set(totals)
            for status in self._seen:
                BOTS.labels(status=status).set(totals.get(status, 0))


_CENSUS = _Census()


def _count_orders(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, OrderAccepted):
            ORDERS.labels(result="accepted").inc()
        elif isinstance(event, OrderRejected):
            ORDERS.labels(result=event.rejection.code.value).inc()


def _request(report: Report) -> dict[str, Any] | Cancel:
    """The engine request in an order or cancel report."""
    if report.kind == "cancel":
        return Cancel(report.body.get("order_id"), report.body.get("client_order_id"))
    return report.body


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
