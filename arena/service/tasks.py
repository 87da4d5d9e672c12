"""Celery app and tasks: one task per tournament runs its engine, one per entered bot its supervisor, and one
per uploaded version its smoke test (``arena.service.runs.run_smoke_test``, as the service's own threads do).

Queues: ``engine`` for tournament tasks, ``bots`` for supervisors and smoke tests. A bot host runs
``arena worker --queues bots --slots N`` (Celery's ``-A arena.service.tasks``): N bounds how many sandboxed
bots it runs at once.

Long tasks and the Redis broker: a task not acknowledged within the broker's visibility timeout is
handed to another worker. A tournament task runs for the whole tournament and must never run twice,
so tasks are acknowledged when they start (``task_acks_late`` off) and the visibility timeout is set
well past the longest tournament; a worker lost mid-tournament marks its bots out rather than
re-running them.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery, signals
from sqlalchemy.orm import Session, sessionmaker

from arena.catalog import load_catalog
from arena.runtime.spec import TournamentSpec
from arena.runtime.tournament import Tournament
from arena.service import bot_host, engine_worker, runs
from arena.settings import settings
from arena.store import bots
from arena.store.db import make_engine, make_sessionmaker

TOURNAMENT_MAX_SECONDS = 7 * 24 * 3600

app = Celery("arena")
app.conf.update(
    broker_url=settings().redis,
    result_backend=settings().redis,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=False,
    worker_prefetch_multiplier=1,  # a slot takes one bot at a time
    # Tasks are acknowledged on start, so a prefetch count of N would let a worker with N running tasks reserve
    # N more, held back (unacknowledged, for the visibility timeout if the worker dies) while another worker has
    # free slots: take a task only into a free slot (Redis brokers, Celery >= 5.6; older versions ignore it).
    worker_disable_prefetch=True,
    broker_transport_options={"visibility_timeout": TOURNAMENT_MAX_SECONDS + 3600},
    result_expires=TOURNAMENT_MAX_SECONDS,
    task_routes={
        "arena.run_tournament": {"queue": "engine"},
        "arena.run_supervisor": {"queue": "bots"},
        "arena.conduct": {"queue": "engine"},
        "arena.smoke_test": {"queue": "bots"},  # it runs a sandbox, like a supervisor
    },
    broker_connection_retry_on_startup=True,
)


def configure(redis_url: str) -> None:
    """Point the app at ``redis_url``; connections made for an earlier URL are dropped, not reused."""
    if app.conf.broker_url == redis_url and app.conf.result_backend == redis_url:
        return
    app.conf.update(broker_url=redis_url, result_backend=redis_url)
    # Celery caches the broker pool (from kombu's registry of pools by URL, which stays as it is: another switch
    # back finds its pool open) and the result backend on first use.
    # These are Celery's private attributes, which celery-types (rightly) does not declare.
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    app._backend_cache = None  # type: ignore[attr-defined]
    if app._local is not None:  # type: ignore[attr-defined]
        app._local.__dict__.pop("backend", None)  # type: ignore[attr-defined]


def _client() -> redis.Redis:
    return redis.Redis.from_url(app.conf.broker_url)


@app.task(name="arena.run_tournament")
def run_tournament(spec: dict[str, Any]) -> dict[str, Any]:
    """A tournament given by its spec (no database: ``arena demo``, library use): its standings, and each bot's
    end report as its supervisor sent it over the bus."""
    parsed = TournamentSpec.model_validate(spec)
    catalog = load_catalog()
    config, entries = parsed.build(catalog)
    halt = HALTS.new()
    try:
        tournament = Tournament(_client(), config, entries, catalog, halt=halt)
        standings = tournament.run()
    finally:
        HALTS.done(halt)
    return {"tournament": parsed.id, "standings": [s.as_dict() for s in standings],
            "reports": {bot: state.report for bot, state in tournament.bots.items()}}  # fmt: skip


@app.task(name="arena.run_supervisor")
def run_supervisor(tournament: str, bot: str, path: str, limits: dict[str, Any]) -> dict[str, Any]:
    """One bot's supervisor, in a slot of this bot host (queued to ``bots`` or to this host's own queue)."""
    host = HOST or bot_host.BotHost(app.conf.broker_url, bot_host.default_name(), slots=0)  # not announced
    return host.supervise(tournament, bot, path, limits)


@app.task(name="arena.conduct")
def conduct(tournament_id: int) -> str:
    """Run, or take over, a started tournament of the service's database (``arena.service.engine_worker``)."""
    def dispatch(queue: str, slug: str, bot: str, path: str, limits: dict[str, Any]) -> None:
        run_supervisor.apply_async((slug, bot, path, limits), queue=queue)

    return engine_worker.conduct(_sessions(), app.conf.broker_url, tournament_id, dispatch,
                                 lease_ttl_s=settings().lease_ttl_s, halts=HALTS)  # fmt: skip


# -- the worker process: what it runs beside its tasks -------------------------------------------------------

HOST: bot_host.BotHost | None = None  # this process, when it is a bot host
HALTS = engine_worker.Halts()  # the engines running here: halted when this worker stops, handing their tournaments over
_SESSIONS: list[sessionmaker[Session]] = []
_WATCHDOG: list[Any] = []
_PLANES: set[str] = set()


def _sessions() -> sessionmaker[Session]:
    if not _SESSIONS:
        _SESSIONS.append(make_sessionmaker(make_engine(settings().database)))
    return _SESSIONS[0]


def serve_as(queues: list[str], host_name: str, slots: int) -> list[str]:
    """Set this process up for its planes before the worker starts; the queues it consumes. A bot host also
    consumes its own queue (the bots placed on it) and announces itself; an engine worker watches for
    tournaments whose engine died."""
    global HOST
    _PLANES.update(queues)
    consumed = list(queues)
    if "bots" in queues:
        HOST = bot_host.BotHost(app.conf.broker_url, host_name, slots)
        consumed.append(HOST.queue)
    return consumed


@signals.worker_ready.connect
def _on_ready(**_: Any) -> None:
    if HOST is not None:
        HOST.start()
    if "engine" in _PLANES:
        from arena.service.watchdog import Watchdog

        owner = bot_host.default_name()
        _WATCHDOG.append(Watchdog(app.conf.broker_url, owner, settings().lease_ttl_s, conduct.delay).start())


@signals.worker_shutting_down.connect
def _on_shutdown(**_: Any) -> None:
    HALTS.halt_all()  # running engines stop at their next tick and release their leases: a spare takes over at once
    for watchdog in _WATCHDOG:
        watchdog.stop()
    if HOST is not None:
        HOST.stop()


def start_tournament(spec: dict[str, Any]) -> Any:
    """Queue a tournament: its engine first, then its supervisors (they wait for the engine's configuration).

    Engine first: on a worker that takes both queues, supervisors queued first could fill every free slot and
    wait for a configuration that no engine can publish until their own start-up timeout gives up.
    """
    parsed = TournamentSpec.model_validate(spec)
    engine = run_tournament.delay(parsed.model_dump(mode="json"))
    for entry in parsed.entries:
        run_supervisor.delay(parsed.id, entry.bot, entry.path, parsed.limits.model_dump())
    return engine


@app.task(name="arena.smoke_test")
def smoke_test(version_id: int, database_url: str) -> dict[str, Any]:
    """Smoke-test an uploaded bot version in the sandbox and record the verdict (pending → ready | failed)."""
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        runs.run_smoke_test(sessions, version_id)
        with sessions.begin() as session:
            version = bots.get_version(session, version_id)
            return {"version": version_id, "status": version.status.value, "classification": version.end_classification}
    finally:
        engine.dispose()
