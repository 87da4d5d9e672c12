"""A private Docker engine: its own containerd and dockerd, with sockets and state in a temporary directory.

It never touches the system's engine: not /var/run/docker.sock, /var/lib/docker, /etc/docker nor the
system containerd (dockerd would adopt /run/containerd/containerd.sock if it exists, so this starts its own
and passes ``--containerd``). No bridge, no iptables, no IP forwarding: builds run with ``network_mode=none``.

Both daemons get a parent-death signal (SIGKILL, via ``setpriv --pdeathsig``), so they never outlive the
process that started them, even if it is killed; ``stop()`` shuts them down in order, kills any
containerd shim still holding the private socket, and detaches leftover mounts before deleting the state.
The parent-death signal follows the *thread* that started them: start and stop from one long-lived thread.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import docker

from arena.children import find_tool, spawn
from arena.images.errors import DockerdError, MissingToolError
from arena.images.fs import remove_tree

Progress = Callable[[str], None]

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_POLL = 0.05  # seconds between readiness checks
# Host directories the daemons create whatever they are told (containerd shims' sockets, dockerd's plugin
# discovery): removed at stop when they did not exist before and are empty again.
_HOST_DIRS = (Path("/run/containerd/s"), Path("/run/containerd"), Path("/run/docker/plugins"), Path("/run/docker"))


def engine_available() -> bool:
    return all(find_tool(tool) for tool in ("dockerd", "containerd", "containerd-shim-runc-v2", "runc"))


def _socket_answers(path: Path, request: bytes | None = None) -> bytes | None:
    """Connect to a Unix socket (and send ``request``); the reply, b"" if none was asked, None if refused."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2)
            conn.connect(str(path))
            if request is None:
                return b""
            conn.sendall(request)
            chunks = []
            while chunk := conn.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks)
    except OSError:
        return None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class PrivateDockerd:
    """``with PrivateDockerd() as engine: engine.api.build(...)``."""

    def __init__(self, data_root: Path | None = None, *, storage_driver: str | None = None,
                 start_timeout: float = 60.0, stop_timeout: float = 20.0,
                 progress: Progress = lambda _line: None) -> None:
        self._requested_data_root = data_root
        self.storage_driver = storage_driver
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.progress = progress
        self.run_dir: Path | None = None
        self.data_root: Path | None = None
        self._containerd: subprocess.Popen[bytes] | None = None
        self._dockerd: subprocess.Popen[bytes] | None = None
        self._api: docker.APIClient | None = None
        self._preexisting: set[Path] = set()

    # -- public -------------------------------------------------------------------------------------------

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            raise DockerdError("the private dockerd is not running")
        return self._api

    @property
    def socket(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "docker.sock"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self._dockerd, self._containerd) if p is not None]

    def __enter__(self) -> PrivateDockerd:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> PrivateDockerd:
        for tool in ("dockerd", "containerd", "containerd-shim-runc-v2", "runc"):
            if find_tool(tool) is None:
                raise MissingToolError(f"{tool} not found: install the Debian package docker.io")
        if os.geteuid() != 0:
            raise DockerdError("a private dockerd needs root", code="NEEDS_ROOT")
        # Sockets live in a short /tmp path (a Unix socket path must fit in 108 bytes); state may be elsewhere.
        self._preexisting = {path for path in _HOST_DIRS if path.exists()}
        self.run_dir = Path(tempfile.mkdtemp(prefix="arena-dockerd-", dir="/tmp"))
        if self._requested_data_root is not None:
            self._requested_data_root.mkdir(parents=True, exist_ok=True)
            self.data_root = Path(tempfile.mkdtemp(prefix=".dockerd-", dir=self._requested_data_root))
        else:
            self.data_root = self.run_dir / "data"
        atexit.register(self.stop)
        try:
            self._start_daemons()
            if self.storage_driver is None and self._driver() != "vfs" and not self._storage_works():
                self.progress("dockerd: the storage driver cannot mount on this filesystem; falling back to vfs")
                self._stop_daemons()
                remove_tree(self.data_root / "docker")
                self.storage_driver = "vfs"
                self._start_daemons()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop dockerd, then containerd (SIGTERM, then SIGKILL), reap any shim, delete the private state."""
        atexit.unregister(self.stop)
        self._stop_daemons()
        if self.run_dir is not None:
            self._kill_stragglers(str(self.run_dir))
            if self.data_root is not None:
                remove_tree(self.data_root)
            self._remove_cgroups(self.run_dir.name)
            remove_tree(self.run_dir)
            self.run_dir = self.data_root = None
            for path in _HOST_DIRS:
                if path not in self._preexisting:
                    with contextlib.suppress(OSError):
                        path.rmdir()

    # -- internals ----------------------------------------------------------------------------------------

    def _start_daemons(self) -> None:
        run, data = self.run_dir, self.data_root
        assert run is not None and data is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "NOTIFY_SOCKET"))}
        env["PATH"] = _PATH

        config = run / "containerd.toml"
        config.write_text("\n".join([
            "version = 2",
            f"root = {json.dumps(str(data / 'containerd'))}",
            f"state = {json.dumps(str(run / 'containerd'))}",
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]',  # Kubernetes' CRI: not needed, wants CNI
            "[grpc]", f"  address = {json.dumps(str(run / 'containerd.sock'))}",
            "[plugins.\"io.containerd.internal.v1.opt\"]",  # default /opt/containerd: keep it private
            f"  path = {json.dumps(str(data / 'containerd-opt'))}", ""]))
        self._containerd = self._spawn([find_tool("containerd") or "containerd", "--config", str(config)],
                                       run / "containerd.log", env)
        self._wait(lambda: _socket_answers(run / "containerd.sock") is not None, self._containerd,
                   run / "containerd.log", "containerd")

        # Our own config file, so the host's /etc/docker/daemon.json is never read. Up to 22.x dockerd writes
        # an identity key to /etc/docker/key.json unless this (config-file only) key says where; 23+ ignores it.
        (run / "daemon.json").write_text(json.dumps({"deprecated-key-path": str(run / "key.json")}) + "\n")
        dockerd = find_tool("dockerd") or "dockerd"
        command = [dockerd, "--host", f"unix://{self.socket}", "--data-root", str(data / "docker"),
                   "--exec-root", str(run / "exec"), "--pidfile", str(run / "dockerd.pid"),
                   "--config-file", str(run / "daemon.json"), "--containerd", str(run / "containerd.sock"),
                   "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                   "--ip-masq=false", "--userland-proxy=false",
                   # Build containers' cgroups under a parent of our own (not /docker), removed at stop.
                   "--cgroup-parent", f"/{run.name}"]
        if self.storage_driver:
            command += ["--storage-driver", self.storage_driver]
        self._dockerd = self._spawn(command, run / "dockerd.log", env)
        try:
            self._wait(self._pinged, self._dockerd, run / "dockerd.log", "dockerd")
        except DockerdError:
            if self.storage_driver is not None:
                raise
            self.progress("dockerd did not start with its chosen storage driver; retrying with vfs")
            self._stop_daemons()
            remove_tree(data / "docker")
            self.storage_driver = "vfs"
            self._start_daemons()
            return
        self._api = docker.APIClient(base_url=f"unix://{self.socket}", version="auto", timeout=900)
        self.progress(f"private dockerd ready (pid {self._dockerd.pid}, storage driver {self._driver()})")

    @staticmethod
    def _spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return spawn(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)

    def _wait(self, ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, name: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not ready():
            if proc.poll() is not None:
                raise DockerdError(f"{name} exited with status {proc.returncode} while starting:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise DockerdError(f"{name} did not answer within {self.start_timeout:.0f}s:\n{_tail(log)}")
            time.sleep(_POLL)

    def _pinged(self) -> bool:
        reply = _socket_answers(self.socket, b"GET /_ping HTTP/1.0\r\nHost: dockerd\r\n\r\n")
        return reply is not None and reply.split(b"\r\n", 1)[0].endswith(b" 200 OK")

    def _driver(self) -> str:
        return str(self.api.info().get("Driver", ""))

    def _storage_works(self) -> bool:
        """Whether the storage driver can really mount a layer here (overlay2 on some filesystems cannot)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("probe")
            tar.addfile(info, io.BytesIO(b""))
        api = self.api
        image = container = None
        try:
            out = api.import_image_from_data(buf.getvalue(), repository="arena/storage-probe", tag="latest")
            image = "arena/storage-probe:latest"
            container = api.create_container(image, command=["/probe"], network_disabled=True)["Id"]
            return any(b"probe" in chunk for chunk in api.export(container)) and "error" not in str(out)
        except docker.errors.DockerException as exc:
            self.progress(f"dockerd storage probe failed: {exc}")
            return False
        finally:
            with contextlib.suppress(docker.errors.DockerException):
                if container:
                    api.remove_container(container, force=True)
                if image:
                    api.remove_image(image, force=True)

    def _stop_daemons(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
        for proc in (self._dockerd, self._containerd):  # dockerd first: it talks to containerd while stopping
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._dockerd = self._containerd = None

    @staticmethod
    def _remove_cgroups(name: str) -> None:
        """rmdir ``name`` in every cgroup hierarchy (runc removed the containers' own cgroups below it)."""
        with open("/proc/self/mountinfo") as table:
            hierarchies = [line.split()[4] for line in table if " - cgroup" in line]  # cgroup and cgroup2
        for hierarchy in hierarchies:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(hierarchy, name))

    def _kill_stragglers(self, marker: str) -> None:
        """SIGKILL any engine process still naming the private directory (a containerd shim whose container
        outlived a killed build), and wait until they are gone."""
        needle = marker.encode()
        victims: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                argv = (entry / "cmdline").read_bytes()
                program = os.path.basename(argv.split(b"\0", 1)[0])
                if needle in argv and program.startswith((b"containerd", b"dockerd", b"runc")):
                    os.kill(int(entry.name), signal.SIGKILL)
                    victims.append(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
        deadline = time.monotonic() + 10
        while victims and time.monotonic() < deadline:
            victims = [pid for pid in victims if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]
            if victims:
                time.sleep(_POLL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
