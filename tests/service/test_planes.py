"""The production planes as separate processes: engine workers and bot hosts (``arena worker``) on real Redis,
a real database and real sandboxes. A tournament queued by the service is placed, run and recorded by them;
an engine worker killed with SIGKILL mid-tournament is taken over by the spare one, and the record and the
standings equal those of an uninterrupted run, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from arena.runtime import hosts
from arena.runtime.bus import Bus
from arena.runtime.lease import holder
from arena.runtime.redis_server import RedisServer
from arena.service import tasks
from arena.store import accounts, bots, migrate
from arena.store import tournaments as repo
from arena.store.db import make_engine, make_sessionmaker
from arena.store.models import TournamentStatus
from tests.polling import wait_until
from tests.records import the_record

ROOT = Path(__file__).resolve().parents[2]
ARENA = str(ROOT / ".venv" / "bin" / "arena")
EXAMPLES = ROOT / "examples" / "bots"
SYMBOLS = ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"]
LEASE_TTL_S = 2.0

pytestmark = [pytest.mark.sandbox]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session]]]:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield url, make_sessionmaker(engine)
    engine.dispose()


@contextmanager
def _cluster(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts ``arena worker`` processes (each in its own process group), stopped by PID at the end."""
    env = os.environ | {"ARENA_REDIS_URL": redis_url, "ARENA_DATABASE_URL": database_url,
                        "ARENA_LEASE_TTL_S": str(LEASE_TTL_S), "ARENA_DATA_DIR": str(tmp_path)}  # fmt: skip
    tasks.configure(redis_url)
    started: list[subprocess.Popen] = []

    def start(queues: str, name: str, slots: int = 8) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen([ARENA, "worker", "--queues", queues, "--slots", str(slots), "--name", name],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 30
        while not any(node.startswith(f"{name}@") for reply in tasks.app.control.ping(timeout=0.5) for node in reply):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / f"{name}.log").read_text()
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def cluster(redis_url: str, store, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    with _cluster(redis_url, store[0], tmp_path) as start:
        yield start


def stored_tournament(sessions: sessionmaker[Session], slug: str, ticks: int = 40, seed: int = 5) -> int:
    """A running tournament of the five example bots, as the service would have it after an admin's start."""
    with sessions.begin() as session:
        owner = accounts.contestant_by_name(session, "alice") or accounts.create_contestant(session, "alice")
        t = repo.create_tournament(session, slug, slug, feed=f"synthetic:{seed}", seed=seed, ticks=ticks,
                                   rules={"symbols": SYMBOLS}, tick_deadline_s=5.0)  # fmt: skip
        repo.transition(session, t, TournamentStatus.OPEN)
        for path in sorted(EXAMPLES.glob("*.py")):
            name = path.stem.replace("_", "-")
            bot = bots.bot_by_name(session, owner, name) or bots.create_bot(session, owner, name)
            version = bots.latest_ready_version(session, bot)
            if version is None:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                version = bots.add_version(session, bot, sha256=digest, size_bytes=path.stat().st_size, file_count=1,
                                           storage_path=str(path))  # fmt: skip
                bots.set_version_verdict(session, version, bots.VersionStatus.READY)
            repo.enter(session, t, version, owner)
        repo.transition(session, t, TournamentStatus.RUNNING)
        return t.id


def status_of(sessions: sessionmaker[Session], tournament_id: int) -> TournamentStatus:
    with sessions.begin() as session:
        return repo.get_tournament(session, tournament_id).status


def test_a_killed_engine_worker_is_taken_over_and_the_record_equals_an_uninterrupted_run(
    cluster, store, redis_url: str
) -> None:
    _, sessions = store
    client = redis.Redis.from_url(redis_url)
    cluster("bots", "host-1")
    first = cluster("engine", "engine-a")
    reference = stored_tournament(sessions, "uninterrupted")
    tasks.conduct.delay(reference)
    wait_until("the reference run ends", lambda: status_of(sessions, reference) is TournamentStatus.FINISHED)

    second = cluster("engine", "engine-b")
    engines = {first.pid: first, second.pid: second}
    taken = stored_tournament(sessions, "taken-over")
    tasks.conduct.delay(taken)
    bus = Bus(client, "taken-over")
    wait_until("tick 15", lambda: (p := bus.progress()) and p[0] >= 15)
    owner = holder(client, "taken-over")
    assert owner is not None
    running = engines[int(owner.split(":")[1])]  # the lease names its holder: host:pid:thread#token
    killed_at = time.monotonic()
    os.killpg(running.pid, signal.SIGKILL)
    last = bus.progress()[0]
    wait_until("a tick after the kill", lambda: (p := bus.progress()) and p[0] > last + 1, within_s=60)
    took_s = time.monotonic() - killed_at
    wait_until("the taken-over run ends", lambda: status_of(sessions, taken) is not TournamentStatus.RUNNING)
    wait_until("the lease released", lambda: holder(client, "taken-over") is None, within_s=10)
    new_owner = client.get("arena:{taken-over}:lease:beat")
    assert new_owner and str(running.pid) not in new_owner.decode()

    expected, got = the_record(sessions, reference), the_record(sessions, taken)
    assert got["status"] == "finished", got
    assert got == expected  # standings, statuses and every count of orders, fills and rejections, bit for bit
    assert got["recorded_tick"] == 40
    assert sum(got["fills"].values()) > 0
    assert got["ticks"][1] == 40 and got["ticks"][0] >= 40  # the market of every tick, each once
    print(f"takeover: {took_s:.2f} s from kill -9 to the next tick applied (lease ttl {LEASE_TTL_S} s)")
    client.close()


def test_bots_spread_over_bot_hosts_and_a_lost_host_ends_only_its_bots(cluster, store, redis_url: str) -> None:
    _, sessions = store
    client = redis.Redis.from_url(redis_url)
    host_1, host_2 = cluster("bots", "host-1"), cluster("bots", "host-2")
    cluster("engine", "engine-a")
    wait_until("both hosts announced", lambda: {"host-1", "host-2"} <= {h.name for h in hosts.live_hosts(client)})
    tid = stored_tournament(sessions, "host-lost", ticks=40)
    tasks.conduct.delay(tid)
    bus = Bus(client, "host-lost")
    wait_until("tick 10", lambda: (p := bus.progress()) and p[0] >= 10)
    placement = json.loads(client.get("arena:{host-lost}:placement"))
    assert set(placement.values()) == {"host-1", "host-2"}  # spread over both
    killed = time.time()
    os.killpg(host_2.pid, signal.SIGKILL)
    wait_until("the run ends", lambda: status_of(sessions, tid) is not TournamentStatus.RUNNING)
    with sessions.begin() as session:
        t = repo.get_tournament(session, tid)
        assert t.status is TournamentStatus.FINISHED
        ends = {e.bot_key: (e.status.value, e.end_classification, e.end_reason, e.resource_use) for e in t.entries}
    for bot, host in placement.items():
        status, classification, reason, evidence = ends[bot]
        if host == "host-2":
            assert (status, classification) == ("out", "host_fault") and "host-2" in reason, ends
            assert evidence["host"] == "host-2" and evidence["host_fault"] is True
            assert evidence["last_heartbeat"] <= killed <= evidence["seen_lost_at"]
        else:
            assert status == "finished", ends
    assert host_1.poll() is None
    client.close()


def test_a_worker_stopping_hands_its_tournament_to_the_spare_at_once(cluster, store, redis_url: str) -> None:
    _, sessions = store
    client = redis.Redis.from_url(redis_url)
    cluster("bots", "host-1")
    first = cluster("engine", "engine-a")
    tid = stored_tournament(sessions, "handed-over", ticks=40)
    tasks.conduct.delay(tid)
    bus = Bus(client, "handed-over")
    wait_until("tick 5", lambda: (p := bus.progress()) and p[0] >= 5)
    cluster("engine", "engine-b")
    os.killpg(first.pid, signal.SIGTERM)  # a deploy: the worker stops, its engine halts and releases the lease
    first.wait(timeout=20)
    wait_until("the run ends", lambda: status_of(sessions, tid) is not TournamentStatus.RUNNING, within_s=120)
    assert status_of(sessions, tid) is TournamentStatus.FINISHED
    client.close()


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(data_dir=tmp_path / "redis").start()
    yield server
    server.stop()


def test_a_redis_restart_pauses_the_tournament_and_it_finishes_as_if_uninterrupted(
    persistent_redis: RedisServer, store, tmp_path: Path
) -> None:
    redis_url = persistent_redis.url
    _, sessions = store
    with _cluster(redis_url, store[0], tmp_path) as cluster:
        cluster("bots", "host-1")
        cluster("engine", "engine-a")
        cluster("engine", "engine-b")
        reference = stored_tournament(sessions, "calm")
        tasks.conduct.delay(reference)
        wait_until("the reference run ends", lambda: status_of(sessions, reference) is TournamentStatus.FINISHED)
        restarted = stored_tournament(sessions, "restarted")
        tasks.conduct.delay(restarted)
        client = redis.Redis.from_url(redis_url)
        bus = Bus(client, "restarted")
        wait_until("tick 12", lambda: (p := bus.progress()) and p[0] >= 12)
        client.close()
        port = persistent_redis.port
        persistent_redis.stop()  # SIGTERM: Redis writes its append-only file and exits
        time.sleep(3)  # Redis stays down for a while (the scenario, not a synchronisation)
        persistent_redis.start(port=port)
        wait_until("the run ends", lambda: status_of(sessions, restarted) is not TournamentStatus.RUNNING, 180)
    expected, got = the_record(sessions, reference), the_record(sessions, restarted)
    assert got["status"] == "finished" and got == expected
