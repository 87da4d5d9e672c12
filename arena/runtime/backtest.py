"""Backtest: one bot, one account, one feed, run in-process through the engine in lockstep.

This is the one place bot code runs outside a sandbox, and only for a contestant's own bot on
their own machine (``arena backtest``). Tournaments run every bot in the sandbox.
"""

from __future__ import annotations

import importlib.util
import inspect
import random
import sys
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arena_bot import Bot
from arena_bot.portfolio import Holding, Portfolio

from arena import collector
from arena.engine.accounts import Account
from arena.engine.book import L2Book
from arena.engine.engine import Engine
from arena.engine.events import Event, Fill, OrderRejected
from arena.engine.instruments import InstrumentCatalog
from arena.engine.orders import Cancel
from arena.engine.rules import Ruleset
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick
from arena.feeds.calendars import calendars_around
from arena.runtime.performance import Statistics, downsample, statistics
from arena.runtime.protocol import (
    MarketView,
    end_message,
    hello_message,
    order_request,
    portfolio_message,
    tick_message,
    ticker_fields,
)
from arena.runtime.updates import SessionWatch, Updates

ACCOUNT = "backtest"
CURVE_POINTS = 5_000  # the equity curve in as_dict(): every tick's close up to this many, else evenly picked ones


class BotLoadError(ValueError):
    code = "BOT_LOAD_FAILED"


@dataclass
class BacktestResult:
    nav: float
    cash: float
    total_return: float
    max_drawdown: float
    score: float
    orders: int
    ticks: int
    fills: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    # The NAV at each tick's close (after its orders), 16 bytes a tick: what the statistics are computed from.
    curve_ts: array[int] = field(default_factory=lambda: array("q"))
    curve_nav: array[float] = field(default_factory=lambda: array("d"))
    statistics: Statistics | None = None

    @property
    def equity_curve(self) -> list[tuple[int, float]]:
        return list(zip(self.curve_ts, self.curve_nav, strict=True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "nav": self.nav,
            "cash": self.cash,
            "return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "score": self.score,
            "orders": self.orders,
            "ticks": self.ticks,
            "fills": self.fills,
            "rejections": self.rejections,
            "statistics": self.statistics.as_dict() if self.statistics else None,
            "equity_curve": [list(point) for point in downsample(self.curve_ts, self.curve_nav, CURVE_POINTS)],
        }


def load_bot(path: str | Path) -> Bot:
    """Import a bot file and instantiate the one Bot subclass it defines."""
    path = Path(path)
    if path.is_dir():
        path = path / "main.py"
    if not path.is_file():
        raise BotLoadError(f"{path}: no such bot file")
    name = f"arena_user_bot_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BotLoadError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise BotLoadError(f"{path}: the bot failed to import: {type(exc).__name__}: {exc}") from exc
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Bot) and obj is not Bot and obj.__module__ == name
    ]
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise BotLoadError(f"{path}: define exactly one subclass of arena_bot.Bot (found {found})")
    return classes[0]()


def calendars_for(ticks: list[Tick], venues: Iterable[str]) -> SessionCalendars:
    """Session calendars covering the ticks' dates (with a margin for session ends); a replay of daily bars has
    just built the same ones."""
    first = datetime.fromtimestamp(ticks[0].ts / 1000, UTC).date() if ticks else datetime(2026, 1, 1).date()
    last = datetime.fromtimestamp(ticks[-1].ts / 1000, UTC).date() if ticks else first
    return calendars_around(first, last, sorted(set(venues)))


