"""Runs: the service's work itself, whoever runs it (the service's own threads, or a Celery worker).

``run_smoke_test`` gives an uploaded version its verdict; ``run_tournament`` runs a started tournament to its
end with its record and webhooks; ``tournament_spec`` is a stored tournament as the runtime's spec;
``bundles_root`` is where uploaded bots are kept under the data dir.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from arena.catalog import load_catalog
from arena.runtime.lease import Lease
from arena.runtime.local import run_local
from arena.runtime.smoke import smoke_test
from arena.runtime.spec import EntrySpec, LimitsSpec, TournamentSpec
from arena.service.awards import award_tournament
from arena.service.recorder import Recorder
from arena.service.webhook_dispatch import Observers, webhook_observer
from arena.store import bots as bot_repo
from arena.store import tournaments as tournament_repo
from arena.store.models import TournamentStatus, VersionStatus

log = logging.getLogger("arena.runs")


def run_smoke_test(sessions: sessionmaker[Session], version_id: int) -> None:
    """Smoke-test an uploaded version in the sandbox and record its verdict (pending → ready | failed)."""
    with sessions.begin() as session:
        path = bot_repo.get_version(session, version_id).storage_path
    result = smoke_test(path)
    with sessions.begin() as session:
        version = bot_repo.get_version(session, version_id)
        status = VersionStatus.READY if result.ok else VersionStatus.FAILED
        bot_repo.set_version_verdict(session, version, status, result.log, result.classification)


def tournament_spec(sessions: sessionmaker[Session], tournament_id: int) -> TournamentSpec:
    """A stored tournament as the runtime's spec: its rules, feed, clock, limits and entered versions."""
    with sessions.begin() as session:
        t = tournament_repo.get_tournament(session, tournament_id)
        # Disqualified entries run too: the engine stops their orders (a control command) but keeps them ranked.
        entries = [EntrySpec(bot=e.bot_key, path=e.bot_version.storage_path if e.bot_version else "", remote=e.remote)
                   for e in t.entries]
        return TournamentSpec(
            id=t.slug, rules=t.rules, feed=t.feed, symbols=t.symbols, ticks=t.ticks or 200, interval_s=t.interval_s,
            seed=t.seed, clock=t.clock.value, tick_deadline_s=t.tick_deadline_s, realtime_tick_s=t.tick_deadline_s,
            limits=LimitsSpec(**t.limits) if t.limits else LimitsSpec(), entries=entries,
        )  # fmt: skip


def run_tournament(
    sessions: sessionmaker[Session], redis_url: str, tournament_id: int, lease: Lease | None = None
) -> None:
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
    finish_tournament(sessions, tournament_id, recorder, reports)


def finish_tournament(sessions: sessionmaker[Session], tournament_id: int, recorder: Recorder,
                      reports: Mapping[str, Any] | None = None) -> None:  # fmt: skip
    """A run is over and its record closed: mark the tournament finished (saying any gap in its record), freeze its
    board, and give its awards (ratings, XP, badges: once per tournament, however often this runs).
    ``reports``: the supervisors' full reports, where they ran in this process."""
    if reports:
        recorder.keep_full_logs(reports)  # the supervisors' full logs (the bus carried only the last 20 lines)
    # A record that could not be written whole is said, not hidden: the admin sees it on the tournament.
    gap = (f"the record is incomplete: {len(recorder.failures)} write(s) failed "
           f"(first: {recorder.failures[0]})") if recorder.failures else ""  # fmt: skip
    with sessions.begin() as session:
        t = tournament_repo.get_tournament(session, tournament_id)
        if t.status is TournamentStatus.RUNNING:
            tournament_repo.transition(session, t, TournamentStatus.FINISHED, reason=gap)
        tournament_repo.set_frozen(session, t, True)
    try:
        award_tournament(sessions, tournament_id)
    except Exception:  # the finish stands; POST /api/v1/admin/tournaments/{slug}/award gives them later
        log.exception("tournament %s: its awards (ratings, achievements) failed", tournament_id)


def bundles_root(data_dir: Path) -> Path:
    """Where the content-addressed bot bundles are kept under the service's data dir."""
    return data_dir / "bots"
