"""Choosing and driving the OCI runtime binary (runsc where installed, else runc) by subprocess."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import RuntimeUnavailable

log = logging.getLogger("sandbox")

ENV_RUNTIME = "ARENA_SANDBOX_RUNTIME"
ENV_STATE_DIR = "ARENA_SANDBOX_STATE_DIR"
DEFAULT_STATE_DIR = Path("/run/arena-sandbox")

_SEARCH = ("/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin")
_announced = False


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SEARCH))


@dataclass(frozen=True)
class Runtime:
    """One OCI runtime binary and the private state directory (``--root``) this host process uses."""

    name: str  # "runsc" or "runc"
    path: str
    state_root: Path  # e.g. /run/arena-sandbox/runc; one subdirectory per owning host process

    @property
    def shares_host_kernel(self) -> bool:
        return self.name != "runsc"

    def global_args(self, root: Path) -> list[str]:
        args = [self.path, "--root", str(root)]
        if self.name == "runsc":
            args += ["--network=none", "--platform=systrap"]
        return args

    def run_args(self, root: Path, bundle: Path, container_id: str) -> list[str]:
        # --keep leaves the stopped container (and its cgroup) for us to read stats from, then delete.
        keep = ["--keep"] if self.name == "runc" else []
        log_args = ["--log", str(bundle / "runtime.log"), "--log-format", "json"] if self.name == "runc" else []
        return [*self.global_args(root)[:1], *log_args, *self.global_args(root)[1:], "run", *keep,
                "--bundle", str(bundle), container_id]

    def _call(self, root: Path, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*self.global_args(root), *args], stdin=subprocess.DEVNULL, capture_output=True,
            timeout=timeout, check=False,
        )

    def kill(self, root: Path, container_id: str) -> bool:
        return self._call(root, "kill", container_id, "KILL").returncode == 0

    def delete(self, root: Path, container_id: str) -> bool:
        return self._call(root, "delete", "--force", container_id).returncode == 0

    def list(self, root: Path) -> list[dict[str, object]]:
        if not root.is_dir():
            return []
        done = self._call(root, "list", "--format", "json")
        if done.returncode != 0 or not done.stdout.strip():
            return []
        try:
            return list(json.loads(done.stdout) or [])
        except json.JSONDecodeError:
            return []


def state_dir() -> Path:
    return Path(os.environ.get(ENV_STATE_DIR) or DEFAULT_STATE_DIR)


def select_runtime(choice: str | None = None) -> Runtime:
    """Pick runsc if installed (production), else runc, announcing the fallback loudly.

    ``choice`` (or ``$ARENA_SANDBOX_RUNTIME``) may be ``runsc``, ``runc`` or a path to either binary.
    """
    global _announced
    choice = choice or os.environ.get(ENV_RUNTIME) or None
    if choice:
        path = choice if os.sep in choice else _which(choice)
        if not path or not os.access(path, os.X_OK):
            raise RuntimeUnavailable(
                f"{ENV_RUNTIME}={choice!r} asks for an OCI runtime that is not installed; "
                "install runsc (gVisor) or runc, or unset the variable"
            )
        name = "runsc" if "runsc" in os.path.basename(path) else "runc"
        return Runtime(name, path, state_dir() / name)
    runsc = _which("runsc")
    if runsc:
        return Runtime("runsc", runsc, state_dir() / "runsc")
    runc = _which("runc")
    if not runc:
        raise RuntimeUnavailable(
            "no OCI runtime found: install gVisor's runsc (production) or runc (apt-get install runc)"
        )
    if not _announced:
        _announced = True
        message = (
            "SANDBOX WARNING: runsc (gVisor) is not installed; falling back to runc. Bots will share the "
            "host kernel: a kernel exploit in a bot escapes the sandbox. Install runsc for production "
            f"(docs/sandbox.md) or set {ENV_RUNTIME}=runc to silence this warning."
        )
        log.warning(message)  # with no logging configured, Python's last-resort handler prints it
    return Runtime("runc", runc, state_dir() / "runc")
