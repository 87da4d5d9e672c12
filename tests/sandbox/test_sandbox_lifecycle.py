"""Nothing of a bot survives its host: parent death, start-up reaping, and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Sandbox
from sandbox.cgroup import CGROUP_PARENT, ContainerCgroup
from sandbox.reaper import reap_orphans
from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]

HOST = """
import json, sys
from sandbox import Sandbox
from sandbox.reaper import _watchdogs
process = Sandbox(runtime=sys.argv[2]).start(sys.argv[1], capture_stdout=True)
print(json.dumps({"id": process.container_id, "watchdogs": [w.pid for w in _watchdogs.values()]}), flush=True)
sys.stdin.read()  # until killed
"""

pytestmark = pytest.mark.sandbox


def _start_host(bot: Path, runtime: str) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    host = subprocess.Popen([sys.executable, "-c", HOST, str(bot), runtime], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd=REPO)
    assert host.stdout is not None
    info = json.loads(host.stdout.readline())
    return host, info


def _running(container_id: str) -> bool:
    return bool(ContainerCgroup.for_relative_path(f"{CGROUP_PARENT}/{container_id}").pids())


def _exists(container_id: str) -> bool:
    return any(path.exists() for path in ContainerCgroup.for_relative_path(
        f"{CGROUP_PARENT}/{container_id}").dirs.values())


def test_bots_die_with_their_host_even_on_sigkill(needs_runtime: str,
                                                  write_bot: Callable[[str], Path]) -> None:
    host, info = _start_host(write_bot("time.sleep(120)"), needs_runtime)
    container_id = str(info["id"])
    wait_until("the bot runs", lambda: _running(container_id), 10)
    host.kill()  # SIGKILL: no chance to clean up
    host.wait()
    wait_until("the bot ends with its host", lambda: not _exists(container_id), 15)


def test_leftovers_of_a_crashed_host_are_reaped_at_start_up(box: Sandbox,
                                                            write_bot: Callable[[str], Path]) -> None:
    host, info = _start_host(write_bot("time.sleep(120)"), box.runtime.name)
    container_id = str(info["id"])
    for pid in info["watchdogs"]:  # simulate a crash of everything, watchdog included
        os.kill(int(pid), signal.SIGKILL)
    host.kill()
    host.wait()
    assert _running(container_id), "the leftover should still be there before reaping"
    assert container_id in reap_orphans(box.runtime)
    assert not _exists(container_id)
    assert not (box.runtime.state_root / "-".join(container_id.split("-")[:2])).exists()


def _cli(runtime: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", "run", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False, env={**os.environ, "ARENA_SANDBOX_RUNTIME": runtime})


def test_cli_json_prints_exactly_one_object(needs_runtime: str, write_bot: Callable[[str], Path]) -> None:
    bot = write_bot("print('args', sys.argv[1:]); sys.stderr.write('note\\n')")
    done = _cli(needs_runtime, "--json", "--memory", "128M", "--timeout", "10", str(bot), "--", "--level", "3")
    result = json.loads(done.stdout)
    assert set(result) >= {"status", "exit_code", "wall_seconds", "cpu_seconds", "peak_memory_bytes",
                           "stdout", "stderr", "runtime"}
    assert result["status"] == "exited" and result["exit_code"] == 0 and result["runtime"] == needs_runtime
    assert result["stdout"] == "args ['--level', '3']\n" and result["stderr"] == "note\n"
    assert done.returncode == 0


def test_cli_streams_output_and_reports_timeouts(needs_runtime: str,
                                                  write_bot: Callable[[str], Path]) -> None:
    done = _cli(needs_runtime, "--timeout", "1", str(write_bot("print('started', flush=True); time.sleep(60)")))
    assert done.stdout == "started\n"
    assert "timeout" in done.stderr and done.returncode == 124


@pytest.mark.parametrize("bad", [["--memory", "lots"], ["--cpu", "0"]])
def test_cli_rejects_bad_limits(write_bot: Callable[[str], Path], bad: list[str]) -> None:
    done = _cli("runc", *bad, str(write_bot("print(1)")))
    assert done.returncode == 2 and "sandbox:" in done.stderr


def test_a_bot_starts_whatever_fd_numbers_the_host_has_reached(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    """A host process with ~50 bots has its fds past 256, where runsc's boot moves the bot's stdio (fds 256-258):
    the sandbox's own fds must not be there when it starts (it failed 'unable to remap stdios, FD 256 is already in
    use'). Here the next fd the host opens is 256: the uid slot's lock, the first fd a sandbox takes."""
    bot = write_bot("print('started', flush=True)")
    fillers: list[int] = []
    try:
        while not fillers or fillers[-1] < 255:
            fillers.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
        if fillers[-1] > 255:
            pytest.skip("this test process already holds fds past 255: the next one cannot be made 256")
        outcome = box.run(bot)
    finally:
        for fd in fillers:
            os.close(fd)
    assert outcome.status.value == "exited", outcome.reason
    assert outcome.stdout == b"started\n"
