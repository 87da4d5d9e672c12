"""The backtest's statistics against values worked out by hand on small curves and fills."""

from __future__ import annotations

import math

import pytest

from arena.runtime.performance import downsample, drawdowns, max_drawdown, round_trips, statistics

DAY = 86_400_000
MINUTE = 60_000


def fill(ts: int, symbol: str, side: str, qty: float, price: float, fee: float) -> dict:
    return {"ts": ts, "symbol": symbol, "side": side, "qty": qty, "price": price, "fee": fee}


def test_returns_volatility_sharpe_and_sortino_of_a_daily_curve():
    # NAV 100 -> 110 -> 99 -> 121 over three days: returns +10%, -10%, +2/9.
    stats = statistics([0, DAY, 2 * DAY, 3 * DAY], [100.0, 110.0, 99.0, 121.0])
    assert stats.periods == 3
    assert stats.periods_per_year == pytest.approx(365.25)  # 3 returns in 3 days
    assert stats.total_return == pytest.approx(0.21)
    assert stats.annualized_return == pytest.approx(1.21 ** (365.25 / 3) - 1)
    mean = (0.1 - 0.1 + 2 / 9) / 3  # 2/27
    std = math.sqrt(((0.1 - mean) ** 2 + (-0.1 - mean) ** 2 + (2 / 9 - mean) ** 2) / 2)  # sample: n - 1
    assert std == pytest.approx(0.16267, abs=1e-5)
    assert stats.volatility == pytest.approx(std * math.sqrt(365.25))
    assert stats.sharpe == pytest.approx(mean / std * math.sqrt(365.25))
    downside = math.sqrt(0.01 / 3)  # only the -10% day counts, over all three
    assert stats.sortino == pytest.approx(mean / downside * math.sqrt(365.25))
    assert stats.sortino == pytest.approx(24.52, abs=0.01)
    # Peak 110 on day 1, trough 99 (10% below it) on day 2, back above on day 3.
    assert stats.max_drawdown == pytest.approx(0.1)
    assert stats.max_drawdown_duration_s == 2 * 86_400


def test_a_drawdown_that_never_recovers_lasts_until_the_end():
    depth, duration = max_drawdown([0, MINUTE, 2 * MINUTE, 3 * MINUTE], [100.0, 120.0, 90.0, 100.0])
    assert depth == pytest.approx(0.25) and duration == 2 * MINUTE
    assert drawdowns([100.0, 120.0, 90.0, 100.0]) == pytest.approx([0.0, 0.0, 0.25, 1 - 100 / 120])


def test_the_longest_stretch_below_a_peak_is_the_duration_not_the_deepest():
    # A shallow dip lasting 3 minutes, then a deep one lasting 1.
    ts = [i * MINUTE for i in range(8)]
    depth, duration = max_drawdown(ts, [100.0, 99.0, 99.5, 99.0, 101.0, 80.0, 102.0, 103.0])
    assert depth == pytest.approx(1 - 80 / 101) and duration == 4 * MINUTE


def test_a_curve_that_only_rises_has_no_drawdown_and_no_sortino():
    stats = statistics([0, DAY, 2 * DAY], [100.0, 101.0, 103.0])
    assert stats.max_drawdown == 0 and stats.max_drawdown_duration_s == 0
    assert stats.sortino is None and stats.sharpe is not None


def test_a_flat_curve_has_zero_volatility_and_no_sharpe():
    stats = statistics([0, DAY, 2 * DAY], [100.0, 100.0, 100.0])
    assert stats.volatility == 0 and stats.sharpe is None and stats.sortino is None
    assert stats.total_return == 0 and stats.annualized_return == 0


def test_one_point_has_no_annualised_figures():
    stats = statistics([0], [100.0])
    assert stats.periods == 0 and stats.periods_per_year is None
    assert stats.annualized_return is None and stats.volatility is None and stats.sharpe is None


def test_the_starting_balance_comes_before_the_first_tick():
    # The first tick's trades cost 10 of 100: a return and a drawdown from the start.
    stats = statistics([0, DAY], [110.0, 99.0], start_nav=100.0)
    assert stats.start_nav == 100 and stats.total_return == pytest.approx(-0.01)
    assert stats.periods == 2 and stats.periods_per_year == pytest.approx(365.25)  # one interval a day
    assert stats.max_drawdown == pytest.approx(0.1) and stats.max_drawdown_duration_s == 86_400


def test_an_extrapolated_return_too_large_for_a_float_is_none():
    stats = statistics([0, MINUTE], [100.0, 200.0])
    assert stats.annualized_return is None and stats.total_return == 1.0


def test_round_trips_close_at_flat_and_a_flip_opens_the_next():
    fills = [
        fill(1, "X", "buy", 10, 100.0, 1.0),
        fill(2, "X", "sell", 4, 110.0, 1.0),  # reduce: +40
        fill(3, "X", "sell", 10, 90.0, 2.0),  # closes 6 (-60, 60% of the fee) and opens a short of 4
        fill(4, "X", "buy", 4, 80.0, 1.0),  # closes the short: +40
        fill(5, "Y", "buy", 1, 50.0, 0.0),  # still open at the end: not counted
    ]
    trips = round_trips(fills)
    assert [(t.symbol, t.opened_ts, t.closed_ts) for t in trips] == [("X", 1, 3), ("X", 3, 4)]
    assert trips[0].pnl == pytest.approx(-1 + 40 - 1 - 60 - 1.2)  # -23.2
    assert trips[1].pnl == pytest.approx(40 - 0.8 - 1)  # 38.2
    stats = statistics([0, DAY, 2 * DAY, 3 * DAY], [100.0, 110.0, 99.0, 121.0], fills)
    assert stats.round_trips == 2 and stats.win_rate == 0.5
    assert stats.fees == pytest.approx(5.0)
    assert stats.traded_notional == pytest.approx(1000 + 440 + 900 + 320 + 50)
    assert stats.turnover == pytest.approx(2710 / 107.5)  # over the average NAV


def test_a_round_trip_counts_the_contract_multiplier_and_fees_can_make_it_a_loss():
    fills = [fill(1, "ES", "buy", 1, 100.0, 0.0), fill(2, "ES", "sell", 1, 101.0, 0.0)]
    (trip,) = round_trips(fills, {"ES": 50.0})
    assert trip.pnl == pytest.approx(50.0)
    costly = [fill(1, "Z", "buy", 2, 10.0, 1.0), fill(2, "Z", "sell", 2, 10.5, 0.5)]
    (loss,) = round_trips(costly)
    assert loss.pnl == pytest.approx(-0.5)  # +1 in price, -1.5 in fees
    stats = statistics([0, DAY], [100.0, 100.0], costly)
    assert stats.win_rate == 0.0


def test_downsample_keeps_the_ends_and_at_most_the_limit():
    ts, navs = list(range(10_001)), [float(i) for i in range(10_001)]
    points = downsample(ts, navs, 100)
    assert len(points) == 100 and points[0] == (0, 0.0) and points[-1] == (10_000, 10_000.0)
    assert downsample(ts[:50], navs[:50], 100) == list(zip(ts[:50], navs[:50], strict=True))


def test_a_curve_without_points_is_refused():
    with pytest.raises(ValueError):
        statistics([], [])
