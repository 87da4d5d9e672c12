"""Engine: the facade of the functional core. Market ticks and orders in, events out.

The engine is deterministic: the same ticks and the same orders, in the same order, give the
same fills, accounts and scores bit for bit. It reads no clock (every call carries its ``ts``),
does no I/O and keeps no global state; the only randomness is the generator a caller hands to
:meth:`Engine.submit_batch`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final, Protocol, final

from arena.engine.accounts import Account, Position
from arena.engine.book import Level
from arena.engine.events import AccountUpdate, Event, Fill, OrderAccepted, OrderDone, OrderRejected
from arena.engine.execution import ceil_qty, crossing_levels, floor_qty, impact_price, round_to_tick
from arena.engine.fees import Tier, charge, tiered_bps
from arena.engine.instruments import AssetClass, Instrument, InstrumentCatalog, pow10
from arena.engine.market import Market
from arena.engine.orders import (
    Cancel,
    Order,
    OrderError,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingSession,
    parse_order,
)
from arena.engine.rejections import Rejection, RejectionCode
from arena.engine.rules import DEFAULT_RULESET, FeeSchedule, Ruleset, ScoringFormula, SlippageParams
from arena.engine.scoring import score
from arena.engine.sessions import EXTENDED_HOURS_VENUES
from arena.engine.tick import Tick

DAY_MS = 86_400_000
# Enum members as module constants: the compiled engine reads these as C globals, not class attributes.
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_MARKET: Final = OrderType.MARKET
_LIMIT: Final = OrderType.LIMIT
_STOP: Final = OrderType.STOP
_STOP_LIMIT: Final = OrderType.STOP_LIMIT
_DAY: Final = TimeInForce.DAY
_IOC: Final = TimeInForce.IOC
_FOK: Final = TimeInForce.FOK
_CANCELLED: Final = OrderStatus.CANCELLED
_EXPIRED: Final = OrderStatus.EXPIRED
_FILLED: Final = OrderStatus.FILLED
_PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
_EXTENDED: Final = TradingSession.EXTENDED
_REGULAR: Final = TradingSession.REGULAR
# Asset classes that trade in a venue's pre-market and after-hours sessions (listed stocks and funds).
_EXTENDED_CLASSES: Final = frozenset((AssetClass.EQUITY, AssetClass.ETF))
_NAV_DRAWDOWN: Final = ScoringFormula.NAV_DRAWDOWN
_new_tuple: Final = tuple.__new__  # builds an event without running its NamedTuple's interpreted __new__


class Schedule(Protocol):
    """What the engine needs of a venue's session calendar (see :mod:`arena.engine.sessions`)."""

    def is_open(self, ts: int, extended_hours: bool = False) -> bool: ...

    def session_end(self, ts: int, extended_hours: bool = False) -> int | None: ...


@final
class _Terms:
    """What one tournament's ruleset says about one instrument, resolved once (plain attributes: the hot path
    reads these, not the ruleset's models)."""

    def __init__(self, refusal: Rejection | None, fees: FeeSchedule, slippage: SlippageParams) -> None:
        self.refusal = refusal
        self.fees = fees
        self.slippage = slippage
        self.maker_bps: float = fees.maker_bps
        self.taker_bps: float = fees.taker_bps
        self.tiers: tuple[Tier, ...] = fees.tier_table
        self.per_unit: float = fees.per_unit
        self.min_per_fill: float = fees.min_per_fill

    def fee(self, notional: float, qty: float, maker: bool, traded: float) -> float:
        """fees.fill_fee under this schedule."""
        return charge(tiered_bps(self.maker_bps, self.taker_bps, self.tiers, maker, traded), self.per_unit,
                      self.min_per_fill, notional, qty)  # fmt: skip


