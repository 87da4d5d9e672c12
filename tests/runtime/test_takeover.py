"""Takeover: an engine killed (SIGKILL) mid-tournament is replaced by another that replays the journal.

The bots keep running in their sandboxes throughout; the final standings must equal an uninterrupted run's
with the same seed and bots, bit for bit, and no bot may see any tick or message twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from arena.runtime.bus import Bus
from arena.runtime.journal import Journal
from arena.runtime.local import run_local, start_supervisors
from tests.runtime.test_tournament import examples, spec

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox_runtime")]

# An engine in a process of its own, so the test can kill -9 it: resumes from the journal if there is one.
ENGINE = """
import json, sys, redis
from arena.catalog import load_catalog
from arena.runtime.spec import TournamentSpec
from arena.runtime.tournament import Tournament
url, raw = sys.argv[1], sys.argv[2]
spec = TournamentSpec.model_validate_json(raw)
catalog = load_catalog()
config, entries = spec.build(catalog)
tournament = Tournament(redis.Redis.from_url(url), config, entries, catalog, resume=True)
standings = tournament.run()
print(json.dumps({"resumed_at": tournament.resumed_at, "standings": [s.as_dict() for s in standings]}))
"""


def _engine(redis_url: str, raw: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", ENGINE, redis_url, raw], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip


def _wait_for_tick(bus: Bus, n: int, engine: subprocess.Popen[str], within_s: float = 120.0) -> int:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        progress = bus.progress()
        if progress and progress[0] >= n:
            return progress[0]
        assert engine.poll() is None, "the engine ended before the tick the test kills it at"
        time.sleep(0.01)  # polling the market stream's progress, bounded by the deadline
    raise AssertionError(f"tick {n} not reached within {within_s} s")


@pytest.mark.parametrize("kills", [[3, 9], [17]], ids=["twice", "once"])
def test_an_engine_killed_mid_run_is_taken_over_with_the_same_standings(redis_url, catalog, kills):
    """Each engine in ``kills`` (the tick it is killed at) is replaced by the next, the last finishing the run:
    a second takeover replays a journal the first takeover's engine wrote."""
    name = "-".join(map(str, kills))
    bots = examples()
    reference, _ = run_local(redis_url, spec(f"ref-{name}", bots, ticks=30), catalog)

    taken = spec(f"takeover-{name}", bots, ticks=30)
    config, entries = taken.build(catalog)
    client = redis.Redis.from_url(redis_url)
    bus = Bus(client, taken.id)
    bus.clear(bots)  # as a fresh start would (the engines below resume)
    engines = [_engine(redis_url, taken.model_dump_json())]
    reports: dict = {}
    supervisors = start_supervisors(redis_url, taken.id, entries, config.limits, reports)
    try:
        for kill_at in kills:
            killed_at = _wait_for_tick(bus, kill_at, engines[-1])
            os.kill(engines[-1].pid, signal.SIGKILL)
            engines[-1].wait(timeout=10)
            engines.append(_engine(redis_url, taken.model_dump_json()))
        out, _ = engines[-1].communicate(timeout=180)
    finally:
        for process in engines:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        for thread in supervisors:
            thread.join(timeout=30)
    assert engines[-1].returncode == 0
    result = json.loads(out)
    assert killed_at - 1 <= result["resumed_at"] <= killed_at  # from the last tick the dead engine completed
    assert result["standings"] == [s.as_dict() for s in reference]
    assert all(s["status"] == "finished" for s in result["standings"])
    # Each journal entry holds its own tick's steps only (a replay's steps are not journaled again).
    records = Journal(client, taken.id).records()
    assert [r.n for r in records] == list(range(31))
    assert all([s[0] for s in r.steps].count("tick") == 1 for r in records[1:])
    # Each bot saw every tick once, in order, and the market stream holds each tick once.
    ticks = [int(f[b"n"]) for _, f in client.xrange(bus.market_key) if b"end" not in f]
    assert ticks == list(range(1, 31))
    assert {r.protocol_errors for r in reports.values()} == {0}
    assert {r.status for r in reports.values()} == {"exited"}, reports  # each bot ended when told, once
    client.close()

