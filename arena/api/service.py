"""The service's background work: smoke tests of uploaded versions and running started tournaments.

One process runs them on a small thread pool (the single-host default). Both go through the same
functions the Celery tasks call, so a deployment can move them onto workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import redis
from sqlalchemy.orm import Session, sessionmaker

from arena.api.errors import ApiError
from arena.api.recorder import Recorder
from arena.api.webhook_dispatch import Observers, webhook_observer
from arena.catalog import load_catalog
from arena.engine.rules import resolve_ruleset
from arena.feeds import FeedError, ReplayFeed
from arena.runtime.bus import Bus
from arena.runtime.leaderboard import Leaderboard
from arena.runtime.lease import DEFAULT_TTL_S, Lease, LeaseHeld
from arena.runtime.local import run_local
from arena.runtime.smoke import smoke_test
from arena.runtime.spec import EntrySpec, LimitsSpec, TournamentSpec
from arena.store import bots as bot_repo
from arena.store import tournaments as tournament_repo
from arena.store.models import TournamentStatus, VersionStatus

log = logging.getLogger("arena.service")


def run_smoke_test(sessions: sessionmaker[Session], version_id: int) -> None:
    with sessions.begin() as session:
        path = bot_repo.get_version(session, version_id).storage_path
    result = smoke_test(path)
    with sessions.begin() as session:
        version = bot_repo.get_version(session, version_id)
        status = VersionStatus.READY if result.ok else VersionStatus.FAILED
        bot_repo.set_version_verdict(session, version, status, result.log, result.classification)


def tournament_spec(sessions: sessionmaker[Session], tournament_id: int) -> TournamentSpec:
    with sessions.begin() as session:
        t = tournament_repo.get_tournament(session, tournament_id)
        # Disqualified entries run too: the engine stops their orders (a control command) but keeps them ranked.
        entries = [EntrySpec(bot=e.bot_key, path=e.bot_version.storage_path) for e in t.entries]
        return TournamentSpec(
            id=t.slug, rules=t.rules, feed=t.feed, symbols=t.symbols, ticks=t.ticks or 200, interval_s=t.interval_s,
            seed=t.seed, clock=t.clock.value, tick_deadline_s=t.tick_deadline_s, realtime_tick_s=t.tick_deadline_s,
            limits=LimitsSpec(**t.limits) if t.limits else LimitsSpec(), entries=entries,
        )  # fmt: skip


def run_tournament(sessions: sessionmaker[Session], redis_url: str, tournament_id: int,
                   lease: Lease | None = None) -> None:
    """Run a started tournament to its end. The Recorder keeps its record as it runs (orders, fills,
    rejections, sampled equity) and at its end (standings, each entry's end and log); then the tournament
    is marked finished and its board frozen. ``lease`` (held by the caller) is released at the end."""
    try:
        _run_tournament(sessions, redis_url, tournament_id)
    finally:
        if lease is not None:
            lease.release()


def _run_tournament(sessions: sessionmaker[Session], redis_url: str, tournament_id: int) -> None:
    spec = tournament_spec(sessions, tournament_id)
    recorder = Recorder(sessions, tournament_id)
    observer = Observers([recorder, webhook_observer(sessions, tournament_id)])
    try:
        _, reports = run_local(redis_url, spec, load_catalog(), observer=observer)
    except Exception as exc:
        with sessions.begin() as session:  # a host fault: the tournament cannot be finished, say so
            tournament_repo.transition(session, tournament_repo.get_tournament(session, tournament_id),
                                       TournamentStatus.FAILED, reason=f"its run failed: {exc!r}")  # fmt: skip
        raise
    finally:
        observer.close()  # writes what the record and the webhooks still hold, even if the run failed
    recorder.keep_full_logs(reports)  # the supervisors' full logs (the bus carried only the last 20 lines)
    # A record that could not be written whole is said, not hidden: the admin sees it on the tournament.
    gap = (f"the record is incomplete: {len(recorder.failures)} write(s) failed "
           f"(first: {recorder.failures[0]})") if recorder.failures else ""  # fmt: skip
    with sessions.begin() as session:
        t = tournament_repo.get_tournament(session, tournament_id)
        if t.status is TournamentStatus.RUNNING:
            tournament_repo.transition(session, t, TournamentStatus.FINISHED, reason=gap)
        tournament_repo.set_frozen(session, t, True)


class Background:
    """Where the service's background work runs: its own threads, or Celery workers (``tasks="celery"``:
    smoke tests go to the ``bots`` queue, run by ``arena worker``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        redis_url: str,
        workers: int = 4,
        tasks: str = "threads",
        database_url: str | None = None,
        data_dir: Path = Path("data"),
        lease_ttl_s: float = DEFAULT_TTL_S,
    ) -> None:
        self.sessions, self.redis_url, self.tasks, self.database_url = sessions, redis_url, tasks, database_url
        self.lease_ttl_s = lease_ttl_s
        self.data_dir = data_dir
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="arena-background")
        self.client = redis.Redis.from_url(redis_url)
        self.running: dict[str, Future[None]] = {}  # the tournaments this process runs, by slug

    def _submit(self, what: str, fn: Callable[..., None], *args: object) -> Future[None]:
        return _logged(what, self.pool.submit(fn, *args))

    @staticmethod
    def _spawn(what: str, fn: Callable[..., None], *args: object) -> Future[None]:
        """A long run (a tournament) on a daemon thread of its own: runs do not queue behind each other in
        the pool, and one that does not end when told to (close() tells it) cannot hold the process's exit."""
        future: Future[None] = Future()

        def run() -> None:
            future.set_running_or_notify_cancel()
            try:
                fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        threading.Thread(target=run, name=f"arena-{what}", daemon=True).start()
        return _logged(what, future)

    def schedule_smoke_test(self, version_id: int) -> Future[None] | None:
        if self.tasks == "celery":
            from arena.worker import configure
            from arena.worker import smoke_test as smoke_task

            configure(self.redis_url)
            smoke_task.delay(version_id, self.database_url)
            return None
        return self._submit("smoke test", run_smoke_test, self.sessions, version_id)

    def schedule_tournament(self, tournament_id: int, slug: str) -> Future[None] | None:
        """Run it in this process, which takes the tournament's lease first and keeps it (renewed) until the
        run ends: if this process dies, the lease expires and the scheduler of any replica marks the
        tournament failed instead of leaving it running forever. None when another process holds it."""
        try:
            lease = Lease(self.client, slug, ttl_s=self.lease_ttl_s, on_lost=lambda: self.stop_tournament(slug)).hold()
        except LeaseHeld as exc:
            log.warning("not running %s: %s", slug, exc)
            return None
        future = self._spawn("tournament", run_tournament, self.sessions, self.redis_url, tournament_id, lease)
        self.running[slug] = future
        future.add_done_callback(lambda _: self.running.pop(slug, None))
        return future

    def stop_tournament(self, slug: str) -> None:
        Bus(self.client, slug).command("stop")

    def disqualify(self, slug: str, bot_key: str) -> None:
        Bus(self.client, slug).command("disqualify", bot_key)

    def store_feed(self, data: bytes) -> dict:
        """Validate a replay CSV against the catalog and keep it, content-addressed, under the data dir."""
        digest = hashlib.sha256(data).hexdigest()
        folder = self.data_dir / "feeds"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{digest}.csv"
        staging = folder / f".{digest}.{threading.get_ident()}.tmp.csv"
        staging.write_bytes(data)
        try:
            feed = ReplayFeed([staging], load_catalog())
            feed.validate()
            symbols = sorted(feed.symbols)
        except FeedError as exc:
            staging.unlink(missing_ok=True)
            raise ApiError(422, exc.code.value, str(exc).replace(str(staging), "the uploaded file")) from None
        staging.replace(path)
        return {"feed": str(path), "sha256": digest, "symbols": symbols, "bytes": len(data)}

    def cache_ruleset(self, slug: str, rules: dict) -> None:
        """The resolved ruleset, cached in Redis where engines and supervisors of the tournament read it."""
        ruleset = resolve_ruleset(rules)
        self.client.set(f"arena:{{{slug}}}:ruleset", ruleset.model_dump_json())

    def freeze(self, slug: str) -> None:
        Leaderboard(self.client, slug).freeze()

    def close(self, stop_within_s: float = 10.0) -> None:
        """Shut down: the tournaments this process runs cannot go on without it, so they are stopped (they
        finish with the standings so far and release their leases) rather than holding the exit."""
        running = dict(self.running)
        for slug in running:
            with contextlib.suppress(redis.RedisError):
                self.stop_tournament(slug)
        wait(running.values(), timeout=stop_within_s)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


def _logged(what: str, future: Future[None]) -> Future[None]:
    future.add_done_callback(lambda f: f.exception() and log.error("%s failed: %r", what, f.exception()))
    return future


def bundles_root(data_dir: Path) -> Path:
    return data_dir / "bots"
