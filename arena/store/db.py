"""Engine and session factory.

``ARENA_DATABASE_URL`` picks the database (e.g. ``postgresql+psycopg://user@host/arena``); unset, it is a
SQLite file ``arena.db`` in ``ARENA_DATA_DIR`` (default ``./data``). SQLite connections get WAL (readers
never block the writer), foreign keys (off by default in SQLite!), ``synchronous=NORMAL`` (safe with
WAL) and a busy timeout; transactions start with ``BEGIN IMMEDIATE`` so a read-then-write transaction
takes the write lock up front instead of failing with SQLITE_BUSY when it upgrades.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from arena.private_files import private_file
from arena.settings import Settings


def database_url(data_dir: Path | None = None) -> str:
    """ARENA_DATABASE_URL, else the SQLite file in ``data_dir`` (default: ARENA_DATA_DIR)."""
    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    return settings.database


def make_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """An Engine for ``url`` (default: from the environment), with the SQLite set-up applied."""
    url = make_url(url or database_url())
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            private_file(Path(url.database))  # 0600: it holds the hashes of API keys and passwords
        engine = create_engine(url, **kwargs)
        _sqlite_setup(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)  # survive a PostgreSQL restart without a failed request
    return create_engine(url, **kwargs)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite (which defers BEGIN and breaks SAVEPOINTs); we emit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(_BEGIN, 'IMMEDIATE')}")


_BEGIN = "arena_sqlite_begin"


def make_sessionmaker(engine: Engine, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``. ``read_only`` sessions (e.g. spectator and listing endpoints) begin SQLite
    transactions DEFERRED, so they read a WAL snapshot without taking the write lock; others begin
    IMMEDIATE (see the module doc). On PostgreSQL the two are the same."""
    bind = engine.execution_options(**{_BEGIN: "DEFERRED"}) if read_only else engine
    # expire_on_commit=False: objects stay readable after commit (the API serialises them afterwards).
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction: committed when the block ends, rolled back if it raises."""
    with factory.begin() as session:
        yield session
