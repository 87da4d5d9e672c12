"""The ruleset in plain words: each rule that is set shows up, and only those."""

from __future__ import annotations

from arena.engine.rulebook import describe
from arena.engine.rules import resolve_ruleset


def text(override: dict) -> str:
    return "\n".join(describe(resolve_ruleset(override)))


def test_defaults_name_balance_scoring_leverage_and_rate() -> None:
    lines = describe(resolve_ruleset({}))
    assert lines[0] == "Every bot starts with $1,000,000 in cash."
    assert "NAV" not in lines[1] and "maximum drawdown" in lines[1]
    joined = "\n".join(lines)
    assert "capped at 2×" in joined and "at most 25% of net asset value" in joined
    assert "Short selling is allowed." in joined
    assert "At most 50 orders every 1 s per bot." in joined
    assert "Only these symbols" not in joined and "loses" not in joined


def test_overrides_change_the_sentences() -> None:
    described = text(
        {
            "starting_balance": 250_000.5,
            "max_leverage": 1,
            "symbols": ["MSFT", "AAPL"],
            "short_selling": False,
            "daily_loss_limit": 0.05,
            "extended_hours": True,
            "order_rate": {"max_orders": 5, "per_ms": 500},
            "scoring": {"formula": "return"},
        }
    )
    assert "$250,000.50 in cash" in described
    assert "capped at 1×" in described
    assert "Only these symbols trade: AAPL and MSFT." in described
    assert "Short selling is not allowed." in described
    assert "loses 5% of the day's opening value" in described
    assert "before the open and after the close" in described
    assert "At most 5 orders every 0.5 s per bot." in described
    assert "Score = return on the starting balance." in described


def test_fees_follow_the_asset_class_whitelist_and_show_rebates() -> None:
    described = text({"asset_classes": ["crypto"], "fees": {"crypto": {"maker_bps": -2, "taker_bps": 7}}})
    assert "Only crypto trade." in described
    fees = next(line for line in described.splitlines() if line.startswith("Fees"))
    assert fees == "Fees — crypto: 7 bp taker, -2 bp maker (a rebate)."


def test_order_types_and_time_in_force_are_listed_as_allowed() -> None:
    described = text({"order_types": ["limit"], "time_in_force": ["ioc", "fok"]})
    assert "Order types: limit; time in force: immediate or cancel and fill or kill." in described


def test_the_feeds_symbols_narrowed_by_the_whitelist() -> None:
    rules = resolve_ruleset({"symbols": ["SPY", "AAPL", "BTC-USD"]})
    assert "Only these symbols trade: AAPL and SPY." in describe(rules, ["SPY", "AAPL", "ETH-USD"])
    assert "Only these symbols trade: ETH-USD and SPY." in describe(resolve_ruleset({}), ["SPY", "ETH-USD"])
    assert "No symbol may trade." in describe(rules, ["ETH-USD"])
