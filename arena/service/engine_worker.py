"""What an engine worker does with a tournament: take its lease, place its bots, run or take over its engine,
keep its record, and finish it.

``conduct`` is the whole of it, run by the Celery task ``arena.conduct`` on the ``engine`` queue
(``arena worker --queues engine``). The same task takes a tournament over when its engine died: the lease is
vacant, the placement and the journal exist, so the bots are not placed again (they are still running on their
hosts) and the engine's state is rebuilt from the journal (``arena.runtime.tournament``). Who notices a vacant
lease and queues the takeover is ``arena.service.watchdog``.

Redis keys: ``arena:running`` (HASH slug -> tournament id: what engine workers run now, for the watchdog) and
``arena:{T}:placement`` (bot -> host, set once when the bots are placed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy.orm import Session, sessionmaker

from arena.catalog import load_catalog
from arena.metrics import LEASE_AGE, RUNNING, TAKEOVER_REPLAY, TAKEOVERS
from arena.runtime.bus import Bus
from arena.runtime.connection import connect
from arena.runtime.hosts import HostWatch, live_hosts, place, queue_for
from arena.runtime.journal import Fenced
from arena.runtime.lease import Lease, LeaseHeld
from arena.runtime.spec import TournamentSpec
from arena.runtime.tournament import Handover, Tournament
from arena.service.recorder import Recorder
from arena.service.runs import finish_tournament, tournament_spec
from arena.service.webhook_dispatch import Observers, webhook_observer
from arena.store import tournaments as tournament_repo
from arena.store.models import TournamentStatus

log = logging.getLogger("arena.engine_worker")

RUNNING_KEY = "arena:running"
HOSTS_WAIT_S = 30.0  # how long a tournament waits for a bot host to come up before it fails

# Queue a bot's supervisor: (host queue, tournament, bot, bundle path, limits).
Dispatch = Callable[[str, str, str, str, dict[str, Any]], None]


class Halts:
    """The halt events of the runs a worker has going: ``halt_all`` (the worker is stopping) sets each, and any
    run started after it is halted from the start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[threading.Event] = set()
        self.stopping = False

    def new(self) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._running.add(event)
            if self.stopping:
                event.set()
        return event

    def done(self, event: threading.Event) -> None:
        with self._lock:
            self._running.discard(event)

    def halt_all(self) -> None:
        with self._lock:
            self.stopping = True
            for event in self._running:
                event.set()


def placement_key(slug: str) -> str:
    return f"arena:{{{slug}}}:placement"


def conduct(sessions: sessionmaker[Session], redis_url: str, tournament_id: int, dispatch: Dispatch, *,
            lease_ttl_s: float, halts: Halts | None = None) -> str:  # fmt: skip
    """Run (or take over) started tournament ``tournament_id`` to its end on this worker. Returns what happened:
    ``finished``, ``failed``, ``handed over`` (this worker is stopping; another takes over), ``held`` (another
    engine runs it) or ``not running`` (finished, cancelled or failed meanwhile: nothing to do). ``halts``: where
    this run's halt is kept while it runs, so the worker stopping can halt it."""
    with sessions.begin() as session:
        t = tournament_repo.get_tournament(session, tournament_id)
        if t.status is not TournamentStatus.RUNNING:
            return "not running"
        slug = t.slug
    client = connect(redis_url)  # rides out a Redis restart: the engine pauses and goes on
    halts = halts or Halts()
    halt = halts.new()  # this run's own: set when its lease is lost or its worker stops
    try:
        lease = Lease(client, slug, ttl_s=lease_ttl_s, on_lost=halt.set).hold()
    except LeaseHeld:
        halts.done(halt)
        client.close()
        return "held"
    outcome = "failed"
    RUNNING.inc()  # an engine worker with none running is idle, not stalled (the tick-stalled alert asks)
    try:
        client.hset(RUNNING_KEY, slug, tournament_id)
        outcome = _run(sessions, client, tournament_id, tournament_spec(sessions, tournament_id), lease, dispatch, halt)
        return outcome
    finally:
        RUNNING.dec()
        with contextlib.suppress(redis.RedisError):  # Redis gone for good: the lease expires by itself
            if outcome != "handed over":  # a handed-over tournament is still running: the watchdog must see it
                client.hdel(RUNNING_KEY, slug)
            lease.release()
        halts.done(halt)
        client.close()


