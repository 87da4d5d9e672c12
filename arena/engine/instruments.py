"""Instrument: what can be traded, and the catalog that lists them.

The catalog is data (``arena/data/instruments.yaml`` by default); :meth:`InstrumentCatalog.from_mapping`
validates it, so a new instrument needs no code change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from arena.engine.sessions import VENUES


class AssetClass(StrEnum):
    EQUITY = "equity"
    ETF = "etf"
    CRYPTO = "crypto"
    FOREX = "forex"
    FUTURE = "future"
    INDEX = "index"


# CME month codes, January..December.
MONTH_CODES = "FGHJKMNQUVXZ"
_FUTURE_SYMBOL = re.compile(r"^(?P<root>[A-Z0-9]{1,3})(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{2})$")


class CatalogError(ValueError):
    """The instrument catalog is malformed; the message names the instrument and field."""


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    asset_class: AssetClass
    sector: str
    venue: str
    tick_size: float
    qty_decimals: int
    multiplier: float = 1.0
    min_qty: float = 0.0
    currency: str = "USD"
    name: str = ""
    expiry: date | None = None
    # Reference figures a synthetic feed starts from.
    reference_price: float = 100.0
    annual_volatility: float = 0.3
    spread_bps: float = 2.0
    daily_volume: float = 1_000_000.0

    @property
    def qty_step(self) -> float:
        return 10.0**-self.qty_decimals

    def round_price(self, price: float) -> float:
        ticks = round(price / self.tick_size)
        return round(ticks * self.tick_size, 10)

    def is_valid_qty(self, qty: float) -> bool:
        """True when ``qty`` is a whole multiple of the quantity step."""
        return _on_grid(qty * pow10(self.qty_decimals))

    def is_valid_price(self, price: float) -> bool:
        """True when ``price`` lies on the tick grid."""
        return _on_grid(price / self.tick_size)

    def is_expired(self, on: date) -> bool:
        return self.expiry is not None and on > self.expiry


# 10.0**e for e in -20..20, computed once (the same doubles as computing them each time).
_POWERS_OF_TEN: tuple[float, ...] = tuple(10.0**e for e in range(-20, 21))


def pow10(exponent: int) -> float:
    """10.0**exponent."""
    return _POWERS_OF_TEN[exponent + 20] if -20 <= exponent <= 20 else 10.0**exponent


def _on_grid(steps: float) -> bool:
    """True when ``steps`` is a whole number, up to a double's precision at that magnitude."""
    return abs(steps - round(steps)) <= max(1e-6, abs(steps) * 1e-12)


_REQUIRED = ("asset_class", "sector", "venue", "tick_size", "qty_decimals")


