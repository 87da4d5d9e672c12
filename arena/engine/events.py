"""Events: what the engine reports back. Plain immutable records, easy to serialise (``as_dict``)."""

from __future__ import annotations

from typing import Any, NamedTuple

from arena.engine.orders import Order, OrderStatus, Side
from arena.engine.rejections import Rejection

# NamedTuples rather than frozen dataclasses: the engine makes one per fill and per score
# change, and a tuple is several times cheaper to build.


def _as_dict(event: Any) -> dict[str, Any]:
    data = {"event": type(event).__name__, **event._asdict()}
    for key, value in data.items():
        if hasattr(value, "value"):  # enums -> their wire value
            data[key] = value.value
    return data


class OrderAccepted(NamedTuple):
    """An order was accepted. ``order`` is the Order the engine parsed from the request and now works: its
    terms (side, type, qty, tif, prices, post-only) are fixed from here on, so whoever records the order reads
    them there instead of parsing the request again; its working state (fills, status) moves on with the
    engine, so read that from the later events, not from here."""

    ts: int
    order_id: int
    account: str
    client_order_id: str | None
    symbol: str
    order: Order

    def as_dict(self) -> dict[str, Any]:
        order = self.order
        return {
            "event": "OrderAccepted",
            "ts": self.ts,
            "order_id": self.order_id,
            "account": self.account,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": order.side.value,
            "type": order.type.value,
            "qty": order.qty,
            "tif": order.tif.value,
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "post_only": order.post_only,
            "session": order.session.value,
        }


class OrderRejected(NamedTuple):
    ts: int
    account: str
    client_order_id: str | None
    symbol: str | None
    rejection: Rejection

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "OrderRejected",
            "ts": self.ts,
            "account": self.account,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            **self.rejection.as_dict(),
        }


class Fill(NamedTuple):
    ts: int
    order_id: int
    account: str
    client_order_id: str | None
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    maker: bool
    filled_qty: float  # of the order so far, this fill included
    remaining: float  # of the order, after this fill
    liquidation: bool = False  # of an order the engine placed to reduce the account (forced liquidation)

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


class OrderDone(NamedTuple):
    """An order left the book without filling completely: cancelled or expired."""

    ts: int
    order_id: int
    account: str
    client_order_id: str | None
    status: OrderStatus
    reason: str
    filled_qty: float

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


class AccountUpdate(NamedTuple):
    """An account's NAV moved: its new valuation and score."""

    ts: int
    account: str
    nav: float
    max_drawdown: float
    score: float

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


Event = OrderAccepted | OrderRejected | Fill | OrderDone | AccountUpdate
