"""Store fixtures: every test that takes ``database_url`` (or ``session``) runs on SQLite and PostgreSQL.

One throwaway PostgreSQL serves the whole run (``arena.store.pgserver``: this machine's initdb/postgres,
run as ``nobody`` when we are root). The schema is migrated once per database kind into a template;
each test gets a copy (SQLite: the file copied; PostgreSQL: CREATE DATABASE ... TEMPLATE, ~30 ms).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from arena.store.db import make_engine, make_sessionmaker
from arena.store.migrate import upgrade
from arena.store.pgserver import PostgresServer, PostgresUnavailable

KINDS = ["sqlite", "postgresql"]
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
def pg_template(pg_server: PostgresServer) -> str:
    upgrade(pg_server.create_database("arena_template"))
    return "arena_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "arena.db"
    upgrade(f"sqlite:///{path}")
    # The last connection closed checkpoints the WAL away: the .db file alone is the whole database.
    assert not Path(f"{path}-wal").exists()
    return path


def _fresh(kind: str, request: pytest.FixtureRequest, tmp_path: Path, template: bool) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp_path / "arena.db"
        if template:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"test_{next(_names)}"
    url = server.create_database(name, template=request.getfixturevalue("pg_template") if template else None)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(params=KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    yield from _fresh(request.param, request, tmp_path, template=True)


@pytest.fixture(params=KINDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind with no tables at all."""
    yield from _fresh(request.param, request, tmp_path, template=False)


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
