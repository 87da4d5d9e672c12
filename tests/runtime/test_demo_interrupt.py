"""Ctrl-C (SIGINT to the foreground process group) ends `arena demo` mid-tournament within 10 s, with exit
code 130 and a one-line message, and leaves nothing behind: no sandbox, no cgroup, no private redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.cgroup import sandbox_parents
from tests.polling import wait_until
from tests.processes import alive, descendants

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox_runtime")]
ARENA = str(Path(sys.executable).parent / "arena")


def _cgroups_of(*pids: int) -> list[Path]:
    """The sandboxes' cgroups made by any of ``pids`` (named ``<pid>-...`` after the process that runs them)."""
    prefixes = tuple(f"{pid}-" for pid in pids)
    return [child for parent in sandbox_parents() if parent.is_dir()
            for child in parent.iterdir() if child.name.startswith(prefixes)]  # fmt: skip


def test_ctrl_c_stops_the_demo_promptly_and_leaves_nothing() -> None:
    demo = subprocess.Popen([ARENA, "demo", "--ticks", "5000"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)  # its own group, as a terminal's job
    try:
        # The bots run on the demo's bot host, a process of its own below the demo.
        wait_until("the demo's bots start", lambda: len(_cgroups_of(*descendants(demo.pid))) >= 5, 60)
        tree = descendants(demo.pid)  # the private redis-server, the engine worker, the bot host, the sandboxes
        started = time.monotonic()
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=15)
        assert time.monotonic() - started < 10
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    stderr = demo.stderr.read().decode() if demo.stderr else ""
    assert demo.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    wait_until("every sandbox ends with the demo", lambda: not _cgroups_of(demo.pid, *tree), 15)
    wait_until(f"every process of {sorted(tree)} ends", lambda: not any(alive(pid) for pid in tree), 15)


def test_ctrl_c_stops_the_web_demo_promptly_and_leaves_nothing(tmp_path: Path) -> None:
    from arena.runtime.redis_server import free_port

    out = tmp_path / "web-demo.out"
    with out.open("wb") as sink:
        demo = subprocess.Popen([ARENA, "demo", "--web", "--ticks", "5000", "--port", str(free_port())],
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        wait_until("the showcase's address", lambda: "Watch the tournament" in out.read_text(errors="replace"), 120)
        # The bots run on the demo's bot host, a process of its own below the demo.
        wait_until("the bots start", lambda: len(_cgroups_of(*descendants(demo.pid))) >= 5, 60)
        tree = descendants(demo.pid)
        started = time.monotonic()
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=30)
        assert time.monotonic() - started < 15  # before: 90+ s, waiting for the tournament to end
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert "Traceback" not in out.read_text(errors="replace"), out.read_text()[-3000:]
    wait_until("every sandbox ends with the demo", lambda: not _cgroups_of(demo.pid, *tree), 15)
    wait_until(f"every process of {sorted(tree)} ends", lambda: not any(alive(pid) for pid in tree), 15)
