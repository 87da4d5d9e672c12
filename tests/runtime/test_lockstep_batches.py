"""A lockstep tick's batch is fixed by where each request stands in its bot's own reports, not by when the
engine happened to read it: what a bot writes after its ``done`` for tick n is tick n+1's.

This is what makes a takeover's redo of a tick equal the dead engine's: the dead engine sent the bots its
results for the tick before it failed to journal it, the bots answered, and the new engine, reading from the
journaled cursor, finds those answers already behind the ``done``s (found by scripts/cluster.py, where a
Redis restart outlasting the lease made the first engine's lease lapse mid-tick).
"""

from __future__ import annotations

import json
import threading
import time

import redis

from arena.runtime.journal import Journal
from arena.runtime.tournament import Tournament
from tests.runtime.test_tournament import spec


def _order(client_order_id: str) -> dict[str, object]:
    return {"symbol": "SPY", "side": "buy", "type": "market", "qty": 1, "client_order_id": client_order_id}


def _play(client: redis.Redis, tournament: Tournament, tick_1: list[tuple[str, str, dict | None]]) -> None:
    """Run ``tournament`` with its bots played by this test: each is ready at once, and once tick 1 is out,
    ``tick_1``'s reports (bot, kind, body) land in the orders stream at once, as on a takeover."""
    bus = tournament.bus

    def bots_play() -> None:
        for bot in tournament.bots:
            bus.report(bot, "done", 0)
        deadline = time.monotonic() + 60
        while not bus.progress() and time.monotonic() < deadline:
            time.sleep(0.01)  # polling for tick 1's publication, bounded by the deadline
        pipe = client.pipeline(transaction=True)
        for bot, kind, body in tick_1:
            fields = {"bot": bot, "kind": kind, "n": 1} | ({"body": json.dumps(body)} if body else {})
            pipe.xadd(bus.orders_key, fields)
        pipe.execute()

    player = threading.Thread(target=bots_play)
    player.start()
    tournament.run()
    player.join()


def test_what_a_bot_writes_after_its_done_is_the_next_ticks(redis_url, catalog, tmp_path):
    bots = {"early": tmp_path / "early.py", "late": tmp_path / "late.py"}
    config, entries = spec("carry", bots, ticks=2, tick_deadline_s=0.5).build(catalog)
    client = redis.Redis.from_url(redis_url)
    # "early" answers tick 1, then (reacting to results it was sent) writes again before "late" is done.
    _play(client, Tournament(client, config, entries, catalog), [
        ("early", "order", _order("in-1")), ("early", "done", None),
        ("early", "order", _order("after-done")), ("late", "done", None),
    ])  # fmt: skip

    batches = {r.n: [s[1] for s in r.steps if s[0] == "batch"] for r in Journal(client, "carry").records()}
    ids = {n: [[req["client_order_id"] for _bot, req in b] for b in steps] for n, steps in batches.items()}
    assert ids[1] == [["in-1"]]
    assert ids[2] == [["after-done"]]  # tick 2 had no done at all: its batch is the carried order alone
    # The carry is journaled with tick 1, so an engine resuming after tick 1 has it too.
    assert [req["client_order_id"] for _bot, req in Journal(client, "carry").records()[1].carry] == ["after-done"]
    client.close()


def test_each_order_is_timed_and_the_running_bots_counted(redis_url, catalog, tmp_path):
    """arena_order_latency_seconds has one observation per order or cancel (not per batch), from its arrival
    to its first update leaving; arena_bots counts the bots of tournaments running now, and lets them go after."""
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    bots = {"one": tmp_path / "one.py", "two": tmp_path / "two.py"}
    config, entries = spec("metered", bots, ticks=3, tick_deadline_s=0.5).build(catalog)
    client = redis.Redis.from_url(redis_url)
    running_during: list[float] = []
    count = lambda _: running_during.append(sample("arena_bots", status="running"))  # noqa: E731  (each tick)
    tournament = Tournament(client, config, entries, catalog, on_tick=count)
    timed, running_before = sample("arena_order_latency_seconds_count"), sample("arena_bots", status="running")
    _play(client, tournament, [
        ("one", "order", _order("a")), ("one", "order", _order("b")), ("two", "order", _order("c")),
        ("one", "done", None), ("two", "done", None),
    ])  # fmt: skip
    assert sample("arena_order_latency_seconds_count") - timed == 3  # three orders in one batch
    assert running_during[0] - running_before == 2
    assert sample("arena_bots", status="running") == running_before  # ended: its bots left the count
    client.close()
