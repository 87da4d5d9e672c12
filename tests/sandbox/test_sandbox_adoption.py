"""A host process that adopts its bots (sandbox/adoption.py): on runc the bot gets the host's pipes directly and
is the host's own child, with the same outcomes as in the foreground; runsc is never adopted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import BotProcess, Limits, Sandbox
from sandbox.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]

# Each bot ends on its own; the host runs them adopted and prints what it saw.
BOTS = {
    "exits": "print('hello', flush=True)",
    "fails": "import sys; print('partial'); sys.exit(3)",
    "raises": "raise ValueError('boom')",
    "oom": "x = bytearray(400 * 1024 * 1024)",
    "hangs": "import time; time.sleep(60)",
}

HOST = """
import json, os, subprocess, sys
from pathlib import Path
from sandbox import Limits, Sandbox, adopt_bots
from sandbox.adoption import adopting

runtime, bots = sys.argv[1], json.loads(sys.argv[2])
adopted = adopt_bots(Sandbox(runtime=runtime).runtime)
box = Sandbox(Limits.parse(memory="64M", timeout=2), runtime=runtime)
outcomes = {}
for name, path in bots.items():
    o = box.run(path)
    outcomes[name] = [o.status.value, o.exit_code, o.stdout.decode(), o.stderr.decode()[-40:]]
with box.start(bots["echo"]) as bot:
    bot.channel.send({"n": 1})
    reply = bot.channel.receive(timeout=10)
    parents = sorted({int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) for pid in bot.cgroup.pids()})
    children = subprocess.run(["ps", "--ppid", str(os.getpid()), "-o", "comm="], capture_output=True, text=True).stdout
    bot.kill("enough")
    killed = bot.wait()
zombies = subprocess.run(["ps", "--ppid", str(os.getpid()), "-o", "stat="], capture_output=True, text=True).stdout
print(json.dumps({"adopted": adopted, "adopting": adopting(), "outcomes": outcomes, "reply": reply,
                  "parents": parents, "host": os.getpid(), "children": children.split(),
                  "killed": [killed.status.value, killed.reason], "zombies": zombies.count("Z")}))
