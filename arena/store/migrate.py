"""Run the store's Alembic migrations from code: ``upgrade(url)`` on service start and in the tests.

The Alembic configuration is built here (the scripts ship inside the package), so no alembic.ini is
needed at runtime. For the alembic CLI, e.g. to write a new revision::

    python -m arena.store.migrate revision -m "add x" --autogenerate   # against ARENA_DATABASE_URL
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import CommandLine, Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from arena.store.db import database_url, make_engine

SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("path_separator", "os")
    # "%" is Alembic's interpolation character; a password may contain one.
    config.set_main_option("sqlalchemy.url", (url or database_url()).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default: ARENA_DATABASE_URL or the SQLite file) up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current(engine: Engine) -> str | None:
    """The database's revision (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(url: str | None = None) -> bool:
    engine = make_engine(url)
    try:
        return current(engine) == head()
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """The alembic CLI with our configuration (``-x``/``-c`` ignored: the config is built in code)."""
    cli = CommandLine(prog="python -m arena.store.migrate")
    options = cli.parser.parse_args(argv if argv is not None else sys.argv[1:])
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(), options)


if __name__ == "__main__":
    main()
