"""Scheduler: starts open tournaments at their ``starts_at``, stops running ones at their ``ends_at``, and
marks failed a running tournament that nobody runs any more (its lease vacant for ``grace_s``, longer than an
engine worker's takeover takes: its engine died and no engine worker took it over), so none stays ``running``
forever; its bots are told it is over, and an admin can re-run it from its seed."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from arena.runtime.lease import DEFAULT_TTL_S, vacancy
from arena.service.background import Background
from arena.store import tournaments as repo
from arena.store.errors import StoreError
from arena.store.models import Tournament, TournamentStatus

log = logging.getLogger("arena.scheduler")


class Scheduler:
    def __init__(self, sessions: sessionmaker[Session], background: Background, every_s: float = 1.0,
                 grace_s: float = 3 * DEFAULT_TTL_S) -> None:
        self.sessions, self.background, self.every_s, self.grace_s = sessions, background, every_s, grace_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="arena-scheduler", daemon=True)
        self._stopped: set[str] = set()

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.tick(datetime.now(UTC))
            except Exception:  # a bad row must not stop the schedule for everyone else
                log.exception("scheduler pass failed")

    def tick(self, now: datetime) -> None:
        due: list[tuple[int, str]] = []
        with self.sessions.begin() as session:
            for t in session.scalars(select(Tournament).where(Tournament.status == TournamentStatus.OPEN)):
                if t.starts_at is not None and t.starts_at <= now and t.entries:
                    try:
                        repo.transition(session, t, TournamentStatus.RUNNING)
                        due.append((t.id, t.slug))
                    except StoreError as exc:  # someone started it by hand meanwhile
                        log.info("not starting %s: %s", t.slug, exc)
            running = session.scalars(select(Tournament).where(Tournament.status == TournamentStatus.RUNNING))
            for t in running:
                started = (t.started_at or now).timestamp()
                reason = vacancy(self.background.client, t.slug, started, now.timestamp(), self.grace_s)
                if reason is not None:
                    log.warning("tournament %s failed: %s", t.slug, reason)
                    repo.transition(session, t, TournamentStatus.FAILED, reason=reason)
                    self.background.stop_tournament(t.slug)  # whatever of it still runs somewhere stops
                    self.background.abandon(t.slug)
                    continue
                if t.ends_at is not None and t.ends_at <= now and t.slug not in self._stopped:
                    self._stopped.add(t.slug)
                    self.background.stop_tournament(t.slug)
        for tournament_id, slug in due:  # after the commit: the run reads the tournament in its own transaction
            self.background.schedule_tournament(tournament_id, slug)
