"""Webhook events: ids, the canonical body, and the mapping from the runtime's bot messages."""

from __future__ import annotations

import json
import math
import random

import pytest

from arena.engine.events import Fill, OrderDone
from arena.engine.orders import OrderStatus, Side
from arena.runtime.protocol import margin_warning_message, order_update_message, system_status_message
from arena.runtime.tournament import Standing
from arena.webhooks.events import (
    EVENT_TYPES,
    WebhookEvent,
    derived_event_id,
    event_id,
    events_from_bot_messages,
    random_event_id,
    tournament_finished_message,
)
from tests.engine.builders import accepted

TS = 1_767_225_660_000


def fill(remaining: float, filled: float, ts: int = TS, order_id: int = 7) -> Fill:
    return Fill(ts, order_id, "bot-a", "c-1", "SPY", Side.BUY, 10.0, 587.12, 0.1, False, filled, remaining)


def messages() -> list[dict]:
    return [
        {"type": "book", "ts": TS},
        order_update_message(accepted(TS, 7, "bot-a", "c-1", "SPY")),
        order_update_message(fill(remaining=30.0, filled=10.0)),
        {"type": "portfolio", "ts": TS, "cash": 1.0, "nav": 1.0, "positions": {}},
        order_update_message(fill(remaining=0.0, filled=40.0, ts=TS + 1000)),
        order_update_message(OrderDone(TS + 2000, 8, "bot-a", None, OrderStatus.CANCELLED, "CANCELLED", 0.0)),
        margin_warning_message(1_700_000.0, 2_000_000.0, TS + 3000, 1_000_000.0),
        system_status_message("halt", TS + 4000, symbol="SPY", reason="volatility"),
        {"type": "tick", "n": 3, "ts": TS + 4000},
        tournament_finished_message(
            TS + 9000,
            [Standing("bot-b", 1, 2.0, 2.0, 0.0, "finished"), Standing("bot-a", 2, 1.0, 1.0, 0.5, "finished")],
        ),
    ]


def test_mapping_from_bot_messages() -> None:
    events = events_from_bot_messages("cup", "bot-a", messages())
    assert [e.type for e in events] == [
        "order.partial_fill",
        "order.filled",
        "risk.margin_warning",
        "system.status",
        "tournament.finished",
    ]
    assert all(e.tournament == "cup" and e.bot == "bot-a" for e in events)
    partial, filled, margin, status, finished = events
    assert partial.data["remaining"] == 30.0 and partial.data["order_id"] == 7 and "type" not in partial.data
    assert filled.created == TS + 1000 and filled.data["filled_qty"] == 40.0
    assert margin.data["utilization"] == pytest.approx(0.85)
    assert status.data == {"ts": TS + 4000, "status": "halt", "venue": None, "symbol": "SPY", "reason": "volatility"}
    assert finished.data["standing"]["rank"] == 2 and finished.data["entrants"] == 2
    assert [s["bot"] for s in finished.data["standings"]] == ["bot-b", "bot-a"]


def test_mapping_is_pure_and_ids_are_stable_unique_and_sorted() -> None:
    a = events_from_bot_messages("cup", "bot-a", messages())
    b = events_from_bot_messages("cup", "bot-a", messages())
    assert a == b  # same messages, same ids: a re-derived tick's events de-duplicate at the receiver
    ids = [e.id for e in a]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)  # created rises, so ids do
    # Another bot, tournament or run: other ids for the same message.
    assert {e.id for e in events_from_bot_messages("cup", "bot-b", messages())}.isdisjoint(ids)
    assert {e.id for e in events_from_bot_messages("cup2", "bot-a", messages())}.isdisjoint(ids)
    assert {e.id for e in events_from_bot_messages("cup", "bot-a", messages(), run="rerun-1")}.isdisjoint(ids)
    # Two fills of one order at the same ts are two events.
    same_ts = [order_update_message(fill(20.0, 20.0)), order_update_message(fill(10.0, 30.0))]
    assert len({e.id for e in events_from_bot_messages("cup", "bot-a", same_ts)}) == 2


