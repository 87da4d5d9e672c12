"""Bot protocol v1 (docs/protocol.md): the messages between the host and a bot, and their mapping to the engine.

Messages are dicts (JSON objects on the wire). The bot SDK (``arena_bot``) speaks the same
shapes; ``arena backtest`` passes them in-process, a tournament as JSON lines over stdio.
Everything here is pure: the supervisor does the I/O, this module decides what the lines mean.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from arena.engine.accounts import Account
from arena.engine.book import L2Book
from arena.engine.events import Event, Fill, OrderAccepted, OrderDone, OrderRejected
from arena.engine.instruments import Instrument
from arena.engine.rules import Ruleset

PROTOCOL_VERSION = 1
# Fields a bot may set on an order. Context and account are never among them: the host stamps those.
_ORDER_FIELDS = ("symbol", "side", "qty", "limit_price", "stop_price", "tif", "post_only", "session",
                 "client_order_id")  # fmt: skip


# -- framing and limits -----------------------------------------------------------------------------

MAX_LINE_BYTES = 65536  # one line, newline included; JsonLineChannel(max_line_bytes=MAX_LINE_BYTES - 1)
CHANNELS = ("ticker", "orderbook", "trades")
MAX_SUBSCRIBE_SYMBOLS = 256
MAX_SYMBOL_CHARS = 32
MAX_LOG_CHARS = 1000
MAX_ID_CHARS = 64
MAX_ORDER_FIELDS = 16  # an order's fields, unknown ones included (those are named back in the rejection)
MAX_FIELD_CHARS = 32  # a field name on an order, and the value of its enum fields (side, order_type, tif, session)
CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")  # the engine's own rule, checked before anything is stored
BOT_MESSAGE_TYPES = ("subscribe", "unsubscribe", "order", "cancel", "pong", "done", "log", "resync")
LOG_LEVELS = ("debug", "info", "warning", "error")
MARGIN_WARNING_THRESHOLD = 0.8  # margin used / cap above which the host warns, once per crossing
SYSTEM_STATUSES = ("open", "closed", "halt")

# Codes of host → bot ``error`` messages. The first four mirror sandbox.channel's ProtocolError codes.
INVALID_JSON = "INVALID_JSON"
LINE_TOO_LONG = "LINE_TOO_LONG"
INVALID_UTF8 = "INVALID_UTF8"
NOT_AN_OBJECT = "NOT_AN_OBJECT"
UNKNOWN_TYPE = "UNKNOWN_TYPE"
INVALID_MESSAGE = "INVALID_MESSAGE"
UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
RATE_LIMITED = "RATE_LIMITED"
FLOODING = "FLOODING"
ERROR_CODES = (
    INVALID_JSON,
    LINE_TOO_LONG,
    INVALID_UTF8,
    NOT_AN_OBJECT,
    UNKNOWN_TYPE,
    INVALID_MESSAGE,
    UNKNOWN_SYMBOL,
    RATE_LIMITED,
    FLOODING,
)


def order_request(message: Mapping[str, Any]) -> dict[str, Any]:
    """A bot's ``order`` message as an engine order request.

    Whatever context or account the bot wrote is dropped; any field the protocol does not know is
    kept so that the engine rejects the order with INVALID_ORDER naming it.
    """
    request = {k: v for k, v in message.items() if k not in ("type", "order_type", "context", "account")}
    if "order_type" in message:
        request["type"] = message["order_type"]
    return request


def hello_message(
    bot: str,
    tournament: str | None,
    ruleset: Ruleset,
    instruments: list[Instrument],
    clock: str = "lockstep",
    tick_deadline_ms: int | None = None,
    memory_mib: int | None = None,
) -> dict[str, Any]:
    """The greeting, and tick 0: the bot answers with its start-up messages (subscribe, ...) then ``done`` 0.
    ``memory_mib``: the bot's sandbox memory limit, if it differs from the ruleset's."""
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "bot": bot,
        "tournament": tournament,
        "balance": ruleset.starting_balance,
        "rules": ruleset_summary(ruleset, memory_mib),
        "instruments": [instrument_summary(i, ruleset) for i in instruments],
        "clock": clock,
        "tick_deadline_ms": tick_deadline_ms,
        "max_line_bytes": MAX_LINE_BYTES,
        "channels": list(CHANNELS),
    }


def ruleset_summary(ruleset: Ruleset, memory_mib: int | None = None) -> dict[str, Any]:
    """The rules as a bot sees them; ``memory_mib`` is its sandbox's limit when known (an operator's limits may
    set it below the ruleset's)."""
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
        "memory_mib": ruleset.memory_mib if memory_mib is None else memory_mib,  # past it the bot is out (oom)
    }


