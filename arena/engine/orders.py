"""Order: what a bot asks for, parsed from untrusted input, and its life in the engine."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

from arena.engine.rejections import Rejection, RejectionCode

E = TypeVar("E", bound=StrEnum)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    DAY = "day"
    IOC = "ioc"
    FOK = "fok"


class TradingSession(StrEnum):
    """Which session an order may trade in: ``regular`` hours only, or ``extended`` (pre-market and after-hours
    too, on venues that have them, when the ruleset allows it; Alpaca's ``extended_hours``, IBKR's outsideRTH)."""

    REGULAR = "regular"
    EXTENDED = "extended"


class OrderStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Module constants (C globals in the compiled engine, not class attributes looked up on each use).
_BUY: Final = Side.BUY
_GTC: Final = TimeInForce.GTC
_OPEN: Final = OrderStatus.OPEN
_REGULAR: Final = TradingSession.REGULAR
_LIMITED: Final = frozenset((OrderType.LIMIT, OrderType.STOP_LIMIT))
_DONE: Final = frozenset((OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED))

# Larger than any sane order, small enough that notional arithmetic stays exact in a double.
MAX_QTY = 1e12
MAX_PRICE = 1e9
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_FIELDS = frozenset(
    {
        "symbol",
        "side",
        "type",
        "qty",
        "limit_price",
        "stop_price",
        "tif",
        "post_only",
        "session",
        "client_order_id",
        "context",
        "account",
    }
)


@dataclass(slots=True, init=False)
class Order:
    """An order request, then (once accepted) its working state.

    A dataclass (repr, equality, fields, replace) whose ``__init__`` is written out: the compiled engine
    builds one per order, and dataclasses' generated ``__init__`` would run interpreted.
    """

    account: str
    symbol: str
    side: Side
    type: OrderType
    qty: float
    tif: TimeInForce = TimeInForce.GTC
    limit_price: float | None = None
    stop_price: float | None = None
    post_only: bool = False
    session: TradingSession = TradingSession.REGULAR
    client_order_id: str | None = None
    tournament: str | None = None
    liquidation: bool = False  # placed by the engine to reduce an account past its maintenance level
    # Working state, set by the engine.
    id: int = 0
    ts: int = 0
    filled_qty: float = 0.0
    avg_fill_price: float = 0.0
    fees: float = 0.0
    status: OrderStatus = OrderStatus.OPEN
    triggered: bool = False  # a stop order whose stop price was reached
    expires_at: int | None = None  # DAY orders: the end of their session

    def __init__(
        self,
        account: str,
        symbol: str,
        side: Side,
        type: OrderType,
        qty: float,
        tif: TimeInForce = _GTC,
        limit_price: float | None = None,
        stop_price: float | None = None,
        post_only: bool = False,
        client_order_id: str | None = None,
        tournament: str | None = None,
        liquidation: bool = False,
        session: TradingSession = _REGULAR,
        id: int = 0,
        ts: int = 0,
        filled_qty: float = 0.0,
        avg_fill_price: float = 0.0,
        fees: float = 0.0,
        status: OrderStatus = _OPEN,
        triggered: bool = False,
        expires_at: int | None = None,
    ) -> None:
        self.account = account
        self.symbol = symbol
        self.side = side
        self.type = type
        self.qty = qty
        self.tif = tif
        self.limit_price = limit_price
        self.stop_price = stop_price
        self.post_only = post_only
        self.session = session
        self.client_order_id = client_order_id
        self.tournament = tournament
        self.liquidation = liquidation
        self.id = id
        self.ts = ts
        self.filled_qty = filled_qty
        self.avg_fill_price = avg_fill_price
        self.fees = fees
        self.status = status
        self.triggered = triggered
        self.expires_at = expires_at

    @property
    def remaining(self) -> float:
        return self.qty - self.filled_qty

    @property
    def limit(self) -> float | None:
        """The price this order may not fill beyond (limit and stop-limit orders), else None."""
        return self.limit_price if self.type in _LIMITED else None

    @property
    def sign(self) -> int:
        return 1 if self.side is _BUY else -1

    @property
    def is_done(self) -> bool:
        return self.status in _DONE

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side.value,
            "type": self.type.value,
            "qty": self.qty,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "tif": self.tif.value,
            "post_only": self.post_only,
            "session": self.session.value,
            "status": self.status.value,
            "filled_qty": self.filled_qty,
            "avg_fill_price": self.avg_fill_price,
            "fees": self.fees,
        }


@dataclass(frozen=True, slots=True)
class Cancel:
    """A request to cancel one of the account's open orders, by engine id or client id."""

    order_id: Any = None
    client_order_id: Any = None


