"""The orders stream is shared by every bot of a tournament: no writer may trim what the engine has not read."""

from __future__ import annotations

import redis

from arena.runtime import bus as bus_module
from arena.runtime.bus import Bus


def test_a_flood_of_reports_never_trims_another_bots_unread_report(redis_url, monkeypatch):
    monkeypatch.setattr(bus_module, "STREAM_MAXLEN", 10)  # what an approximate MAXLEN would have kept
    client = redis.Redis.from_url(redis_url)
    bus = Bus(client, "fair")
    bus.report("victim", "order", 1, {"symbol": "SPY"})
    bus.report("victim", "done", 1)
    bus.report_many("flooder", [("cancel", 1, {"order_id": i}) for i in range(5000)])
    reports = bus.read_reports("0-0", None)
    assert [(r.bot, r.kind) for r in reports[:2]] == [("victim", "order"), ("victim", "done")]
    assert len(reports) == 5002
    # The engine trims what it has consumed (and journaled) only: the unread reports stay.
    bus.report("victim", "done", 2)
    bus.trim_reports(reports[-1].id)
    rest = bus.read_reports(reports[-2].id, None)
    assert [(r.bot, r.kind, r.n) for r in rest] == [("flooder", "cancel", 1), ("victim", "done", 2)]
    assert client.xlen(bus.orders_key) < 5003
    client.close()
