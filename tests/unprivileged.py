"""Running a command of this test run as an unprivileged user: no root, no groups, no capabilities.

The test machine's interpreter may live under a folder other users cannot enter (pyenv under /root, 0700), so
the command runs in a private mount namespace where that folder is replaced by an empty tmpfs holding only the
interpreter's tree: the user can start Python and nothing else of root's changes. util-linux's ``unshare`` and
``setpriv`` do the work (no Python runs as root in between); the command dies with the test (--pdeathsig).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

USER = 4242  # a uid (and gid) with no passwd entry and nothing on the machine


def _closed_ancestor(path: Path) -> Path | None:
    """The topmost folder on the way to ``path`` that other users cannot enter."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def command_as(user: int, command: Sequence[str], scratch: Path) -> list[str]:
    """``command`` run as ``user``:``user``, with the interpreter reachable (``scratch``: a root-only folder)."""
    drop = [shutil.which("setpriv") or "setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--pdeathsig=KILL", "--", *command]
    prefix = Path(sys.base_prefix).resolve()
    closed = _closed_ancestor(prefix)
    if closed is None:
        return drop
    inside = closed / prefix.relative_to(closed).parts[0]  # e.g. /root/.pyenv
    keep = scratch / "interpreter"
    keep.mkdir(exist_ok=True)
    script = (f'mount --bind "{inside}" "{keep}" && mount -t tmpfs -o mode=0711 tmpfs "{closed}" && '
              f'mkdir "{inside}" && mount --bind "{keep}" "{inside}" && exec "$@"')
    return [shutil.which("unshare") or "unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", script, "as-user", *drop]


def run_as(user: int, command: Sequence[str], scratch: Path, **popen: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command_as(user, command, scratch), check=False, **popen)


def owned_by(user: int, folder: Path, mode: int = 0o700) -> Path:
    """``folder`` made (with its missing parents) and given to ``user``: the only place that user may write."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, user, user)
    os.chmod(folder, mode)
    return folder
