"""A deterministic market scenario that touches every path of the engine, printed exactly.

``python -m tests.engine.scenario SEED [TICKS]`` prints one line per event (floats by ``repr``), then every
account, position, equity curve and open order, and last a line saying which engine build ran. Run once under
the compiled engine and once under ``ARENA_PURE_ENGINE=1``, the two outputs must be equal byte for byte
(tests/engine/test_compiled.py).

Covered: six instrument classes on five venues (sessions that close mid-run, DAY orders that expire), three
tournaments with different rulesets (fees with tiers and a maker rebate, slippage, participation caps, order
types, short selling, outside-session queueing, extended hours, daily loss limits, every scoring formula, leverage
low enough for forced liquidation), market/limit/stop/stop-limit orders with every time in force, post-only,
orders tagged for the extended session, client ids, cancels, malformed requests, halts, price jumps, books
made from a ladder's sides (levels made on first use), and ``submit_batch``'s seeded shuffle. A cross (EUR/GBP,
quoted in GBP) and a USD-base pair (USD/JPY, quoted in JPY and its own conversion pair) trade in USD accounts:
fees, margin, marks and realised P&L at the conversion rates, with GBP/USD's first books held back so that early
EUR/GBP orders meet NO_CONVERSION_RATE. From step ``JUMP_STEP`` the clock jumps to New York's last after-hours
minutes: regular DAY orders expire, tagged orders trade until 20:00 New York, then the US venues close.
"""

from __future__ import annotations

import random
import sys
from datetime import date
from typing import Any

import arena.engine
from arena.engine.book import L2Book
from arena.engine.engine import Engine
from arena.engine.events import Event, OrderAccepted
from arena.engine.instruments import InstrumentCatalog
from arena.engine.orders import Cancel
from arena.engine.rules import resolve_ruleset
from arena.engine.sessions import SessionCalendars
from arena.engine.tick import Tick
from tests.engine.builders import ms

START = ms("2026-11-18T16:00:00")  # a Wednesday: London open until 16:30, New York until 21:00
STEP_MS = 20_000
JUMP_STEP = 250
AFTER_HOURS = ms("2026-11-19T00:50:00")  # Wednesday 19:50 New York: ten minutes of after-hours left

INSTRUMENTS: dict[str, dict[str, Any]] = {
    "BTC-USD": {"asset_class": "crypto", "sector": "crypto", "venue": "CRYPTO", "tick_size": 0.5,
                "qty_decimals": 4, "reference_price": 60_000.0},
    "AAPL": {"asset_class": "equity", "sector": "tech", "venue": "XNAS", "tick_size": 0.01, "qty_decimals": 0,
             "min_qty": 1, "reference_price": 190.0},
    "XOM": {"asset_class": "equity", "sector": "energy", "venue": "XNYS", "tick_size": 0.01, "qty_decimals": 0,
            "reference_price": 110.0},
    "CSPX.L": {"asset_class": "etf", "sector": "broad_market", "venue": "XLON", "tick_size": 0.01,
               "qty_decimals": 0, "reference_price": 600.0},
    "EUR/USD": {"asset_class": "forex", "sector": "fx", "venue": "FOREX", "tick_size": 0.00001,
                "qty_decimals": 0, "min_qty": 1000, "reference_price": 1.08},
    "GBP/USD": {"asset_class": "forex", "sector": "fx", "venue": "FOREX", "tick_size": 0.00001,
                "qty_decimals": 0, "min_qty": 1000, "reference_price": 1.27},
    "EUR/GBP": {"asset_class": "forex", "sector": "fx", "venue": "FOREX", "tick_size": 0.00001,
                "qty_decimals": 0, "min_qty": 1000, "reference_price": 0.85, "currency": "GBP"},
    "USD/JPY": {"asset_class": "forex", "sector": "fx", "venue": "FOREX", "tick_size": 0.001,
                "qty_decimals": 0, "min_qty": 1000, "reference_price": 150.0, "currency": "JPY"},
    "ESZ26": {"asset_class": "future", "sector": "index", "venue": "CME", "tick_size": 0.25, "qty_decimals": 0,
              "multiplier": 50, "expiry": "2026-12-18", "reference_price": 6_000.0},
    "SPX": {"asset_class": "index", "sector": "index", "venue": "XNYS", "tick_size": 0.01, "qty_decimals": 2,
            "reference_price": 6_000.0},
}
CURRENCIES = {"GBP": "GBP/USD", "JPY": "USD/JPY"}
FOREX = frozenset(s for s, spec in INSTRUMENTS.items() if spec["asset_class"] == "forex")
CONVERSION_HELD_BACK = 5  # steps without a GBP/USD book
RULESETS: dict[str, dict[str, Any]] = {
    "calm": {"scoring": {"formula": "nav"}, "outside_session": "queue", "order_rate": {"max_orders": 2}},
    "wild": {
        "starting_balance": 100_000.0,
        "max_leverage": 4.0,
        "max_position_fraction": 2.0,
        "liquidation": {"maintenance_leverage": 4.1, "target_leverage": 3.0},
        "liquidity": {"participation_cap": 0.6, "replenish_rate": 0.3},
        "fees": {"crypto": {"maker_bps": -1.0, "taker_bps": 5.0, "tiers": [
            {"from_notional": 200_000, "maker_bps": -2.0, "taker_bps": 3.0}]}},
        "slippage": {"equity": {"gamma": 0.02, "alpha": 0.8}},
        "daily_loss_limit": 0.05,
        "extended_hours": True,
    },
    "strict": {
        "scoring": {"formula": "return"},
        "short_selling": False,
        "order_types": ["market", "limit"],
        "time_in_force": ["gtc", "ioc", "day"],
        "asset_classes": ["equity", "crypto", "future"],
        "symbols": ["BTC-USD", "AAPL", "ESZ26", "XOM"],
    },
}