def instrument_summary(instrument: Instrument, ruleset: Ruleset | None = None) -> dict[str, Any]:
    """One instrument as a bot sees it; ``tradable`` says whether ``ruleset`` lets the bot order it."""
    tradable = ruleset is None or (
        (ruleset.symbols is None or instrument.symbol in ruleset.symbols)
        and (ruleset.asset_classes is None or instrument.asset_class in ruleset.asset_classes)
    )
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
        # The currency of its prices, and the symbol whose mid converts that currency to the USD account (null for
        # USD); added within v1.
        "currency": instrument.currency,
        "conversion": instrument.conversion,
        "tradable": tradable,
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
            **({"liquidation": True} if event.order.liquidation else {}),
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
            **({"liquidation": True} if event.liquidation else {}),
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


class ProtocolViolation(ValueError):
    """A decoded bot line is not a valid v1 message. ``code`` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# -- bot → host messages ------------------------------------------------------------------------------

# A validated bot message: a fresh dict with a "type" and that type's fields, normalised —
#   subscribe/unsubscribe: symbols (list, de-duplicated), channels (list, canonical order; default all)
#   order: every field the bot wrote except context/account (feed it to order_request)
#   cancel: client_order_id and/or order_id          done: n (int or None)
#   log: message (<= 1000 chars), level              pong: id          resync: symbol
BotMessage = dict[str, Any]


def _invalid(kind: str, what: str) -> ProtocolViolation:
    return ProtocolViolation(INVALID_MESSAGE, f"{kind}: {what}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _symbol(kind: str, symbol: Any) -> str:
    # Symbols, ids and field names end up in the record's bounded columns: a bot's string that would not fit
    # (or a NUL, which PostgreSQL refuses) must be stopped here, before anything is stored.
    if not isinstance(symbol, str) or not 0 < len(symbol) <= MAX_SYMBOL_CHARS or not symbol.isprintable():
        raise _invalid(kind, f"a symbol must be a string of 1-{MAX_SYMBOL_CHARS} printable characters")
    return symbol


def _client_order_id(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not CLIENT_ORDER_ID.fullmatch(value):
        raise _invalid(kind, f"'client_order_id' must be 1-{MAX_ID_CHARS} characters of A-Z a-z 0-9 _ . : -")
    return value


def _text(value: str) -> str:
    """Free text kept in the record: no NUL (PostgreSQL refuses it in text)."""
    return value.replace("\x00", "\ufffd")


def _order(obj: Mapping[str, Any]) -> BotMessage:
    """An order keeps its fields for the engine to judge (a bad order is an ``order_update`` rejection), but its
    strings are capped here first: the symbol, the client order id, enum values and the names of unknown fields."""
    order = {k: v for k, v in obj.items() if k not in ("context", "account")}
    if len(order) > MAX_ORDER_FIELDS:
        raise _invalid("order", f"at most {MAX_ORDER_FIELDS} fields, got {len(order)}")
    for name, value in order.items():
        if len(name) > MAX_FIELD_CHARS or not name.isprintable():
            raise _invalid("order", f"a field name must be 1-{MAX_FIELD_CHARS} printable characters")
        if isinstance(value, str) and name not in ("symbol", "client_order_id") and len(value) > MAX_FIELD_CHARS:
            raise _invalid("order", f"{name!r} must be at most {MAX_FIELD_CHARS} characters")
    if "symbol" in order:
        _symbol("order", order["symbol"])
    if order.get("client_order_id") is not None:
        _client_order_id("order", order["client_order_id"])
    return order


def _symbol_list(kind: str, obj: Mapping[str, Any]) -> list[str]:
    symbols = obj.get("symbols")
    if not isinstance(symbols, list) or not symbols:
        raise _invalid(kind, "'symbols' must be a non-empty list of symbol strings")
    if len(symbols) > MAX_SUBSCRIBE_SYMBOLS:
        raise _invalid(kind, f"at most {MAX_SUBSCRIBE_SYMBOLS} symbols per message, got {len(symbols)}")
    for symbol in symbols:
        _symbol(kind, symbol)
    return list(dict.fromkeys(symbols))  # de-duplicated, order kept


def _channel_list(kind: str, obj: Mapping[str, Any]) -> list[str]:
    channels = obj.get("channels")
    if channels is None:
        return list(CHANNELS)
    if not isinstance(channels, list) or not channels:
        raise _invalid(kind, f"'channels' must be a non-empty list drawn from {list(CHANNELS)}")
    for channel in channels:
        if not isinstance(channel, str) or channel not in CHANNELS:
            raise _invalid(kind, f"unknown channel {str(channel)[:40]!r}; the channels are {list(CHANNELS)}")
    return [c for c in CHANNELS if c in channels]  # canonical order


def parse_bot_message(obj: Any) -> BotMessage:
    """Validate one decoded bot line and return it normalised. Raises ProtocolViolation.

    Unknown fields are dropped (forward compatibility), except on ``order``, where they are kept so that
    the engine rejects the order naming them. ``context`` and ``account`` never survive: the host stamps
    those itself.
    """
    if not isinstance(obj, dict):
        raise ProtocolViolation(NOT_AN_OBJECT, f"each line must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolViolation(INVALID_MESSAGE, "every message needs a string 'type'")
    if kind not in BOT_MESSAGE_TYPES:
        raise ProtocolViolation(
            UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}; expected one of {', '.join(BOT_MESSAGE_TYPES)}"
        )
    if kind == "order":
        return _order(obj)
    if kind == "cancel":
        out: BotMessage = {"type": kind}
        client_order_id, order_id = obj.get("client_order_id"), obj.get("order_id")
        if client_order_id is not None:
            out["client_order_id"] = _client_order_id(kind, client_order_id)
        if order_id is not None:
            if not _is_int(order_id):
                raise _invalid(kind, "'order_id' must be an integer")
            out["order_id"] = order_id
        if len(out) == 1:
            raise _invalid(kind, "name the order: 'client_order_id' (string) or 'order_id' (integer)")
        return out
    if kind == "done":
        n = obj.get("n")
        if n is not None and not (_is_int(n) and n >= 0):
            raise _invalid(kind, "'n' must be the tick number (an integer >= 0)")
        return {"type": kind, "n": n}
    if kind == "log":
        message, level = obj.get("message"), obj.get("level", "info")
        if not isinstance(message, str):
            raise _invalid(kind, "'message' must be a string")
        if not isinstance(level, str) or level not in LOG_LEVELS:
            raise _invalid(kind, f"'level' must be one of {', '.join(LOG_LEVELS)}")
        return {"type": kind, "message": _text(message[:MAX_LOG_CHARS]), "level": level}
    if kind == "pong":
        pong_id = obj.get("id")
        if not (_is_int(pong_id) or (isinstance(pong_id, str) and 0 < len(pong_id) <= MAX_ID_CHARS
                                     and pong_id.isprintable())):
            raise _invalid(kind, f"'id' must echo the ping's id (an integer or a string of 1-{MAX_ID_CHARS})")
        return {"type": kind, "id": pong_id}
    if kind == "resync":
        return {"type": kind, "symbol": _symbol(kind, obj.get("symbol"))}
    return {"type": kind, "symbols": _symbol_list(kind, obj), "channels": _channel_list(kind, obj)}


# -- flood control (pure: the supervisor tells it what happened) -------------------------------------


@dataclass(frozen=True, slots=True)
class FloodPolicy:
    max_lines_per_tick: int = 1000  # further lines in the same tick window are dropped (RATE_LIMITED)
    cut_off_lines_per_tick: int = 10_000  # this many in one window: the bot is cut off (FLOODING)
    max_bad_lines: int = 100  # malformed/oversize/unknown lines over the whole run before the cut-off
    max_bytes_per_tick: int = 8 * 1024 * 1024


class FloodGuard:
    """Counts one bot's lines per tick window and decides: ``accept``, ``drop`` or ``cut``.

    Call :meth:`line` with the size of every line read, before decoding it (a line it drops is never decoded),
    :meth:`refused` when an accepted line then fails to decode or validate, :meth:`discarded` for input that
    held no line (blank, or the discarded rest of an oversize line), and :meth:`next_tick` at each tick
    boundary. Once it has said ``cut`` it says so for ever. (``line(size, bad=True)`` is ``line`` + ``refused``.)
    """

    ACCEPT, DROP, CUT = "accept", "drop", "cut"

    def __init__(self, policy: FloodPolicy | None = None) -> None:
        self.policy = policy or FloodPolicy()
        self.lines = self.bad_lines = self.dropped = 0  # totals
        self.window_lines = self.window_bytes = 0
        self.cut_off = False
        self.reason = ""

    def next_tick(self) -> None:
        self.window_lines = self.window_bytes = 0

    def line(self, size: int, bad: bool = False) -> str:
        if self.cut_off:
            return self.CUT
        self.lines += 1
        self.window_lines += 1
        self.window_bytes += size
        self.bad_lines += bad
        return self._verdict()

    def refused(self) -> str:
        if self.cut_off:
            return self.CUT
        self.bad_lines += 1
        return self._verdict(counted=False)

    def discarded(self, size: int) -> str:
        if self.cut_off:
            return self.CUT
        self.window_bytes += size
        return self._verdict(counted=False)

    def _verdict(self, counted: bool = True) -> str:
        """``counted``: the call counted a line against the window's line budget (else it cannot be dropped)."""
        policy = self.policy
        if self.bad_lines > policy.max_bad_lines:
            return self._cut(f"more than {policy.max_bad_lines} invalid lines")
        if self.window_lines >= policy.cut_off_lines_per_tick:
            return self._cut(f"{policy.cut_off_lines_per_tick} lines in one tick")
        if self.window_bytes > policy.max_bytes_per_tick:
            return self._cut(f"more than {policy.max_bytes_per_tick} bytes in one tick")
        if counted and self.window_lines > policy.max_lines_per_tick:
            self.dropped += 1
            return self.DROP
        return self.ACCEPT

    def _cut(self, reason: str) -> str:
        self.cut_off, self.reason = True, reason
        return self.CUT


