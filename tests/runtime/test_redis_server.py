"""The private redis-server that `arena demo` and the tests start."""

from __future__ import annotations

import redis

from arena.runtime.redis_server import RedisServer


def test_starts_on_loopback_and_stops():
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()
        port = server.port
    dead = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        dead.ping()
        raise AssertionError("the server outlived stop()")
    except redis.ConnectionError:
        pass


def test_the_shared_fixture_is_empty_each_time(redis_url):
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.set("k", "v")
    client.close()
