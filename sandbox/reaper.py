"""Nothing of a bot may outlive its host: reap containers whose owning host process is gone.

Every host process that runs bots is an *owner*, named ``<pid>-<start time>`` (the start time makes a
recycled pid a different owner). Its containers live in a private runtime ``--root`` named after it,
their cgroups and bundles carry its name, so:

- at start-up, ``reap_orphans`` deletes everything belonging to owners that no longer exist;
- while it runs, a small watchdog process (one per owner) waits for EOF on a pipe whose write end only
  the owner holds. The kernel closes that pipe however the owner dies, SIGKILL included, and the
  watchdog then kills and deletes the owner's containers. (PR_SET_PDEATHSIG is not used for this: it
  fires when the *thread* that forked exits, which would kill bots started from worker threads.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sandbox.cgroup import CGROUP_PARENT, ContainerCgroup, sandbox_parents
from sandbox.procfs import stat_fields
from sandbox.runtime import Runtime, state_dir

_owner_cache: tuple[int, str] | None = None
_watchdogs: dict[tuple[int, str], subprocess.Popen[bytes]] = {}
# The write end of each watchdog's stdin, open for our lifetime: the watchdog reaps when it reads EOF there.
_watchdog_pipes: dict[tuple[int, str], int] = {}
_lock = threading.Lock()


def _start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def owner_key() -> str:
    """This process's owner name; recomputed after fork."""
    global _owner_cache
    pid = os.getpid()
    if _owner_cache is None or _owner_cache[0] != pid:
        _owner_cache = (pid, f"{pid}-{_start_time(pid)}")
    return _owner_cache[1]


def owner_alive(key: str) -> bool:
    pid, _, start = key.partition("-")
    return pid.isdigit() and _start_time(int(pid)) == start


def owner_of(container_id: str) -> str:
    """``<pid>-<start>-<n>`` -> ``<pid>-<start>``."""
    return "-".join(container_id.split("-")[:2])


def bundles_dir(owner: str) -> Path:
    return state_dir() / "bundles" / owner


def bot_copies_dir(owner: str) -> Path:
    """Where ``owner``'s sandboxes get their private copy of the bot (sandbox/botfiles.py), one folder each.

    Unlike the bundles (0700), these folders' parents are searchable by anyone (0711, nothing listable): under
    runsc the gofer that serves /bot runs as the sandbox's own host uid, which must reach its copy."""
    return state_dir() / "bots" / owner


def reap_owner(runtime: Runtime, owner: str) -> list[str]:
    """Kill and delete every container of ``owner``; return their ids."""
    root = runtime.state_root / owner
    reaped = []
    for container in runtime.list(root):
        container_id = str(container.get("id"))
        runtime.delete(root, container_id)  # --force: kills first
        reaped.append(container_id)
    # Cgroups the runtime no longer knows about (state lost in a crash).
    for parent in sandbox_parents():
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            if child.is_dir() and owner_of(child.name) == owner:
                ContainerCgroup.for_relative_path(f"{CGROUP_PARENT}/{child.name}").destroy()
                if child.name not in reaped:
                    reaped.append(child.name)
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(bundles_dir(owner), ignore_errors=True)
    shutil.rmtree(bot_copies_dir(owner), ignore_errors=True)
    return reaped


def reap_orphans(runtime: Runtime) -> list[str]:
    """Delete containers, cgroups and bundles left by owners that are no longer running."""
    owners: set[str] = set()
    if runtime.state_root.is_dir():
        owners.update(p.name for p in runtime.state_root.iterdir())
    for kept in (state_dir() / "bundles", state_dir() / "bots"):
        if kept.is_dir():
            owners.update(p.name for p in kept.iterdir())
    for parent in sandbox_parents():
        if parent.is_dir():
            owners.update(owner_of(p.name) for p in parent.iterdir() if p.is_dir())
    reaped: list[str] = []
    for owner in sorted(owners):
        if not owner_alive(owner):
            reaped += reap_owner(runtime, owner)
    return reaped


def ensure_watchdog(runtime: Runtime) -> None:
    """Start (once per owner and runtime) the watchdog that reaps our containers when we die."""
    key = (os.getpid(), runtime.path)
    with _lock:
        watchdog = _watchdogs.get(key)
        if watchdog is not None and watchdog.poll() is None:
            return
        read_end, write_end = os.pipe()  # write end is non-inheritable: only we hold it
        package_parent = str(Path(__file__).resolve().parents[1])
        code = f"import sys;sys.path.insert(0,{package_parent!r});from sandbox.reaper import main;main()"
        watchdog = subprocess.Popen(
            [sys.executable, "-S", "-c", code, "watch", "--owner", owner_key(), "--runtime", runtime.name,
             "--runtime-path", runtime.path, "--state-dir", str(state_dir())],
            stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the host's terminal must not reach it
        )
        os.close(read_end)
        stale_pipe = _watchdog_pipes.get(key)
        if stale_pipe is not None:
            os.close(stale_pipe)  # the dead watchdog's
        _watchdogs[key], _watchdog_pipes[key] = watchdog, write_end


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandbox.reaper", description=__doc__)
    parser.add_argument("action", choices=["watch", "orphans"])
    parser.add_argument("--owner")
    parser.add_argument("--runtime", default="runc")
    parser.add_argument("--runtime-path")
    parser.add_argument("--state-dir")
    options = parser.parse_args(argv)
    if options.state_dir:
        os.environ["ARENA_SANDBOX_STATE_DIR"] = options.state_dir
    from sandbox.runtime import make_runtime, select_runtime

    runtime = (
        make_runtime(options.runtime, options.runtime_path) if options.runtime_path
        else select_runtime(options.runtime)
    )
    if options.action == "orphans":
        for container_id in reap_orphans(runtime):
            print(container_id)
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:  # returns only at EOF: the owner has exited
        try:
            if not os.read(0, 4096):
                break
        except InterruptedError:
            continue
    reap_owner(runtime, options.owner)


if __name__ == "__main__":
    main()
