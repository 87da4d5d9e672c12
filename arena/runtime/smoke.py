"""Smoke test: does an uploaded bot version start in the sandbox, answer hello, and survive a few ticks?

It speaks protocol v1 with the bot over a practice feed (a few synthetic crypto ticks) under the default
ruleset. The verdict is ``ready`` or ``failed``, with a log for its owner (bounded: ``SmokeLog``) and the
sandbox's end classification. A bot that dies before answering (a model file that does not load, an import that
fails) has its error's last line quoted first, then how much memory it had used, then its stderr. The test runs
with the most memory a ruleset may give a bot: a version is tested once, for any tournament.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from pathlib import Path

from arena.catalog import load_catalog
from arena.engine.rules import DEFAULT_RULESET, MAX_MEMORY_MIB
from arena.feeds import open_feed
from arena.runtime.protocol import MarketView, end_message, hello_message, tick_message
from arena.runtime.smoke_log import SmokeLog
from arena.settings import settings
from sandbox import JsonLineChannel, Limits, ProtocolError, Sandbox, SandboxError

PRACTICE_SYMBOLS = ["BTC-USD", "ETH-USD"]
PRACTICE_TICKS = 5
HELLO_TIMEOUT_S = 5.0
TICK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    log: str
    classification: str | None  # how the sandbox run ended


SMOKE_LIMITS = Limits(wall_seconds=30.0, memory_bytes=MAX_MEMORY_MIB << 20)


@functools.cache
def _pooled_sandbox(size: int) -> Sandbox:
    """One sandbox per process for smoke tests, keeping ``size`` sandboxes booted at their gates."""
    sandbox = Sandbox(SMOKE_LIMITS)
    sandbox.keep_ready(size)
    return sandbox


def smoke_test(path: str | Path, limits: Limits | None = None, sandbox: Sandbox | None = None) -> SmokeResult:
    catalog = load_catalog()
    ticks = list(open_feed("synthetic:0", catalog, PRACTICE_SYMBOLS, ticks=PRACTICE_TICKS))
    limits = limits or SMOKE_LIMITS
    log = SmokeLog()  # an entry per bad line the bot writes: bounded as it grows
    try:
        pool = settings().smoke_pool
        if sandbox is None and pool > 0 and limits == SMOKE_LIMITS:
            sandbox = _pooled_sandbox(pool)
        process = (sandbox or Sandbox(limits)).start(path, limits=limits)
    except SandboxError as exc:
        return SmokeResult(False, f"the sandbox refused to start the bot: {exc}", "refused")
    ok = False
    try:
        channel = process.channel
        channel.send(hello_message("smoke", "practice", DEFAULT_RULESET, [catalog[s] for s in PRACTICE_SYMBOLS]))
        view = MarketView(PRACTICE_SYMBOLS)
        ok = _await_done(channel, 0, HELLO_TIMEOUT_S, log, view)
        for n, tick in enumerate(ticks, start=1):
            if not ok:
                break
            for message in [*view.messages(tick.books), tick_message(n, tick.ts)]:
                channel.send(message)
            ok = _await_done(channel, n, TICK_TIMEOUT_S, log, view)
        if ok:
            log.append(f"answered hello and {len(ticks)} practice ticks")
            channel.send(end_message())
            with contextlib.suppress(TimeoutError):
                process.wait(timeout=2.0)  # a bot told the end exits by itself
    except ProtocolError as exc:
        ok = False
        log.append(f"protocol: {exc}")
    finally:
        if not ok and not process.done:
            # A bot that gave up may be exiting by itself: let it, so its end is told as it was (exit code).
            with contextlib.suppress(TimeoutError):
                process.wait(timeout=1.0)
        if not process.done:
            process.kill("smoke test over")
        outcome = process.wait()
    stderr = outcome.stderr.decode("utf-8", "replace").strip()
    error = last_error(stderr)
    if not ok and error:
        log.append(f"the bot's error: {error}")
    if not ok and outcome.peak_memory_bytes:
        log.append(f"peak memory {outcome.peak_memory_bytes / 2**20:.0f} MiB (a tournament's rules set its own limit, "
                   f"{DEFAULT_RULESET.memory_mib} MiB by default)")
    if stderr:
        log.append("stderr:\n" + stderr[-4000:])
    classification = outcome.status.value
    if not ok:
        log.append(f"sandbox: {classification}" + (f" ({outcome.reason})" if outcome.reason else ""))
    return SmokeResult(ok, log.text(), classification)


def last_error(stderr: str) -> str | None:
    """The exception a Python traceback in ``stderr`` ends with (``Type: message``), if it ends with one."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not any(line.startswith("Traceback (most recent call last):") for line in lines):
        return None
    last = lines[-1]
    return last if not last.startswith((" ", "\t")) else None


def _await_done(channel: JsonLineChannel, n: int, timeout_s: float, log: SmokeLog, view: MarketView) -> bool:
    """Read the bot's lines until its ``done`` for tick ``n`` (True), or a timeout (False)."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = channel.receive(timeout=left)
        except ProtocolError as exc:
            what = "hello" if n == 0 else f"tick {n}"
            if exc.code == ProtocolError.CLOSED:
                log.append(f"the bot closed its output before its 'done' for {what} (did it exit?)")
                return False
            if exc.code == ProtocolError.TIMEOUT:
                log.append(f"no 'done' for {what} within {timeout_s:g} s")
                return False
            log.append(f"bad line from the bot: {exc}")
            continue
        kind = message.get("type")
        if kind == "done" and message.get("n", n) == n:
            return True
        if kind in ("subscribe", "unsubscribe") and isinstance(message.get("symbols"), list):
            getattr(view, kind)(message["symbols"], message.get("channels"))
    log.append(f"no 'done' for {'hello' if n == 0 else f'tick {n}'} within {timeout_s:g} s")
    return False
