"""Choosing and driving the OCI runtime binary (runsc by default, runc when asked for) by subprocess."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sandbox import runsc
from sandbox.errors import RuntimeUnavailable

ENV_RUNTIME = "ARENA_SANDBOX_RUNTIME"
ENV_STATE_DIR = "ARENA_SANDBOX_STATE_DIR"
DEFAULT_STATE_DIR = Path("/run/arena-sandbox")
PID_FILE = "init.pid"  # a detached runc writes the bot's host pid here, in the bundle

_SEARCH = ("/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin")


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SEARCH))


@dataclass(frozen=True)
class Runtime:
    """One OCI runtime binary and the private state directory (``--root``) this host process uses."""

    name: str  # "runsc" or "runc"
    path: str
    state_root: Path  # e.g. /run/arena-sandbox/runc; one subdirectory per owning host process
    flags: tuple[str, ...] = ()  # global flags of every call (runsc: platform, network, seccomp, cgroups)
    version: str = ""
    # "rro" (recursive read-only, mount_setattr) among the mount options the runtime says it supports: bind
    # mounts then keep their sub-mounts read-only too (bundle.bind_options says what is done without it).
    recursive_readonly: bool = False

    @property
    def shares_host_kernel(self) -> bool:
        return self.name != "runsc"

    @property
    def host_owns_cgroup(self) -> bool:
        """runsc deletes its cgroup on exit (losing the end statistics) and writes no limits into one that
        exists, so for runsc the host creates the cgroup, writes and verifies the limits, starts runsc
        inside it with --ignore-cgroups, reads the statistics after the end and removes it."""
        return self.name == "runsc"

    @property
    def platform(self) -> str | None:
        return next((flag.split("=", 1)[1] for flag in self.flags if flag.startswith("--platform=")), None)

    def global_args(self, root: Path) -> list[str]:
        return [self.path, "--root", str(root), *self.flags]

    def run_args(self, root: Path, bundle: Path, container_id: str, *, detach: bool = False) -> list[str]:
        # runc: --keep leaves the stopped container (and its cgroup) for us to read stats from, then delete;
        # detached, runc never deletes it. Detached, runc passes our pipes to the bot and exits once it has
        # started (sandbox/adoption.py); the bot's pid is in the bundle's pid file.
        mode = ["--detach", "--pid-file", str(bundle / PID_FILE)] if detach else ["--keep"] if self.name == "runc" \
            else []
        # The runtime's own messages go to a JSON log, never into the bot's stderr.
        log_args = ["--log", str(bundle / "runtime.log"), "--log-format", "json"]
        if self.name == "runsc":  # the Sentry's own fatal errors (a Go runtime crash exits 2, like a bot could)
            log_args += ["--panic-log", str(bundle / "panic.log")]
        return [self.path, *log_args, *self.global_args(root)[1:], "run", *mode, "--bundle", str(bundle),
                container_id]

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


def parse_mount_options(text: str) -> frozenset[str]:
    """The ``mountOptions`` of an OCI runtime's ``features`` answer (JSON); empty if it gave none (runsc 2022-12
    has no ``features`` command: it prints its usage)."""
    try:
        options = json.loads(text).get("mountOptions")
    except (ValueError, AttributeError):
        return frozenset()
    return frozenset(option for option in options or () if isinstance(option, str))


@functools.cache
def mount_options(path: str) -> frozenset[str]:
    """What ``<runtime> features`` lists as mount options (once per process and binary)."""
    try:
        done = subprocess.run([path, "features"], capture_output=True, timeout=10, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return parse_mount_options(done.stdout.decode(errors="replace")) if done.returncode == 0 else frozenset()


def make_runtime(name: str, path: str) -> Runtime:
    """The Runtime for the binary at ``path``; for runsc, with the flags its release supports."""
    recursive_readonly = "rro" in mount_options(path)
    if name != "runsc":
        return Runtime(name, path, state_dir() / name, recursive_readonly=recursive_readonly)
    features = runsc.detect(path)
    flags = features.global_flags(runsc.choose_platform(path, features))
    return Runtime(name, path, state_dir() / name, tuple(flags), features.version, recursive_readonly)


def select_runtime(choice: str | None = None) -> Runtime:
    """runsc (gVisor) unless runc is asked for: falling back to runc is a setting, never silent.

    ``choice`` (or ``$ARENA_SANDBOX_RUNTIME``) may be ``runsc``, ``runc`` or a path to either binary.
    """
    choice = choice or os.environ.get(ENV_RUNTIME) or "runsc"
    path = choice if os.sep in choice else _which(choice)
    if not path or not os.access(path, os.X_OK):
        hint = ("install gVisor (apt-get install runsc), or set ARENA_SANDBOX_RUNTIME=runc to run bots on "
                "runc, which shares the host kernel" if choice == "runsc" else "install it, or choose another")
        raise RuntimeUnavailable(f"the OCI runtime {choice!r} is not installed: {hint}")
    name = "runsc" if "runsc" in os.path.basename(path) else "runc"
    return make_runtime(name, path)
