"""The simulated cluster (scripts/cluster.py): network namespaces joined by veth pairs to a bridge in a namespace
of their own, on a private range; Redis and PostgreSQL in one, the API in another, two engine workers and two
bot hosts in theirs. With a 40-bot tournament running: kill -9 of the active engine worker (the spare takes over,
and the standings and the whole record equal an uninterrupted run's), an API restart (the tournament goes on, a
spectator's stream resumes), a Redis restart (the tournament pauses and finishes), and in a second tournament
kill -9 of a bot host (its bots end host_fault, the rest finish). Through all three faults of the first, its
standings and record (every count of orders, fills, rejections and equity samples) equal an uninterrupted run's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.sandbox]


@pytest.mark.timeout(900)  # three tournaments of 40 bots, one of 600 ticks twice over, in a cluster it builds
def test_the_simulated_cluster_survives_each_fault() -> None:
    answer = subprocess.run([sys.executable, str(ROOT / "scripts" / "cluster.py"), "--bots", "40", "--json"],
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    assert answer.stdout, answer.stderr[-3000:]
    report = json.loads(answer.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))  # shown when the test fails: every check, and any difference found
    assert "error" not in report, report
    assert all(report["checks"].values()), report
    assert answer.returncode == 0
    assert 0 < report["takeover_s"] < 3 * 3.0 + 5  # within a few lease TTLs of the kill
    print(f"takeover {report['takeover_s']} s, Redis pause {report['redis_pause_s']} s, reference run "
          f"{report['reference_s']} s")  # fmt: skip
    # Nothing is left: the namespaces are gone.
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "arena-cl-" not in namespaces
