"""`arena demo` shows its start-up and its tournament's progress on stderr (forced here, as stderr is a pipe), and
with --json prints one JSON object on stdout all the same (arena/progress.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARENA = str(Path(sys.executable).parent / "arena")

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox_runtime")]


def test_the_demo_shows_its_start_up_and_run_and_keeps_json_pure() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARENA_REDIS_URL"}  # its own Redis: that step shows too
    answer = subprocess.run([ARENA, "demo", "--ticks", "20", "--seed", "5", "--json", "--progress"],
                            capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-3000:]
    demo = json.loads(answer.stdout)  # the whole of stdout: one JSON object
    assert demo["tournament"] == "demo-5" and len(demo["standings"]) >= 5
    for step in ("starting Redis", "starting an engine worker and a bot host", "tournament demo-5"):
        assert step in answer.stderr, step
    assert "/20" in answer.stderr  # the bar counts the ticks
