"""A host process that adopts its bots: runc then gives each bot the host's own pipes, with no copier between.

In the foreground (``runc run``), runc makes pipes of its own for the container's stdio and copies every byte
between them and ours: at 100 bots in lockstep that copying took a fifth of the machine's CPU and added a
process hop to each message both ways. Detached (``runc run --detach``), runc hands the container our pipes and
exits once the bot has started; the bot's first process is then reparented to the nearest *child subreaper*
above it. A host process that has called ``adopt_bots()`` is one, so it can wait for that process and read its
exit status as it would a child's.

Only a process that starts no other daemons should adopt: every orphan below it becomes its child, and one it
does not wait for stays a zombie (runc leaves none but the bot). Bot hosts (``arena worker``) and
``run_local``'s supervisor processes adopt; a process that has not (a test runner, ``arena sandbox run``) runs
runc in the foreground as before. runsc never copies (the Sentry takes our pipes itself) and always runs in the
foreground.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import threading

from sandbox.errors import RuntimeUnavailable
from sandbox.procfs import stat_fields
from sandbox.runtime import Runtime, select_runtime

_PR_SET_CHILD_SUBREAPER = 36
_adopting_pid: int | None = None  # the subreaper attribute is not inherited across fork: per process


def adopt_bots(runtime: Runtime | None = None) -> bool:
    """Make this process the reaper of its bots' first processes, if they run on runc (``runtime``, or the one
    ``select_runtime`` picks); False if not, or where the kernel refuses. runsc leaves helper processes orphaned
    when it exits, which would become our zombies."""
    global _adopting_pid
    if _adopting_pid == os.getpid():
        return True
    try:
        runtime = runtime or select_runtime()
    except RuntimeUnavailable:
        return False
    if runtime.name != "runc":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return False
    _adopting_pid = os.getpid()
    return True


def adopting() -> bool:
    return _adopting_pid == os.getpid()


def _returncode(info: os.waitid_result) -> int:
    """As runc reports its container's end in the foreground: the exit code, or 128 + the killing signal."""
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return 128 + info.si_status


class AdoptedProcess:
    """A bot's first process, adopted from runc: ``poll``/``wait``/``kill`` as ``subprocess.Popen``'s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd = os.pidfd_open(pid)  # pins the pid: it cannot be reused while we have not reaped it
        self._lock = threading.Lock()  # one waitid at a time: a second would fail with ECHILD
        fields = stat_fields(pid)
        if fields is not None and int(fields[1]) != os.getpid():
            os.close(self._fd)
            raise ChildProcessError(f"the bot's process {pid} was not adopted by this host (is it a subreaper?)")

    def open_pidfd(self) -> int:
        """A pidfd of its own for the caller to poll (readable once the process has ended) and close;
        ProcessLookupError once the process has been waited for, as ``os.pidfd_open`` would raise."""
        with self._lock:
            if self._fd < 0:
                raise ProcessLookupError(self.pid)
            return os.dup(self._fd)

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None and self._fd >= 0:
                info = os.waitid(os.P_PIDFD, self._fd, os.WEXITED | os.WNOHANG)
                if info is not None:
                    self.returncode = _returncode(info)
                    os.close(self._fd)
                    self._fd = -1
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self.poll()
        if code is None:
            with self._lock:
                fd = os.dup(self._fd) if self._fd >= 0 else -1
            if fd >= 0:
                poller = select.poll()  # not select(): a host with hundreds of bots has fds past 1024
                poller.register(fd, select.POLLIN)
                try:
                    poller.poll(None if timeout is None else timeout * 1000)
                finally:
                    os.close(fd)
            code = self.poll()
        if code is None:
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
        return code

    def kill(self) -> None:
        with self._lock:
            if self._fd >= 0:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(self._fd, signal.SIGKILL)

