"""Rulesets: defaults from the design, deep-merged overrides, and validation errors that name the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.engine.instruments import AssetClass
from arena.engine.rules import DEFAULT_RULESET, Ruleset, RulesetError, deep_merge, resolve_ruleset


def test_defaults_are_the_design_numbers():
    assert DEFAULT_RULESET.starting_balance == 1_000_000
    assert DEFAULT_RULESET.max_leverage == 2.0
    assert DEFAULT_RULESET.max_position_fraction == 0.25
    assert set(DEFAULT_RULESET.fees) == set(AssetClass) == set(DEFAULT_RULESET.slippage)
    assert all(0.5 <= s.alpha <= 1.0 for s in DEFAULT_RULESET.slippage.values())


def test_override_deep_merges_and_keeps_everything_else():
    ruleset = resolve_ruleset({"max_leverage": 1, "asset_classes": ["crypto"], "fees": {"crypto": {"taker_bps": 100}}})
    assert ruleset.max_leverage == 1.0
    assert ruleset.asset_classes == [AssetClass.CRYPTO]
    assert ruleset.fees[AssetClass.CRYPTO].taker_bps == 100
    assert ruleset.fees[AssetClass.CRYPTO].maker_bps == DEFAULT_RULESET.fees[AssetClass.CRYPTO].maker_bps
    assert ruleset.fees[AssetClass.EQUITY] == DEFAULT_RULESET.fees[AssetClass.EQUITY]
    assert ruleset.max_position_fraction == 0.25
    assert resolve_ruleset(None) is DEFAULT_RULESET


def test_lists_replace_and_null_clears_a_whitelist():
    narrowed = resolve_ruleset({"symbols": ["BTC-USD", "ETH-USD"]})
    assert narrowed.symbols == ["BTC-USD", "ETH-USD"]
    assert resolve_ruleset({"symbols": None}, base=narrowed).symbols is None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"max_leverage": 0}, "max_leverage"),
        ({"max_leverage": "lots"}, "max_leverage"),
        ({"starting_balance": -5}, "starting_balance"),
        ({"fees": {"crypto": {"taker_bps": -1}}}, "fees.crypto.taker_bps"),
        ({"fees": {"bonds": {"taker_bps": 1}}}, "fees.bonds"),
        ({"slippage": {"forex": {"alpha": 1.5}}}, "slippage.forex.alpha"),
        ({"slippage": {"forex": {"alpha": 0.4}}}, "slippage.forex.alpha"),
        ({"order_types": ["market", "iceberg"]}, "order_types.1"),
        ({"order_types": []}, "order_types"),
        ({"daily_loss_limit": 1.5}, "daily_loss_limit"),
        ({"max_levrage": 3}, "max_levrage"),
        ({"liquidity": {"participation_cap": 0}}, "liquidity.participation_cap"),
        ({"order_rate": {"max_orders": 0}}, "order_rate.max_orders"),
        ({"scoring": {"formula": "sharpe-ish"}}, "scoring.formula"),
        ({"short_selling": "maybe"}, "short_selling"),
    ],
)
def test_invalid_override_names_the_field(override, field):
    with pytest.raises(RulesetError) as info:
        resolve_ruleset(override)
    assert field in [path for path, _ in info.value.errors]
    assert field in str(info.value)
    assert info.value.code == "INVALID_RULESET"


def test_a_non_mapping_override_is_refused():
    with pytest.raises(RulesetError, match="mapping"):
        resolve_ruleset(["max_leverage", 3])  # type: ignore[arg-type]


def test_every_field_of_the_issue_can_be_overridden():
    ruleset = resolve_ruleset(
        {
            "starting_balance": 50_000,
            "max_leverage": 1,
            "max_position_fraction": 0.5,
            "symbols": ["BTC-USD"],
            "asset_classes": ["crypto"],
            "order_types": ["limit"],
            "time_in_force": ["gtc"],
            "short_selling": False,
            "fees": {"crypto": {"maker_bps": -1, "taker_bps": 50, "per_unit": 0.1, "min_per_fill": 1}},
            "slippage": {"crypto": {"gamma": 0.2, "alpha": 0.75}},
            "order_rate": {"max_orders": 5, "per_ms": 1000},
            "extended_hours": True,
            "daily_loss_limit": 0.05,
            "scoring": {"formula": "return"},
        }
    )
    assert ruleset.fees[AssetClass.CRYPTO].maker_bps == -1
    assert ruleset.scoring.formula.value == "return"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(base=st.dictionaries(st.text(max_size=5), json_values, max_size=5),
       override=st.dictionaries(st.text(max_size=5), json_values, max_size=5))  # fmt: skip
def test_deep_merge_keeps_base_keys_and_takes_override_leaves(base, override):
    merged = deep_merge(base, override)
    assert set(merged) == set(base) | set(override)
    for key, value in override.items():
        if not (isinstance(value, dict) and isinstance(base.get(key), dict)):
            assert merged[key] == value


@given(override=st.dictionaries(st.sampled_from(list(Ruleset.model_fields)), json_values, max_size=3))
def test_random_overrides_either_validate_or_name_a_field(override):
    try:
        resolve_ruleset(override)
    except RulesetError as exc:
        assert exc.errors and all(path for path, _ in exc.errors)
