"""A ruleset in plain words, for spectators and contestants: one sentence per rule that matters."""

from __future__ import annotations

from arena.engine.instruments import AssetClass
from arena.engine.orders import OrderType, TimeInForce
from arena.engine.rules import FeeSchedule, Ruleset, ScoringFormula

_SCORING = {
    ScoringFormula.NAV_DRAWDOWN: "Score = net asset value × (1 − maximum drawdown): steady gains beat wild swings.",
    ScoringFormula.NAV: "Score = net asset value (cash plus positions at market).",
    ScoringFormula.RETURN: "Score = return on the starting balance.",
}
_ORDER_TYPES = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stop",
                OrderType.STOP_LIMIT: "stop-limit"}  # fmt: skip
_TIF = {TimeInForce.GTC: "good till cancelled", TimeInForce.DAY: "day", TimeInForce.IOC: "immediate or cancel",
        TimeInForce.FOK: "fill or kill"}  # fmt: skip
_CLASSES = {AssetClass.EQUITY: "equities", AssetClass.ETF: "ETFs", AssetClass.CRYPTO: "crypto",
            AssetClass.FOREX: "forex", AssetClass.FUTURE: "futures", AssetClass.INDEX: "indices"}  # fmt: skip


def _money(value: float) -> str:
    return f"${value:,.0f}" if value == int(value) else f"${value:,.2f}"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _fee(schedule: FeeSchedule) -> str:
    parts = []
    if schedule.taker_bps or schedule.maker_bps:
        maker = f"{schedule.maker_bps:g} bp maker" + (" (a rebate)" if schedule.maker_bps < 0 else "")
        parts.append(f"{schedule.taker_bps:g} bp taker, {maker}")
    if schedule.per_unit:
        parts.append(f"{_money(schedule.per_unit) if schedule.per_unit >= 0.01 else f'${schedule.per_unit:g}'} a unit")
    if schedule.min_per_fill:
        parts.append(f"at least {_money(schedule.min_per_fill)} a fill")
    for tier in schedule.tiers:
        rate = f"{tier.taker_bps:g} bp taker, {tier.maker_bps:g} bp maker"
        parts.append(f"from {_money(tier.from_notional)} traded: {rate}")
    return ", ".join(parts) or "free"


def describe(rules: Ruleset, markets: list[str] | None = None) -> list[str]:
    """The ruleset as sentences, most important first; ``markets``: the symbols the tournament's feed quotes."""
    lines = [
        f"Every bot starts with {_money(rules.starting_balance)} in cash.",
        _SCORING[rules.scoring.formula],
        f"Leverage is capped at {rules.max_leverage:g}× (gross exposure over net asset value), and one position "
        f"may be at most {_pct(rules.max_position_fraction)} of net asset value.",
    ]
    if rules.outside_session == "queue":
        lines.append(
            "Orders for a venue that is closed are queued until it opens (immediate-or-cancel and fill-or-kill "
            "orders are refused); a day order then expires at that session's close."
        )
    if rules.liquidation.enabled:
        lines.append(
            f"If prices push gross exposure past {rules.maintenance_leverage:g}× net asset value, the bot's open "
            f"orders are cancelled and its positions are cut by market orders back to {rules.liquidation_target:g}×."
        )
    if markets:
        tradable = sorted(set(markets) & set(rules.symbols)) if rules.symbols is not None else sorted(markets)
        lines.append(f"Only these symbols trade: {_listing(tradable)}." if tradable else "No symbol may trade.")
    elif rules.symbols is not None:
        lines.append(f"Only these symbols trade: {_listing(sorted(rules.symbols))}.")
    if rules.asset_classes is not None:
        lines.append(f"Only {_listing([_CLASSES[c] for c in rules.asset_classes])} trade.")
    lines.append("Short selling is allowed." if rules.short_selling else "Short selling is not allowed.")
    lines.append(
        f"Order types: {_listing([_ORDER_TYPES[t] for t in rules.order_types])}; time in force: "
        f"{_listing([_TIF[t] for t in rules.time_in_force])}."
    )
    if rules.daily_loss_limit is not None:
        lines.append(
            f"A bot that loses {_pct(rules.daily_loss_limit)} of the day's opening value may only reduce risk "
            "for the rest of that day."
        )
    lines.append(
        "Trading follows each exchange's hours"
        + (
            "; limit orders for US stocks and ETFs may be marked to trade before the open and after the close too."
            if rules.extended_hours
            else "."
        )
    )
    allowed = rules.asset_classes or list(AssetClass)
    fees = "; ".join(f"{_CLASSES[c]}: {_fee(rules.fees[c])}" for c in allowed)
    lines.append(f"Fees — {fees}.")
    lines.append(
        f"Orders move the price against the trader as they take liquidity (slippage), may fill in parts, and may "
        f"take at most {_pct(rules.liquidity.participation_cap)} of the displayed depth a tick."
    )
    lines.append(f"At most {rules.order_rate.max_orders} orders every {rules.order_rate.per_ms / 1000:g} s per bot.")
    return lines