# -- host → bot messages (besides hello, book, portfolio and order_update above) --------------------------


def compact_json(value: Any) -> bytes:
    """Compact JSON, NaN and infinities refused: the one encoding of protocol lines and bus fields."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def encode_line(message: Mapping[str, Any]) -> bytes:
    """A message as one protocol line, without its newline."""
    return compact_json(message)


def tick_message(n: int, ts: int) -> dict[str, Any]:
    """The tick boundary: all of tick ``n``'s messages have been sent; the bot answers ``done`` with ``n``."""
    return {"type": "tick", "n": n, "ts": ts}


def end_message(reason: str = "finished") -> dict[str, Any]:
    return {"type": "end", "reason": reason}


def ping_message(id: int | str) -> dict[str, Any]:
    return {"type": "ping", "id": id}


def error_message(code: str, message: str, line: int | None = None) -> dict[str, Any]:
    """Tell the bot which of its lines (1-based count of lines it wrote) was refused and why."""
    out: dict[str, Any] = {"type": "error", "code": code, "message": message[:MAX_LOG_CHARS]}
    if line is not None:
        out["line"] = line
    return out


def margin_warning_message(margin_used: float, margin_cap: float, ts: int, nav: float | None = None) -> dict[str, Any]:
    """Margin use crossed MARGIN_WARNING_THRESHOLD of the cap (gross exposure vs NAV x max leverage)."""
    message: dict[str, Any] = {
        "type": "risk.margin_warning",
        "ts": ts,
        "margin_used": margin_used,
        "margin_cap": margin_cap,
        "utilization": margin_used / margin_cap if margin_cap > 0 else 1.0,
        "threshold": MARGIN_WARNING_THRESHOLD,
    }
    if nav is not None:
        message["nav"] = nav
    return message


