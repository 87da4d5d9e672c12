"""Run a whole tournament on this machine: the engine service here, the bots' supervisors beside it.

The data still travels through the tournament's Redis Streams, exactly as when the engine and the
supervisors are Celery tasks on different hosts (see ``arena/worker.py``). Supervisors run as threads,
in this process or spread over ``processes`` child processes (like bot hosts, each with its own
interpreter lock).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from arena.children import die_with_parent
from arena.engine.instruments import InstrumentCatalog
from arena.runtime.bus import Bus
from arena.runtime.journal import Fenced
from arena.runtime.relay import relay_for
from arena.runtime.spec import TournamentSpec
from arena.runtime.supervisor import STARTS_AT_ONCE, HostFault, SupervisorReport, report_host_fault, supervise
from arena.runtime.tournament import Entry, Observer, Standing, TickReport, Tournament
from sandbox import Limits, Sandbox, adopt_bots


def run_local(
    redis_url: str,
    spec: TournamentSpec,
    catalog: InstrumentCatalog,
    on_tick: Callable[[TickReport], None] | None = None,
    processes: int = 0,
    observer: Observer | None = None,
) -> tuple[list[Standing], dict[str, SupervisorReport]]:
    """Run ``spec`` to its end; ``processes`` 0 keeps the supervisors in this process."""
    config, entries = spec.build(catalog)
    # A connection pool per participant, as when they run on different hosts: a supervisor's blocking
    # reads never wait for another's connection.
    client = redis.Redis.from_url(redis_url)
    tournament = Tournament(client, config, entries, catalog, on_tick=on_tick, observer=observer)
    reports: dict[str, SupervisorReport] = {}
    sandboxed = [e for e in entries if not e.remote]  # a remote bot's supervisor runs in the bot gateway
    if processes:
        # Forked before any thread starts here; each child starts its own sandbox and connections.
        context = multiprocessing.get_context("fork")
        children = [
            context.Process(target=_supervise_all,
                            args=(redis_url, spec.id, sandboxed[i::processes], config.limits, os.getpid()))
            for i in range(processes)
        ]
        for child in children:
            child.start()
        waiters = [
            threading.Thread(target=_watch_child, args=(redis_url, spec.id, child, sandboxed[i::processes]),
                             name=f"watch-{child.name}", daemon=True)
            for i, child in enumerate(children)
        ]
        for waiter in waiters:
            waiter.start()
    else:
        waiters = start_supervisors(redis_url, spec.id, sandboxed, config.limits, reports)
        children = []
    wait_s = 30.0  # for every supervisor together, once the tournament is over
    try:
        standings = tournament.run()
    except Fenced:
        wait_s = 0.0  # another engine took the tournament over: the end is its to publish, not ours
        raise
    except BaseException:
        # The engine stopped early (a fault, or Ctrl-C): say the tournament is over, so every supervisor
        # ends its bot now instead of waiting for ticks that will never come.
        wait_s = 5.0
        with contextlib.suppress(redis.RedisError):
            tournament.bus.end_now()
        raise
    finally:
        deadline = time.monotonic() + wait_s
        for waiter in waiters:
            waiter.join(timeout=max(0.0, deadline - time.monotonic()))
        for child in children:
            child.join(timeout=max(0.0, deadline - time.monotonic()))
        client.close()
    for bot, state in tournament.bots.items():
        if bot not in reports and state.report:  # supervised in a child: its report came over the bus
            reports[bot] = _from_bus(bot, state.status, state.report)
    return standings, reports


def _from_bus(bot: str, status: str, report: dict[str, Any]) -> SupervisorReport:
    """A report as the engine holds it, which is not always a supervisor's (the engine's own no_show has a reason
    only): the engine's status stands in for a missing one."""
    fields = {k: v for k, v in report.items() if k in SupervisorReport.__dataclass_fields__ and k != "bot"}
    fields.setdefault("status", status)
    return SupervisorReport(bot, **fields)


def start_supervisors(
    redis_url: str, tournament: str, entries: Sequence[Entry], limits: Limits, reports: dict[str, SupervisorReport]
) -> list[threading.Thread]:
    try:
        sandbox: Sandbox | None = Sandbox(limits)
    except Exception:  # each supervisor then tries its own, and reports the failure as its bot's host fault
        sandbox = None
    gate = threading.Semaphore(STARTS_AT_ONCE)

    relay = relay_for(redis_url, tournament)

    def run(bot: str, path: str) -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            reports[bot] = supervise(client, tournament, bot, path, limits, sandbox=sandbox, gate=gate, relay=relay)
        except HostFault as fault:
            reports[bot] = fault.report
        finally:
            client.close()

    threads = [
        threading.Thread(target=run, args=(e.bot, str(e.path)), name=f"supervisor-{e.bot}", daemon=True)
        for e in entries
    ]
    for thread in threads:
        thread.start()
    return threads


def _supervise_all(redis_url: str, tournament: str, entries: Sequence[Entry], limits: Limits, parent: int) -> None:
    """A child process's share of the supervisors, run to their end (or the engine's process's: then at once, and
    the sandbox's watchdog removes the bots)."""
    die_with_parent(parent)
    adopt_bots()  # this process only supervises: its bots get its pipes directly (sandbox/adoption.py)
    for thread in start_supervisors(redis_url, tournament, entries, limits, {}):
        thread.join()


def _watch_child(redis_url: str, tournament: str, child: multiprocessing.process.BaseProcess,
                 entries: Sequence[Entry]) -> None:
    """A supervisor process that dies (killed, out of memory) takes its bots' supervisors with it: each of its bots
    is then out by the host's fault, at once, instead of the engine waiting out tick deadlines for ever."""
    child.join()
    if not child.exitcode:
        return
    client = redis.Redis.from_url(redis_url)
    try:
        if Bus(client, tournament).ended():  # its bots are finishing anyway; the bus may already be retired
            return
        reason = f"its supervisor process {child.pid} died (exit code {child.exitcode})"
        for entry in entries:
            report_host_fault(client, tournament, entry.bot, reason)
    finally:
        client.close()
