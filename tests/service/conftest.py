"""Fixtures for the service layer: the store's databases (SQLite and PostgreSQL) and the OCI runtimes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from arena.store.db import make_engine, make_sessionmaker
from tests.runtime.conftest import sandbox_runtime  # noqa: F401 (fixture)
from tests.store.conftest import database_url, pg_database, pg_server, sqlite_template  # noqa: F401 (fixtures)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:  # noqa: F811 (the fixture above)
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()
