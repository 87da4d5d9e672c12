"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from arena.catalog import load_catalog
from arena.engine.instruments import InstrumentCatalog
from arena.runtime.redis_server import RedisServer


@pytest.fixture(scope="session")
def catalog() -> InstrumentCatalog:
    """The packaged default instrument catalog."""
    return load_catalog()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server on a free loopback port for the whole run."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The server's URL, with the database emptied before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    yield redis_server.url