def _book(rng: random.Random, symbol: str, ts: int, mid: float, tick: float, halted: bool) -> L2Book:
    half = tick * rng.randint(1, 4)
    depth = rng.choice((1, 5, 50, 500)) * (1000 if symbol in FOREX else 1)
    bids = tuple((round(mid - half - i * tick, 6), depth * rng.uniform(0.5, 2.0)) for i in range(5))
    asks = tuple((round(mid + half + i * tick, 6), depth * rng.uniform(0.5, 2.0)) for i in range(5))
    last = None if rng.random() < 0.2 else round(mid + rng.choice((-half, half)), 6)
    volume = rng.uniform(0, 3) * depth
    step = ts // STEP_MS
    if step % 3:
        return L2Book(symbol, ts, bids, asks, last, volume, halted)
    # Every third step a ladder's book (its levels made when first read), both sides showing the bids' sizes,
    # and now and then a bid side shorter than the sizes (a penny stock's ladder stops above zero).
    bid_prices = tuple(price for price, _ in bids[: 3 if step % 7 == 0 else 5])
    sides = (bid_prices, tuple(price for price, _ in asks), tuple(size for _, size in bids))
    return L2Book(symbol, ts, (), (), last, volume, halted, sides=sides)


def _request(rng: random.Random, tags: random.Random, symbol: str, mid: float, tick: float) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.04:  # malformed: the parser's rejections
        return rng.choice(({"symbol": symbol}, {"symbol": symbol, "side": "up", "qty": 1},
                           {"symbol": symbol, "side": "buy", "qty": -1}, {"symbol": symbol, "side": "buy", "qty": 1,
                           "colour": "red"}, {"symbol": symbol, "side": "buy", "qty": float("nan")},
                           {"symbol": 7, "side": "buy", "qty": 1}))  # fmt: skip
    side = rng.choice(("buy", "sell"))
    sign = 1 if side == "buy" else -1
    qty: float = rng.choice((1, 2, 5, 10, 40, 300))
    if symbol == "BTC-USD":
        qty = round(rng.uniform(0.001, 3.0), rng.choice((3, 4, 5)))
    elif symbol in FOREX:
        qty = 1000 * rng.randint(1, 400)
    elif symbol == "SPX":
        qty = round(rng.uniform(0.01, 5), 2)
    request: dict[str, Any] = {"symbol": symbol, "side": side, "qty": qty}
    kind = rng.random()
    offset = tick * rng.randint(-20, 20)
    if kind < 0.35:
        request["type"] = "limit"
        request["limit_price"] = round(mid + offset, 6)
        if rng.random() < 0.15:
            request["post_only"] = True
    elif kind < 0.45:
        request["type"] = "stop"
        request["stop_price"] = round(mid + sign * abs(offset) + sign * tick, 6)
    elif kind < 0.5:
        request["type"] = "stop_limit"
        request["stop_price"] = round(mid + sign * abs(offset) + sign * tick, 6)
        request["limit_price"] = round(request["stop_price"] + sign * 3 * tick, 6)
    if rng.random() < 0.5 and not request.get("post_only"):
        request["tif"] = rng.choice(("gtc", "day", "ioc", "fok", "IOC"))
    if tags.random() < 0.03:  # drawn from their own generator, so that the rest of the scenario stays as it was
        request["session"] = tags.choice(("extended", "extended", "regular", "EXTENDED", "overnight"))
    if rng.random() < 0.3:
        request["client_order_id"] = f"c{rng.randint(0, 30)}"
    if rng.random() < 0.01:
        request["limit_price"] = round(mid + tick / 3, 9)  # off the tick grid (or on a market order)
    return request


