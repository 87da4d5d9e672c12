"""Helper servers Arena starts for itself (redis-server, dockerd): they die with the process that started
them, even when it is killed by SIGKILL, and they are out of the terminal's reach.

- A parent-death signal (SIGKILL) is set between fork and exec, by util-linux's ``setpriv --pdeathsig``
  where installed (no Python runs in the child), else by ``prctl``. It follows the *thread* that started
  the child: start and stop a helper from one long-lived thread.
- Each child gets its own session, so a Ctrl-C at the terminal reaches only Arena, which then stops its
  helpers in order instead of finding them dead under it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def find_tool(name: str) -> str | None:
    """``name`` on PATH or in the sbin directories (not on a non-root user's PATH on Debian)."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{_SBIN}")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def die_with_parent(parent: int) -> None:
    """In a forked child (no exec): be killed when ``parent`` dies, or exit now if it already has."""
    _die_with_parent()
    if os.getppid() != parent:
        os._exit(1)


def spawn(command: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(command, **popen)`` for a helper that must never outlive us."""
    setpriv = find_tool("setpriv")
    if setpriv:
        return subprocess.Popen([setpriv, "--pdeathsig", "KILL", "--", *command], start_new_session=True, **popen)
    return subprocess.Popen(list(command), start_new_session=True, preexec_fn=_die_with_parent, **popen)
