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
from celery import Celery

from arena.catalog import load_catalog
from arena.runtime.bus import Bus
from arena.runtime.spec import LimitsSpec, TournamentSpec
from arena.runtime.supervisor import Supervisor, SupervisorReport
from arena.runtime.tournament import Tournament
from arena.service import runs
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
        "arena.smoke_test": {"queue": "bots"},  # it runs a sandbox, like a supervisor
    },
    broker_connection_retry_on_startup=True,
)


def configure(redis_url: str) -> None:
    app.conf.update(broker_url=redis_url, result_backend=redis_url)


def _client() -> redis.Redis:
    return redis.Redis.from_url(app.conf.broker_url)


@app.task(name="arena.run_tournament")
def run_tournament(spec: dict[str, Any]) -> dict[str, Any]:
    parsed = TournamentSpec.model_validate(spec)
    catalog = load_catalog()
    config, entries = parsed.build(catalog)
    standings = Tournament(_client(), config, entries, catalog).run()
    return {"tournament": parsed.id, "standings": [s.as_dict() for s in standings]}


@app.task(name="arena.run_supervisor")
def run_supervisor(tournament: str, bot: str, path: str, limits: dict[str, Any]) -> dict[str, Any]:
    try:
        return Supervisor(_client(), tournament, bot, path, LimitsSpec(**limits).build()).run().as_dict()
    except Exception as exc:
        # A host fault, as in run_local: the bot is out at once, attributed to the host, rather than the engine
        # waiting out its start timeout for a bot that will never come. The task still fails, for the operators.
        report = SupervisorReport(bot, "crashed", reason=f"supervisor: {type(exc).__name__}: {exc}")
        report.host_fault = True
        client = _client()
        try:
            Bus(client, tournament).report(bot, "ended", 0, report.as_dict())
        except redis.RedisError:
            pass  # Redis itself is the fault: the engine's timeouts take over
        finally:
            client.close()
        raise


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