def _extended(tags: random.Random, mids: dict[str, float]) -> dict[str, Any]:
    """A limit order tagged for the extended session, near the touch, on a US stock."""
    symbol = tags.choice(("AAPL", "XOM"))
    side = tags.choice(("buy", "sell"))
    price = round(mids[symbol] + (1 if side == "buy" else -1) * 0.01 * tags.randint(-5, 15), 2)
    return {"symbol": symbol, "side": side, "type": "limit", "limit_price": price, "qty": tags.choice((1, 5, 20)),
            "tif": tags.choice(("day", "gtc", "ioc")), "session": "extended"}  # fmt: skip


def _line(event: Event) -> str:
    data = event.as_dict()
    return repr(sorted(data.items()))


def run(seed: int, ticks: int) -> list[str]:
    rng = random.Random(seed)
    tags = random.Random(seed + 1_000_003)
    catalog = InstrumentCatalog.from_mapping({"currencies": CURRENCIES, "instruments": INSTRUMENTS})
    calendars = SessionCalendars.build(date(2026, 11, 16), date(2026, 11, 20))
    engine = Engine(catalog, calendars, rulesets={t: resolve_ruleset(r) for t, r in RULESETS.items()},
                    equity_sample_ms=60_000)  # fmt: skip
    accounts = {f"{t}-{i}": t for t in (*RULESETS, None) for i in range(4)}
    for account, tournament in accounts.items():
        engine.open_account(account, tournament)
    mids = {s: spec["reference_price"] for s, spec in INSTRUMENTS.items()}
    ticks_of = {s: spec["tick_size"] for s, spec in INSTRUMENTS.items()}
    halted: dict[str, int] = {}
    lines: list[str] = []
    order_ids: list[int] = []
    for step in range(ticks):
        ts = START + step * STEP_MS if step < JUMP_STEP else AFTER_HOURS + (step - JUMP_STEP) * STEP_MS
        books = []
        for symbol in sorted(mids):
            tick = ticks_of[symbol]
            move = rng.gauss(0, 0.002) + (rng.choice((-0.12, 0.12)) if rng.random() < 0.02 else 0.0)
            mids[symbol] = max(round(mids[symbol] * (1 + move) / tick) * tick, 20 * tick)
            if symbol in halted and halted[symbol] <= step:
                del halted[symbol]
            elif symbol not in halted and rng.random() < 0.01:
                halted[symbol] = step + rng.randint(1, 6)
            if rng.random() < 0.8 and not (symbol == "GBP/USD" and step < CONVERSION_HELD_BACK):
                books.append(_book(rng, symbol, ts, mids[symbol], tick, symbol in halted))
        events: list[Event] = list(engine.on_tick(Tick(ts, tuple(books))))
        batch: list[tuple[str, Any]] = []
        for account in accounts:
            for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
                if order_ids and rng.random() < 0.1:
                    target = rng.choice(order_ids)
                    cancel = Cancel(order_id=target) if rng.random() < 0.8 else Cancel(client_order_id="c3")
                    batch.append((account, cancel))
                    continue
                symbol = rng.choice(sorted(mids)) if rng.random() < 0.99 else "NOPE"
                batch.append((account, _request(rng, tags, symbol, mids.get(symbol, 1.0), ticks_of.get(symbol, 0.01))))
            if step >= JUMP_STEP - 10 and accounts[account] == "wild" and tags.random() < 0.5:
                batch.append((account, _extended(tags, mids)))
        if step % 2:
            events += engine.submit_batch(batch, ts + 1, random.Random(seed * 1_000 + step))
        else:
            for account, request in batch:
                if isinstance(request, Cancel):
                    events += engine.cancel(account, request, ts + 1)
                else:
                    events += engine.submit(request, ts + 1, account=account)
        for event in events:
            if isinstance(event, OrderAccepted):
                order_ids.append(event.order_id)
            lines.append(_line(event))
        if step % 50 == 49:
            for account in sorted(accounts)[::5]:
                lines += [repr(e.as_dict()) for e in engine.disable_account(account, ts + 2)] if step == 149 else []
    for account in engine.accounts.values():
        lines.append(repr((account.id, account.cash, account.nav, account.peak, account.max_drawdown, account.score,
                           account.realized_pnl, account.fees_paid, account.fills, account.gross,
                           sorted(account.traded.items()), account.day, account.day_open_nav,
                           account.loss_limit_day, account.disabled, account.equity_curve)))  # fmt: skip
        for symbol, p in sorted(account.positions.items()):
            lines.append(repr((account.id, symbol, p.qty, p.avg_price, p.realized_pnl, p.multiplier, p.margined)))
    for order_id, order in sorted(engine.orders.items()):
        lines.append(repr((order_id, sorted(order.as_dict().items()), order.triggered, order.expires_at)))
    lines.append(repr(sorted(engine.marks.items())))
    return lines


def main() -> None:
    seed = int(sys.argv[1])
    ticks = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    for line in run(seed, ticks):
        print(line)
    print(f"build: {'compiled' if arena.engine.COMPILED else 'pure'}")


if __name__ == "__main__":
    main()