def run_backtest(
    bot: Bot,
    catalog: InstrumentCatalog,
    ruleset: Ruleset,
    ticks: list[Tick],
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Drive ``bot`` through ``ticks`` in lockstep, with the same messages in the same order as a tournament.

    Per tick: the updates the tick caused (fills of resting orders, portfolio), the market data the
    bot subscribed to, the tick boundary; then the bot's orders go through the engine and their
    updates are delivered before the next tick.
    """
    symbols = sorted({book.symbol for tick in ticks for book in tick.books})
    engine = Engine(catalog, calendars_for(ticks, (catalog[s].venue for s in symbols)), default_ruleset=ruleset)
    account = engine.open_account(ACCOUNT)
    run = _Run(bot, engine, ruleset, symbols, BacktestResult(
        ruleset.starting_balance, ruleset.starting_balance, 0.0, 0.0, 0.0, 0, len(ticks)))  # fmt: skip
    # What exists now (the ticks, the catalog, the engine) lives for the whole run: frozen, the cyclic collector
    # stops walking it each time the run's short-lived messages trigger a collection (a third of a run's time).
    with collector.frozen():
        run.drive(hello_message(ACCOUNT, None, ruleset, [catalog[s] for s in symbols]), ticks,
                  random.Random(seed), progress)  # fmt: skip
    result = run.result
    result.nav = account.nav
    result.cash = account.cash
    result.total_return = account.nav / ruleset.starting_balance - 1.0
    result.max_drawdown = account.max_drawdown
    result.score = account.score
    if result.curve_ts:
        # In USD: a symbol quoted in another currency at its conversion rate as the run ended (round trips'
        # P&L is then approximate for it; the account realised each fill at that fill's rate).
        multipliers = {s: engine.usd_multiplier(catalog[s]) or catalog[s].multiplier for s in symbols}
        result.statistics = statistics(
            result.curve_ts, result.curve_nav, result.fills, multipliers, start_nav=ruleset.starting_balance
        )
    return result


# The SDK's own handlers as the SDK defined them, before any bot file is imported (one may replace them).
_SDK_HANDLE = Bot.handle
_SDK_PORTFOLIO_UPDATE = Portfolio.update


def _holdings(account: Account, ts: int) -> tuple[float, float, dict[str, Holding]]:
    """What the SDK's Portfolio.update makes of ``portfolio_message(account, ts)``, made at once."""
    return account.cash, account.nav, {s: Holding(p.qty, p.avg_price) for s, p in account.positions.items() if p.qty}


class _Run:
    """One backtest's lockstep loop: the bot, the engine and what goes between them."""

    def __init__(self, bot: Bot, engine: Engine, ruleset: Ruleset, symbols: list[str], result: BacktestResult) -> None:
        self.bot = bot
        self.engine = engine
        self.account = engine.accounts[ACCOUNT]
        # Tickers, ticks and portfolio updates go to the bot as their fields, not as messages it would read back,
        # unless it reads the messages itself: a bot whose handle() is not the SDK's gets every one, as in a
        # tournament (and one whose portfolio's update() is not the SDK's gets its portfolio messages).
        self.direct = getattr(bot.handle, "__func__", None) is _SDK_HANDLE
        self.updates = Updates(engine)
        self.sessions = SessionWatch(engine, [engine.catalog[s].venue for s in symbols], ruleset.extended_hours)
        self.view = MarketView(symbols)
        self.result = result

    def drive(self, hello: dict[str, Any], ticks: list[Tick], rng: random.Random,
              progress: Callable[[int], None] | None) -> None:  # fmt: skip
        bot, engine, account, result = self.bot, self.engine, self.account, self.result
        handle, view, sessions = bot.handle, self.view, self.sessions
        direct, ticker, apply_tick = self.direct, self.ticker, bot._apply_tick
        curve_ts, curve_nav = result.curve_ts, result.curve_nav
        handle(hello)
        carried = self.requests()  # tick 0: start-up orders go with tick 1's
        for n, tick in enumerate(ticks, start=1):
            ts, books = tick.ts, tick.books
            events = engine.on_tick(tick)
            if events:
                self.deliver(events)
            for message in sessions.changes(ts, books):
                handle(message)
            if direct:
                view.hand(books, ticker, handle)
                apply_tick(n, ts)
            else:
                for message in view.messages(books):
                    handle(message)
                handle(tick_message(n, ts))
            requests = self.requests()
            if carried:
                requests, carried = carried + requests, []
            if requests:
                self.deliver(engine.submit_batch(requests, ts, rng))
            curve_ts.append(ts)
            curve_nav.append(account.nav)
            if progress is not None:
                progress(n)
        handle(end_message())

    def ticker(self, book: L2Book) -> None:
        """What a ``ticker`` message of ``book`` tells the bot, told without the message."""
        bid, bid_size, ask, ask_size, mid = ticker_fields(book)
        self.bot._apply_ticker(book.symbol, book.ts, bid, ask, book.last, mid, bid_size, ask_size)

    def deliver(self, events: list[Event]) -> None:
        """Record the fills and rejections among ``events`` and hand the bot its updates."""
        result = self.result
        for event in events:
            if isinstance(event, Fill):
                fill = {"ts": event.ts, "symbol": event.symbol, "side": event.side.value, "qty": event.qty,
                        "price": event.price, "fee": event.fee}  # fmt: skip
                result.fills.append(fill)
            elif isinstance(event, OrderRejected):
                result.rejections.append({"ts": event.ts, **event.rejection.as_dict()})
        handle, portfolio = self.bot.handle, self.bot.portfolio  # (a bot may have replaced its portfolio)
        direct = self.direct and type(portfolio).update is _SDK_PORTFOLIO_UPDATE
        message: Any  # (a portfolio update made by _holdings is a tuple)
        for message in self.updates.route(events, _holdings if direct else portfolio_message).get(ACCOUNT, ()):
            if type(message) is tuple:
                portfolio._apply(*message)
            else:
                handle(message)

    def requests(self) -> list[tuple[str, Any]]:
        """What the bot sent since it was last asked, as engine requests (its other messages acted on here)."""
        outbox = self.bot.take_outbox()
        if not outbox:
            return []
        requests: list[tuple[str, Any]] = []
        result, view = self.result, self.view
        for message in outbox:
            kind = message.get("type")
            if kind == "order":
                requests.append((ACCOUNT, order_request(message)))
                result.orders += 1
            elif kind == "cancel":
                requests.append((ACCOUNT, Cancel(message.get("order_id"), message.get("client_order_id"))))
            elif kind in ("subscribe", "unsubscribe"):
                getattr(view, kind)(message.get("symbols") or [], message.get("channels"))
            elif kind == "resync" and isinstance(message.get("symbol"), str):
                view.resync(message["symbol"])
            elif kind == "log":
                result.logs.append(str(message.get("message", "")))
        return requests
