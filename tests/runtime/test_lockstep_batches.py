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

from arena.runtime.bus import Bus
from arena.runtime.journal import Journal
from arena.runtime.tournament import Tournament
from tests.runtime.test_tournament import spec


def _order(client_order_id: str) -> dict[str, object]:
    return {"symbol": "SPY", "side": "buy", "type": "market", "qty": 1, "client_order_id": client_order_id}


def test_what_a_bot_writes_after_its_done_is_the_next_ticks(redis_url, catalog, tmp_path):
    bots = {"early": tmp_path / "early.py", "late": tmp_path / "late.py"}
    config, entries = spec("carry", bots, ticks=2, tick_deadline_s=0.5).build(catalog)
    client = redis.Redis.from_url(redis_url)
    tournament = Tournament(client, config, entries, catalog)
    bus = Bus(client, "carry")

    def bots_play() -> None:
        for bot in bots:
            bus.report(bot, "done", 0)
        deadline = time.monotonic() + 60
        while not bus.progress() and time.monotonic() < deadline:
            time.sleep(0.01)  # polling for tick 1's publication, bounded by the deadline
        # Tick 1, all in the stream before the engine reads it (as on a takeover): "early" answers, then
        # (reacting to results it was sent) writes again before "late" is done.
        pipe = client.pipeline(transaction=True)
        for bot, kind, body in [("early", "order", _order("in-1")), ("early", "done", None),
                                ("early", "order", _order("after-done")), ("late", "done", None)]:  # fmt: skip
            fields = {"bot": bot, "kind": kind, "n": 1} | ({"body": json.dumps(body)} if body else {})
            pipe.xadd(bus.orders_key, fields)
        pipe.execute()

    player = threading.Thread(target=bots_play)
    player.start()
    tournament.run()
    player.join()

    batches = {r.n: [s[1] for s in r.steps if s[0] == "batch"] for r in Journal(client, "carry").records()}
    ids = {n: [[req["client_order_id"] for _bot, req in b] for b in steps] for n, steps in batches.items()}
    assert ids[1] == [["in-1"]]
    assert ids[2] == [["after-done"]]  # tick 2 had no done at all: its batch is the carried order alone
    # The carry is journaled with tick 1, so an engine resuming after tick 1 has it too.
    assert [req["client_order_id"] for _bot, req in Journal(client, "carry").records()[1].carry] == ["after-done"]
    client.close()
