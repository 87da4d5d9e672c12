"""Volume-tiered fees: an account's notional traded in an asset class so far this tournament picks the basis
points of its next fill, as exchanges' volume tiers do."""

from __future__ import annotations

import pytest

from arena.engine.events import Fill
from arena.engine.rulebook import describe
from arena.engine.rules import RulesetError, resolve_ruleset
from tests.engine.builders import T0, ladder, tick

TIERED = {
    "max_leverage": 10, "max_position_fraction": 10, "order_rate": {"max_orders": 1_000},
    "slippage": {"crypto": {"gamma": 0.0, "alpha": 0.5}},
    "fees": {"crypto": {"maker_bps": 10, "taker_bps": 20, "tiers": [
        {"from_notional": 1_000_000, "maker_bps": 2, "taker_bps": 5},
        {"from_notional": 5_000_000, "maker_bps": 0, "taker_bps": 1},
    ]}},
}  # fmt: skip


def test_each_fill_pays_the_tier_its_account_had_reached(make_engine):
    engine = make_engine(TIERED)
    engine.on_tick(tick(T0, ladder("BTC-USD", T0, 49_999.5, 50_000.5, size=1_000, step=1.0, volume=30_000)))
    rates = []
    for i in range(4):  # 10 BTC, about 500,000 each: 0, 0.5M, 1.0M, 1.5M traded before each fill
        order = {"symbol": "BTC-USD", "side": "buy", "type": "market", "qty": 10, "client_order_id": f"b{i}"}
        [fill] = [e for e in engine.submit(order, T0, account="a") if isinstance(e, Fill)]
        rates.append(round(fill.fee / (fill.qty * fill.price) * 1e4, 6))
    assert rates == [20.0, 20.0, 5.0, 5.0]
    assert engine.accounts["a"].traded["crypto"] == pytest.approx(40 * 50_000.5, rel=1e-6)


def test_tiers_must_ascend_and_the_rulebook_lists_them():
    descending = TIERED["fees"]["crypto"]["tiers"][::-1]
    with pytest.raises(RulesetError, match="ascending"):
        resolve_ruleset({"fees": {"crypto": {"tiers": descending}}})
    text = " ".join(describe(resolve_ruleset(TIERED)))
    assert "traded: 5 bp taker, 2 bp maker" in text and "traded: 1 bp taker, 0 bp maker" in text