@final
class _Policy:
    """What one tournament's ruleset says, resolved once into plain attributes, and its terms per symbol."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.max_orders: int = ruleset.order_rate.max_orders
        self.per_ms: int = ruleset.order_rate.per_ms
        self.order_types: frozenset[OrderType] = frozenset(ruleset.order_types)
        self.time_in_force: frozenset[TimeInForce] = frozenset(ruleset.time_in_force)
        self.extended_hours: bool = ruleset.extended_hours
        self.queue_outside: bool = ruleset.outside_session == "queue"
        self.short_selling: bool = ruleset.short_selling
        self.max_book_multiple: float = ruleset.liquidity.max_book_multiple
        self.participation_cap: float = ruleset.liquidity.participation_cap
        self.max_leverage: float = ruleset.max_leverage
        self.max_position_fraction: float = ruleset.max_position_fraction
        self.liquidation: bool = ruleset.liquidation.enabled
        self.maintenance_leverage: float = ruleset.maintenance_leverage
        self.liquidation_target: float = ruleset.liquidation_target
        self.terms: dict[str, _Terms] = {}


class Engine:
    def __init__(
        self,
        catalog: InstrumentCatalog,
        calendars: Mapping[str, Schedule],
        rulesets: Mapping[str, Ruleset] | None = None,
        default_ruleset: Ruleset = DEFAULT_RULESET,
        volume_window: int = 20,
        equity_sample_ms: int = 0,
    ) -> None:
        self.catalog = catalog
        self._instruments: dict[str, Instrument] = dict(catalog.items())  # a plain dict: hot-path lookups
        self.calendars: dict[str, Schedule] = dict(calendars)
        self.volume_window = volume_window
        self.equity_sample_ms = equity_sample_ms
        self._rulesets: dict[str | None, Ruleset] = {None: default_ruleset}
        self._policies: dict[str | None, _Policy] = {None: _Policy(default_ruleset)}
        for tournament, ruleset in (rulesets or {}).items():
            self.add_tournament(tournament, ruleset)
        self.markets: dict[str, Market] = {}
        self.marks: dict[str, float] = {}
        self.accounts: dict[str, Account] = {}
        # Reverse position index: symbol -> account id -> open position; a tick re-marks only these.
        self._holders: dict[str, dict[str, Position]] = {}
        # Conversion pair -> the instruments quoted in the currency it converts: its mark moving re-values them.
        self._converted: dict[str, list[Instrument]] = {}
        for instrument in self._instruments.values():
            if instrument.conversion is not None:
                self._converted.setdefault(instrument.conversion, []).append(instrument)
        self.orders: dict[int, Order] = {}  # open orders by id
        self._working: dict[str, dict[int, Order]] = {}  # symbol -> open orders, in id order
        self._resting: dict[str, dict[str, dict[int, Order]]] = {}  # account -> symbol -> open orders
        self._client_ids: dict[tuple[str, str], int] = {}
        self._recent: dict[str, deque[int]] = {}  # account -> timestamps of recent orders
        self._replenish: dict[str, float] = {}  # account -> its ruleset's replenish rate
        self._dirty: list[Account] = []
        self._next_order_id = 1

    # -- set-up ---------------------------------------------------------------------------

    def add_tournament(self, tournament: str, ruleset: Ruleset) -> None:
        self._rulesets[tournament] = ruleset
        self._policies[tournament] = _Policy(ruleset)

    def ruleset(self, tournament: str | None) -> Ruleset:
        return self._rulesets[tournament]

    def open_account(self, account_id: str, tournament: str | None = None) -> Account:
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} already exists")
        if tournament not in self._rulesets:
            raise ValueError(f"unknown tournament {tournament!r}")
        ruleset = self._rulesets[tournament]
        account = Account(
            account_id, tournament, ruleset.starting_balance, ruleset.scoring.formula, ruleset.daily_loss_limit
        )
        account.score = score(ruleset.scoring.formula, account.nav, account.starting_balance, 0.0)
        self.accounts[account_id] = account
        self._replenish[account_id] = ruleset.liquidity.replenish_rate
        return account

    def disable_account(self, account_id: str, ts: int) -> list[Event]:
        """Stop an account trading (a disqualified bot): its open orders are cancelled."""
        self.accounts[account_id].disabled = True
        return self._cancel_all(account_id, ts, "ACCOUNT_DISABLED")

    def _cancel_all(self, account_id: str, ts: int, reason: str) -> list[Event]:
        """Cancel every open order of an account, with ``reason``."""
        open_orders = [o for o in self.orders.values() if o.account == account_id and not o.is_done]
        return [self._finish(order, ts, OrderStatus.CANCELLED, reason) for order in open_orders]

    # -- market data ----------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> list[Event]:
        """Apply one tick: re-mark holders, work resting orders, re-score what changed."""
        events: list[Event] = []
        ts = tick.ts
        dirty = self._dirty
        for book in tick.books:
            symbol = book.symbol
            market = self.markets.get(symbol)
            if market is None:
                instrument = self._instruments.get(symbol)
                if instrument is None:
                    continue  # not tradeable here; feeds are validated against the catalog
                market = self.markets[symbol] = Market(instrument, self.volume_window)
            old = market.mark
            new = market.update(book, self._replenish)
            self.marks[symbol] = new
            if old is not None and new != old:
                delta = new - old
                holders = self._holders.get(symbol)
                if holders:
                    for pos in holders.values():
                        account = pos.account
                        units = pos.qty * pos.multiplier
                        account.nav += units * delta
                        account.gross += (units if units > 0 else -units) * delta
                        if not account.dirty:
                            account.dirty = True
                            dirty.append(account)
                converted = self._converted.get(symbol)
                if converted is not None:
                    self._reconvert(converted)
            working = self._working.get(symbol)
            if working:
                for order in list(working.values()):
                    self._work(order, market, ts, events)
        if dirty:
            self._liquidate(ts, events)
        self._rescore(ts, events)
        return events

    def _reconvert(self, instruments: list[Instrument]) -> None:
        """A conversion rate moved: re-value the open positions quoted in its currency at the new rate."""
        dirty = self._dirty
        for instrument in instruments:
            holders = self._holders.get(instrument.symbol)
            if not holders:
                continue
            multiplier = self.usd_multiplier(instrument)
            assert multiplier is not None  # the pair that just moved has a mark
            mark = self.marks[instrument.symbol]
            for pos in holders.values():
                change = multiplier - pos.multiplier
                account = pos.account
                account.nav += pos.qty * (mark - pos.avg_price) * change
                account.gross += abs(pos.qty) * mark * change
                pos.multiplier = multiplier
                if not account.dirty:
                    account.dirty = True
                    dirty.append(account)

    def usd_multiplier(self, instrument: Instrument) -> float | None:
        """USD per price point per unit: the multiplier, converted from the quote currency at the conversion pair's
        mid; None while that pair has no price."""
        pair = instrument.conversion
        if pair is None:
            return instrument.multiplier
        rate = self.marks.get(pair)
        return None if rate is None else instrument.usd_multiplier(rate)

    # -- orders ---------------------------------------------------------------------------

    def submit(self, request: Mapping[str, Any] | Order, ts: int, account: str | None = None) -> list[Event]:
        """Validate and place one order. ``account`` stamps the request's account (see parse_order)."""
        events: list[Event] = []
        if isinstance(request, Order):
            order = request
        else:
            try:
                order = parse_order(request, account)
            except OrderError as exc:
                acct = account or (request.get("account") if isinstance(request, Mapping) else None)
                symbol = request.get("symbol") if isinstance(request, Mapping) else None
                client_id = request.get("client_order_id") if isinstance(request, Mapping) else None
                events.append(
                    OrderRejected(
                        ts,
                        str(acct),
                        client_id if isinstance(client_id, str) else None,
                        symbol if isinstance(symbol, str) else None,
                        exc.rejection,
                    )
                )
                return events
        rejection = self._check(order, ts)
        if rejection is not None:
            events.append(OrderRejected(ts, order.account, order.client_order_id, order.symbol, rejection))
            return events
        self._accept(order, ts, events)
        self._rescore(ts, events)
        return events

    def submit_batch(
        self, requests: Iterable[tuple[str, Mapping[str, Any] | Order | Cancel]], ts: int, rng: random.Random
    ) -> list[Event]:
        """One tick's orders from many accounts, in a seeded deterministic order.

        Each account's own orders keep their sequence; the order between accounts is a
        shuffle drawn from ``rng`` over the accounts sorted by id.
        """
        by_account: dict[str, list[Mapping[str, Any] | Order | Cancel]] = {}
        for account, request in requests:
            by_account.setdefault(account, []).append(request)
        accounts = sorted(by_account)
        rng.shuffle(accounts)
        events: list[Event] = []
        for account in accounts:
            for request in by_account[account]:
                if isinstance(request, Cancel):
                    events.extend(self.cancel(account, request, ts))
                else:
                    events.extend(self.submit(request, ts, account=account))
        return events

    def cancel(self, account: str, request: Cancel, ts: int) -> list[Event]:
        """Cancel by ``order_id`` or ``client_order_id``; only the account's own open orders."""
        order_id, client_id = request.order_id, request.client_order_id
        if not isinstance(client_id, str):
            client_id = None
        if order_id is None and client_id is not None:
            order_id = self._client_ids.get((account, client_id))
        valid_id = isinstance(order_id, int) and not isinstance(order_id, bool)
        order = self.orders.get(order_id) if valid_id else None
        if order is None or order.account != account or order.is_done:
            rejection = Rejection(RejectionCode.UNKNOWN_ORDER, "no open order with that id on this account")
            return [OrderRejected(ts, account, client_id, None, rejection)]
        return [self._finish(order, ts, OrderStatus.CANCELLED, "CANCELLED")]

    # -- internals ------------------------------------------------------------------------

    def terms(self, tournament: str | None, instrument: Instrument) -> _Terms:
        policy = self._policies[tournament]
        terms = policy.terms.get(instrument.symbol)
        if terms is None:
            ruleset = policy.ruleset
            refusal = None
            if ruleset.symbols is not None and instrument.symbol not in ruleset.symbols:
                refusal = Rejection(
                    RejectionCode.SYMBOL_NOT_ALLOWED,
                    f"{instrument.symbol} is not on this tournament's whitelist",
                )
            elif ruleset.asset_classes is not None and instrument.asset_class not in ruleset.asset_classes:
                allowed = ", ".join(a.value for a in ruleset.asset_classes)
                refusal = Rejection(
                    RejectionCode.SYMBOL_NOT_ALLOWED,
                    f"{instrument.symbol} is {instrument.asset_class.value}; this tournament allows {allowed}",
                )
            terms = _Terms(refusal, ruleset.fees[instrument.asset_class], ruleset.slippage[instrument.asset_class])
            policy.terms[instrument.symbol] = terms
        return terms

    def _check(self, order: Order, ts: int) -> Rejection | None:
        """Pre-trade checks, cheapest and most specific first."""
        account = self.accounts.get(order.account)
        if account is None:
            return Rejection(RejectionCode.INVALID_ORDER, f"unknown account {order.account!r}")
        if order.tournament is None:
            order.tournament = account.tournament
        elif order.tournament != account.tournament:
            return Rejection(RejectionCode.INVALID_ORDER, f"account {order.account!r} is not in that tournament")
        if account.disabled:
            return Rejection(RejectionCode.ACCOUNT_DISABLED, "this account may no longer trade")
        policy = self._policies[order.tournament]
        # Sliding window of this account's recent order times (simulation time, so deterministic).
        recent = self._recent.get(order.account)
        if recent is None:
            recent = self._recent[order.account] = deque()
        horizon = ts - policy.per_ms
        while recent and recent[0] <= horizon:
            recent.popleft()
        if len(recent) >= policy.max_orders:
            return Rejection(
                RejectionCode.RATE_LIMITED, f"more than {policy.max_orders} orders in {policy.per_ms} ms"
            )
        recent.append(ts)
        symbol = order.symbol
        instrument = self._instruments.get(symbol)
        if instrument is None:
            return Rejection(RejectionCode.UNKNOWN_SYMBOL, f"unknown symbol {symbol!r}")
        terms = policy.terms.get(symbol) or self.terms(order.tournament, instrument)
        if terms.refusal is not None:
            return terms.refusal
        if order.type not in policy.order_types:
            return Rejection(RejectionCode.ORDER_TYPE_NOT_ALLOWED, f"{order.type.value} orders are not allowed here")
        if order.tif not in policy.time_in_force:
            return Rejection(
                RejectionCode.TIME_IN_FORCE_NOT_ALLOWED,
                f"time in force {order.tif.value} is not allowed here",
            )
        if instrument.expiry is not None and instrument.is_expired(_utc_date(ts)):
            return Rejection(RejectionCode.CONTRACT_EXPIRED, f"{symbol} expired on {instrument.expiry}")
        invalid = _check_instrument_fields(order, instrument)
        if invalid is not None:
            return Rejection(RejectionCode.INVALID_ORDER, invalid)
        extended = order.session is _EXTENDED
        if extended:
            refusal = _extended_refusal(order, instrument, policy)
            if refusal is not None:
                return refusal
        schedule = self.calendars.get(instrument.venue)
        if schedule is None or not _safe_is_open(schedule, ts, extended):
            queued = schedule is not None and policy.queue_outside
            if not queued or order.tif is _IOC or order.tif is _FOK:
                return Rejection(RejectionCode.EXCHANGE_CLOSED, f"{instrument.venue} is closed for {symbol} now")
        market = self.markets.get(symbol)
        if market is None:
            return Rejection(RejectionCode.NO_MARKET_DATA, f"no market data for {symbol} yet")
        book = market.book
        if book is None:
            return Rejection(RejectionCode.NO_MARKET_DATA, f"no market data for {symbol} yet")
        multiplier = self.usd_multiplier(instrument)
        if multiplier is None:
            return Rejection(
                RejectionCode.NO_CONVERSION_RATE,
                f"{symbol} is quoted in {instrument.currency}; its conversion pair {instrument.conversion} has no "
                "price yet",
            )
        if market.halted:
            return Rejection(RejectionCode.LIQUIDITY_HALT, f"trading in {symbol} is halted")
        if order.client_order_id is not None and (order.account, order.client_order_id) in self._client_ids:
            return Rejection(
                RejectionCode.DUPLICATE_CLIENT_ORDER_ID,
                f"an open order already uses {order.client_order_id!r}",
            )
        sign = 1 if order.side is _BUY else -1
        position = account.positions.get(symbol)
        held = position.qty if position is not None else 0.0
        pending = 0.0
        by_symbol = self._resting.get(order.account)
        resting = by_symbol.get(symbol) if by_symbol is not None else None
        if resting:
            for o in resting.values():  # a loop, not sum(): Python 3.12's sum() of floats rounds differently
                pending += o.sign * o.remaining
        projected = held + pending + sign * order.qty
        reducing = abs(projected) < abs(held + pending) and (projected == 0 or (projected > 0) == (held > 0))
        if account.loss_limit_day == ts // DAY_MS and not reducing:
            return Rejection(
                RejectionCode.LOSS_LIMIT,
                "the daily loss limit was reached; only reducing orders until tomorrow",
            )
        if projected < 0 and not policy.short_selling:
            return Rejection(RejectionCode.SHORT_SELLING_NOT_ALLOWED, f"this order would leave {symbol} short")
        limit_price = order.limit_price
        if (
            order.post_only
            and limit_price is not None
            and ((sign > 0 and book.best_ask < limit_price) or (sign < 0 and book.best_bid > limit_price))
        ):
            return Rejection(RejectionCode.POST_ONLY_WOULD_CROSS, "a post-only order must not take liquidity")
        depth = market.ask_depth if sign > 0 else market.bid_depth
        if order.qty > depth * policy.max_book_multiple:
            return Rejection(
                RejectionCode.LIQUIDITY_HALT,
                f"{order.qty:g} {symbol} is more than the whole visible book can absorb ({depth:g})",
            )
        if not reducing:
            price = order.limit_price or order.stop_price or market.mark
            assert price is not None  # a market with a book has a mark
            refusal = self._risk_refusal(account, instrument, projected, price, multiplier, policy)
            if refusal is not None:
                return refusal
        if order.tif is _FOK:
            fillable = self._takeable(order, market, policy, sign)[1]
            if fillable + 1e-12 < order.qty:
                return Rejection(RejectionCode.FOK_NOT_FILLABLE, f"only {fillable:g} of {order.qty:g} could fill now")
        return None

    def _risk_refusal(
        self, account: Account, instrument: Instrument, projected: float, price: float, multiplier: float,
        policy: _Policy,
    ) -> Rejection | None:
        """Leverage and concentration, as they would stand with ``projected`` units held (``multiplier``: USD per
        price point per unit, see usd_multiplier)."""
        nav = account.nav
        if nav <= 0:
            return Rejection(RejectionCode.INSUFFICIENT_MARGIN, "the account's NAV is not positive")
        marks = self.marks
        value = abs(projected * price * multiplier)
        gross = value
        symbol = instrument.symbol
        for pos in account.positions.values():
            qty = pos.qty
            if qty and pos.symbol != symbol:
                gross += abs(qty * marks[pos.symbol] * pos.multiplier)
        if gross > policy.max_leverage * nav:
            return Rejection(
                RejectionCode.INSUFFICIENT_MARGIN,
                f"gross exposure would be {gross / nav:.2f}x NAV; the cap is {policy.max_leverage:g}x",
            )
        if value > policy.max_position_fraction * nav:
            return Rejection(
                RejectionCode.CONCENTRATION_LIMIT,
                f"{symbol} would be {value / nav:.1%} of NAV; the cap is {policy.max_position_fraction:.0%}",
            )
        return None

    def _accept(self, order: Order, ts: int, events: list[Event]) -> None:
        order_id = order.id = self._next_order_id
        self._next_order_id += 1
        order.ts = ts
        self.orders[order_id] = order
        account, symbol, client_id = order.account, order.symbol, order.client_order_id
        if client_id is not None:
            self._client_ids[(account, client_id)] = order_id
        instrument = self._instruments[symbol]
        extended = order.session is _EXTENDED
        if order.tif is _DAY:
            order.expires_at = self.calendars[instrument.venue].session_end(ts, extended)
        events.append(_new_tuple(OrderAccepted, (ts, order_id, account, client_id, symbol, order)))
        market = self.markets[symbol]
        policy = self._policies[order.tournament]
        # Checked open already, unless the ruleset queues orders outside the session: those wait for the open.
        if not policy.queue_outside or _safe_is_open(self.calendars[instrument.venue], ts, extended):
            # A limit that can fill on arrival takes liquidity; one that rests and fills later makes it.
            self._work(order, market, ts, events, True)
        if order.is_done:
            return
        if order.tif is _IOC or order.tif is _FOK:
            events.append(self._finish(order, ts, _CANCELLED, "IOC_REMAINDER"))
            return
        working = self._working.get(symbol)
        if working is None:
            working = self._working[symbol] = {}
        working[order_id] = order
        by_symbol = self._resting.get(account)
        if by_symbol is None:
            by_symbol = self._resting[account] = {}
        resting = by_symbol.get(symbol)
        if resting is None:
            resting = by_symbol[symbol] = {}
        resting[order_id] = order

    def _work(self, order: Order, market: Market, ts: int, events: list[Event], arriving: bool = False) -> None:
        """Give one open order its chance at this moment's book (the Partial Fill Routine)."""
        expires_at = order.expires_at
        if expires_at is not None and ts >= expires_at:
            events.append(self._finish(order, ts, _EXPIRED, "DAY_ORDER_EXPIRED"))
            return
        book = market.book
        if book is None or market.halted:
            return  # a halted symbol's resting orders wait for the resumption
        mid = market.mark
        assert mid is not None  # a market with a book has a mark
        sign = 1 if order.side is _BUY else -1
        order_type = order.type
        if (order_type is _STOP or order_type is _STOP_LIMIT) and not order.triggered:
            reference = book.last if book.last is not None else mid
            stop = order.stop_price
            assert stop is not None  # parse_order requires it of stop orders
            if not ((sign > 0 and reference >= stop) or (sign < 0 and reference <= stop)):
                return
            order.triggered = True
        account = self.accounts[order.account]
        if account.disabled:
            return
        instrument = market.instrument
        policy = self._policies[order.tournament]
        if not arriving and not _safe_is_open(self.calendars[instrument.venue], ts, order.session is _EXTENDED):
            return  # resting orders wait for the open (of their session: regular, or extended hours too)
        limit = order.limit
        levels, takeable = self._takeable(order, market, policy, sign)
        if not levels:
            return
        decimals = instrument.qty_decimals
        remaining = order.qty - order.filled_qty
        qty = floor_qty(takeable if takeable < remaining else remaining, decimals)  # min(remaining, takeable)
        if qty <= 0 or qty < instrument.min_qty:
            return
        symbol = order.symbol
        terms = policy.terms.get(symbol) or self.terms(order.tournament, instrument)
        price = impact_price(mid, book.spread, qty, market.v_avg, terms.slippage, sign)
        price = round_to_tick(price, instrument.tick_size, sign)
        if limit is not None:
            price = min(price, limit) if sign > 0 else max(price, limit)
        position = account.positions.get(symbol)
        held = position.qty if position is not None else 0.0
        after = held + sign * qty
        multiplier = instrument.multiplier
        if instrument.conversion is not None:  # at this fill's conversion rate (known: checked on acceptance)
            converted = self.usd_multiplier(instrument)
            assert converted is not None
            multiplier = converted
        if not arriving and abs(after) > abs(held):
            refusal = self._risk_refusal(account, instrument, after, price, multiplier, policy)
            if refusal is not None:
                events.append(self._finish(order, ts, _CANCELLED, refusal.code.value))
                return
        maker = not arriving and order_type is _LIMIT
        notional = qty * price * multiplier
        asset_class = instrument.asset_class
        traded = account.traded.get(asset_class, 0.0)
        fee = terms.fee(notional, qty, maker, traded)
        account.traded[asset_class] = traded + notional
        market.consume(order.account, sign, levels, qty)
        self._book_fill(account, instrument, sign * qty, price, multiplier, fee)
        filled_before = order.filled_qty
        filled = order.filled_qty = filled_before + qty
        order.avg_fill_price = (order.avg_fill_price * filled_before + price * qty) / filled
        order.fees += fee
        remaining = order.qty - filled
        if remaining <= pow10(-(decimals + 3)):
            remaining = 0.0
            filled = order.filled_qty = order.qty
        fill = (ts, order.id, order.account, order.client_order_id, symbol, order.side, qty, price, fee, maker,
                filled, remaining, order.liquidation)  # fmt: skip
        events.append(_new_tuple(Fill, fill))
        if remaining == 0.0:
            order.status = _FILLED
            self._release(order)
        else:
            order.status = _PARTIALLY_FILLED

    def _liquidate(self, ts: int, events: list[Event]) -> None:
        """Forced liquidation of each account a price move took past its maintenance level (its NAV moved, so it
        is in the dirty list): its open orders are cancelled, then each position (in symbol order) is cut by the
        same share, rounded up to the instrument's lot, by a market order through the normal execution path, so
        that gross exposure falls to the target level; all of it when NAV is not positive. A position whose
        venue is closed, or whose symbol is halted, waits; what the participation cap leaves is taken at the next
        tick."""
        policies = self._policies
        for account in list(self._dirty):
            if account.disabled or not account.positions:
                continue
            policy = policies[account.tournament]
            if not policy.liquidation:
                continue
            nav = account.nav
            if nav > 0 and account.gross <= policy.maintenance_leverage * nav:
                continue  # the running figure: no sum over positions for an account far from the level
            gross = account.gross = account.gross_exposure(self.marks)
            if not gross or (nav > 0 and gross <= policy.maintenance_leverage * nav):
                continue
            keep = policy.liquidation_target * nav / gross if nav > 0 else 0.0
            # The engine's own orders trade in every session the ruleset opens (extended hours when it allows them).
            extended = policy.extended_hours
            session = _EXTENDED if extended else _REGULAR
            events.extend(self._cancel_all(account.id, ts, "LIQUIDATION"))
            for symbol in sorted(account.positions):
                position = account.positions[symbol]
                instrument = self._instruments[symbol]
                schedule = self.calendars[instrument.venue]
                if not position.qty or self.markets[symbol].halted or not _safe_is_open(schedule, ts, extended):
                    continue
                held = abs(position.qty)
                qty = min(held, ceil_qty(held * (1.0 - keep), instrument.qty_decimals))
                if qty <= 0 or (qty < instrument.min_qty and qty < held):
                    continue
                side = _SELL if position.qty > 0 else _BUY
                order = Order(account.id, symbol, side, _MARKET, qty, tif=_IOC,
                              tournament=account.tournament, liquidation=True, session=session)  # fmt: skip
                self._accept(order, ts, events)

    def _takeable(self, order: Order, market: Market, policy: _Policy, sign: int) -> tuple[tuple[Level, ...], float]:
        """The levels ``order`` may take now, and how much of them: the participation cap of what this
        account has not consumed yet."""
        levels = crossing_levels(market.opposite(sign), order.limit, sign)
        available = market.available(order.account, sign, levels)
        return levels, floor_qty(available * policy.participation_cap, market.instrument.qty_decimals)

    def _book_fill(self, account: Account, instrument: Instrument, signed_qty: float, price: float, multiplier: float,
                   fee: float) -> None:  # fmt: skip
        """``multiplier``: USD per price point per unit at this fill's conversion rate (see usd_multiplier)."""
        symbol = instrument.symbol
        mark = self.marks[symbol]
        position = account.positions.get(symbol) or account.position(instrument)
        margined = position.margined
        if margined:
            position.multiplier = multiplier  # its P&L realises at this rate
        else:
            account.cash -= signed_qty * price * multiplier + fee
        # Delta NAV: the units arrive valued at the mark, paid for at the fill price plus fee (for a margined
        # position the same: its open P&L changes by that, less what realises into cash).
        account.nav += signed_qty * multiplier * (mark - price) - fee
        held = abs(position.qty)
        realized = position.apply(signed_qty, price)
        account.realized_pnl += realized
        if margined:
            account.cash += realized - fee
        account.gross += (abs(position.qty) - held) * multiplier * mark
        account.fees_paid += fee
        account.fills += 1
        holders = self._holders.get(symbol)
        if holders is None:
            holders = self._holders[symbol] = {}
        if position.qty:
            holders[account.id] = position
        else:
            holders.pop(account.id, None)
        if not account.dirty:
            account.dirty = True
            self._dirty.append(account)

    def _finish(self, order: Order, ts: int, status: OrderStatus, reason: str) -> OrderDone:
        order.status = status
        self._release(order)
        return _new_tuple(
            OrderDone, (ts, order.id, order.account, order.client_order_id, status, reason, order.filled_qty)
        )

    def _release(self, order: Order) -> None:
        """Forget a finished order: the engine keeps open orders only; events are the record."""
        del self.orders[order.id]
        working = self._working.get(order.symbol)
        if working is not None:
            working.pop(order.id, None)
        by_symbol = self._resting.get(order.account)
        if by_symbol is not None:
            resting = by_symbol.get(order.symbol)
            if resting is not None:
                resting.pop(order.id, None)
        if order.client_order_id is not None:
            self._client_ids.pop((order.account, order.client_order_id), None)

    def _rescore(self, ts: int, events: list[Event]) -> None:
        """Drawdown, score, loss limit and equity curve of every account whose NAV moved."""
        dirty = self._dirty
        if not dirty:
            return
        day = ts // DAY_MS
        sample_ms = max(self.equity_sample_ms, 1)
        stamp: object = ts  # boxed once for all the events (the compiled engine keeps ts unboxed)
        for account in dirty:
            account.dirty = False
            nav = account.nav
            if account.day != day:
                account.day = day
                account.day_open_nav = nav
            account.update_drawdown()
            if account.formula is _NAV_DRAWDOWN:
                account.score = nav * (1.0 - account.max_drawdown)
            else:
                account.score = score(account.formula, nav, account.starting_balance, account.max_drawdown)
            limit = account.daily_loss_limit
            if limit is not None and nav < account.day_open_nav * (1.0 - limit):
                account.loss_limit_day = day
            curve = account.equity_curve
            if not curve or ts - curve[-1][0] >= sample_ms:
                curve.append((ts, nav))
            elif curve[-1][0] == ts:
                curve[-1] = (ts, nav)  # several changes at one moment: keep the last
            events.append(_new_tuple(AccountUpdate, (stamp, account.id, nav, account.max_drawdown, account.score)))
        dirty.clear()