"""


def test_an_adopted_bot_is_the_hosts_own_child_with_the_same_outcomes(
    needs_runtime: str, write_bot: Callable[[str], Path]
) -> None:
    bots = {name: str(write_bot(code)) for name, code in BOTS.items()}
    bots["echo"] = str(write_bot("import sys\nfor line in sys.stdin:\n    print(line.strip(), flush=True)\n"))
    done = subprocess.run([sys.executable, "-c", HOST, needs_runtime, json.dumps(bots)], capture_output=True,
                          cwd=REPO, timeout=120, check=True)
    seen = json.loads(done.stdout)

    foreground = Sandbox(Limits.parse(memory="64M", timeout=2), runtime=needs_runtime)
    for name in BOTS:
        o = foreground.run(bots[name])
        assert seen["outcomes"][name] == [o.status.value, o.exit_code, o.stdout.decode(), o.stderr.decode()[-40:]]
    assert seen["outcomes"]["exits"][:3] == ["exited", 0, "hello\n"]
    assert seen["outcomes"]["oom"][0] == "oom" and seen["outcomes"]["hangs"][0] == "timeout"
    assert seen["reply"] == {"n": 1} and seen["killed"] == ["killed", "enough"]
    assert seen["zombies"] == 0
    if needs_runtime == "runc":
        assert seen["adopted"] and seen["adopting"]
        # The bot is the host's child: no runtime process stands between them, copying.
        assert seen["parents"] == [seen["host"]]
        assert "runc" not in seen["children"]
    else:
        assert not seen["adopted"] and not seen["adopting"]  # runsc's helpers would become our zombies
        assert "runsc" in seen["children"]


@pytest.mark.parametrize("runtime", ["runc"], indirect=True)  # only runc runs detached
def test_a_detached_runc_that_fails_is_a_crash_with_its_error(needs_runtime: str,
                                                               write_bot: Callable[[str], Path]) -> None:
    """A runc that cannot start the container exits at once: the bot is 'crashed' with the runtime's exit code,
    never waited for as a process that does not exist. (A stand-in runc that always fails: /bin/false.)"""
    host = (
        "import sys\nfrom sandbox import Sandbox, adopt_bots\n"
        "box = Sandbox(runtime='/bin/false')\nassert adopt_bots(box.runtime)\n"
        "o = box.run(sys.argv[1])\nprint(o.status.value, o.exit_code, o.reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", host, str(write_bot("print('never')"))], capture_output=True,
                          cwd=REPO, timeout=60, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["crashed", "1"]
    assert "the runtime failed (exit code 1)" in done.stdout


@pytest.mark.skipif(not (shutil.which("runsc") and shutil.which("runc")), reason="needs both runsc and runc")
def test_a_process_that_adopts_for_runc_refuses_runsc_sandboxes(write_bot: Callable[[str], Path]) -> None:
    """runsc's helpers, orphaned as it exits, would stay zombies of a process that adopts orphans: such a process
    refuses to run runsc with a message that says so, before it starts anything (not even runsc's watchdog)."""
    host = (
        "import os, subprocess, sys\nfrom sandbox import RuntimeUnavailable, Sandbox, adopt_bots\n"
        "assert adopt_bots(Sandbox(runtime='runc').runtime)\n"
        "box = Sandbox(runtime='runsc')\n"
        "for start in (lambda: box.run(sys.argv[1]), box.prestart):\n"
        "    try:\n        start()\n    except RuntimeUnavailable as e:\n        print('refused:', e)\n"
        "ps = ['ps', '--ppid', str(os.getpid()), '-o', 'pid=']\n"
        "print('children:', len(subprocess.run(ps, capture_output=True, text=True).stdout.split()) - 1)\n"
    )
    done = subprocess.run([sys.executable, "-c", host, str(write_bot("print('never')"))], capture_output=True,
                          cwd=REPO, timeout=60, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and "never" not in done.stdout, done.stdout
    assert all(line.startswith("refused: this process adopts its bots' processes for runc") for line in lines[:2])
    assert lines[2] == "children: 0"  # (ps itself was the one)


def test_a_runtime_that_cannot_delete_the_bot_still_ends_its_wait(
    needs_runtime: str, write_bot: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow ``runc delete`` (its 10 s timeout, at 1,000 bots) must not leave wait() hanging nor the slot taken."""
    box = Sandbox(Limits.parse(memory="64M", timeout=5), runtime=needs_runtime)
    real_delete = Runtime.delete

    def times_out(runtime: Runtime, root: Path, container_id: str) -> bool:
        real_delete(runtime, root, container_id)  # deleted, but too late: runtime._call's timeout
        raise subprocess.TimeoutExpired("delete", 10)

    monkeypatch.setattr(Runtime, "delete", times_out)
    bot = box.start(str(write_bot("print('bye', flush=True)")), capture_stdout=True)
    outcome = bot.wait(timeout=15)
    assert outcome.stdout == b"bye\n"
    assert bot.slot.fd == -1  # released


def test_a_runtime_that_cannot_kill_the_bot_still_has_it_killed_at_its_deadline(
    needs_runtime: str, write_bot: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``runc kill`` that times out (on an ending thread) falls back to killing the cgroup's processes."""
    box = Sandbox(Limits.parse(memory="64M", timeout=1), runtime=needs_runtime)

    def times_out(runtime: Runtime, root: Path, container_id: str) -> bool:
        raise subprocess.TimeoutExpired("kill", 10)

    monkeypatch.setattr(Runtime, "kill", times_out)
    bot = box.start(str(write_bot("import time; time.sleep(60)")), capture_stdout=True)
    assert bot.wait(timeout=15).status.value == "timeout"


def test_an_end_the_host_cannot_read_is_still_an_end(box: Sandbox, write_bot: Callable[[str], Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault of the host's at the end (its cgroup unreadable, say) still ends the bot's wait, as a crash that
    says why, and still releases what the sandbox held."""
    def unreadable(self: BotProcess) -> None:
        raise OSError("the cgroup went away")

    monkeypatch.setattr(BotProcess, "_bot_stats", unreadable)
    process = box.start(write_bot("print('bye')"), capture_stdout=True)
    outcome = process.wait(timeout=30)
    assert outcome.status.value == "crashed"
    assert "could not finish supervising the bot" in outcome.reason and "the cgroup went away" in outcome.reason
    assert process.slot.fd == -1  # the uid slot was given back
