"""Alembic environment for Arena's store. Run through ``arena.store.migrate`` (no alembic.ini needed).

The database comes from ``config.attributes["connection"]`` (a Connection handed in) or the config's
``sqlalchemy.url``, falling back to ``ARENA_DATABASE_URL``.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection

from arena.store.db import database_url, make_engine
from arena.store.models import Base
from arena.store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations should not import app types that may change later: UTCDateTime is a timestamptz in DDL.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs by copying the table
        compare_type=True,
        render_item=render_item,
    )


def _run(connection: Connection) -> None:
    raw: DBAPIConnection | None = None  # SQLite's
    if connection.dialect.name == "sqlite":
        # A batch migration drops and re-creates tables; with foreign keys on, DROP TABLE would cascade
        # deletes into child tables. The pragma is a no-op inside a transaction, so it is set on the raw
        # connection (autocommit: see db.py) before Alembic begins one.
        if connection.in_transaction():
            raise RuntimeError("migrate SQLite on a connection that is not in a transaction")
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        if raw is not None:
            problems = raw.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"migration left rows violating foreign keys: {problems[:10]}")
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or database_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