def _utc_date(ts: int) -> date:
    return datetime.fromtimestamp(ts / 1000, UTC).date()


def _safe_is_open(schedule: Schedule, ts: int, extended: bool) -> bool:
    try:
        return schedule.is_open(ts, extended)
    except ValueError:
        return False  # outside the calendar's range: treat as closed rather than guess


def _extended_refusal(order: Order, instrument: Instrument, policy: _Policy) -> Rejection | None:
    """Why an order tagged ``extended`` may not trade outside regular hours here, or None. As brokers do: only
    when the ruleset allows extended hours, only listed stocks and funds on a venue that has such sessions, and
    only limit orders (a market order in a thin pre-market book is how a bot buys at any price)."""
    code = RejectionCode.EXTENDED_HOURS_NOT_ALLOWED
    if not policy.extended_hours:
        return Rejection(code, "this tournament does not allow extended-hours trading")
    if instrument.asset_class not in _EXTENDED_CLASSES:
        return Rejection(code, f"{order.symbol} is {instrument.asset_class.value}; only equities and ETFs trade "
                         "extended hours")  # fmt: skip
    if instrument.venue not in EXTENDED_HOURS_VENUES:
        return Rejection(code, f"{instrument.venue} has no extended-hours sessions")
    if order.type is not _LIMIT:
        return Rejection(RejectionCode.ORDER_TYPE_NOT_ALLOWED, "an extended-hours order must be a limit order")
    return None


def _check_instrument_fields(order: Order, instrument: Instrument) -> str | None:
    """Each asset class's own rules for quantity and price."""
    if not instrument.is_valid_qty(order.qty):
        if instrument.qty_decimals == 0:
            return f"{order.symbol} trades in whole units; got qty {order.qty:g}"
        return f"{order.symbol} quantity has at most {instrument.qty_decimals} decimals; got {order.qty!r}"
    if order.qty < instrument.min_qty:
        return f"{order.symbol} minimum quantity is {instrument.min_qty:g}"
    off_grid = _off_grid("limit_price", order.limit_price, order, instrument)
    return off_grid if off_grid is not None else _off_grid("stop_price", order.stop_price, order, instrument)


def _off_grid(field: str, price: float | None, order: Order, instrument: Instrument) -> str | None:
    if price is not None and not instrument.is_valid_price(price):
        return f"{field} {price!r} is not a multiple of {order.symbol}'s tick size {instrument.tick_size:g}"
    return None
