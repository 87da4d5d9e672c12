"""Bots apart from the host and from each other: read-only binds stay read-only all the way down, the bot's folder
executes nothing, every sandbox runs on host uids of its own, the kernel's per-user counters that would be
charged to the host's root are out of reach, and a bot's code is readable by its own sandbox only.

Each runs on runsc and on runc (the conftest's ``runtime``); where gVisor already stood in the way before, the
test says so, and it still checks that nothing got through.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox import BotProcess, Outcome, Sandbox, Status
from sandbox.rootfs import Bind

Run = Callable[..., Outcome]
Report = Callable[[Outcome], dict[str, Any]]

pytestmark = pytest.mark.sandbox


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder every user may enter (as the host's /usr/lib, or where an older store kept bundles)."""
    folder = Path(tempfile.mkdtemp(prefix="arena-shared-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=True)


@pytest.fixture
def sub_mounted(shared_folder: Path) -> Iterator[Path]:
    """A folder with a writable tmpfs mounted at sub/ (as a host's /usr/lib might hold a mount)."""
    (shared_folder / "sub").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0777,size=1m", "tmpfs", str(shared_folder / "sub")],
                   check=True)
    try:
        yield shared_folder
    finally:
        subprocess.run(["umount", str(shared_folder / "sub")], check=True)


def test_a_read_only_bind_keeps_its_sub_mounts_read_only(box: Sandbox, write_bot: Callable[[str], Path],
                                                        bot_report: Report, sub_mounted: Path) -> None:
    """runc's "ro" remounts only the top of a bind: a sub-mount of the source stayed writable from inside. Binds
    are now "rro" (runc); runsc 2022-12 has no "rro", and gVisor's gofer mount was read-only throughout already."""
    layout = replace(box.layout, binds=(*box.layout.binds, Bind(str(sub_mounted), "/srv", executable=False)))
    outcome = Sandbox(box.limits, runtime=box.runtime, layout=layout).run(write_bot("""
        results = {}
        for path in ["/srv/sub/planted", "/srv/planted"]:
            try:
                with open(path, "w") as f:
                    f.write("x")
                results[path] = "written"
            except OSError as e:
                results[path] = errno.errorcode[e.errno]
        report(**results)
    """))
    result = bot_report(outcome)
    assert "written" not in result.values(), result
    assert not (sub_mounted / "sub" / "planted").exists() and not (sub_mounted / "planted").exists()


def test_nothing_in_the_bots_folder_executes(box: Sandbox, tmp_path: Path, bot_report: Report) -> None:
    """/bot is mounted noexec: a bot cannot run a program it shipped (the upload store keeps no modes, but a
    folder given to `arena sandbox run` does), nor (under runc) map its files executable. gVisor 2022-12 refuses
    execve from a noexec mount but not an executable mmap of a file there (its Sentry still runs that code)."""
    from tests.sandbox.conftest import PRELUDE

    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "main.py").write_text(PRELUDE + """
import mmap, subprocess
results = {}
try:
    results["exec"] = subprocess.run(["/bot/run.sh"], capture_output=True).stdout.decode().strip()
except OSError as e:
    results["exec"] = errno.errorcode[e.errno]
try:
    with open("/bot/main.py", "rb") as f:
        mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ | mmap.PROT_EXEC)
    results["mmap_exec"] = "mapped"
except OSError as e:
    results["mmap_exec"] = errno.errorcode[e.errno]
report(**results)
""")
    outcome = box.run(folder)
    result = bot_report(outcome)
    assert result["exec"] == "EACCES", result
    assert result["mmap_exec"] == ("mapped" if outcome.runtime == "runsc" else "EPERM"), result


def _host_uids(process: BotProcess) -> set[int]:
    """Host uids of everything in the container's cgroup but the runtime's own process (root, outside)."""
    uids = set()
    for pid in process.cgroup.pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == process.runtime.path.encode():
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uids.add(int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]))
    return uids