def system_status_message(
    status: str, ts: int, venue: str | None = None, symbol: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """A venue's session opened or closed, or a symbol (or venue) was halted. Neither venue nor symbol: all."""
    if status not in SYSTEM_STATUSES:
        raise ValueError(f"status must be one of {SYSTEM_STATUSES}, got {status!r}")
    return {"type": "system.status", "ts": ts, "status": status, "venue": venue, "symbol": symbol, "reason": reason}


# -- market data: one bot's view of the tournament's books -----------------------------------------------


def _levels(levels: Iterable[tuple[float, float]], depth: int | None) -> dict[float, float]:
    """Price -> size of the displayed levels (best first, at most ``depth``); empty levels are not levels."""
    out: dict[float, float] = {}
    if depth is not None and depth <= 0:
        return out
    for price, size in levels:
        if size > 0 and price not in out:
            out[price] = size
            if len(out) == depth:
                break
    return out


def _changes(old: dict[float, float], new: dict[float, float], descending: bool) -> list[list[float]]:
    """The level changes that turn ``old`` into ``new`` ([price, 0.0] removes), sorted best first."""
    changed = [(price, 0.0) for price in old if price not in new]
    changed += [(price, size) for price, size in new.items() if old.get(price) != size]
    changed.sort(reverse=descending)  # by price: each price is there once
    return [[price, size] for price, size in changed]


Quote = tuple[float | None, float | None, float | None, float | None, float | None]  # bid, bid size, ask, ask size, mid


def ticker_fields(book: L2Book) -> Quote:
    """A ticker's top of book: (bid, bid size, ask, ask size, mid), None for a side without levels."""
    bid: tuple[float | None, float | None] = book.top_bid() or (None, None)  # (a ladder's levels left unmade)
    ask: tuple[float | None, float | None] = book.top_ask() or (None, None)
    mid = (bid[0] + ask[0]) / 2.0 if bid[0] is not None and ask[0] is not None else None
    return bid[0], bid[1], ask[0], ask[1], mid


def _ticker(book: L2Book, seq: int) -> dict[str, Any]:
    bid, bid_size, ask, ask_size, mid = ticker_fields(book)
    return {"type": "ticker", "symbol": book.symbol, "seq": seq, "ts": book.ts, "bid": bid, "bid_size": bid_size,
            "ask": ask, "ask_size": ask_size, "mid": mid, "last": book.last}  # fmt: skip


def _trades(book: L2Book, seq: int) -> dict[str, Any]:
    return {"type": "trades", "symbol": book.symbol, "seq": seq, "ts": book.ts, "price": book.last,
            "qty": book.volume}  # fmt: skip


# A market-data message: its key, its seq, and what builds it given a seq (with its book; see MarketView.lines).
_Part = tuple[Any, int, Callable[[L2Book, int], dict[str, Any]], L2Book]
_BookCopy = tuple[dict[float, float], dict[float, float], float | None]  # a bot's copy of a book: bids, asks, last


def _orderbook_step(book: L2Book, previous: _BookCopy | None,
                    depth: int | None) -> tuple[dict[str, Any] | None, _BookCopy]:
    """The orderbook message (seq 0) that brings a bot's copy ``previous`` up to ``book`` (a snapshot when it has
    none), or None when it lacks nothing; and the copy after it."""
    bids, asks = _levels(book.bids, depth), _levels(book.asks, depth)
    if previous is None or (book.last is None and previous[2] is not None):  # a delta cannot unset last
        message: dict[str, Any] = {
            "type": "orderbook",
            "symbol": book.symbol,
            "seq": 0,
            "ts": book.ts,
            "snapshot": True,
            "bids": [[p, s] for p, s in sorted(bids.items(), reverse=True)],
            "asks": [[p, s] for p, s in sorted(asks.items())],
            "last": book.last,
        }
        return message, (bids, asks, book.last)
    bid_changes, ask_changes = _changes(previous[0], bids, True), _changes(previous[1], asks, False)
    if not bid_changes and not ask_changes and book.last == previous[2]:
        return None, previous  # nothing the bot's copy lacks
    return {"type": "orderbook", "symbol": book.symbol, "seq": 0, "ts": book.ts, "snapshot": False,
            "bids": bid_changes, "asks": ask_changes, "last": book.last}, (bids, asks, book.last)  # fmt: skip


class MarketView:
    """Turns the tournament's books of each tick into one bot's market-data messages.

    Per (symbol, channel) ``seq`` starts at 1 and rises by exactly 1 per message, for the whole run.
    ``orderbook`` opens with a snapshot and continues with deltas of the changed levels; ``ticker`` and
    ``trades`` messages are complete in themselves. Until the bot subscribes it gets every symbol on
    every channel (the host cannot see a bot's ``Bot.symbols``); its first ``subscribe`` replaces that
    default with exactly what it asked for. Pure and deterministic: same calls, same messages.
    """

    def __init__(self, symbols: Iterable[str], depth: int | None = None) -> None:
        self.symbols = tuple(dict.fromkeys(symbols))  # the tournament's order: the order messages go out in
        self.depth = depth
        self.explicit = False  # False: the default subscription (everything) is in force
        self._channels: dict[str, set[str]] = {s: set(CHANNELS) for s in self.symbols}
        self._latest: dict[str, L2Book] = {}
        self._sent: dict[str, tuple[dict[float, float], dict[float, float], float | None]] = {}  # bot's book
        self._ticker_due: set[str] = set()  # newly subscribed: send the current ticker even if unchanged
        self._seq: dict[tuple[str, str], int] = {}

    def channels(self, symbol: str) -> frozenset[str]:
        """The channels the bot currently gets for ``symbol``."""
        return frozenset(self._channels.get(symbol, ()))

    def subscribe(self, symbols: Iterable[str], channels: Iterable[str] | None = None) -> list[str]:
        """Add channels for symbols; returns the symbols this tournament does not have (those are ignored)."""
        wanted = set(CHANNELS if channels is None else channels) & set(CHANNELS)
        # The first subscribe replaces the default; what stays subscribed keeps its state (no extra snapshot).
        target = {s: (set(c) if self.explicit else set()) for s, c in self._channels.items()}
        self.explicit = True
        unknown = []
        for symbol in symbols:
            if symbol in target:
                target[symbol] |= wanted
            else:
                unknown.append(symbol)
        for symbol, chosen in target.items():
            if chosen != self._channels[symbol]:
                self._set(symbol, chosen)
        return unknown

    def unsubscribe(self, symbols: Iterable[str], channels: Iterable[str] | None = None) -> list[str]:
        """Drop channels for symbols (from the default too); returns the symbols this tournament does not have."""
        dropped = set(CHANNELS if channels is None else channels)
        self.explicit = True
        unknown = []
        for symbol in symbols:
            if symbol in self._channels:
                self._set(symbol, self._channels[symbol] - dropped)
            else:
                unknown.append(symbol)
        return unknown

    def resync(self, symbol: str) -> bool:
        """The bot lost track of ``symbol``'s book: its next ``orderbook`` message is a snapshot."""
        if "orderbook" not in self._channels.get(symbol, ()):
            return False
        self._sent.pop(symbol, None)
        return True

    def _set(self, symbol: str, channels: set[str]) -> None:
        old = self._channels[symbol]
        if "orderbook" not in channels:
            self._sent.pop(symbol, None)  # a later subscription starts over with a snapshot
        if "ticker" in channels and "ticker" not in old:
            self._ticker_due.add(symbol)
        elif "ticker" not in channels:
            self._ticker_due.discard(symbol)
        self._channels[symbol] = channels

    def _next_seq(self, symbol: str, channel: str) -> int:
        seq = self._seq.get((symbol, channel), 0) + 1
        self._seq[(symbol, channel)] = seq
        return seq

    def messages(self, books: Iterable[L2Book]) -> list[dict[str, Any]]:
        """This tick's market data for the bot, given the books that changed in the tick."""
        return [make(book, seq) for _key, seq, make, book in self._parts(books, {})]

    def hand(self, books: Iterable[L2Book], ticker: Callable[[L2Book], None],
             message: Callable[[dict[str, Any]], None]) -> None:  # fmt: skip
        """The same messages as ``messages``, in the same order, handed over one by one to a bot in this process: a
        ticker as its book, for ``ticker`` to read with ``ticker_fields`` (no message is built: a backtest's most
        common one), any other as its message."""
        for _key, seq, make, book in self._parts(books, {}):
            if make is _ticker:
                ticker(book)
            else:
                message(make(book, seq))

    def lines(self, books: Iterable[L2Book], shared: dict[Any, Any]) -> list[bytes]:
        """The same messages as ``messages``, as encoded lines (no newline), each encoded once for every bot whose
        view of the tick is the same: ``shared`` (one dict per tick, kept as long as the tick's books) holds each
        message's encoding with its ``seq`` left out, and the orderbook state the bots share."""
        out = []
        for key, seq, make, book in self._parts(books, shared):
            template = shared.get(key)
            if template is None:  # (the book, kept with it, holds the objects the key names alive)
                head, _, tail = encode_line(make(book, 0)).partition(b'"seq":0,')
                template = shared[key] = (head + b'"seq":', b"," + tail, book)
            out.append(template[0] + str(seq).encode() + template[1])
        return out

    def _parts(self, books: Iterable[L2Book], shared: dict[Any, Any]) -> list[_Part]:
        """This tick's messages as (what the message is, its seq, what builds it from its book and a seq, its book),
        the view's state moved on. Messages with the same key are the same but for their seq."""
        latest, channels_of, seqs, due = self._latest, self._channels, self._seq, self._ticker_due
        updated: set[str] = set()
        for changed in books:
            symbol = changed.symbol
            if symbol not in channels_of:
                raise ValueError(f"{symbol} is not one of this tournament's symbols")
            latest[symbol] = changed
            updated.add(symbol)
        out: list[_Part] = []
        for symbol in self.symbols:
            channels = channels_of[symbol]
            book = latest.get(symbol)
            if not channels or book is None:
                continue
            fresh = symbol in updated
            if "ticker" in channels and (fresh or symbol in due):
                if due:
                    due.discard(symbol)
                key = (symbol, "ticker")
                seq = seqs[key] = seqs.get(key, 0) + 1  # (_next_seq, inline: most messages are tickers)
                out.append((("ticker", id(book)), seq, _ticker, book))
            if "orderbook" in channels and (fresh or symbol not in self._sent):
                message = self._orderbook(book, shared)
                if message is not None:
                    out.append((message[0], self._next_seq(symbol, "orderbook"), message[1], book))
            if "trades" in channels and fresh and book.volume > 0 and book.last is not None:
                out.append((("trades", id(book)), self._next_seq(symbol, "trades"), _trades, book))
        return out

    def _orderbook(self, book: L2Book,
                   shared: dict[Any, Any]) -> tuple[Any, Callable[[L2Book, int], dict[str, Any]]] | None:  # fmt: skip
        """The bot's orderbook message for ``book`` (a snapshot, or the delta from the copy it holds), and its copy
        moved on; None when its copy lacks nothing. Bots holding the same copy share the result, and then the
        next copy (``shared`` keeps the objects its keys name alive)."""
        previous = self._sent.get(book.symbol)
        key = ("orderbook", id(book), id(previous), self.depth)
        result = shared.get((key, "step"))
        if result is None:
            result = shared[(key, "step")] = (*_orderbook_step(book, previous, self.depth), book, previous)
        message, sent = result[0], result[1]
        self._sent[book.symbol] = sent
        return None if message is None else (key, lambda _book, seq: message | {"seq": seq})
