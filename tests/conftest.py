"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from arena.catalog import load_catalog
from arena.engine.instruments import InstrumentCatalog
from arena.runtime.redis_server import RedisServer


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Session calendars are cached (arena/feeds/calendars.py): in the run's own folder, not the user's."""
    previous = os.environ.get("ARENA_CACHE_DIR")
    os.environ["ARENA_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("ARENA_CACHE_DIR", None)
    else:
        os.environ["ARENA_CACHE_DIR"] = previous


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