def _run(sessions: sessionmaker[Session], client: redis.Redis, tournament_id: int, spec: TournamentSpec,
         lease: Lease, dispatch: Dispatch, halt: threading.Event) -> str:  # fmt: skip
    placement, placed_now = _placement(client, spec, dispatch)
    if placement is None:
        _fail(sessions, client, tournament_id, spec.id, f"no bot host came up within {HOSTS_WAIT_S:g} s")
        return "failed"
    takeover = not placed_now
    catalog = load_catalog()
    config, entries = spec.build(catalog)
    recorder = Recorder(sessions, tournament_id, fresh=not takeover, holder=lease.value)
    observer = Observers([recorder, webhook_observer(sessions, tournament_id)])
    started = time.monotonic()
    tournament = Tournament(client, config, entries, catalog, observer=observer, resume=True, fence=lease.value,
                            observed_through=recorder.recorded_through, hosts=HostWatch(client, placement),
                            halt=halt, on_tick=lambda _: LEASE_AGE.set(lease.age()))  # fmt: skip
    try:
        tournament.run()
    except (Handover, Fenced) as exc:
        log.warning("tournament %s: %s", spec.id, exc)
        recorder.handing_over = True
        return "handed over"
    except Exception as exc:
        _fail(sessions, client, tournament_id, spec.id, f"its run failed: {exc!r}")
        raise
    finally:
        observer.close()  # writes what the record and the webhooks still hold, even if the run failed
        if takeover and tournament.resumed_at is not None:
            TAKEOVERS.inc()
            TAKEOVER_REPLAY.observe(tournament.replayed_s)
    log.info("tournament %s finished in %.1f s%s", spec.id, time.monotonic() - started,
             f" (taken over after tick {tournament.resumed_at})" if takeover else "")  # fmt: skip
    finish_tournament(sessions, tournament_id, recorder)
    return "finished"


def _placement(client: redis.Redis, spec: TournamentSpec, dispatch: Dispatch) -> tuple[dict[str, str] | None, bool]:
    """The bots' hosts: as placed before (a takeover), or placed now over the live hosts' free slots and their
    supervisors queued to those hosts. (placement, placed now); None when no bot host comes up in time."""
    raw = client.get(placement_key(spec.id))
    if raw:
        return json.loads(raw), False
    sandboxed = [e for e in spec.entries if not e.remote]  # a remote bot's supervisor runs in the bot gateway
    deadline = time.monotonic() + HOSTS_WAIT_S
    while sandboxed and not (hosts := live_hosts(client)):
        if time.monotonic() > deadline:
            return None, False
        time.sleep(0.25)  # polling the registry for a first bot host, bounded by HOSTS_WAIT_S
    placement = place([e.bot for e in sandboxed], hosts) if sandboxed else {}
    if not client.set(placement_key(spec.id), json.dumps(placement), nx=True):
        return json.loads(client.get(placement_key(spec.id)) or "{}"), False
    limits = spec.limits.model_dump()
    for entry in sandboxed:
        dispatch(queue_for(placement[entry.bot]), spec.id, entry.bot, entry.path, limits)
    return placement, True


def _fail(sessions: sessionmaker[Session], client: redis.Redis, tournament_id: int, slug: str, reason: str) -> None:
    """The tournament cannot go on: failed, with why; its bots are told it is over."""
    with sessions.begin() as session:
        t = tournament_repo.get_tournament(session, tournament_id)
        if t.status is TournamentStatus.RUNNING:
            tournament_repo.transition(session, t, TournamentStatus.FAILED, reason=reason)
    end_bots(client, slug)


def end_bots(client: redis.Redis, slug: str) -> None:
    """Publish the end after the last tick published, so every supervisor still running ends its bot."""
    try:
        Bus(client, slug).end_now()
    except redis.RedisError:
        log.warning("tournament %s: could not tell its bots it is over", slug)