def test_event_id_layout() -> None:
    eid = event_id(TS, 0)
    assert eid.startswith("evt_") and len(eid) == 30
    assert event_id(TS, 2**80 - 1)[14:] == "Z" * 16
    assert event_id(-5, 0) == "evt_" + "0" * 26  # clamped
    assert event_id(TS, 0) < event_id(TS + 1, 0) < event_id(TS * 10, 0)
    rng1, rng2 = random.Random(3), random.Random(3)
    assert random_event_id(TS, rng1) == random_event_id(TS, rng2)  # seeded, no hidden global randomness
    assert random_event_id(TS, rng1) != random_event_id(TS, random.Random(4))
    assert derived_event_id(TS, "a", 1) == derived_event_id(TS, "a", 1) != derived_event_id(TS, "a", 2)


def test_canonical_body() -> None:
    event = WebhookEvent(event_id(TS, 1), "order.filled", TS, "cup", "bot-ü", {"b": 1, "a": [1.5, None], "é": "x"})
    body = event.body()
    assert (
        body
        == (
            '{"bot":"bot-ü","created":1767225660000,"data":{"a":[1.5,null],"b":1,"é":"x"},'
            f'"id":"{event.id}","tournament":"cup","type":"order.filled"}}'
        ).encode()
    )
    assert WebhookEvent.from_body(body) == event
    assert json.loads(body) == event.as_dict()


def test_event_validation_and_plain_json_data() -> None:
    eid = event_id(TS, 1)
    with pytest.raises(ValueError, match="unknown event type"):
        WebhookEvent(eid, "order.accepted", TS, "cup", "bot")
    with pytest.raises(ValueError, match="event id"):
        WebhookEvent("x", "order.filled", TS, "cup", "bot")
    with pytest.raises(ValueError, match="created"):
        WebhookEvent(eid, "order.filled", -1, "cup", "bot")
    with pytest.raises(ValueError, match="bot"):
        WebhookEvent(eid, "order.filled", TS, "cup", "")
    with pytest.raises(TypeError, match="keys must be strings"):
        WebhookEvent(eid, "order.filled", TS, "cup", "bot", {"a": {1: 2}})
    with pytest.raises(TypeError, match="not JSON"):
        WebhookEvent(eid, "order.filled", TS, "cup", "bot", {"a": object()})
    source = {"nav": math.inf, "dd": math.nan, "levels": (1, 2)}
    event = WebhookEvent(eid, "risk.margin_warning", TS, "cup", "bot", source)
    assert event.data == {"nav": None, "dd": None, "levels": [1, 2]}  # JSON has no NaN; the body stays valid
    source["nav"] = 5.0
    assert event.data["nav"] is None  # a private copy


def test_messages_without_ts_and_unknown_order_statuses() -> None:
    with pytest.raises(ValueError, match="ts"):
        events_from_bot_messages("cup", "bot", [{"type": "system.status", "status": "open"}])
    # A "filled" order_update without a fill's price (not produced today) is not a fill.
    assert events_from_bot_messages("cup", "bot", [{"type": "order_update", "status": "filled", "ts": 1}]) == []


def test_tournament_finished_caps_the_board() -> None:
    board = [{"bot": f"b{i:03}", "rank": i + 1, "score": 1.0} for i in range(250)]
    (event,) = events_from_bot_messages("cup", "b200", [tournament_finished_message(TS, board)])
    assert len(event.data["standings"]) == 100 and event.data["entrants"] == 250
    assert event.data["standing"]["rank"] == 201
    (absent,) = events_from_bot_messages("cup", "zz", [tournament_finished_message(TS, board, reason="cancelled")])
    assert absent.data["standing"] is None and absent.data["reason"] == "cancelled"
    assert set(EVENT_TYPES) >= {event.type}
