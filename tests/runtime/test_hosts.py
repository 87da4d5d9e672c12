"""Bot hosts: placement over their free slots, heartbeats, and a host lost mid-tournament (kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from arena.runtime import hosts
from arena.runtime.bus import Bus
from arena.runtime.hosts import Heartbeat, HostInfo, HostWatch, place
from arena.runtime.local import start_supervisors
from arena.runtime.tournament import Tournament
from tests.runtime.test_tournament import examples, spec


def test_placement_spreads_bots_over_free_slots() -> None:
    bots = [f"b{i}" for i in range(6)]
    even = place(bots, [HostInfo("a", 10, 0, 0.0), HostInfo("b", 10, 0, 0.0)])
    assert sorted(even.values()).count("a") == 3 and sorted(even.values()).count("b") == 3
    # A host with more room takes more; a full one takes none while another has room.
    busy = place(bots, [HostInfo("a", 4, 4, 0.0), HostInfo("b", 10, 2, 0.0), HostInfo("c", 3, 0, 0.0)])
    assert list(busy.values()).count("a") == 0
    assert list(busy.values()).count("b") == 5 and list(busy.values()).count("c") == 1
    assert place(bots, []) == {}
    # No free slot anywhere: the least loaded host queues them.
    assert set(place(["x"], [HostInfo("a", 1, 3, 0.0), HostInfo("b", 1, 1, 0.0)]).values()) == {"b"}


def test_a_host_whose_beats_stop_is_seen_lost_with_its_last_heartbeat(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    beat = Heartbeat(client, "watch-a", slots=4, used=lambda: 1).start()
    hosts.announce(client, HostInfo("watch-b", 4, 0, time.time()))
    assert {h.name for h in hosts.live_hosts(client)} >= {"watch-a", "watch-b"}
    watch = HostWatch(client, {"x": "watch-a", "y": "watch-b"}, every_s=0, confirm_s=0)
    assert watch.newly_lost() == {}
    client.delete(hosts.beat_key("watch-b"))  # its beat expired
    lost = watch.newly_lost()
    assert set(lost) == {"watch-b"} and isinstance(lost["watch-b"]["last_heartbeat"], float)
    assert watch.newly_lost() == {}  # reported once
    assert watch.bots_on("watch-b") == ["y"]
    beat.stop()
    assert "watch-a" not in hosts.known(client)  # a clean stop withdraws at once
    client.close()


def test_a_beat_gone_for_less_than_the_confirmation_is_not_a_loss(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    now = [100.0]
    hosts.announce(client, HostInfo("blip", 4, 0, time.time()))
    watch = HostWatch(client, {"x": "blip"}, every_s=0, clock=lambda: now[0], confirm_s=2.0)
    client.delete(hosts.beat_key("blip"))  # Redis restarted and the key expired meanwhile
    assert watch.newly_lost() == {}
    now[0] += 1.0
    hosts.announce(client, HostInfo("blip", 4, 0, time.time()))  # the host beats again
    assert watch.newly_lost() == {}
    client.delete(hosts.beat_key("blip"))
    now[0] += 1.0
    assert watch.newly_lost() == {}  # gone again: the clock starts over
    now[0] += 2.0
    assert set(watch.newly_lost()) == {"blip"}
    client.close()


HOST = """
import sys, redis, threading
from pathlib import Path
from arena.runtime.hosts import Heartbeat
from arena.runtime.local import start_supervisors
from arena.runtime.tournament import Entry
from sandbox import Limits
url, name, tid, *bots = sys.argv[1:]
entries = [Entry(b.split("=")[0], Path(b.split("=")[1])) for b in bots]
Heartbeat(redis.Redis.from_url(url), name, slots=8, used=lambda: len(entries)).start()
for thread in start_supervisors(url, tid, entries, Limits(), {}):
    thread.join()
"""


@pytest.mark.sandbox
@pytest.mark.usefixtures("sandbox_runtime")
def test_a_bot_host_killed_mid_tournament_ends_its_bots_host_fault_and_the_rest_finish(redis_url, catalog):
    bots = examples()
    tour = spec("hostloss", bots, ticks=30)
    config, entries = tour.build(catalog)
    client = redis.Redis.from_url(redis_url)
    placement = place([e.bot for e in entries], [HostInfo("host-a", 8, 0, 0.0), HostInfo("host-b", 8, 0, 0.0)])
    on_a = [e for e in entries if placement[e.bot] == "host-a"]
    on_b = [e for e in entries if placement[e.bot] == "host-b"]
    engine = Tournament(client, config, entries, catalog, hosts=HostWatch(client, placement))
    args = [f"{e.bot}={e.path}" for e in on_a]
    host_a = subprocess.Popen([sys.executable, "-c", HOST, redis_url, "host-a", tour.id, *args], start_new_session=True)
    beat_b = Heartbeat(redis.Redis.from_url(redis_url), "host-b", slots=8, used=lambda: len(on_b)).start()
    supervisors = start_supervisors(redis_url, tour.id, on_b, config.limits, {})
    deadline = time.monotonic() + 60
    while not hosts.alive(client, ["host-a"])["host-a"] and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for its first heartbeat (placement takes live hosts only), bounded
    standings: list = []
    runner = threading.Thread(target=lambda: standings.extend(engine.run()), daemon=True)
    runner.start()
    bus = Bus(client, tour.id)
    try:
        deadline = time.monotonic() + 120
        while not ((p := bus.progress()) and p[0] >= 5) and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the market stream's progress, bounded by the deadline
        killed = time.time()
        os.killpg(host_a.pid, signal.SIGKILL)
        runner.join(timeout=180)
    finally:
        if host_a.poll() is None:
            os.killpg(host_a.pid, signal.SIGKILL)
        host_a.wait(timeout=10)
        beat_b.stop()
        for thread in supervisors:
            thread.join(timeout=30)
    assert not runner.is_alive() and len(standings) == len(entries)
    status = {s.bot: s.status for s in standings}
    assert {status[e.bot] for e in on_a} == {"host_fault"}
    assert {status[e.bot] for e in on_b} == {"finished"}
    for entry in on_a:
        report = engine.bots[entry.bot].report
        assert report["host"] == "host-a" and report["host_fault"] is True
        detected_by = killed + hosts.LOST_AFTER_S + hosts.CONFIRM_S + 3
        assert report["last_heartbeat"] <= killed <= report["seen_lost_at"] <= detected_by
        assert "host-a" in report["reason"]
    assert bus.progress()[0] == 30  # the tournament went on to its end
    client.close()
