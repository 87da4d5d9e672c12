"""The throwaway PostgreSQL: finds the binaries, runs unprivileged, cleans up after itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena.store.pgserver import PostgresServer, PostgresUnavailable, find_bindir


def test_finds_the_binaries() -> None:
    bindir = find_bindir()
    assert bindir is not None and (bindir / "initdb").exists() and (bindir / "postgres").exists()


def test_runs_unprivileged_and_cleans_up() -> None:
    with PostgresServer() as server:
        directory = server._dir
        assert directory is not None and directory.is_dir()
        pid = server._process.pid
        uid = int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0])
        assert uid != 0 or (os.geteuid() != 0 and uid == os.geteuid())
        with server.connect() as conn:
            assert conn.execute("SELECT current_setting('listen_addresses')").fetchone() == ("127.0.0.1",)
        server.create_database("scratch")
        with server.connect("scratch") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not directory.exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_missing_binaries_say_how_to_install() -> None:
    server = PostgresServer()
    server.bindir = None  # as on a machine without PostgreSQL
    with pytest.raises(PostgresUnavailable, match="apt-get install postgresql"):
        server.start()
