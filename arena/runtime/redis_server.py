"""RedisServer: a private ``redis-server`` on a free loopback port, for ``arena up``, ``arena demo`` and the tests.

With a password it requires one (``requirepass``, given in a 0600 config file rather than on the command line,
where any local user could read it): its ``url`` carries it, as every Arena client takes it."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from arena.children import spawn
from arena.private_files import private_dir, write_private

_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


class RedisUnavailable(RuntimeError):
    code = "REDIS_UNAVAILABLE"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """Starts on ``start()`` (or ``with``), listening on 127.0.0.1 only; ``stop()`` ends it. Without ``data_dir``
    nothing persists (a throwaway in a temporary directory); with it, the append-only file there is kept, synced
    every second (``appendfsync everysec``: a crash loses at most the last second), and read back on a restart."""

    def __init__(self, binary: str = "redis-server", data_dir: Path | None = None, password: str | None = None) -> None:
        if password is not None and not _URL_SAFE.fullmatch(password):
            raise ValueError("a Redis password here is letters, digits and . _ ~ - (it goes into URLs as it is)")
        self.binary = binary
        self.data_dir = data_dir
        self.password = password
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0, port: int | None = None) -> RedisServer:
        """Start on a free port, or on ``port`` (e.g. to restart a stopped server where its clients expect it)."""
        path = shutil.which(self.binary)
        if path is None:
            raise RedisUnavailable(f"{self.binary} is not installed (Debian: apt-get install redis-server)")
        if self.data_dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="arena-redis-")
            where, persistence = self._dir.name, ["--appendonly", "no"]
        else:
            private_dir(self.data_dir)
            where, persistence = str(self.data_dir), ["--appendonly", "yes", "--appendfsync", "everysec"]
        config = self._config(Path(where))
        for _ in range(1 if port else 5):  # a port picked free can be taken before the server binds it
            self.port = port or free_port()
            self._process = spawn(
                [path, *config, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *persistence,
                 "--dir", where, "--protected-mode", "yes", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            if self._wait_ready(timeout):
                return self
            self._kill()
        raise RedisUnavailable("redis-server did not start")

    def _config(self, where: Path) -> list[str]:
        """The config file's path as redis-server's first argument (only with a password: it holds it)."""
        if not self.password:
            return []
        return [str(write_private(where / "arena-redis.conf", f'requirepass "{self.password}"\n'))]

    def _wait_ready(self, timeout: float) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    time.sleep(0.01)  # polling for readiness, bounded by the deadline
            return False
        finally:
            client.close()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def stop(self) -> None:
        self._kill()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
