"""Run a whole tournament on this machine: the engine service here, one supervisor thread per bot.

The data still travels through the tournament's Redis Streams, exactly as when the engine and the
supervisors are Celery tasks on different hosts (see ``arena/worker.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis

from arena.engine.instruments import InstrumentCatalog
from arena.runtime.spec import TournamentSpec
from arena.runtime.supervisor import Supervisor, SupervisorReport
from arena.runtime.tournament import Standing, TickReport, Tournament
from sandbox import Sandbox


def run_local(
    redis_url: str,
    spec: TournamentSpec,
    catalog: InstrumentCatalog,
    on_tick: Callable[[TickReport], None] | None = None,
    sandbox: Sandbox | None = None,
) -> tuple[list[Standing], dict[str, SupervisorReport]]:
    config, entries = spec.build(catalog)
    # A connection pool per participant, as when they run on different hosts: a supervisor's blocking
    # reads never wait for another's connection.
    client = redis.Redis.from_url(redis_url)
    tournament = Tournament(client, config, entries, catalog, on_tick=on_tick)
    sandbox = sandbox or Sandbox(config.limits)
    reports: dict[str, SupervisorReport] = {}

    def supervise(bot: str, path: str) -> None:
        supervisor = Supervisor(redis.Redis.from_url(redis_url), spec.id, bot, path, config.limits, sandbox)
        try:
            reports[bot] = supervisor.run()
        except Exception as exc:  # a host fault: the bot is out, attributed to the host
            report = SupervisorReport(bot, "crashed", reason=f"supervisor: {type(exc).__name__}: {exc}")
            report.host_fault = True
            reports[bot] = report
            supervisor.bus.report(bot, "ended", 0, report.as_dict())

    threads = [
        threading.Thread(target=supervise, args=(e.bot, str(e.path)), name=f"supervisor-{e.bot}", daemon=True)
        for e in entries
    ]
    for thread in threads:
        thread.start()
    try:
        standings = tournament.run()
    finally:
        for thread in threads:
            thread.join(timeout=30)
        client.close()
    return standings, reports
