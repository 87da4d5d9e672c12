"""Ruleset: the terms a tournament trades under.

One global default, and per-tournament overrides deep-merged over it and validated. An invalid
override raises :class:`RulesetError`, whose message names each offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from arena.engine.fees import Tier, tiered_bps
from arena.engine.instruments import AssetClass
from arena.engine.orders import OrderType, TimeInForce


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeeTier(_Rules):
    """Basis points from a volume on: the account's notional traded in the asset class so far this tournament."""

    from_notional: float = Field(gt=0, le=1e15)
    maker_bps: float = Field(ge=-10, le=1000)
    taker_bps: float = Field(ge=0, le=1000)


class FeeSchedule(_Rules):
    """Charged on every fill: basis points of notional, plus per unit, at least ``min_per_fill``. ``tiers`` lower
    the basis points as an account's traded notional in the asset class grows, as exchanges' volume tiers do."""

    maker_bps: float = Field(default=0.0, ge=-10, le=1000)  # negative: a maker rebate
    taker_bps: float = Field(default=0.0, ge=0, le=1000)
    per_unit: float = Field(default=0.0, ge=0, le=1000)
    min_per_fill: float = Field(default=0.0, ge=0, le=1e6)
    tiers: list[FeeTier] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _tiers_ascend(self) -> FeeSchedule:
        volumes = [t.from_notional for t in self.tiers]
        if volumes != sorted(set(volumes)):
            raise ValueError("fee tiers must be in strictly ascending order of from_notional")
        return self

    @property
    def tier_table(self) -> tuple[Tier, ...]:
        return tuple((t.from_notional, t.maker_bps, t.taker_bps) for t in self.tiers)

    def bps(self, maker: bool, traded: float) -> float:
        """The basis points of a fill by an account that has traded ``traded`` so far (the last tier reached)."""
        return tiered_bps(self.maker_bps, self.taker_bps, self.tier_table, maker, traded)


class SlippageParams(_Rules):
    """P_exec = P_mid · (1 ± [spread/2 + gamma·(Q/V_avg)^alpha])."""

    gamma: float = Field(default=0.005, ge=0, le=10)
    alpha: float = Field(default=0.5, ge=0.5, le=1.0)


class LiquidityRules(_Rules):
    participation_cap: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="share of the unconsumed displayed depth one order may take per tick",
    )
    replenish_rate: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="share of an account's consumption at a level restored per book refresh",
    )
    max_book_multiple: float = Field(
        default=1.0, gt=0, le=100, description="orders larger than this multiple of the whole visible side halt"
    )


class LiquidationRules(_Rules):
    """Forced liquidation: when a price move takes an account's gross exposure past the maintenance level, its
    open orders are cancelled and its positions reduced by market orders, through the normal execution path
    (slippage, fees, the participation cap), down to the target level. A NAV at or below zero closes them all."""

    enabled: bool = True
    maintenance_leverage: float | None = Field(
        default=None,
        gt=0,
        le=200,
        description="gross exposure / NAV past which positions are liquidated; null: 1.5x the cap",
    )
    target_leverage: float | None = Field(
        default=None, gt=0, le=200, description="gross exposure / NAV a liquidation reduces to; null: the leverage cap"
    )


class OrderRate(_Rules):
    max_orders: int = Field(default=50, ge=1, le=100_000)
    per_ms: int = Field(default=1_000, ge=1, le=3_600_000)


class ScoringFormula(StrEnum):
    NAV_DRAWDOWN = "nav_drawdown"  # NAV × (1 − MDD)
    NAV = "nav"
    RETURN = "return"


class ScoringRules(_Rules):
    formula: ScoringFormula = ScoringFormula.NAV_DRAWDOWN


_DEFAULT_FEES: dict[AssetClass, FeeSchedule] = {
    AssetClass.EQUITY: FeeSchedule(maker_bps=0.5, taker_bps=1.0, per_unit=0.0035, min_per_fill=0.35),
    AssetClass.ETF: FeeSchedule(maker_bps=0.5, taker_bps=1.0, per_unit=0.0035, min_per_fill=0.35),
    AssetClass.CRYPTO: FeeSchedule(maker_bps=10.0, taker_bps=20.0),
    AssetClass.FOREX: FeeSchedule(maker_bps=0.2, taker_bps=0.5, min_per_fill=2.0),
    AssetClass.FUTURE: FeeSchedule(per_unit=2.25, min_per_fill=2.25),
    AssetClass.INDEX: FeeSchedule(maker_bps=1.0, taker_bps=2.0),
}
_DEFAULT_SLIPPAGE: dict[AssetClass, SlippageParams] = {
    AssetClass.EQUITY: SlippageParams(gamma=0.005, alpha=0.5),
    AssetClass.ETF: SlippageParams(gamma=0.004, alpha=0.5),
    AssetClass.CRYPTO: SlippageParams(gamma=0.01, alpha=0.6),
    AssetClass.FOREX: SlippageParams(gamma=0.001, alpha=0.5),
    AssetClass.FUTURE: SlippageParams(gamma=0.003, alpha=0.5),
    AssetClass.INDEX: SlippageParams(gamma=0.003, alpha=0.5),
}

Fraction = Annotated[float, Field(gt=0, le=1)]