def _positive(symbol: str, field: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CatalogError(f"{symbol}: {field} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise CatalogError(f"{symbol}: {field} must be a positive finite number, got {value!r}")
    return number


def _instrument(symbol: str, spec: Mapping[str, Any]) -> Instrument:
    if not isinstance(spec, Mapping):
        raise CatalogError(f"{symbol}: expected a mapping of fields")
    missing = [f for f in _REQUIRED if f not in spec]
    if missing:
        raise CatalogError(f"{symbol}: missing field(s) {', '.join(missing)}")
    unknown = set(spec) - set(Instrument.__dataclass_fields__) - {"symbol"}
    if unknown:
        raise CatalogError(f"{symbol}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    try:
        asset_class = AssetClass(spec["asset_class"])
    except ValueError:
        choices = ", ".join(a.value for a in AssetClass)
        raise CatalogError(f"{symbol}: asset_class must be one of {choices}") from None
    venue = spec["venue"]
    if venue not in VENUES:
        raise CatalogError(f"{symbol}: venue {venue!r} has no session rules; use one of {', '.join(VENUES)}")
    qty_decimals = spec["qty_decimals"]
    # bool is an int subclass; `qty_decimals: yes` must not pass as 1.
    if isinstance(qty_decimals, bool) or not isinstance(qty_decimals, int) or not 0 <= qty_decimals <= 8:
        raise CatalogError(f"{symbol}: qty_decimals must be an integer from 0 to 8")
    sector = spec["sector"]
    if not isinstance(sector, str) or not sector:
        raise CatalogError(f"{symbol}: sector must be a non-empty string")
    expiry = spec.get("expiry")
    if isinstance(expiry, datetime):  # YAML reads `2026-12-29 00:00` as a datetime
        expiry = expiry.date()
    if isinstance(expiry, str):
        try:
            expiry = date.fromisoformat(expiry)
        except ValueError:
            raise CatalogError(f"{symbol}: expiry must be a date (YYYY-MM-DD)") from None
    if asset_class is AssetClass.FUTURE:
        match = _FUTURE_SYMBOL.match(symbol)
        if not match:
            raise CatalogError(f"{symbol}: a future's symbol is ROOT + month code + YY, e.g. GCZ26")
        if not isinstance(expiry, date):
            raise CatalogError(f"{symbol}: a future needs an expiry date")
        month = MONTH_CODES.index(match["month"]) + 1
        year = 2000 + int(match["year"])
        months_before = (year * 12 + month) - (expiry.year * 12 + expiry.month)
        if not 0 <= months_before <= 1:
            raise CatalogError(f"{symbol}: expiry {expiry} does not fit the contract month {match['month']}")
    elif expiry is not None:
        raise CatalogError(f"{symbol}: only futures have an expiry")
    currency = spec.get("currency", "USD")
    if currency != "USD":
        raise CatalogError(f"{symbol}: accounts are kept in USD; quote currency {currency!r} is not supported")
    floats = {
        f: _positive(symbol, f, spec[f])
        for f in ("tick_size", "multiplier", "reference_price", "annual_volatility", "spread_bps", "daily_volume")
        if f in spec
    }
    min_qty = _positive(symbol, "min_qty", spec.get("min_qty", 10.0**-qty_decimals))
    if not _on_grid(min_qty * 10.0**qty_decimals):
        raise CatalogError(
            f"{symbol}: min_qty {min_qty} is not a multiple of the quantity step {10.0**-qty_decimals:g}"
        )
    return Instrument(
        symbol=symbol,
        asset_class=asset_class,
        sector=sector,
        venue=venue,
        qty_decimals=qty_decimals,
        min_qty=min_qty,
        currency=currency,
        name=str(spec.get("name", "")),
        expiry=expiry,
        **floats,
    )


class InstrumentCatalog(Mapping[str, Instrument]):
    """An immutable symbol -> Instrument mapping."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._by_symbol: dict[str, Instrument] = {}
        for inst in instruments:
            if inst.symbol in self._by_symbol:
                raise CatalogError(f"{inst.symbol}: listed twice")
            self._by_symbol[inst.symbol] = inst

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> InstrumentCatalog:
        """Build from ``{"instruments": {SYMBOL: {field: value, ...}, ...}}``."""
        if not isinstance(data, Mapping) or not isinstance(data.get("instruments"), Mapping):
            raise CatalogError("the catalog must be a mapping with an 'instruments' mapping")
        instruments = []
        for symbol, spec in data["instruments"].items():
            if not isinstance(symbol, str) or not re.fullmatch(r"[A-Z0-9][A-Z0-9.\-/]{0,19}", symbol):
                raise CatalogError(f"{symbol!r}: a symbol is 1-20 upper-case letters, digits, '.', '-' or '/'")
            instruments.append(_instrument(symbol, spec))
        return cls(instruments)

    def __getitem__(self, symbol: str) -> Instrument:
        return self._by_symbol[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def by_asset_class(self, asset_class: AssetClass) -> list[Instrument]:
        return [i for i in self._by_symbol.values() if i.asset_class is asset_class]
