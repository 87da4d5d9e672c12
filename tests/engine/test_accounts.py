"""Accounts: conservation of value, P&L, delta re-marking of holders only, drawdown and scores."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.engine.accounts import Account, Position
from arena.engine.events import AccountUpdate, Fill
from arena.engine.scoring import score
from tests.engine.builders import T0, ladder, tick

ROOMY = {"max_leverage": 10, "max_position_fraction": 10, "order_rate": {"max_orders": 100_000}}


def books(ts: int, btc_mid: float, eth_mid: float):
    return (
        ladder("BTC-USD", ts, round(btc_mid - 5, 2), round(btc_mid + 5, 2), size=20, step=1.0, volume=50),
        ladder("ETH-USD", ts, round(eth_mid - 0.5, 2), round(eth_mid + 0.5, 2), size=200, step=0.1, volume=500),
    )


def test_position_average_price_and_realised_pnl_through_a_flip():
    account = Account("a", None, 1_000_000.0)
    pos = Position(account, "X", 1.0, "s")
    assert pos.apply(10, 100.0) == 0.0
    assert pos.apply(10, 110.0) == 0.0 and pos.avg_price == 105.0
    assert pos.apply(-5, 120.0) == pytest.approx(75.0)  # 5 × (120 − 105)
    assert pos.apply(-25, 100.0) == pytest.approx(-75.0)  # closes 15 at −5 each; 10 short opened at 100
    assert (pos.qty, pos.avg_price) == (-10, 100.0)
    assert pos.apply(10, 90.0) == pytest.approx(100.0)  # the short made 10 × 10
    assert (pos.qty, pos.avg_price) == (0.0, 0.0)


def test_drawdown_is_the_largest_peak_to_trough_fraction_and_scores_follow():
    account = Account("a", None, 100.0)
    for nav in (120.0, 90.0, 130.0, 117.0, 125.0):
        account.nav = nav
        account.update_drawdown()
    assert account.peak == 130.0
    assert account.max_drawdown == pytest.approx(0.25)  # 120 -> 90
    from arena.engine.rules import ScoringFormula

    assert score(ScoringFormula.NAV_DRAWDOWN, 125.0, 100.0, 0.25) == pytest.approx(93.75)
    assert score(ScoringFormula.NAV, 125.0, 100.0, 0.25) == 125.0
    assert score(ScoringFormula.RETURN, 125.0, 100.0, 0.25) == pytest.approx(0.25)


def test_a_tick_re_marks_only_accounts_holding_the_symbol(make_engine):
    engine = make_engine(ROOMY, accounts=("btc", "eth", "idle"))
    engine.on_tick(tick(T0, *books(T0, 50_000, 3_500)))
    engine.submit({"symbol": "BTC-USD", "side": "buy", "qty": 1}, T0 + 1, account="btc")
    engine.submit({"symbol": "ETH-USD", "side": "buy", "qty": 10}, T0 + 1, account="eth")
    ts = T0 + 60_000
    moved = ladder("BTC-USD", ts, 50_095.0, 50_105.0, size=20, step=1.0)
    updates = [e for e in engine.on_tick(tick(ts, moved)) if isinstance(e, AccountUpdate)]
    assert [u.account for u in updates] == ["btc"]
    btc = engine.accounts["btc"]
    assert btc.nav == pytest.approx(btc.revalue(engine.marks))


def test_short_position_gains_when_the_price_falls(make_engine):
    engine = make_engine(ROOMY)
    engine.on_tick(tick(T0, *books(T0, 50_000, 3_500)))
    engine.submit({"symbol": "BTC-USD", "side": "sell", "qty": 2}, T0 + 1, account="a")
    nav_before = engine.accounts["a"].nav
    engine.on_tick(tick(T0 + 60_000, *books(T0 + 60_000, 49_000, 3_500)))
    assert engine.accounts["a"].nav == pytest.approx(nav_before + 2_000)


def test_sector_allocation_and_equity_curve(make_engine):
    engine = make_engine(ROOMY)
    engine.on_tick(tick(T0, *books(T0, 50_000, 3_500), ladder("AAPL", T0, 254.99, 255.01, size=5000)))
    engine.submit({"symbol": "BTC-USD", "side": "buy", "qty": 1}, T0 + 1, account="a")
    engine.submit({"symbol": "AAPL", "side": "buy", "qty": 200}, T0 + 1, account="a")
    engine.on_tick(tick(T0 + 60_000, *books(T0 + 60_000, 50_100, 3_500)))
    account = engine.accounts["a"]
    allocation = account.sector_allocation(engine.marks)
    assert set(allocation) == {"crypto", engine.catalog["AAPL"].sector}
    assert sum(allocation.values()) == pytest.approx(1.0)
    assert [ts for ts, _ in account.equity_curve] == [T0 + 1, T0 + 60_000]


actions = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.floats(-0.02, 0.02), st.floats(-0.02, 0.02)),
        st.tuples(
            st.just("order"),
            st.sampled_from(["BTC-USD", "ETH-USD"]),
            st.sampled_from(["buy", "sell"]),
            st.integers(1, 3000),  # in thousandths
            st.sampled_from([None, -0.01, 0.0, 0.01]),  # limit offset from mid, or market
        ),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=actions)
def test_conservation_nav_moves_only_by_pnl_and_fees(make_engine, actions):
    engine = make_engine(ROOMY)
    ts = T0
    mids = {"BTC-USD": 50_000.0, "ETH-USD": 3_500.0}
    engine.on_tick(tick(ts, *books(ts, mids["BTC-USD"], mids["ETH-USD"])))
    account = engine.accounts["a"]
    start = account.cash
    for action in actions:
        ts += 1_000
        if action[0] == "tick":
            mids["BTC-USD"] = round(mids["BTC-USD"] * (1 + action[1]), 0)
            mids["ETH-USD"] = round(mids["ETH-USD"] * (1 + action[2]), 1)
            events = engine.on_tick(tick(ts, *books(ts, mids["BTC-USD"], mids["ETH-USD"])))
        else:
            _, symbol, side, milli, offset = action
            order = {"symbol": symbol, "side": side, "qty": milli / 1000}
            if offset is not None:
                step = 1.0 if symbol == "BTC-USD" else 0.1
                order |= {"type": "limit", "limit_price": round(round(mids[symbol] * (1 + offset) / step) * step, 2)}
            cash = account.cash
            events = engine.submit(order, ts, account="a")
            paid = sum(
                (1 if f.side.value == "buy" else -1) * f.qty * f.price + f.fee for f in events if isinstance(f, Fill)
            )
            assert account.cash == pytest.approx(cash - paid, rel=1e-12, abs=1e-6)
        for event in events:
            if isinstance(event, Fill):
                assert event.qty > 0 and event.price > 0 and event.fee >= 0
        marks = engine.marks
        positions_value = sum(p.qty * marks[p.symbol] * p.multiplier for p in account.positions.values())
        assert account.nav == pytest.approx(account.cash + positions_value, rel=1e-9, abs=1e-6)
        realized = sum(p.realized_pnl for p in account.positions.values())
        unrealized = account.unrealized_pnl(marks)
        assert account.nav - start == pytest.approx(realized + unrealized - account.fees_paid, rel=1e-9, abs=1e-5)
        assert 0.0 <= account.max_drawdown <= 1.0
