"""Hundreds of sandboxed bots in one tournament (runc): a host running out of file descriptors, or a supervisor
process dying, takes out only its own bots, each as a host fault, and the tournament finishes."""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from arena.runtime.local import run_local
from arena.runtime.spec import EntrySpec, TournamentSpec
from tests.sandbox.conftest import skip_reason

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]

# Answers every tick at once; at the end it writes an order the supervisor rejects, a reply to a bot whose stdin
# the relay has just closed (the reply must fail cleanly, not reach the fd number another pipe now has).
TINY_BOT = """
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "hello":
        print('{"type":"done","n":0}', flush=True)
    elif message["type"] == "tick":
        print(json.dumps({"type": "done", "n": message["n"]}), flush=True)
    elif message["type"] == "end":
        print('{"type":"order","symbol":"SPY","side":"sideways","qty":1}', flush=True)
"""


@pytest.fixture
def runc(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = skip_reason("runc")
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("ARENA_SANDBOX_RUNTIME", "runc")


@pytest.fixture
def tiny_bot(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(TINY_BOT)
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    return path


def spec(tid: str, bot: Path, bots: int, ticks: int) -> TournamentSpec:
    return TournamentSpec(
        id=tid, feed="synthetic:3", seed=3, ticks=ticks, rules={"symbols": ["SPY"]}, tick_deadline_s=5.0,
        entries=[EntrySpec(bot=f"tiny-{i}", path=str(bot)) for i in range(bots)],
    )


# The tournament runs in a process of its own, whose open-files limit (hard too: the sandbox raises its soft limit
# to the hard one) the test sets; the statuses and reports come back as JSON.
RUN = """
import json, sys
from arena.catalog import load_catalog
from arena.runtime.local import run_local
from arena.runtime.spec import EntrySpec, TournamentSpec
url, bot, bots = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = TournamentSpec(id="many", feed="synthetic:3", seed=3, ticks=4, rules={"symbols": ["SPY"]}, tick_deadline_s=5.0,
                      entries=[EntrySpec(bot=f"tiny-{i}", path=bot) for i in range(bots)])
standings, reports = run_local(url, spec, load_catalog(), processes=2)
print(json.dumps({"statuses": {s.bot: s.status for s in standings},
                  "reports": {bot: r.as_dict() for bot, r in reports.items()}}))
"""


@pytest.mark.parametrize("open_files", [None, 600])
def test_210_bots_finish_or_are_host_faults_and_a_host_out_of_fds_refuses_bots_up_front(
    redis_url, runc, tiny_bot, open_files
):
    """210 bots over two supervisor processes. At 600 fds a process holds fewer than its 105 bots (~6 fds each, ~50
    kept free): it refuses its last ones up front, as host faults, and runs the others to the end. Before, the host
    ran out of fds mid-run: pipes, pidfds and Redis connections failed in other bots' threads, bots never came up,
    and the tournament ended in a TypeError."""

    def limit() -> None:
        if open_files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    done = subprocess.run([sys.executable, "-c", RUN, redis_url, str(tiny_bot), "210"], capture_output=True,
                          text=True, timeout=240, preexec_fn=limit, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]  # no thread died either
    result = json.loads(done.stdout)
    statuses, reports = result["statuses"], result["reports"]
    assert len(statuses) == 210
    assert set(statuses.values()) <= {"finished", "host_fault"}, statuses
    faults = [bot for bot, status in statuses.items() if status == "host_fault"]
    for bot in faults:
        assert reports[bot]["host_fault"], reports[bot]
    finished = [reports[bot] for bot, status in statuses.items() if status == "finished"]
    # Ended when told to: exited, or killed when a loaded host kept it past the 5 s it has to exit.
    assert all(r["status"] in ("exited", "killed") and not r["host_fault"] for r in finished), finished
    if open_files:
        assert 0 < len(faults) < 210
        assert all("file descriptors" in reports[bot]["reason"] for bot in faults), [reports[b] for b in faults]


def test_a_dead_supervisor_process_makes_its_bots_host_faults_and_the_rest_finish(redis_url, catalog, runc, tiny_bot):
    killed: list[int] = []

    def kill_one_supervisor_process(report) -> None:
        if report.n == 2 and not killed:
            child = multiprocessing.active_children()[0]
            os.kill(child.pid, signal.SIGKILL)
            killed.append(child.pid)

    standings, reports = run_local(redis_url, spec("dead-host", tiny_bot, 12, ticks=30), catalog, processes=2,
                                   on_tick=kill_one_supervisor_process)  # fmt: skip
    assert killed
    statuses = {s.bot: s.status for s in standings}
    faults = sorted(bot for bot, status in statuses.items() if status == "host_fault")
    finished = sorted(bot for bot, status in statuses.items() if status == "finished")
    assert len(faults) == 6 and len(finished) == 6, statuses  # one process's share each
    assert all(f"supervisor process {killed[0]} died" in reports[bot].reason for bot in faults)
