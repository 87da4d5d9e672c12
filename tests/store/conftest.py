"""Store fixtures: every test that takes ``database_url`` (or ``session``) runs on SQLite and PostgreSQL.

One throwaway PostgreSQL serves the whole run (``arena.store.pgserver``: this machine's initdb/postgres,
run as ``nobody`` when we are root). The schema is migrated once per database kind; each SQLite test gets
a copy of the migrated file, PostgreSQL tests share one migrated database, emptied after each test.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from arena.store import accounts, bots, tournaments
from arena.store.db import make_engine, make_sessionmaker
from arena.store.migrate import upgrade
from arena.store.models import Base, BotVersion, Contestant, Tournament, TournamentStatus, VersionStatus
from arena.store.pgserver import PostgresServer, PostgresUnavailable

KINDS = ["sqlite", "postgresql"]
S = TournamentStatus
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(f"{exc} — the store tests need PostgreSQL (Debian: apt-get install postgresql)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_database(pg_server: PostgresServer) -> str:
    """One migrated database for the run, emptied after each test (TRUNCATE: ~10 ms, where copying a
    migrated template with CREATE DATABASE takes ~300 ms)."""
    upgrade(pg_server.create_database("arena_test"))
    return "arena_test"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "arena.db"
    upgrade(f"sqlite:///{path}")
    # The last connection closed checkpoints the WAL away: the .db file alone is the whole database.
    assert not Path(f"{path}-wal").exists()
    return path


def _fresh(kind: str, request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp_path / "arena.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    if migrated:
        name = request.getfixturevalue("pg_database")
        try:
            yield server.url(name)
        finally:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            with server.connect(name) as conn:
                conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return
    name = f"test_{next(_names)}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(params=KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    yield from _fresh(request.param, request, tmp_path, migrated=True)


@pytest.fixture(params=KINDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind with no tables at all."""
    yield from _fresh(request.param, request, tmp_path, migrated=False)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session; tests commit when they want to read back through a fresh one."""
    with make_sessionmaker(engine)() as session:
        yield session


# -- small worlds ---------------------------------------------------------------------------------


class World:
    """Builders for the objects most tests need, in the test's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def contestant(self, name: str, is_admin: bool = False) -> Contestant:
        return accounts.create_contestant(self.session, name, f"{name}@example.org", is_admin=is_admin)

    def version(self, owner: Contestant, bot_name: str, ready: bool = True) -> BotVersion:
        bot = bots.bot_by_name(self.session, owner, bot_name) or bots.create_bot(self.session, owner, bot_name)
        content = f"{owner.name}/{bot_name}/{len(bot.versions)}".encode()
        version = bots.add_version(
            self.session, bot, sha256=hashlib.sha256(content).hexdigest(), size_bytes=1234, file_count=1,
            storage_path=f"blobs/{owner.name}/{bot_name}",
        )  # fmt: skip
        if ready:
            bots.set_version_verdict(self.session, version, VersionStatus.READY, "hello ok")
        return version

    def tournament(self, slug: str = "t1", status: TournamentStatus = S.OPEN, **fields: Any) -> Tournament:
        t = tournaments.create_tournament(self.session, slug, f"Tournament {slug}", **fields)
        path = [TournamentStatus.OPEN, TournamentStatus.RUNNING, TournamentStatus.FINISHED]
        for step in path[: path.index(status) + 1] if status in path else []:
            tournaments.transition(self.session, t, step)
        return t


@pytest.fixture
def world(session: Session) -> World:
    return World(session)
