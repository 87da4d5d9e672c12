"""Bot: subclass it, override the ``on_*`` callbacks, trade with ``buy``/``sell``/``place``/``cancel``.

The host talks to a bot in protocol messages (dicts): :meth:`Bot.handle` takes one in and
:meth:`Bot.take_outbox` hands back what the bot sent. In ``arena backtest`` the messages pass
in-process; in a tournament the same dicts travel as JSON lines over the sandbox's stdio, so
one bot file runs unchanged in both.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from arena_bot.book import Book, SequenceGap
from arena_bot.errors import InvalidOrderError, OrderRejectedError, UnknownSymbolError, error_for
from arena_bot.history import Bar, History
from arena_bot.instruments import Instrument
from arena_bot.orders import OpenOrder
from arena_bot.portfolio import Portfolio

PROTOCOL_VERSION = 1
CHANNELS = ("ticker", "orderbook", "trades")
SESSIONS = ("regular", "extended")  # an order's trading session (regular hours only, or extended hours too)
_new = object.__new__


@dataclass(frozen=True)
class Fill:
    ts: int
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    client_order_id: str | None
    order_id: int | None


@dataclass(frozen=True)
class OrderUpdate:
    """``status`` is accepted, partial_fill, filled, cancelled, expired or rejected."""

    status: str
    client_order_id: str | None
    order_id: int | None
    symbol: str | None
    filled_qty: float = 0.0
    remaining: float = 0.0
    code: str | None = None
    message: str = ""

    @property
    def error(self) -> OrderRejectedError | None:
        return error_for(self.code or "REJECTED", self.message) if self.status == "rejected" else None

    def raise_for_status(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class Ticker:
    """Top of one symbol's book at ``ts`` (the ``ticker`` channel)."""

    symbol: str
    ts: int
    bid: float | None
    ask: float | None
    last: float | None
    mid: float | None
    bid_size: float | None = None
    ask_size: float | None = None


@dataclass(frozen=True)
class Trade:
    """Market volume printed since the symbol's previous update (the ``trades`` channel)."""

    symbol: str
    ts: int
    price: float
    qty: float


@dataclass(frozen=True)
class MarginWarning:
    """Margin use passed the warning threshold (80% of the cap by default)."""

    ts: int
    margin_used: float
    margin_cap: float
    utilization: float
    nav: float


@dataclass(frozen=True)
class Status:
    """``status`` is open, closed or halt; ``venue``/``symbol`` None means every venue/symbol."""

    status: str
    ts: int
    venue: str | None = None
    symbol: str | None = None
    reason: str | None = None


