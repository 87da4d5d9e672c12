"""Celery orchestration end to end: real Celery workers (subprocesses), real Redis, real sandboxes (runsc and runc).

A tournament queued with ``start_tournament`` runs its engine and its supervisors as tasks on a worker and must
come out bit for bit as ``run_local`` of the same spec: the data path is the same, only who runs it differs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from arena.runtime.bus import Bus
from arena.runtime.local import run_local
from arena.runtime.spec import TournamentSpec
from arena.runtime.supervisor import HostFault
from arena.service import tasks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "bots"
SYMBOLS = ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"]
RESULT_TIMEOUT_S = 45

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.usefixtures("sandbox_runtime"),  # each test on runsc and on runc
]


def spec(tid: str, bots: list[str], ticks: int = 20, seed: int = 5, **extra) -> dict:
    return TournamentSpec(
        id=tid,
        feed=f"synthetic:{seed}",
        seed=seed,
        ticks=ticks,
        rules={"symbols": SYMBOLS},
        entries=[{"bot": bot, "path": str(EXAMPLES / f"{bot.replace('-', '_')}.py")} for bot in bots],
        **extra,
    ).model_dump(mode="json")


@contextmanager
def celery_worker(redis_url: str, log: Path, queues: str, slots: int, name: str) -> Iterator[subprocess.Popen]:
    """``celery worker -P threads`` as a subprocess, as ``arena worker`` runs it, consuming once this yields.

    Warm shutdown on exit. Waiting for it to answer a ping first puts tasks on a worker already consuming, as in
    production: tasks queued before its start-up would all be in Redis at once, and taken in another order.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "arena.service.tasks", "worker", "-P", "threads", "-Q", queues,
             "-c", str(slots), "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "INFO"],
            cwd=ROOT,
            env=os.environ | {"ARENA_REDIS_URL": redis_url},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90  # a worker answers a ping within seconds; slower under load
            while not any(
                node.startswith(f"{name}@") for reply in tasks.app.control.ping(timeout=0.5) for node in reply
            ):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"worker {name} did not start:\n{log.read_text()[-3000:]}")
            yield process
        finally:
            process.send_signal(signal.SIGTERM)  # warm shutdown: lets running tasks finish
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"worker {name} did not shut down:\n{log.read_text()[-3000:]}")


@pytest.fixture
def broker(redis_url: str) -> str:
    # The test process only queues tasks and reads results; configure() before its app first connects.
    tasks.configure(redis_url)
    return redis_url


def result(async_result, log: Path) -> dict:
    try:
        return async_result.get(timeout=RESULT_TIMEOUT_S)
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\nworker log:\n{log.read_text()[-4000:]}") from exc


def test_long_tasks_are_acknowledged_on_start_and_never_redelivered():
    conf = tasks.app.conf
    # A tournament task runs for the whole tournament and must never run twice: acknowledged when it starts,
    # so a worker lost mid-tournament loses the task rather than a second engine replaying it on the same streams.
    assert conf.task_acks_late is False
    # Even so, a reserved (prefetched) message stays unacknowledged until it starts; Redis hands an unacknowledged
    # message to another worker after the visibility timeout, which must outlast the longest tournament.
    assert conf.broker_transport_options["visibility_timeout"] > tasks.TOURNAMENT_MAX_SECONDS
    # A slot takes one task at a time, and a busy worker holds no queued tasks back from an idle one: with acks on
    # start, a prefetch count of N lets a worker with N running bots reserve N more that then wait for a free slot
    # (and no_show) while another bot host has room; worker_disable_prefetch (Redis, Celery >= 5.6) stops that.
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_disable_prefetch is True
    assert conf.task_routes["arena.run_tournament"]["queue"] == "engine"
    assert conf.task_routes["arena.run_supervisor"]["queue"] == "bots"


def test_a_tournament_queued_on_a_worker_equals_run_local_bit_for_bit(broker, catalog, tmp_path):
    bots = ["buy-and-hold", "sma-crossover", "market-maker"]
    log = tmp_path / "worker.log"
    # One engine slot and one per bot, both queues on one worker.
    with celery_worker(broker, log, "engine,bots", 1 + len(bots), "all"):
        queued = tasks.start_tournament(spec("on-celery", bots))
        out = result(queued, log)
    assert out["tournament"] == "on-celery"
    standings = out["standings"]
    assert sorted(s["bot"] for s in standings) == sorted(bots)
    assert all(s["status"] == "finished" for s in standings), standings
    scores = [s["score"] for s in standings]
    assert scores == sorted(scores, reverse=True)
    for s in standings:  # competition ranking: 1 + the bots with a strictly higher score
        assert s["rank"] == 1 + sum(1 for other in scores if other > s["score"])
    assert any(s["nav"] != 1_000_000 for s in standings)  # the bots traded

    local, _ = run_local(broker, TournamentSpec.model_validate(spec("in-process", bots)), catalog)
    assert standings == [s.as_dict() for s in local]  # floats survive JSON exactly: same nav, score, drawdown


