"""Supervisor: one per bot. Runs the bot in its sandbox and relays between its stdio and the bus.

It is the trust boundary between a bot and the engine: every line the bot writes is validated
here, every order is stamped with the bot's own tournament and account (whatever context the bot
wrote is dropped), the ruleset's order-rate cap is enforced on wall-clock time, and a bot that keeps
sending garbage is cut off. Nothing malformed reaches the engine.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from arena.engine.book import L2Book
from arena.engine.orders import OrderError, parse_order
from arena.runtime.bus import Bus, tick_books
from arena.runtime.protocol import (
    FLOODING,
    FloodGuard,
    MarketView,
    ProtocolViolation,
    encode_line,
    end_message,
    error_message,
    order_request,
    parse_bot_message,
    ping_message,
    tick_message,
)
from arena.runtime.relay import Relay
from arena.runtime.remote import RemoteSandbox
from arena.runtime.spec import LimitsSpec
from arena.runtime.streams import Fields
from sandbox import Limits, ProtocolError, Sandbox, SandboxError, Status
from sandbox.channel import JsonLineChannel

MAX_LOG_LINES = 200
MAX_BACKLOG_BYTES = 4 * 1024 * 1024  # queued for a bot that does not read its input: past this it is cut off
START_TIMEOUT_S = 30.0
STARTS_AT_ONCE = 8  # sandboxes starting at the same time on one host (a burst can outlast the limits' grace)
USAGE_EVERY_S = 1.0  # how often a bot's CPU and memory use is published


@dataclass
class SupervisorReport:
    """How a bot's run ended, for the tournament's record."""

    bot: str
    status: str  # the sandbox's classification, or "refused" when it never started
    exit_code: int | None = None
    reason: str = ""
    host_fault: bool = False  # a crashed runtime is the host's fault, not the bot's
    protocol_errors: int = 0
    rate_limited: int = 0
    orders: int = 0
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    wall_seconds: float = 0.0
    stderr: str = ""
    logs: list[str] = field(default_factory=list)
    sandbox: dict[str, Any] = field(default_factory=dict)  # runtime, release, platform, runner image versions

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "logs"} | {"logs": self.logs[-20:]}


class _RateCap:
    """At most ``max_orders`` per ``per_ms`` milliseconds of the tournament's clock.

    The clock is the tick's simulated time in lockstep (so the cap cannot make a re-run differ)
    and the wall clock in realtime mode.
    """

    def __init__(self, max_orders: int, per_ms: int, clock: Callable[[], float]) -> None:
        self.max_orders, self.window, self.clock = max_orders, per_ms, clock
        self.sent: deque[float] = deque()

    def allow(self) -> bool:
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        if len(self.sent) >= self.max_orders:
            return False
        self.sent.append(now)
        return True


class Supervisor:
    def __init__(
        self,
        client: redis.Redis,
        tournament: str,
        bot: str,
        path: str | Path,
        limits: Limits | None = None,
        sandbox: Sandbox | RemoteSandbox | None = None,  # RemoteSandbox: a remote bot's connection
        heartbeat_s: float = 5.0,
        start_gate: threading.Semaphore | None = None,
        relay: Relay | None = None,
    ) -> None:
        """``relay``: its bot host process's relay, which carries this bot's traffic along with its neighbours'
        (one read of the streams, one thread polling every bot's pipe, batched reports) instead of this
        supervisor's own two threads. A remote bot's connection has no pipes: it keeps the threads."""
        self.bus = Bus(client, tournament)
        self.bot = bot
        self.path = Path(path)
        self.limits = limits or Limits()
        self._sandbox = sandbox
        self.heartbeat_s = heartbeat_s
        # Bounds how many sandboxes start at once on a host: a burst of starts can outlast the
        # sandbox's limit-verification grace and get bots refused for a host's slowness.
        self._start_gate = start_gate or threading.Semaphore(1_000_000)
        self.report = SupervisorReport(bot, "running")
        self._n = 0  # the tick the bot is on
        self._tick_ts = 0  # and its simulated time
        self._lock = threading.Lock()
        self._view: MarketView | None = None
        self._pending_pong: str | None = None
        self._guard = FloodGuard()
        self._usage_at: float | None = None
        self._usage_cpu: float | None = None
        self._numbers = itertools.count(1)  # report numbers (itertools.count is atomic under the GIL)
        self._relay = relay
        self.after_market, self.after_bot = "0-0", "0-0"  # the streams read so far
        self._last_heard = time.monotonic()  # the engine's last tick, for the heartbeat
        self.ending = False  # the end was delivered: the bot is to finish
        self.finale = threading.Event()  # (relay) the end was delivered, the bot is gone or cannot be served
        self.drained = threading.Event()  # (relay) the bot's output is read to its end
        self.backlog = 0  # (relay) bytes queued for the bot that its pipe has not taken yet
        self._cut: str | None = None  # (relay) why the bot is to be killed, by this supervisor's own thread

    # -- the run ----------------------------------------------------------------------

    def run(self) -> SupervisorReport:
        config = self._await_config()
        if self.bus.ended():  # started after the tournament ended (no free slot in time): nothing to run
            self.report.status, self.report.reason = "no_show", "the tournament had already ended"
            return self.report
        rate = config["order_rate"]
        lockstep = config.get("clock", "lockstep") == "lockstep"
        clock = (lambda: self._tick_ts) if lockstep else (lambda: time.monotonic() * 1000.0)
        self._rate = _RateCap(rate["max_orders"], rate["per_ms"], clock)
        self._view = MarketView(config["symbols"])
        try:
            sandbox = self._sandbox or Sandbox(self.limits)
            self.report.sandbox = sandbox.describe()
            with self._start_gate:
                process = sandbox.start(self.path, limits=self.limits)
        except SandboxError as exc:
            self.report.status, self.report.reason = "refused", str(exc)
            self.report.host_fault = True
            if self._relay is not None:
                self._relay.detach(self)  # never attached: a relay left idle is forgotten
            self._report_ended(0)
            return self.report
        self._process = process
        reader = threading.Thread(target=self._read_bot, name=f"bot-{self.bot}-reader", daemon=True)
        attached = False
        try:
            self._send(config["hello"] | {"bot": self.bot})
            if self._relay is None:
                reader.start()
            self._report("ready", 0)
            if self._relay is None:
                self._relay_own()
            else:
                self._relay.attach(self)
                attached = True
                while not self.finale.wait(1.0):
                    if process.done:  # (the relay sets finale then; this only guards against its failing to)
                        break
                if self._cut is not None:
                    process.kill(self._cut)
                elif self.ending:
                    self._end()
        except ProtocolError as exc:  # the bot stopped reading its input
            process.kill(f"protocol: {exc}")
        finally:
            outcome = process.wait()
            if self._relay is None:
                reader.join(timeout=5)
            else:
                if attached:
                    self.drained.wait(timeout=5)
                self._relay.detach(self)  # its reports sent: "ended" comes after them
            self._record(outcome)
            self._report_ended(self._n)
            self.bus.client.close()
        return self.report

    def _report_ended(self, n: int) -> None:
        """The run's end, sent at once (never queued in the relay: it must reach the engine however the run
        ended, and after everything else the bot reported)."""
        self.bus.report(self.bot, "ended", n, self.report.as_dict(), q=next(self._numbers))

    def _report(self, kind: str, n: int, body: dict[str, Any] | None = None) -> None:
        """To the engine, numbered: a report Redis took but whose reply was lost is sent again by the client's
        retry (a Redis restart), and the engine drops the second copy by its number. Through the relay, it goes
        with the others its round collected, in one pipeline."""
        q = next(self._numbers)
        if self._relay is None:
            self.bus.report(self.bot, kind, n, body, q=q)
        else:
            self._relay.queue_report((self.bot, kind, n, body, q))

    def stop(self, reason: str) -> None:
        """End the bot now (its host is stopping); the run then ends as usual, reporting how."""
        process = getattr(self, "_process", None)
        if process is not None:
            self.report.host_fault = True
            process.kill(reason)

    def _await_config(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while (config := self.bus.config()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"tournament {self.bus.tournament} published no configuration")
            time.sleep(0.05)  # polling for the engine's start-up, bounded by the deadline
        return config

    def _relay_own(self) -> None:
        """Deliver engine messages and market ticks to the bot until the end or the bot's death, reading the
        streams for this bot alone."""
        while not self._process.done:
            market, batches = self.bus.read_for_bot(self.bot, self.after_market, self.after_bot, block_ms=200)
            if self.deliver(market, batches):
                self._end()
                return

    def deliver(self, market: list[tuple[str, Fields]], batches: list[tuple[str, list[dict[str, Any]]]]) -> bool:
        """Send the bot what was read for it (market entries after ``after_market``, its messages after
        ``after_bot``), a ping when the engine has been silent, and publish its usage; True once the end is sent.

        The engine writes a bot's messages about earlier ticks before it publishes the next tick, and one
        XREAD over both streams returns everything already written, so delivering each reply's bot
        messages before its market entries keeps the bot's view in the engine's order.
        """
        outgoing: list[bytes] = []
        for entry_id, messages in batches:
            self.after_bot = entry_id
            outgoing.extend(map(encode_line, messages))
        for entry_id, fields in market:
            self.after_market = entry_id
            if b"end" in fields:
                self._send_lines([*outgoing, encode_line(end_message())])
                return True
            books, shared = tick_books(self.bus.market_key, entry_id, fields[b"books"])
            outgoing.extend(self._tick_lines(int(fields[b"n"]), int(fields[b"ts"]), books, shared))
            self._last_heard = time.monotonic()
        self._report_usage()
        if time.monotonic() - self._last_heard > self.heartbeat_s:
            self._last_heard = time.monotonic()
            self._pending_pong = f"hb-{int(self._last_heard)}"
            outgoing.append(encode_line(ping_message(self._pending_pong)))
        self._send_lines(outgoing)
        return False

    def _report_usage(self) -> None:
        """Publish the bot's CPU and memory use (for the admin dashboard) when the sandbox has a new sample."""
        sample = self._process.usage
        if sample is None or (self._usage_at is not None and sample[0] - self._usage_at < USAGE_EVERY_S):
            return
        at, stats = sample
        cpu_percent = None
        if self._usage_at is not None and self._usage_cpu is not None and stats.cpu_seconds is not None:
            cpu_percent = round(100.0 * (stats.cpu_seconds - self._usage_cpu) / (at - self._usage_at), 1)
        self._usage_at, self._usage_cpu = at, stats.cpu_seconds
        usage = {"cpu_percent": cpu_percent, "cpu_seconds": stats.cpu_seconds, "memory_bytes": stats.memory_bytes,
                 "peak_memory_bytes": stats.peak_memory_bytes, "at": time.time()}  # fmt: skip
        if self._relay is None:
            self.bus.report_usage(self.bot, usage)
        else:
            self._relay.queue(lambda pipe: self.bus.report_usage(self.bot, usage, pipe=pipe))

    def _end(self) -> None:
        if self._relay is not None:  # what is still queued for the bot (the end itself, maybe) goes first
            channel = self._process.channel
            assert isinstance(channel, JsonLineChannel)
            with contextlib.suppress(ProtocolError):
                channel.flush_queued(timeout=5)
        self._process.channel.close_input()
        with contextlib.suppress(TimeoutError):
            self._process.wait(timeout=5)
        if not self._process.done:
            self._process.kill("the tournament ended")

    def _tick_lines(self, n: int, ts: int, books: tuple[L2Book, ...], shared: dict[Any, Any]) -> list[bytes]:
        """Tick ``n``'s lines for the bot: its market data, then the tick. ``shared``: the tick's encodings, shared
        with the other supervisors of this process (most bots see the same messages but for their seq)."""
        with self._lock:
            self._n, self._tick_ts = n, ts
            self._guard.next_tick()
            lines = self._view.lines(books, shared) if self._view is not None else []
        tick = shared.get("tick")
        if tick is None:
            tick = shared["tick"] = encode_line(tick_message(n, ts))
        lines.append(tick)
        return lines

    def _send(self, message: dict[str, Any], timeout: float | None = -1.0) -> None:
        if self._relay is None:
            self._process.channel.send(message, timeout=timeout)
            return
        try:
            line = encode_line(message)
        except (TypeError, ValueError) as exc:  # a value the bot wrote, echoed back (an inf order id, say)
            raise ProtocolError(ProtocolError.NOT_SERIALIZABLE, str(exc)) from None
        self._send_lines([line])

    def _reply(self, message: dict[str, Any]) -> None:
        """From the reader thread: a bot that stopped reading (or whose stdin the relay closed at the end) is the relay
        loop's to notice; the reader goes on draining the bot's output."""
        with contextlib.suppress(ProtocolError):
            self._send(message)

    def _send_lines(self, lines: list[bytes]) -> None:
        """Many lines in one write: one system call per tick rather than one per line. Through the relay it
        never waits: what the bot's pipe cannot take waits in the channel (retried with nothing new), up to
        ``MAX_BACKLOG_BYTES``."""
        if not lines and not self.backlog:
            return
        data = b"\n".join(lines) + b"\n" if lines else b""
        if self._relay is None:
            self._process.channel.send_bytes(data)
            return
        channel = self._process.channel
        assert isinstance(channel, JsonLineChannel)  # the relay carries sandboxed bots only
        self.backlog = channel.queue_bytes(data)
        if self.backlog > MAX_BACKLOG_BYTES:
            raise ProtocolError(ProtocolError.TIMEOUT, f"the bot does not read its input ({self.backlog} bytes "
                                "waiting)")  # fmt: skip

    # -- what the relay sees of the bot -----------------------------------------------

    @property
    def gone(self) -> bool:
        return self._process.done

    def cut(self, reason: str) -> None:
        """End the bot. Through the relay, this supervisor's own thread kills it: a kill runs the sandbox's runtime
        (seconds, on a loaded host), and the relay's threads serve every other bot meanwhile."""
        if self._relay is None:
            self._process.kill(reason)
        else:
            self._cut = self._cut or reason
            self.finale.set()

    def output(self) -> Any:
        return self._process.channel

    # -- what the bot writes --------------------------------------------------------

    def _read_bot(self) -> None:
        try:
            self._relay_bot()
        except (redis.RedisError, OSError) as exc:  # nowhere to put the bot's orders
            self.host_failed(exc)

    def _relay_bot(self) -> None:
        for size, item in self._process.channel.raw_lines():
            self.take(size, item)

    def take(self, size: int, item: bytes | ProtocolError | None) -> None:
        """One line (or discarded input) the bot wrote. Each line is weighed (its real size against the tick's line
        and byte budgets) before it is decoded, so a flooding bot costs the host a read and a count, never a
        parse. After a cut-off, input is still drained (and discarded) to the end: a full pipe would stall the
        runtime's exit."""
        message: dict[str, Any] | None = None
        bad: ProtocolError | ProtocolViolation | None = None
        with self._lock:
            verdict = self._guard.discarded(size) if item is None else self._guard.line(size)
        if verdict == FloodGuard.ACCEPT and item is not None:
            message, bad = self._decode(self._process.channel, item)
            if bad is not None:
                with self._lock:
                    verdict = self._guard.refused()
        if verdict == FloodGuard.CUT:
            if not self.report.reason:
                self.report.reason = f"cut off: {self._guard.reason}"
                with contextlib.suppress(ProtocolError):
                    self._send(error_message(FLOODING, self.report.reason), timeout=0.5)
                self.cut(self.report.reason)
        elif item is None:
            pass
        elif verdict == FloodGuard.DROP:
            self.report.rate_limited += 1
        elif bad is not None:
            self.report.protocol_errors += 1
            self._reply(error_message(bad.code, getattr(bad, "message", str(bad))))
        elif message is not None:
            self._handle(message)

    def host_failed(self, exc: Exception) -> None:
        """Redis or the host failed under this bot (OSError: say, out of fds): it cannot play on, and that is the
        host's fault."""
        self.report.host_fault = True
        lost = f"lost Redis: {exc}" if isinstance(exc, redis.RedisError) else f"the host failed: {exc!r}"
        self.report.reason = self.report.reason or lost
        self.cut(self.report.reason)

    @staticmethod
    def _decode(channel: Any, item: bytes | ProtocolError) -> tuple[dict[str, Any] | None,
                                                                     ProtocolError | ProtocolViolation | None]:
        if isinstance(item, ProtocolError):  # an oversize line, already discarded
            return None, item
        try:
            return parse_bot_message(channel.parse(item)), None
        except (ProtocolError, ProtocolViolation) as exc:
            return None, exc

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "order":
            request = order_request(message)  # context and account are dropped here
            try:
                parse_order(request, account=self.bot)  # shape check; the engine re-validates
            except OrderError as exc:
                self._reply(_rejected(message, exc.rejection.code.value, exc.rejection.message))
                return
            if not self._rate.allow():
                self.report.rate_limited += 1
                self._reply(_rejected(message, "RATE_LIMITED", "too many orders: slow down"))
                return
            self.report.orders += 1
            self._report("order", self._n, request)
        elif kind == "cancel":
            body: dict[str, Any] = {k: message[k] for k in ("order_id", "client_order_id") if k in message}
            if not self._rate.allow():  # a cancel costs the engine as much as an order: the same cap
                self.report.rate_limited += 1
                self._reply(_rejected(body, "RATE_LIMITED", "too many orders and cancels: slow down"))
                return
            self._report("cancel", self._n, body)
        elif kind == "done":
            # The bot names the tick it finished; a late done for an earlier tick must not count for this one.
            n = message["n"] if message.get("n") is not None else self._n
            if n == self._n:
                self._report("done", n)
        elif kind in ("subscribe", "unsubscribe"):
            with self._lock:
                assert self._view is not None
                getattr(self._view, kind)(message.get("symbols"), message.get("channels"))
        elif kind == "resync":
            with self._lock:
                assert self._view is not None
                self._view.resync(message["symbol"])
        elif kind == "log":
            if len(self.report.logs) < MAX_LOG_LINES:
                self.report.logs.append(message["message"])
        elif kind == "pong":
            self._pending_pong = None

    def _record(self, outcome: Any) -> None:
        report = self.report
        report.status = outcome.status.value
        report.exit_code = outcome.exit_code
        report.reason = report.reason or outcome.reason
        report.host_fault = report.host_fault or outcome.status is Status.CRASHED  # or the host stopped it
        report.cpu_seconds = outcome.cpu_seconds
        report.peak_memory_bytes = outcome.peak_memory_bytes
        report.wall_seconds = outcome.wall_seconds
        report.stderr = outcome.stderr.decode("utf-8", "replace")[-4000:]