def _wait_for_lines(process: BotProcess, chunks: list[bytes], count: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while b"".join(chunks).count(b"\n") < count:
        if time.monotonic() > deadline or process.done:
            return False
        time.sleep(0.02)  # polling the bot's output collector, bounded by the deadline
    return True


def _start_holding(box: Sandbox, bot: Path, lines: int = 1) -> tuple[BotProcess, list[bytes]]:
    """Start ``bot`` and return once it has written ``lines`` lines (it then holds what it took)."""
    chunks: list[bytes] = []
    process = box.start(bot, capture_stdout=True, on_stdout=chunks.append)
    assert _wait_for_lines(process, chunks, lines), f"the bot never reported: {b''.join(chunks)!r} {process.outcome}"
    return process, chunks


def test_every_sandbox_runs_on_host_uids_of_its_own(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    """Before: every bot was host uid 10001 under runc, and under runsc every gofer (which opens host files for the
    bot) ran as host root. Now each sandbox has a user namespace mapped onto a host range no other holds: the
    bot (runc) and the gofer (runsc) run in it. gVisor 2022-12 still runs its Sentry and stubs as host nobody in
    every sandbox (it uses the spec's user namespace for the Sentry only with --network=host or directfs)."""
    bot = write_bot("""
        fds = []
        for n in os.listdir("/proc/self/fd"):
            try:
                fds.append(os.readlink(f"/proc/self/fd/{n}"))
            except OSError:
                pass  # the listing's own descriptor, closed by now
        report(uid=os.getuid(), fds=fds)
        time.sleep(15)
    """)
    first, first_out = _start_holding(box, bot)
    second, second_out = _start_holding(box, bot)
    try:
        seen = [_host_uids(first), _host_uids(second)]
    finally:
        for process in (first, second):
            process.kill()
            process.wait()
    own = [uids - {65534} for uids in seen]
    assert own[0] and own[1] and not own[0] & own[1], seen
    assert not {0, 10001} & (seen[0] | seen[1]), seen
    if box.runtime.name == "runc":
        assert len(seen[0]) == len(seen[1]) == 1 and 65534 not in seen[0] | seen[1], seen
    for out in (first_out, second_out):
        reported = json.loads(b"".join(out).splitlines()[0])
        assert reported["uid"] == 10001
        assert not [fd for fd in reported["fds"] if "lock" in fd or "uids" in fd], reported  # the slot's lock stays out


def test_bots_cannot_take_the_kernels_per_user_counters(run_bot: Run, bot_report: Report) -> None:
    """inotify instances and POSIX message-queue bytes are counted per host user, and up the chain of user
    namespaces to the user who created each: sharing uid 10001, one bot could take them all from every other bot;
    in a user namespace created by root, from the host's root itself (fs.inotify.max_user_instances is 128). So
    bots get none: seccomp refuses both, RLIMIT_MEMLOCK and RLIMIT_MSGQUEUE are 0, RLIMIT_SIGPENDING is small."""
    outcome = run_bot("""
        import resource
        held, inotify = 0, 0
        for _ in range(200):
            fd, inotify = sc(294, 0)  # inotify_init1
            if fd < 0:
                break
            held += 1
        name = ctypes.create_string_buffer(b"arena-queue")
        queue = sc(240, ctypes.addressof(name), os.O_CREAT | os.O_RDWR, 0o600, 0)  # mq_open
        limits = {n: resource.getrlimit(getattr(resource, n)) for n in ("RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE",
                                                                         "RLIMIT_SIGPENDING")}
        report(held=held, inotify=inotify, queue=queue[1], limits=limits)
    """)
    assert bot_report(outcome) == {"held": 0, "inotify": "EPERM", "queue": "EPERM", "limits": {
        "RLIMIT_MEMLOCK": [0, 0], "RLIMIT_MSGQUEUE": [0, 0], "RLIMIT_SIGPENDING": [256, 256]}}, outcome


def _read_as(uid: int, path: str) -> int:
    return subprocess.run(["cat", path], user=uid, group=uid, extra_groups=[], capture_output=True).returncode


def test_a_bots_code_is_readable_by_its_own_sandbox_only(box: Sandbox, shared_folder: Path) -> None:
    """What a sandbox mounts at /bot is its own copy, owned by its own host uid, 0400: another sandbox's uid (a bot
    that escaped) cannot read it, even knowing where it is. Before, /bot was the stored file itself, world-readable,
    and every bot shared uid 10001."""
    bot = shared_folder / "alice.py"
    bot.write_text("SECRET = 'alpha'\nimport time\nprint('up', flush=True)\ntime.sleep(15)\n")
    bot.chmod(0o644)
    alice, _ = _start_holding(box, bot)
    bob, _ = _start_holding(box, bot)
    try:
        configs = [json.loads((p._bundle / "config.json").read_text()) for p in (alice, bob)]
        source = next(m["source"] for m in configs[0]["mounts"] if m["destination"] in ("/bot", "/bot/main.py"))
        code = os.path.join(source, "main.py") if os.path.isdir(source) else source
        bot_uids = [next((m["hostID"] for m in c["linux"].get("uidMappings", ())), 0) + 10001 for c in configs]
        assert os.stat(code).st_mode & 0o077 == 0, oct(os.stat(code).st_mode)
        assert _read_as(bot_uids[1], code) != 0, "another sandbox's uid read alice's code"
        assert _read_as(bot_uids[0], code) == 0  # its own can
    finally:
        for process in (alice, bob):
            process.kill()
            process.wait()


def test_the_copy_is_gone_with_the_bot(box: Sandbox, write_bot: Callable[[str], Path]) -> None:
    with box.start(write_bot("report(ok=True)"), capture_stdout=True) as process:
        config = json.loads((process._bundle / "config.json").read_text())
        copy = Path(next(m["source"] for m in config["mounts"] if m["destination"] == "/bot"))
        assert copy.is_dir()
        assert process.wait(timeout=30).status is Status.EXITED
    assert not copy.exists()