class OrderError(ValueError):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def _invalid(message: str) -> OrderError:
    return OrderError(Rejection(RejectionCode.INVALID_ORDER, message))


def _number(data: Mapping[str, Any], field: str, upper: float) -> float | None:
    value = data.get(field)
    if value is None:
        return None
    # bool is an int subclass; "true" as a quantity is a bug in the bot, not a 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # a tuple: no union built per call
        raise _invalid(f"{field} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise _invalid(f"{field} must be finite, got {value}")
    if number <= 0:
        raise _invalid(f"{field} must be positive, got {value}")
    if number > upper:
        raise _invalid(f"{field} {value} is larger than the maximum {upper:g}")
    return number


_LOOKUP: dict[type[StrEnum], dict[str, StrEnum]] = {
    enum: {**{e.value: e for e in enum}, **{e.value.upper(): e for e in enum}}
    for enum in (Side, OrderType, TimeInForce, TradingSession)
}


def _choice(data: Mapping[str, Any], field: str, enum: type[E], default: E | None) -> E:
    value = data.get(field)
    if value is None:
        if default is None:
            raise _invalid(f"{field} is required")
        return default
    found = _LOOKUP[enum].get(value) if isinstance(value, str) else None
    if found is None:
        choices = ", ".join(e.value for e in enum)
        raise _invalid(f"{field} must be one of {choices}, got {value!r}")
    return found  # type: ignore[return-value]  # _LOOKUP[enum] holds members of enum only; its type cannot say so


def tournament_of(context: Any) -> str | None:
    """The tournament id of an order's context; ``None`` means the default ruleset."""
    if context is None:
        return None
    if not isinstance(context, Mapping) or context.get("type") != "tournament":
        raise _invalid('context must be {"type": "tournament", "id": "..."}')
    ident = context.get("id")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or not str(ident):
        raise _invalid("context.id must be a non-empty string")
    return str(ident)


def parse_order(data: Any, account: str | None = None) -> Order:
    """Validate an untrusted order request. Raises :class:`OrderError` with a rejection.

    ``account`` (when given) overrides whatever account the request names: the caller
    stamps it, the bot never chooses it.
    """
    if not isinstance(data, dict) and not isinstance(data, Mapping):  # a dict is the usual case, and cheaper
        raise _invalid("an order must be a JSON object")
    if not _FIELDS.issuperset(data):
        unknown = set(data) - _FIELDS
        raise _invalid(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    symbol = data.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise _invalid("symbol must be a non-empty string")
    if account is None:
        account = data.get("account")
        if not isinstance(account, str) or not account:
            raise _invalid("account must be a non-empty string")
    side = _choice(data, "side", Side, None)
    order_type = _choice(data, "type", OrderType, OrderType.MARKET)
    tif = _choice(data, "tif", TimeInForce, TimeInForce.GTC)
    session = _choice(data, "session", TradingSession, TradingSession.REGULAR)
    qty = _number(data, "qty", MAX_QTY)
    if qty is None:
        raise _invalid("qty is required")
    limit_price = _number(data, "limit_price", MAX_PRICE)
    stop_price = _number(data, "stop_price", MAX_PRICE)
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit_price is None:
        raise _invalid(f"a {order_type.value} order needs limit_price")
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and stop_price is None:
        raise _invalid(f"a {order_type.value} order needs stop_price")
    if order_type in (OrderType.MARKET, OrderType.STOP) and limit_price is not None:
        raise _invalid(f"a {order_type.value} order takes no limit_price")
    if order_type in (OrderType.MARKET, OrderType.LIMIT) and stop_price is not None:
        raise _invalid(f"a {order_type.value} order takes no stop_price")
    post_only = data.get("post_only", False)
    if not isinstance(post_only, bool):
        raise _invalid("post_only must be true or false")
    if post_only and order_type is not OrderType.LIMIT:
        raise _invalid("post_only applies to limit orders only")
    if post_only and tif in (TimeInForce.IOC, TimeInForce.FOK):
        raise _invalid("a post_only order cannot be IOC or FOK")
    client_order_id = data.get("client_order_id")
    if client_order_id is not None and (
        not isinstance(client_order_id, str) or not _CLIENT_ID.fullmatch(client_order_id)
    ):
        raise _invalid("client_order_id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return Order(
        account=account,
        symbol=symbol,
        side=side,
        type=order_type,
        qty=qty,
        tif=tif,
        limit_price=limit_price,
        stop_price=stop_price,
        post_only=post_only,
        client_order_id=client_order_id,
        tournament=tournament_of(data.get("context")),
        session=session,
    )