def _rejected(message: dict[str, Any], code: str, text: str) -> dict[str, Any]:
    return {
        "type": "order_update",
        "status": "rejected",
        "client_order_id": message.get("client_order_id"),
        "symbol": message.get("symbol"),
        "order_id": message.get("order_id"),  # a cancel's; an order has none yet
        "code": code,
        "message": text,
    }


def supervise(
    client: redis.Redis,
    tournament: str,
    bot: str,
    path: str | Path,
    limits: Limits | Mapping[str, Any],
    host: str = "",
    sandbox: Sandbox | RemoteSandbox | None = None,  # RemoteSandbox: a remote bot's connection
    gate: threading.Semaphore | None = None,
    running: set[Supervisor] | None = None,
    relay: Relay | None = None,
) -> SupervisorReport:
    """A supervisor run to its end (kept in ``running`` meanwhile), and its report. If the supervisor itself fails
    (invalid ``limits`` included), that is a host fault: the bot is out at once, attributed to the host, rather
    than the engine waiting out its start timeout for a bot that will never come. Raises ``HostFault`` (carrying
    that report)."""
    running = running if running is not None else set()
    supervisor: Supervisor | None = None
    try:
        built = limits if isinstance(limits, Limits) else LimitsSpec(**limits).build()  # as queued: a mapping
        supervisor = Supervisor(client, tournament, bot, path, built, sandbox, start_gate=gate,
                                relay=None if isinstance(sandbox, RemoteSandbox) else relay)
        running.add(supervisor)
        return supervisor.run()
    except Exception as exc:
        report = report_host_fault(client, tournament, bot, f"supervisor on {host or 'its host'}: "
                                                            f"{type(exc).__name__}: {exc}")  # fmt: skip
        raise HostFault(report) from exc
    finally:
        if supervisor is not None:
            running.discard(supervisor)


def report_host_fault(client: redis.Redis, tournament: str, bot: str, reason: str) -> SupervisorReport:
    """Tell the engine ``bot`` is out by its host's fault (its supervisor failed or died): at once, rather than the
    engine waiting out its timeouts for a bot that will never answer. The report, as sent."""
    report = SupervisorReport(bot, "crashed", reason=reason, host_fault=True)
    with contextlib.suppress(redis.RedisError):  # Redis itself may be the fault: the engine's timeouts take over
        Bus(client, tournament).report(bot, "ended", 0, report.as_dict())
    return report


class HostFault(RuntimeError):
    """A supervisor failed (not its bot): the bot is out, ``report`` says why."""

    def __init__(self, report: SupervisorReport) -> None:
        super().__init__(report.reason)
        self.report = report
