"""Background: where the service's background work runs, and the small jobs the routers hand it.

Smoke tests of uploaded versions go to a small thread pool of this process, or to Celery workers
(``tasks="celery"``: the ``bots`` queue, run by ``arena worker``); a started tournament runs on a daemon
thread of its own under its lease. Either way the work itself is ``arena.service.runs``. Besides: commands
to a running tournament (stop, disqualify), freezing its board, caching its resolved ruleset in Redis, and
keeping uploaded replay feeds (a bad one raises its ``FeedError``; the API answers it).
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

from arena.catalog import load_catalog
from arena.engine.rules import resolve_ruleset
from arena.feeds import FeedError, ReplayFeed
from arena.private_files import private_dir
from arena.runtime.bus import Bus
from arena.runtime.leaderboard import Leaderboard
from arena.runtime.lease import DEFAULT_TTL_S, Lease, LeaseHeld
from arena.service.engine_worker import RUNNING_KEY, end_bots
from arena.service.runs import run_smoke_test, run_tournament

log = logging.getLogger("arena.service")

UPLOADED = "the uploaded file"  # how a refused feed's errors name it (not by its staging path)


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
            from arena.service.tasks import configure  # Celery only when asked for
            from arena.service.tasks import smoke_test as smoke_task

            configure(self.redis_url)
            smoke_task.delay(version_id, self.database_url)
            return None
        return self._submit("smoke test", run_smoke_test, self.sessions, version_id)

    def schedule_tournament(self, tournament_id: int, slug: str) -> Future[None] | None:
        """With Celery (``tasks="celery"``, as ``arena serve`` runs): queue it to the engine workers, which place its
        bots on the bot hosts and take it over if its engine dies (``arena.service.engine_worker``).

        Otherwise run it in this process (library use and tests of the HTTP layer), which takes the tournament's
        lease first and keeps it (renewed) until the run ends: if this process dies, the lease expires and the
        scheduler of any replica marks the tournament failed instead of leaving it running forever. None when
        another process holds it, or when it went to Celery."""
        if self.tasks == "celery":
            from arena.service import tasks

            tasks.configure(self.redis_url)
            tasks.conduct.delay(tournament_id)
            return None
        try:
            lease = Lease(self.client, slug, ttl_s=self.lease_ttl_s, on_lost=lambda: self.stop_tournament(slug)).hold()
        except LeaseHeld as exc:
            log.warning("not running %s: %s", slug, exc)
            return None
        future = self._spawn("tournament", run_tournament, self.sessions, self.redis_url, tournament_id, lease)
        self.running[slug] = future
        future.add_done_callback(lambda _: self.running.pop(slug, None))
        return future

    def abandon(self, slug: str) -> None:
        """Nobody runs it any more: its bots are told it is over, and no engine worker will take it over."""
        self.client.hdel(RUNNING_KEY, slug)
        end_bots(self.client, slug)

    def stop_tournament(self, slug: str) -> None:
        Bus(self.client, slug).command("stop")

    def disqualify(self, slug: str, bot_key: str) -> None:
        Bus(self.client, slug).command("disqualify", bot_key)

    def store_feed(self, data: bytes) -> dict:
        """Validate a replay CSV against the catalog and keep it, content-addressed, under the data dir.
        A bad one raises its FeedError, naming it "the uploaded file", and nothing is kept."""
        digest = hashlib.sha256(data).hexdigest()
        folder = private_dir(self.data_dir / "feeds")
        path = folder / f"{digest}.csv"
        staging = folder / f".{digest}.{threading.get_ident()}.tmp.csv"
        staging.write_bytes(data)
        try:
            feed = ReplayFeed([staging], load_catalog())
            feed.validate()
            symbols = sorted(feed.symbols)
        except FeedError as exc:
            staging.unlink(missing_ok=True)
            raise _uploaded(exc, str(staging)) from None
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
    def log_failure(done: Future[None]) -> None:
        error = None if done.cancelled() else done.exception()
        if error is not None:
            log.error("%s failed: %r", what, error)

    future.add_done_callback(log_failure)
    return future


def _uploaded(exc: FeedError, staging: str) -> FeedError:
    """The same error, naming the upload instead of the file it was staged in."""
    path = None if exc.path is None else exc.path.replace(staging, UPLOADED)
    return FeedError(exc.code, exc.message.replace(staging, UPLOADED), path, exc.line)
