"""Forced liquidation: a price move that takes an account past its maintenance level cancels its open orders and
cuts its positions back to the target leverage by market orders through the normal execution path."""

from __future__ import annotations

import pytest

from arena.engine.events import Fill, OrderAccepted, OrderDone
from arena.engine.orders import OrderStatus, Side
from arena.engine.rulebook import describe
from arena.engine.rules import RulesetError, resolve_ruleset
from arena.runtime.protocol import order_update_message
from tests.engine.builders import T0, ladder, tick

MINUTE = 60_000
# Room for a 1.9x position in one symbol; the default leverage cap (2x) and maintenance level (3x).
RULES = {"max_position_fraction": 10, "order_rate": {"max_orders": 100_000}}


def _book(ts: int, mid: float):
    return ladder("BTC-USD", ts, mid - 0.5, mid + 0.5, size=1_000, step=1.0, volume=30_000)


def _long_btc(make_engine, rules: dict | None = None):
    """Account 'a' holding 38 BTC bought near 50,000 (1.9x its NAV) and a resting buy far below."""
    engine = make_engine(RULES | (rules or {}))
    engine.on_tick(tick(T0, _book(T0, 50_000)))
    events = engine.submit({"symbol": "BTC-USD", "side": "buy", "type": "market", "qty": 38}, T0, account="a")
    assert [type(e) for e in events if isinstance(e, Fill)] == [Fill]
    engine.submit({"symbol": "BTC-USD", "side": "buy", "type": "limit", "qty": 1, "limit_price": 10_000,
                   "client_order_id": "low"}, T0, account="a")  # fmt: skip
    return engine


def _leverage(engine) -> float:
    account = engine.accounts["a"]
    return account.gross_exposure(engine.marks) / account.nav


def test_a_drop_past_the_maintenance_level_is_cut_back_to_the_cap(make_engine):
    engine = _long_btc(make_engine)
    quiet = engine.on_tick(tick(T0 + MINUTE, _book(T0 + MINUTE, 40_000)))
    assert 2.0 < _leverage(engine) < 3.0  # over the cap for new orders, under the maintenance level: left alone
    assert not any(isinstance(e, Fill) for e in quiet)

    events = engine.on_tick(tick(T0 + 2 * MINUTE, _book(T0 + 2 * MINUTE, 35_000)))
    done = [e for e in events if isinstance(e, OrderDone)]
    assert [(d.client_order_id, d.status, d.reason) for d in done] == [("low", OrderStatus.CANCELLED, "LIQUIDATION")]
    accepted = [e for e in events if isinstance(e, OrderAccepted)]
    assert len(accepted) == 1 and accepted[0].order.liquidation and accepted[0].client_order_id is None
    fills = [e for e in events if isinstance(e, Fill)]
    assert fills and all(f.liquidation and f.side is Side.SELL for f in fills)
    assert all(f.price < 35_000 and f.fee > 0 for f in fills)  # a market sell: slippage and fees as any other
    sold = sum(f.qty for f in fills)
    assert 13 < sold < 14  # cut by the share that brings 3.1x back to 2x
    assert 1.9 < _leverage(engine) < 2.05
    assert engine.accounts["a"].positions["BTC-USD"].qty == pytest.approx(38 - sold)
    account = engine.accounts["a"]
    assert account.gross == pytest.approx(account.gross_exposure(engine.marks), rel=1e-12)  # the running figure
    # The bot is told like any fill, marked as a liquidation.
    message = order_update_message(fills[0])
    assert message is not None and message["liquidation"] is True and message["client_order_id"] is None


def test_a_nav_at_or_below_zero_closes_everything(make_engine):
    engine = _long_btc(make_engine)
    events = engine.on_tick(tick(T0 + MINUTE, _book(T0 + MINUTE, 20_000)))  # 38 x -30,000 > the 1,000,000
    assert sum(f.qty for f in events if isinstance(f, Fill) and f.liquidation) == 38
    assert engine.accounts["a"].positions["BTC-USD"].qty == 0


def test_liquidation_can_be_turned_off_and_its_levels_set(make_engine):
    off = _long_btc(make_engine, {"liquidation": {"enabled": False}})
    events = off.on_tick(tick(T0 + MINUTE, _book(T0 + MINUTE, 35_000)))
    assert not any(isinstance(e, Fill) for e in events) and _leverage(off) > 3

    lenient = _long_btc(make_engine, {"liquidation": {"maintenance_leverage": 4, "target_leverage": 1}})
    assert not any(isinstance(e, Fill) for e in lenient.on_tick(tick(T0 + MINUTE, _book(T0 + MINUTE, 35_000))))
    lenient.on_tick(tick(T0 + 2 * MINUTE, _book(T0 + 2 * MINUTE, 31_000)))  # 4.2x: down to 1x
    assert 0.95 < _leverage(lenient) < 1.05

    with pytest.raises(RulesetError, match="target_leverage"):
        resolve_ruleset({"liquidation": {"maintenance_leverage": 2.5, "target_leverage": 3}})
    assert any("3×" in line and "cut by market orders back to 2×" in line for line in describe(resolve_ruleset({})))


def test_a_liquidation_is_deterministic(make_engine):
    def run() -> list[dict]:
        engine = _long_btc(make_engine)
        out = []
        for i, mid in enumerate([45_000, 36_000, 34_000, 30_000, 31_000], start=1):
            out += [e.as_dict() for e in engine.on_tick(tick(T0 + i * MINUTE, _book(T0 + i * MINUTE, mid)))]
        return out

    first = run()
    assert any(e.get("liquidation") for e in first)
    assert run() == first
