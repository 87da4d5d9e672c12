"""PostgresServer: a throwaway PostgreSQL on a free loopback port, for the tests (and a local try-out).

It uses this machine's PostgreSQL binaries (``initdb``/``postgres`` on PATH or under
``/usr/lib/postgresql/*/bin``; Debian: ``apt-get install postgresql``). PostgreSQL refuses to run as
root, so when we are root the cluster is created and run as an unprivileged user (``nobody`` unless
told otherwise) in a temporary directory that user owns. Durability is switched off (fsync, full-page
writes): the data is thrown away anyway, and it makes CREATE DATABASE per test cheap.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from arena.children import spawn

SEARCH = "/usr/lib/postgresql/*/bin"


class PostgresUnavailable(RuntimeError):
    code = "POSTGRES_UNAVAILABLE"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_bindir() -> Path | None:
    """The directory holding initdb and postgres: PATH first, else the newest Debian cluster version."""
    found = shutil.which("initdb")
    if found:
        # Debian symlinks (e.g. /usr/local/bin/initdb) point into the versioned bin dir, next to postgres.
        bindir = Path(found).resolve().parent
        if (bindir / "postgres").exists():
            return bindir
    candidates = [
        Path(p) for p in glob.glob(SEARCH) if (Path(p) / "initdb").exists() and (Path(p) / "postgres").exists()
    ]

    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    return max(candidates, key=version) if candidates else None


class PostgresServer:
    """``start()`` (or ``with``) runs initdb and postgres; ``stop()`` ends it and deletes its files.

    Listens on ``host`` (127.0.0.1 unless told: the simulated cluster gives an address inside a network namespace
    it created), trust auth for the superuser ``arena`` from there and from ``allow`` (a CIDR, e.g. the cluster's
    private range); the unix socket is in the private temp dir. ``url(db)`` gives a SQLAlchemy URL for a database.
    """

    def __init__(self, bindir: Path | str | None = None, run_as: str = "nobody", user: str = "arena",
                 host: str = "127.0.0.1", allow: str | None = None, port: int | None = None) -> None:  # fmt: skip
        self.host, self.allow, self.fixed_port = host, allow, port
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.run_as = run_as
        self.user = user
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    # -- addresses -------------------------------------------------------------------

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        """An autocommit connection (CREATE/DROP DATABASE cannot run in a transaction)."""
        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.connect() as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')  # names are ours, never user input
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- life cycle ------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> PostgresServer:
        if self.bindir is None:
            raise PostgresUnavailable(
                "PostgreSQL is not installed: no initdb on PATH or under /usr/lib/postgresql/*/bin "
                "(Debian: apt-get install postgresql)"
            )
        self._dir = Path(tempfile.mkdtemp(prefix="arena-pg-"))
        demote = self._demotion()
        if demote:
            os.chown(self._dir, demote["user"], demote["group"])
        data = self._dir / "data"
        try:
            subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "--no-locale",
                 "-E", "UTF8", "--no-sync", "--no-instructions"],
                check=True, capture_output=True, cwd=self._dir, **demote,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            self.stop()
            raise PostgresUnavailable(f"initdb failed: {exc.stderr.decode(errors='replace')[-2000:]}") from exc
        if self.allow:
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all {self.user} {self.allow} trust\n")
        for _ in range(1 if self.fixed_port else 5):  # a port picked free can be taken before the server binds it
            self.port = self.fixed_port or free_port()
            self._log = open(self._dir / "postgres.log", "ab")  # noqa: SIM115 - closed in _kill
            self._process = spawn(  # dies with us, even on SIGKILL
                [str(self.bindir / "postgres"), "-D", str(data), "-h", self.host, "-p", str(self.port),
                 "-k", str(self._dir), "-c", "fsync=off", "-c", "full_page_writes=off",
                 "-c", "synchronous_commit=off", "-c", "max_connections=200", "-c", "shared_buffers=64MB"],
                stdout=self._log, stderr=subprocess.STDOUT, cwd=self._dir, **demote,
            )  # fmt: skip
            if self._wait_ready(timeout):
                return self
            self._kill()
        log = (self._dir / "postgres.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise PostgresUnavailable(f"postgres did not start:\n{log}")

    def _demotion(self) -> dict[str, Any]:
        """subprocess arguments that drop root to ``run_as``; nothing when we are not root."""
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam(self.run_as)
        except KeyError as exc:
            raise PostgresUnavailable(
                f"running as root and there is no user {self.run_as!r} to run PostgreSQL as"
            ) from exc
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "env": _env(entry.pw_dir)}

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with psycopg.connect(
                    host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=1
                ):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.02)  # polling for readiness, bounded by the deadline
        return False

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()  # SIGTERM: "smart" shutdown, but clients are gone by now
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        self._kill()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _env(home: str) -> dict[str, str]:
    """A minimal environment for the demoted server: no root HOME, C locale."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home or "/", "LC_ALL": "C", "LANG": "C"}
