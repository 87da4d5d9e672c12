"""Fees: what one fill costs under a fee schedule."""

from __future__ import annotations

from arena.engine.rules import FeeSchedule


def fill_fee(schedule: FeeSchedule, notional: float, qty: float, maker: bool, traded: float = 0.0) -> float:
    """``traded``: the account's notional traded in the asset class before this fill (for volume tiers)."""
    bps = schedule.bps(maker, traded)
    fee = abs(notional) * bps * 1e-4 + qty * schedule.per_unit
    # A rebate (negative maker fee) is paid in full; a charge is at least the minimum.
    return fee if fee < 0 else max(fee, schedule.min_per_fill)
