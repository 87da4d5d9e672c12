"""Fees: what one fill costs under a fee schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arena.engine.rules import FeeSchedule

Tier = tuple[float, float, float]  # (from_notional, maker_bps, taker_bps)


def tiered_bps(maker_bps: float, taker_bps: float, tiers: tuple[Tier, ...], maker: bool, traded: float) -> float:
    """The basis points of a fill by an account that has traded ``traded`` so far (the last tier reached)."""
    bps = maker_bps if maker else taker_bps
    for from_notional, tier_maker, tier_taker in tiers:
        if traded < from_notional:
            break
        bps = tier_maker if maker else tier_taker
    return bps


def charge(bps: float, per_unit: float, min_per_fill: float, notional: float, qty: float) -> float:
    fee = abs(notional) * bps * 1e-4 + qty * per_unit
    # A rebate (negative maker fee) is paid in full; a charge is at least the minimum.
    return fee if fee < 0 else (min_per_fill if min_per_fill > fee else fee)  # max(fee, min_per_fill)


def fill_fee(schedule: FeeSchedule, notional: float, qty: float, maker: bool, traded: float = 0.0) -> float:
    """``traded``: the account's notional traded in the asset class before this fill (for volume tiers)."""
    return charge(schedule.bps(maker, traded), schedule.per_unit, schedule.min_per_fill, notional, qty)
