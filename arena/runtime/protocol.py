"""Bot protocol v1: the messages between the host and a bot, and their mapping to the engine.

Messages are dicts (JSON objects on the wire). The bot SDK (``arena_bot``) speaks the same
shapes; ``arena backtest`` passes them in-process, a tournament as JSON lines over stdio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena.engine.accounts import Account
from arena.engine.book import L2Book
from arena.engine.events import Event, Fill, OrderAccepted, OrderDone, OrderRejected
from arena.engine.instruments import Instrument
from arena.engine.rules import Ruleset

PROTOCOL_VERSION = 1
# Fields a bot may set on an order. Context and account are never among them: the host stamps those.
_ORDER_FIELDS = ("symbol", "side", "qty", "limit_price", "stop_price", "tif", "post_only", "client_order_id")


def order_request(message: Mapping[str, Any]) -> dict[str, Any]:
    """A bot's ``order`` message as an engine order request.

    Whatever context or account the bot wrote is dropped; any field the protocol does not know is
    kept so that the engine rejects the order with INVALID_ORDER naming it.
    """
    request = {k: v for k, v in message.items() if k not in ("type", "order_type", "context", "account")}
    if "order_type" in message:
        request["type"] = message["order_type"]
    return request


def hello_message(bot: str, tournament: str | None, ruleset: Ruleset, instruments: list[Instrument]) -> dict[str, Any]:
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "bot": bot,
        "tournament": tournament,
        "balance": ruleset.starting_balance,
        "rules": ruleset_summary(ruleset),
        "instruments": [instrument_summary(i) for i in instruments],
    }


def ruleset_summary(ruleset: Ruleset) -> dict[str, Any]:
    return {
        "starting_balance": ruleset.starting_balance,
        "max_leverage": ruleset.max_leverage,
        "max_position_fraction": ruleset.max_position_fraction,
        "symbols": ruleset.symbols,
        "asset_classes": [a.value for a in ruleset.asset_classes] if ruleset.asset_classes else None,
        "order_types": [t.value for t in ruleset.order_types],
        "time_in_force": [t.value for t in ruleset.time_in_force],
        "short_selling": ruleset.short_selling,
        "extended_hours": ruleset.extended_hours,
        "daily_loss_limit": ruleset.daily_loss_limit,
        "order_rate": ruleset.order_rate.model_dump(),
        "scoring": ruleset.scoring.formula.value,
    }


def instrument_summary(instrument: Instrument) -> dict[str, Any]:
    return {
        "symbol": instrument.symbol,
        "asset_class": instrument.asset_class.value,
        "sector": instrument.sector,
        "venue": instrument.venue,
        "tick_size": instrument.tick_size,
        "qty_decimals": instrument.qty_decimals,
        "min_qty": instrument.min_qty,
        "multiplier": instrument.multiplier,
        "expiry": instrument.expiry.isoformat() if instrument.expiry else None,
    }


def book_message(book: L2Book, seq: int) -> dict[str, Any]:
    """A full snapshot of one symbol's book."""
    return {
        "type": "book",
        "snapshot": True,
        "seq": seq,
        "symbol": book.symbol,
        "ts": book.ts,
        "bids": [list(level) for level in book.bids],
        "asks": [list(level) for level in book.asks],
        "last": book.last,
    }


def portfolio_message(account: Account, ts: int) -> dict[str, Any]:
    return {
        "type": "portfolio",
        "ts": ts,
        "cash": account.cash,
        "nav": account.nav,
        "positions": {
            symbol: {"qty": p.qty, "avg_price": p.avg_price} for symbol, p in account.positions.items() if p.qty
        },
    }


def order_update_message(event: Event) -> dict[str, Any] | None:
    """The bot-facing ``order_update`` for an engine event (None for events that are not about orders)."""
    if isinstance(event, OrderAccepted):
        return {
            "type": "order_update",
            "status": "accepted",
            "ts": event.ts,
            "order_id": event.order_id,
            "client_order_id": event.client_order_id,
            "symbol": event.symbol,
        }
    if isinstance(event, Fill):
        return {
            "type": "order_update",
            "status": "filled" if event.remaining == 0 else "partial_fill",
            "ts": event.ts,
            "order_id": event.order_id,
            "client_order_id": event.client_order_id,
            "symbol": event.symbol,
            "side": event.side.value,
            "qty": event.qty,
            "price": event.price,
            "fee": event.fee,
            "filled_qty": event.filled_qty,
            "remaining": event.remaining,
        }
    if isinstance(event, OrderRejected):
        return {
            "type": "order_update",
            "status": "rejected",
            "ts": event.ts,
            "order_id": None,
            "client_order_id": event.client_order_id,
            "symbol": event.symbol,
            "code": event.rejection.code.value,
            "message": event.rejection.message,
        }
    if isinstance(event, OrderDone):
        return {
            "type": "order_update",
            "status": event.status.value,
            "ts": event.ts,
            "order_id": event.order_id,
            "client_order_id": event.client_order_id,
            "code": event.reason,
            "filled_qty": event.filled_qty,
        }
    return None