# Each bot's RAM (its sandbox's cgroup memory limit, swap off), in MiB: enough for Python with numpy, pandas and
# onnxruntime by default; up to 1 GiB for a tournament whose bots run bigger models.
DEFAULT_MEMORY_MIB = 256
MIN_MEMORY_MIB = 64
MAX_MEMORY_MIB = 1024


class Ruleset(_Rules):
    starting_balance: float = Field(default=1_000_000.0, gt=0, le=1e12)
    max_leverage: float = Field(default=2.0, gt=0, le=100, description="gross exposure / NAV")
    max_position_fraction: float = Field(default=0.25, gt=0, le=100, description="one position's value / NAV")
    symbols: list[str] | None = Field(default=None, description="whitelist; null allows every catalog symbol")
    asset_classes: list[AssetClass] | None = Field(default=None, description="whitelist; null allows all")
    order_types: list[OrderType] = Field(default_factory=lambda: list(OrderType), min_length=1)
    time_in_force: list[TimeInForce] = Field(default_factory=lambda: list(TimeInForce), min_length=1)
    short_selling: bool = True
    fees: dict[AssetClass, FeeSchedule] = Field(default_factory=lambda: dict(_DEFAULT_FEES))
    slippage: dict[AssetClass, SlippageParams] = Field(default_factory=lambda: dict(_DEFAULT_SLIPPAGE))
    liquidity: LiquidityRules = LiquidityRules()
    order_rate: OrderRate = OrderRate()
    extended_hours: bool = Field(
        default=False,
        description="whether orders tagged session: extended may trade in pre-market and after-hours (equities and "
        "ETFs on XNYS/XNAS, limit orders only); off: such orders are refused (EXTENDED_HOURS_NOT_ALLOWED). Untagged "
        "orders trade in regular hours either way",
    )
    outside_session: Literal["reject", "queue"] = Field(
        default="reject",
        description="an order for a closed venue: refused (EXCHANGE_CLOSED), or accepted and worked from the next "
        "open (IOC and FOK orders are still refused; a DAY order expires at that session's close)",
    )
    liquidation: LiquidationRules = LiquidationRules()
    daily_loss_limit: Fraction | None = Field(
        default=None, description="fraction of the day's opening NAV; past it, new risk is refused (LOSS_LIMIT)"
    )
    scoring: ScoringRules = ScoringRules()
    memory_mib: int = Field(
        DEFAULT_MEMORY_MIB, ge=MIN_MEMORY_MIB, le=MAX_MEMORY_MIB,
        description="each bot's memory in MiB (its sandbox's cgroup limit; swap off): past it the bot is out as oom",
    )
    practice: bool = Field(False, description="a practice tournament: for trying bots out, open to remote bots")
    remote_bots: bool | None = Field(
        None, description="whether bots running on their contestants' own machines may enter (over the bot "
        "gateway); null: only in practice tournaments. A ranked tournament is sandbox-only, for fairness"
    )

    @property
    def remote_allowed(self) -> bool:
        return self.practice if self.remote_bots is None else self.remote_bots

    @field_validator("remote_bots")
    @classmethod
    def _ranked_is_sandbox_only(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value and not info.data.get("practice", False):
            raise ValueError("a ranked tournament is sandbox-only; set practice: true to let remote bots enter")
        return value

    @property
    def maintenance_leverage(self) -> float:
        return self.liquidation.maintenance_leverage or 1.5 * self.max_leverage

    @property
    def liquidation_target(self) -> float:
        return self.liquidation.target_leverage or self.max_leverage

    @model_validator(mode="after")
    def _liquidation_levels(self) -> Ruleset:
        if self.liquidation_target > self.maintenance_leverage:
            raise ValueError(
                f"liquidation.target_leverage ({self.liquidation_target:g}) must not exceed the maintenance level "
                f"({self.maintenance_leverage:g})"
            )
        return self

    @model_validator(mode="after")
    def _complete_per_class_tables(self) -> Ruleset:
        # An override may name some asset classes only; the rest keep the defaults.
        for asset_class, fees in _DEFAULT_FEES.items():
            self.fees.setdefault(asset_class, fees)
        for asset_class, slippage in _DEFAULT_SLIPPAGE.items():
            self.slippage.setdefault(asset_class, slippage)
        return self


DEFAULT_RULESET = Ruleset()


class RulesetError(ValueError):
    """An override that does not validate; ``errors`` lists ``(field path, message)``."""

    code = "INVALID_RULESET"

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in ``override`` (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_ruleset(override: Mapping[str, Any] | None = None, base: Ruleset = DEFAULT_RULESET) -> Ruleset:
    """The ruleset of a tournament: ``override`` deep-merged over ``base``, validated."""
    if override is None:
        return base
    if not isinstance(override, Mapping):
        raise RulesetError([("(root)", "a ruleset override must be a mapping of fields")])
    try:
        return Ruleset.model_validate(deep_merge(base.model_dump(mode="json"), override))
    except ValidationError as exc:
        raise RulesetError(
            # pydantic marks a bad dict key with a "[key]" step; the key itself names the field.
            [(".".join(str(p) for p in err["loc"] if p != "[key]") or "(root)", err["msg"]) for err in exc.errors()]
        ) from None