@pytest.mark.parametrize(
    ("topology", "slots"),
    [
        ("split", 2),  # an engine worker with 1 slot, a bot worker with k
        # One worker on both queues with 1 + k slots: the engine must get its slot before the supervisors fill them
        # all (queued first, they held both slots here waiting 30 s for a configuration no engine could publish).
        ("combined", 1),
    ],
)
def test_more_entries_than_bot_slots_no_show_and_the_tournament_still_finishes(broker, tmp_path, topology, slots):
    """A lockstep engine waits for every entrant; bots with no slot must not hold it (or the slots) for long."""
    if "start_timeout_s" not in TournamentSpec.model_fields:
        pytest.skip("TournamentSpec has no start_timeout_s: the engine would wait its default 60 s for the no-shows")
    bots = ["buy-and-hold", "sma-crossover", "market-maker", "mean-reversion"]
    log = tmp_path / "worker.log"
    with ExitStack() as workers:
        if topology == "split":
            workers.enter_context(celery_worker(broker, tmp_path / "engine.log", "engine", 1, "engine"))
            workers.enter_context(celery_worker(broker, log, "bots", slots, "bots"))
        else:
            workers.enter_context(celery_worker(broker, log, "engine,bots", 1 + slots, "all"))
        queued = tasks.start_tournament(spec("short-of-slots", bots, start_timeout_s=3))
        out = result(queued, log)
        # The no-shows' supervisor tasks are still queued (or just starting) here; warm shutdown leaves queued ones
        # in Redis (flushed before the next test) and waits for started ones (their bots replay the ended tournament).
    status = {s["bot"]: s["status"] for s in out["standings"]}
    assert sorted(status.values()) == ["finished"] * slots + ["no_show"] * (len(bots) - slots), status
    # Supervisors are taken in the order they were queued: the first k entries had the slots.
    assert [b for b in bots if status[b] == "finished"] == bots[:slots]
    for s in out["standings"]:
        if s["status"] == "no_show":
            assert s["nav"] == 1_000_000  # on the board, never traded


def test_a_supervisor_task_that_fails_reports_its_bot_out_as_a_host_fault(broker):
    """As run_local does: the engine hears at once that the bot is out, and whose fault it is."""
    with pytest.raises(HostFault, match="memory") as failed:
        tasks.run_supervisor.run("host-fault", "buy-and-hold", str(EXAMPLES / "buy_and_hold.py"), {"memory": "lots"})
    client = tasks._client()
    try:
        [report] = Bus(client, "host-fault").read_reports("0-0", None)
    finally:
        client.close()
    assert (report.bot, report.kind) == ("buy-and-hold", "ended")
    assert report.body["host_fault"] is True and report.body["status"] == "crashed"
    assert "memory" in report.body["reason"]
    assert isinstance(failed.value.__cause__, ValueError)  # the cause, for the operators (the task's failure)


def test_an_uploaded_version_is_smoke_tested_by_a_celery_task(broker, tmp_path):
    from sqlalchemy.orm import Session

    from arena.store import accounts, bots
    from arena.store.db import make_engine
    from arena.store.migrate import upgrade
    from arena.uploads import BundleStore, validate_upload

    url = f"sqlite:///{tmp_path / 'arena.db'}"
    upgrade(url)
    path = BundleStore(tmp_path / "bots").put(validate_upload("bot.py", (EXAMPLES / "sma_crossover.py").read_bytes()))
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        owner = accounts.create_contestant(session, "alice")
        bot = bots.create_bot(session, owner, "sma")
        version = bots.add_version(session, bot, sha256=path.name, size_bytes=1, file_count=1, storage_path=str(path))
        session.flush()
        version_id = version.id
    queued = tasks.smoke_test.delay(version_id, url)
    log = tmp_path / "worker.log"
    with celery_worker(broker, log, "bots", 1, "smoke"):
        verdict = result(queued, log)
    assert verdict == {"version": version_id, "status": "ready", "classification": "exited"}
    with Session(engine) as session:
        assert bots.get_version(session, version_id).status.value == "ready"
    engine.dispose()
