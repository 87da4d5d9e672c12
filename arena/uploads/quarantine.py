"""Quarantine: untrusted input is parsed in a short-lived child process, never in the service's own.

The child (``run``) is this interpreter, started with ``-I -S`` and a parent-death signal (arena/children.py).
Before it reads a byte of input it imports the task's module, then confines itself:

- **who**: as root, it enters a new network namespace and becomes ``Confinement.user`` (``nobody`` by default;
  supplementary groups dropped, so it can no longer read the service's files or the store); as any other user
  it stays that user and enters a new user + network namespace where the kernel allows it, dropping every
  capability that namespace gave it. Imports happen before the switch, so the interpreter and the package
  need not be readable by that user.
- **network**: none (an empty network namespace: not even the host's loopback), unless the kernel refuses an
  unprivileged user namespace; the child then says ``network=host`` on stderr and the service logs it once.
- **limits**: address space, CPU seconds, no file writes (RLIMIT_FSIZE 0), a handful of descriptors, no new
  processes (RLIMIT_NPROC 0), no core dumps, ``no_new_privs``; and the parent's deadline on the whole run.

It reads the payload from stdin and writes the task's answer to stdout, both capped by the parent. A task may
``announce("phase")`` on stderr, so a run that dies of its limits can say what it was doing. Failures raise
``QuarantineFailed`` with a ``reason``: ``timeout``, ``memory``, ``killed`` (a signal: CPU limit, abort),
``crashed`` (an uncaught exception), ``output`` (more than allowed), ``busy`` (too many runs at once) or
``unavailable`` (the child could not start or confine itself).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import logging
import os
import pwd
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from arena.children import spawn

log = logging.getLogger(__name__)

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
EXIT_UNAVAILABLE = 3
EXIT_MEMORY = 10
PHASE_PREFIX = b"arena-phase: "
STDERR_BYTES = 64 * 1024
# Runs a task in the child: its module is imported first (as whoever started us), then the child confines itself.
_BOOT = ("import sys,json;sys.path[:0]=json.loads(sys.argv[1]);"
         "from arena.uploads.quarantine import child_main;child_main()")
# One run holds up to its address-space cap in memory: at most this many run at once per process.
_RUNS = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))
_warned: list[bool] = []  # a missing network namespace is logged once per process


@dataclass(frozen=True)
class Confinement:
    """What one quarantined run may use."""

    memory_bytes: int  # RLIMIT_AS
    cpu_seconds: int  # RLIMIT_CPU (SIGXCPU, then SIGKILL a second later)
    wall_seconds: float  # the whole run, start-up included
    input_bytes: int
    output_bytes: int
    user: str = "nobody"  # a user name or number; used only when the service runs as root
    open_files: int = 16


class QuarantineFailed(Exception):
    def __init__(self, reason: str, detail: str, phase: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.phase = reason, detail, phase


def run(task: str, payload: bytes, confinement: Confinement) -> bytes:
    """Run ``task`` (``"package.module:function"``, called as ``function(payload, out)``) on ``payload`` in a
    confined child; return what it wrote to ``out``."""
    if len(payload) > confinement.input_bytes:
        raise QuarantineFailed("output", f"the input is over {confinement.input_bytes} bytes")
    if not _RUNS.acquire(timeout=confinement.wall_seconds):
        raise QuarantineFailed("busy", "too many uploads are being checked at once")
    try:
        return _run(task, payload, confinement)
    finally:
        _RUNS.release()


def _run(task: str, payload: bytes, confinement: Confinement) -> bytes:
    settings = asdict(confinement) | _identity(confinement.user)
    package_root = str(Path(__file__).resolve().parents[2])
    command = [sys.executable, "-I", "-S", "-c", _BOOT, json.dumps([package_root]), task, json.dumps(settings)]
    try:
        child = spawn(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={},
                      cwd="/")
    except OSError as error:
        raise QuarantineFailed("unavailable", f"cannot start the checker: {error}") from None
    with child:  # closes the pipes and reaps the child
        try:
            out, err, reason = _exchange(child, payload, confinement)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # it leads its own session: nothing of it outlives this
    code = child.returncode
    if b"network=host" in err and not _warned:
        _warned.append(True)
        log.warning("the upload checker runs without a network namespace of its own: %s", err.splitlines()[0])
    phases = [line[len(PHASE_PREFIX):].decode(errors="replace") for line in err.splitlines()
              if line.startswith(PHASE_PREFIX)]
    phase = phases[-1] if phases else None
    tail = err.decode(errors="replace").strip()[-500:]
    if reason == "timeout":
        raise QuarantineFailed("timeout", f"was not done within {confinement.wall_seconds:g} s", phase)
    if reason == "output":
        raise QuarantineFailed("output", f"wrote more than {confinement.output_bytes} bytes", phase)
    if code == 0:
        return out
    if code == EXIT_UNAVAILABLE:
        raise QuarantineFailed("unavailable", tail or "the checker could not confine itself", phase)
    if code == EXIT_MEMORY:
        raise QuarantineFailed("memory", f"ran out of its {confinement.memory_bytes >> 20} MiB", phase)
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        raise QuarantineFailed("killed", f"was killed by {name} (CPU limit {confinement.cpu_seconds} s)", phase)
    raise QuarantineFailed("crashed", tail or f"exit code {code}", phase)


def _identity(user: str) -> dict[str, int]:
    """The uid and gid to become (as root only)."""
    if os.geteuid() != 0:
        return {"uid": os.getuid(), "gid": os.getgid()}
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, ValueError):
        if user.isdigit():
            return {"uid": int(user), "gid": int(user)}
        raise QuarantineFailed("unavailable", f"the upload checker's user {user!r} does not exist") from None
    if entry.pw_uid == 0:
        raise QuarantineFailed("unavailable", f"the upload checker's user {user!r} is root; choose an unprivileged one")
    return {"uid": entry.pw_uid, "gid": entry.pw_gid}


def _exchange(child: subprocess.Popen[bytes], payload: bytes, confinement: Confinement) -> tuple[bytes, bytes, str]:
    """Feed stdin, drain stdout and stderr (each capped) until both close; ("timeout"|"output"|"") as the reason."""
    assert child.stdin and child.stdout and child.stderr
    out_fd, err_fd, stdin = child.stdout.fileno(), child.stderr.fileno(), child.stdin.fileno()
    deadline = time.monotonic() + confinement.wall_seconds
    caps = {out_fd: confinement.output_bytes, err_fd: STDERR_BYTES}
    kept: dict[int, bytearray] = {fd: bytearray() for fd in caps}
    pending = memoryview(payload)
    with selectors.DefaultSelector() as selector:
        for fd in caps:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        os.set_blocking(stdin, False)
        selector.register(stdin, selectors.EVENT_WRITE)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(kept[out_fd]), bytes(kept[err_fd]), "timeout"
            for key, _ in selector.select(left):
                if key.fd == stdin:
                    try:
                        pending = pending[os.write(stdin, pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(stdin)
                        child.stdin.close()
                    continue
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(key.fd)
                    continue
                kept[key.fd] += data
                if len(kept[key.fd]) > caps[key.fd]:
                    if key.fd == out_fd:
                        return bytes(kept[out_fd]), bytes(kept[err_fd]), "output"
                    del kept[key.fd][caps[key.fd]:]
    return bytes(kept[out_fd]), bytes(kept[err_fd]), ""


# -- the child -----------------------------------------------------------------------------------------------------


def announce(phase: str) -> None:
    """Say what the task is doing now (read by the parent if the run dies of its limits)."""
    os.write(2, PHASE_PREFIX + phase.encode() + b"\n")


def child_main() -> None:  # pragma: no cover - runs in the quarantined child
    task, settings = sys.argv[2], json.loads(sys.argv[3])
    module, _, name = task.partition(":")
    function = getattr(importlib.import_module(module), name)  # before confinement: nothing is readable after
    os.write(2, f"arena-quarantine: {_confine(settings)}\n".encode())
    payload = _read(settings["input_bytes"])
    out: BinaryIO = sys.stdout.buffer
    try:
        function(payload, out)
        out.flush()
    except MemoryError:
        os._exit(EXIT_MEMORY)
    sys.exit(0)


def _confine(settings: dict[str, Any]) -> str:  # pragma: no cover - runs in the quarantined child
    """Become unprivileged, lose the network, take the limits; say how (for the parent's log)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def fail(what: str) -> None:
        os.write(2, f"cannot {what}: {os.strerror(ctypes.get_errno())}\n".encode())
        os._exit(EXIT_UNAVAILABLE)

    uid, gid = settings["uid"], settings["gid"]
    if os.geteuid() == 0:
        if libc.unshare(CLONE_NEWNET) != 0:
            fail("create a network namespace")
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from root to another uid: every capability goes with it
        if os.getresuid() != (uid, uid, uid) or os.getgroups():
            fail("drop root")
        network = "none"
    elif libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        network = "none"
        _drop_capabilities(libc)  # full ones in the new, empty user namespace: none are needed
    else:
        network = "host (unprivileged user namespaces are not allowed here)"
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("set no_new_privs")
    memory, cpu = settings["memory_bytes"], settings["cpu_seconds"]
    for limit, value in ((resource.RLIMIT_AS, (memory, memory)), (resource.RLIMIT_CPU, (cpu, cpu + 1)),
                         (resource.RLIMIT_FSIZE, (0, 0)), (resource.RLIMIT_NPROC, (0, 0)),
                         (resource.RLIMIT_CORE, (0, 0)), (resource.RLIMIT_MEMLOCK, (0, 0)),
                         (resource.RLIMIT_NOFILE, (settings["open_files"],) * 2)):
        resource.setrlimit(limit, value)
    return f"uid={os.getuid()} network={network}"


def _drop_capabilities(libc: ctypes.CDLL) -> None:  # pragma: no cover - runs in the quarantined child
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all empty (two 32-bit words each)
    if libc.capset(header, data) != 0:
        os.write(2, f"cannot drop capabilities: {os.strerror(ctypes.get_errno())}\n".encode())
        os._exit(EXIT_UNAVAILABLE)


def _read(cap: int) -> bytes:  # pragma: no cover - runs in the quarantined child
    chunks, size = [], 0
    while chunk := os.read(0, 65536):
        size += len(chunk)
        if size > cap:
            os._exit(EXIT_UNAVAILABLE)
        chunks.append(chunk)
    return b"".join(chunks)