class Bot:
    """Base class of every bot. Set ``symbols`` to the instruments to follow (empty: all), ``channels``
    to the market data wanted for them (fewer channels, less to parse each tick), and ``history_size`` to the
    bars per symbol ``history()`` keeps (0: none; at most 10,000)."""

    symbols: tuple[str, ...] = ()
    channels: tuple[str, ...] = CHANNELS
    history_size: int = 100

    def __init__(self) -> None:
        self.books: dict[str, Book] = {}
        self.tickers: dict[str, Ticker] = {}
        self.statuses: dict[tuple[str | None, str | None], Status] = {}  # (venue, symbol) -> latest
        self.portfolio = Portfolio()
        self.info: dict[str, Any] = {}
        self.instruments: dict[str, Instrument] = {}  # symbol -> instrument, from hello (before on_start)
        self.now = 0  # the current tick's timestamp, ms since the epoch (UTC)
        self.open_orders: dict[str, OpenOrder] = {}  # client_order_id -> order, until filled/cancelled/...
        self._history = History(self.history_size)
        self.tick_n = 0  # the current tick's number (0: the hello)
        self._outbox: list[dict[str, Any]] = []
        self._next_id = 1
        self._resyncing: set[str] = set()  # symbols whose book waits for a snapshot after a gap

    # -- callbacks: override what you need ---------------------------------------------

    def on_start(self, info: dict[str, Any]) -> None:
        """Once, before the first tick: bot id, tournament, rules summary, instruments, balance."""

    def on_book(self, book: Book) -> None:
        """A symbol's book changed."""

    def on_tick(self, ts: int) -> None:
        """All of this tick's market data has arrived; decide now."""

    def on_fill(self, fill: Fill) -> None:
        """One of your orders filled (partly or wholly)."""

    def on_order_update(self, update: OrderUpdate) -> None:
        """An order was accepted, filled, cancelled, expired or rejected."""

    def on_end(self) -> None:
        """The tournament or backtest is over."""

    def on_ticker(self, ticker: Ticker) -> None:
        """Top of book for a symbol on the ``ticker`` channel."""

    def on_trade(self, trade: Trade) -> None:
        """Market volume printed for a symbol (the ``trades`` channel)."""

    def on_margin_warning(self, warning: MarginWarning) -> None:
        """Margin use passed 80% of the cap: orders that add exposure may soon be refused."""

    def on_status(self, status: Status) -> None:
        """A session opened or closed, or trading was halted."""

    def on_error(self, code: str, message: str) -> None:
        """The host refused one of your lines (see docs/protocol.md for the codes). Default: say so on stderr."""
        print(f"arena: host error {code}: {message}", file=sys.stderr)

    # -- actions -------------------------------------------------------------------------

    def buy(self, symbol: str, qty: float, limit: float | None = None, **options: Any) -> str:
        """Buy ``qty`` of ``symbol``: at market, or as a limit order at ``limit``. Returns the client order id."""
        return self.place(symbol, "buy", qty, limit_price=limit, **options)

    def sell(self, symbol: str, qty: float, limit: float | None = None, **options: Any) -> str:
        return self.place(symbol, "sell", qty, limit_price=limit, **options)

    def place(
        self,
        symbol: str,
        side: str,
        qty: float,
        order_type: str | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        tif: str = "gtc",
        post_only: bool = False,
        client_order_id: str | None = None,
        session: str = "regular",
    ) -> str:
        """Send one order; ``session="extended"`` lets a limit order for a US stock or ETF trade in pre-market and
        after-hours too, where the tournament allows it (its hello's ``rules["extended_hours"]``)."""
        if session not in SESSIONS:
            raise InvalidOrderError(f"session must be one of {', '.join(SESSIONS)}, got {session!r}")
        if not isinstance(qty, int | float) or isinstance(qty, bool) or not math.isfinite(qty) or qty <= 0:
            raise InvalidOrderError(f"qty must be a positive number, got {qty!r}")
        if order_type is None:
            order_type = {(False, False): "market", (True, False): "limit", (False, True): "stop"}.get(
                (limit_price is not None, stop_price is not None), "stop_limit"
            )
        if client_order_id is None:
            client_order_id = f"o{self._next_id}"
            self._next_id += 1
        order: dict[str, Any] = {
            "type": "order",
            "client_order_id": client_order_id,
            "symbol": symbol,
            "side": side,
            "order_type": order_type,
            "qty": qty,
            "tif": tif,
        }
        if limit_price is not None:
            order["limit_price"] = limit_price
        if stop_price is not None:
            order["stop_price"] = stop_price
        if post_only:
            order["post_only"] = True
        if session != "regular":  # the default goes unsaid: the line stays as older hosts read it
            order["session"] = session
        self.open_orders[client_order_id] = OpenOrder(
            client_order_id, symbol, side, float(qty), order_type, tif, limit_price, stop_price, post_only, session
        )
        self._outbox.append(order)
        return client_order_id

    def cancel(self, client_order_id: str) -> None:
        self._outbox.append({"type": "cancel", "client_order_id": client_order_id})

    def log(self, message: str, level: str = "info") -> None:
        """A line for the tournament's log of this bot (at most 1000 characters are kept)."""
        entry = {"type": "log", "message": str(message)[:1000]}
        if level != "info":
            entry["level"] = level
        self._outbox.append(entry)

    def subscribe(self, symbols: Iterable[str], channels: Iterable[str] = CHANNELS) -> None:
        """Ask for market data. Until a bot subscribes it gets every symbol on every channel."""
        self._outbox.append({"type": "subscribe", "symbols": list(symbols), "channels": list(channels)})

    def unsubscribe(self, symbols: Iterable[str], channels: Iterable[str] = CHANNELS) -> None:
        self._outbox.append({"type": "unsubscribe", "symbols": list(symbols), "channels": list(channels)})

    # -- sizing and rounding (backtrader's order_target_*, LEAN's SetHoldings) ------------

    def order_target_qty(self, symbol: str, qty: float, limit: float | None = None, **options: Any) -> str | None:
        """Order what takes ``symbol`` to ``qty`` units (negative: short), counting the open orders.

        ``qty`` is first rounded toward zero to the instrument's lot (never a larger position than asked for);
        the order is the difference between it and the position plus what the open orders in ``symbol`` would
        still add (buys) or take away (sells), so calling it every tick does not stack orders. Returns the client
        order id, or None when nothing is to be ordered (already there, or less than one lot or ``min_qty``
        away). Options as for ``place``.
        """
        instrument = self.instrument(symbol)
        target = instrument.round_qty(qty)
        delta = instrument.round_qty(target - self.portfolio.position(symbol) - self.pending_qty(symbol))
        if delta == 0:
            return None
        side = "buy" if delta > 0 else "sell"
        if limit is not None:
            limit = instrument.round_price(limit, side)
        return self.place(symbol, side, abs(delta), limit_price=limit, **options)

    def order_target_value(
        self, symbol: str, value: float, limit: float | None = None, **options: Any
    ) -> str | None:
        """Order what takes ``symbol``'s position to ``value`` in money (negative: short), at ``limit`` if given,
        else valued at the current price (``price``). None without a price. See ``order_target_qty``."""
        price = limit if limit is not None else self.price(symbol)
        per_point = self.usd_per_point(symbol)
        if price is None or price <= 0 or per_point is None:
            return None
        qty = value / (price * per_point)
        return self.order_target_qty(symbol, qty, limit, **options)

    def usd_per_point(self, symbol: str) -> float | None:
        """What one unit of ``symbol`` gains in the (USD) account when its price rises by 1: the multiplier, and
        for an instrument quoted in another currency (EURGBP, USDJPY) times the rate of its ``conversion`` pair
        (GBPUSD's mid, or 1 / USDJPY's mid). None while that pair has no price."""
        instrument = self.instrument(symbol)
        pair = instrument.conversion
        if pair is None:
            return instrument.multiplier
        mid = self.price(pair)
        if mid is None or mid <= 0:
            return None
        quoted_in_usd = self.instruments[pair].currency == "USD" if pair in self.instruments else True
        return instrument.multiplier * (mid if quoted_in_usd else 1.0 / mid)

    def order_target_percent(
        self, symbol: str, fraction: float, limit: float | None = None, **options: Any
    ) -> str | None:
        """Order what takes ``symbol``'s position to ``fraction`` of NAV (0.1 = 10%; negative: short).
        See ``order_target_value``."""
        return self.order_target_value(symbol, fraction * self.portfolio.nav, limit, **options)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument the host described in ``hello``; UnknownSymbolError for any other symbol."""
        found = self.instruments.get(symbol)
        if found is None:
            raise UnknownSymbolError(f"{symbol} is not among this tournament's instruments")
        return found

    def round_qty(self, symbol: str, qty: float) -> float:
        """``qty`` rounded toward zero to ``symbol``'s lot (0.0 below its minimum)."""
        return self.instrument(symbol).round_qty(qty)

    def round_price(self, symbol: str, price: float, side: str | None = None) -> float:
        """``price`` on ``symbol``'s tick grid: nearest, or for ``buy`` down and for ``sell`` up."""
        return self.instrument(symbol).round_price(price, side)

    def price(self, symbol: str) -> float | None:
        """The current mark of ``symbol``: its book's (else ticker's) mid, else its last trade; None if unknown."""
        book, ticker = self.books.get(symbol), self.tickers.get(symbol)
        for value in (
            book.mid if book is not None and not book.stale else None,
            ticker.mid if ticker is not None else None,
            book.last if book is not None else None,
            ticker.last if ticker is not None else None,
        ):
            if value is not None:
                return float(value)
        return None

    def history(self, symbol: str, n: int) -> list[Bar]:
        """The last ``n`` bars of ``symbol``, oldest first: one per tick, closed at the tick's ``tick`` message
        (see ``arena_bot.history``). Fewer while the window fills; ``n`` may not exceed ``history_size``."""
        return self._history.last(symbol, n)

    def pending_qty(self, symbol: str) -> float:
        """What the open orders in ``symbol`` would still add to the position (buys) or remove (sells)."""
        return sum(o.signed_remaining for o in self.open_orders.values() if o.symbol == symbol)

    def orders_for(self, symbol: str) -> list[OpenOrder]:
        """The open orders in ``symbol``, in the order they were sent."""
        return [o for o in self.open_orders.values() if o.symbol == symbol]

    # -- the host side -------------------------------------------------------------------

    def take_outbox(self) -> list[dict[str, Any]]:
        out, self._outbox = self._outbox, []
        return out

    def handle(self, message: dict[str, Any]) -> None:
        """Apply one host message and call the matching callback. Unknown types are ignored."""
        kind = message.get("type")
        # Market data first: most messages are (a tight backtest spends much of its time here).
        if kind == "ticker":
            get = message.get
            self._apply_ticker(message["symbol"], int(get("ts", self.now)), get("bid"), get("ask"), get("last"),
                              get("mid"), get("bid_size"), get("ask_size"))  # fmt: skip
        elif kind in ("book", "orderbook"):
            self._on_book(message)
        elif kind == "tick":
            self._apply_tick(int(message.get("n", self.tick_n + 1)), int(message["ts"]))
        elif kind == "trades":
            trade = Trade(message["symbol"], int(message.get("ts", self.now)), float(message["price"]),
                          float(message["qty"]))  # fmt: skip
            self._history.trade(trade.symbol, trade.qty)
            self.on_trade(trade)
        elif kind == "portfolio":
            self.portfolio.update(message)
        elif kind == "order_update":
            self._on_order_update(message)
        elif kind == "hello":
            again = bool(self.info)  # a remote bot's resumed connection: the same bot goes on
            if again:  # its books are stale and the host's new sequence numbers are not theirs: snapshots anew
                self.books.clear()
                self._resyncing.clear()
            self.info = message
            self.portfolio.cash = self.portfolio.nav = float(message.get("balance", 0.0))
            entries = message.get("instruments") or []
            self.instruments = {i.symbol: i for i in map(Instrument.from_message, entries)}
            if int(message.get("protocol", PROTOCOL_VERSION)) > PROTOCOL_VERSION:
                print(
                    f"arena: the host speaks protocol {message['protocol']}, this SDK {PROTOCOL_VERSION}",
                    file=sys.stderr,
                )
            if self.symbols:
                # With the pairs that convert their currencies to USD, which valuing them needs.
                pairs = (i.conversion for s in self.symbols if (i := self.instruments.get(s)) and i.conversion)
                self.subscribe(dict.fromkeys((*self.symbols, *pairs)), self.channels)
            if not again:
                self.on_start(message)
        elif kind == "risk.margin_warning":
            warning = MarginWarning(
                int(message.get("ts", self.now)),
                float(message.get("margin_used", 0.0)),
                float(message.get("margin_cap", 0.0)),
                float(message.get("utilization", 0.0)),
                float(message.get("nav", self.portfolio.nav)),
            )
            self.on_margin_warning(warning)
        elif kind == "system.status":
            status = Status(
                str(message.get("status")),
                int(message.get("ts", self.now)),
                message.get("venue"),
                message.get("symbol"),
                message.get("reason"),
            )
            self.statuses[(status.venue, status.symbol)] = status
            self.on_status(status)
        elif kind == "ping":
            self._outbox.append({"type": "pong", "id": message.get("id")})
        elif kind == "error":
            self.on_error(str(message.get("code", "ERROR")), str(message.get("message", "")))
        elif kind == "end":
            self.on_end()

    # What handle() does with a ticker or a tick message, given its fields: a host that runs the bot in its own
    # process (``arena backtest``) calls these without building the message, which is most of a tight backtest.

    def _apply_ticker(self, symbol: str, ts: int, bid: float | None, ask: float | None, last: float | None,
                      mid: float | None, bid_size: float | None, ask_size: float | None) -> None:  # fmt: skip
        """A ``ticker`` message's fields: keep the ticker, note the quote, call ``on_ticker``."""
        # The same Ticker as Ticker(...) gives, in half the time: a frozen dataclass's __init__ sets each field
        # through object.__setattr__, where this fills the new instance's __dict__ at once.
        ticker = _new(Ticker)
        ticker.__dict__.update(symbol=symbol, ts=ts, bid=bid, ask=ask, last=last, mid=mid, bid_size=bid_size,
                               ask_size=ask_size)  # fmt: skip
        self.tickers[symbol] = ticker
        self._history.quote(symbol, bid, ask, last)
        self.on_ticker(ticker)

    def _apply_tick(self, n: int, ts: int) -> None:
        """A ``tick`` message's fields: the tick's bars close, then ``on_tick``."""
        self.now = ts
        self.tick_n = n
        self._history.close_tick(ts)
        self.on_tick(ts)

    def _on_book(self, message: dict[str, Any]) -> None:
        symbol = message["symbol"]
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = Book(symbol)
        seq, ts, last = int(message.get("seq", 0)), int(message.get("ts", 0)), message.get("last")
        bids, asks = message.get("bids") or (), message.get("asks") or ()
        if message.get("snapshot", True):
            book.apply_snapshot(seq, bids, asks, ts, last)
            self._resyncing.discard(symbol)
        else:
            try:
                book.apply_delta(seq, bids, asks, ts, last)
            except SequenceGap:
                # The book is stale until the host answers with a fresh snapshot; ask once per gap.
                if symbol not in self._resyncing:
                    self._resyncing.add(symbol)
                    self._outbox.append({"type": "resync", "symbol": symbol})
                return
        self._history.quote(symbol, book.best_bid, book.best_ask, book.last)
        self.on_book(book)

    def _track(self, update: OrderUpdate, message: dict[str, Any]) -> None:
        """Keep ``open_orders`` in step with the host's order updates."""
        key = update.client_order_id
        if key is None:
            return
        if update.status in ("filled", "cancelled", "expired", "rejected"):
            self.open_orders.pop(key, None)
            return
        order = self.open_orders.get(key)
        if order is None:
            return  # not sent by this bot object (one that was popped by hand, or from before a restart)
        order_id = update.order_id if update.order_id is not None else order.order_id
        filled = float(message["filled_qty"]) if "filled_qty" in message else order.filled_qty
        self.open_orders[key] = replace(order, order_id=order_id, filled_qty=filled, status=update.status)

    def _on_order_update(self, message: dict[str, Any]) -> None:
        update = OrderUpdate(
            status=message["status"],
            client_order_id=message.get("client_order_id"),
            order_id=message.get("order_id"),
            symbol=message.get("symbol"),
            filled_qty=float(message.get("filled_qty", 0.0)),
            remaining=float(message.get("remaining", 0.0)),
            code=message.get("code"),
            message=message.get("message", ""),
        )
        if update.client_order_id:
            self._track(update, message)
        if update.status in ("partial_fill", "filled"):
            self.on_fill(
                Fill(
                    int(message.get("ts", self.now)),
                    message.get("symbol", ""),
                    message.get("side", ""),
                    float(message["qty"]),
                    float(message["price"]),
                    float(message.get("fee", 0.0)),
                    update.client_order_id,
                    update.order_id,
                )
            )
        self.on_order_update(update)
