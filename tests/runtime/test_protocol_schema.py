"""arena/runtime/protocol.schema.json (what the TypeScript client's types are generated from) against what the host
and the SDK really send: every message of a backtest of each example bot, each builder, and the SDK's own lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from arena.catalog import load_catalog
from arena.engine.book import L2Book
from arena.engine.rules import resolve_ruleset
from arena.feeds import open_feed
from arena.runtime import protocol
from arena.runtime.backtest import load_bot, run_backtest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "arena" / "runtime" / "protocol.schema.json").read_text())


def validator(definition: str) -> Any:
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]})


HOST, BOT = validator("HostMessage"), validator("BotMessage")


def _exchanged(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every message a backtest hands the bot, and every line the bot sends (the wire's JSON, both)."""
    bot, received, sent = load_bot(path), [], []
    handle, take = bot.handle, bot.take_outbox

    def recording_handle(message: dict[str, Any]) -> None:
        received.append(json.loads(json.dumps(message)))
        handle(message)

    def recording_take() -> list[dict[str, Any]]:
        out = take()
        sent.extend(json.loads(json.dumps(out)))
        return out

    bot.handle, bot.take_outbox = recording_handle, recording_take  # type: ignore[method-assign]
    catalog = load_catalog()
    ticks = list(open_feed("synthetic:3", catalog, list(bot.symbols) or None, ticks=120))
    run_backtest(bot, catalog, resolve_ruleset({"max_leverage": 1.0}), ticks, seed=3)
    return received, sent


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "bots").glob("*.py")), ids=lambda p: p.stem)
def test_every_message_of_a_backtest_fits_the_schema(path: Path) -> None:
    received, sent = _exchanged(path)
    kinds = {m["type"] for m in received}
    assert {"hello", "tick", "orderbook", "order_update", "portfolio"} <= kinds, kinds
    for message in received:
        HOST.validate(message)
    for message in sent:
        BOT.validate(message)


def test_the_builders_and_every_error_code_fit_the_schema() -> None:
    view = protocol.MarketView(["SPY"])
    first = L2Book("SPY", 1, ((99.0, 5.0), (98.0, 7.0)), ((101.0, 4.0),), 100.0, 1200.0)
    second = L2Book("SPY", 2, ((99.0, 6.0),), ((101.0, 4.0), (102.0, 1.0)), None, 0.0)
    market = view.messages([first]) + view.messages([second])
    assert {(m["type"], m.get("snapshot")) for m in market} == {("ticker", None), ("trades", None),
                                                                ("orderbook", True)}  # fmt: skip
    for message in (
        *market,
        protocol.ping_message("hb-1"), protocol.ping_message(7), protocol.end_message(),
        protocol.tick_message(3, 1_767_225_600_000), protocol.margin_warning_message(1.7e6, 2e6, 1, nav=1e6),
        protocol.system_status_message("halt", 1, symbol="SPY", reason="volatility"),
        *(protocol.error_message(code, "why", line=4) for code in protocol.ERROR_CODES),
    ):  # fmt: skip
        HOST.validate(message)


def test_the_schema_refuses_what_the_protocol_does_not_say() -> None:
    for message in ({"type": "tick", "n": "3", "ts": 1}, {"type": "orderbook", "symbol": "SPY", "seq": 0},
                    {"type": "error", "code": "SOMETHING_ELSE", "message": "x"}, {"type": "buy"}):  # fmt: skip
        assert not HOST.is_valid(message), message
    for message in ({"type": "order", "symbol": "SPY", "side": "hold", "qty": 1}, {"type": "cancel"},
                    {"type": "subscribe", "symbols": []}, {"type": "done", "n": -1},
                    {"type": "order", "symbol": "SPY", "side": "buy", "qty": 1, "session": "overnight"}):  # fmt: skip
        assert not BOT.is_valid(message), message


def test_an_order_may_name_its_session() -> None:
    order = {"type": "order", "symbol": "SPY", "side": "buy", "qty": 1, "order_type": "limit", "limit_price": 500.0}
    for session in ("regular", "extended"):
        BOT.validate(order | {"session": session})
    BOT.validate(order)  # optional: a v1 bot that never names one is still valid
