"""Instrument: what can be traded, and the catalog that lists them.

The catalog is data (``arena/data/instruments.yaml`` by default); :meth:`InstrumentCatalog.from_mapping`
validates it, so a new instrument needs no code change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
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
    # Set by the catalog for an instrument quoted in a currency other than USD: the pair whose mid converts its
    # quote currency to USD, and whether that pair quotes USD in the currency (USDJPY) rather than the reverse.
    conversion: str | None = None
    conversion_inverted: bool = False
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

    def usd_multiplier(self, rate: float) -> float:
        """USD per price point per unit, given its conversion pair's price ``rate`` (for a USD-quoted instrument:
        the multiplier; ``rate`` is unused)."""
        if self.conversion is None:
            return self.multiplier
        return self.multiplier / rate if self.conversion_inverted else self.multiplier * rate


# 10.0**e for e in -20..20, computed once (the same doubles as computing them each time).
_POWERS_OF_TEN: tuple[float, ...] = tuple(10.0**e for e in range(-20, 21))


def pow10(exponent: int) -> float:
    """10.0**exponent."""
    return _POWERS_OF_TEN[exponent + 20] if -20 <= exponent <= 20 else 10.0**exponent


def _on_grid(steps: float) -> bool:
    """True when ``steps`` is a whole number, up to a double's precision at that magnitude."""
    return abs(steps - round(steps)) <= max(1e-6, abs(steps) * 1e-12)


_REQUIRED = ("asset_class", "sector", "venue", "tick_size", "qty_decimals")
_DERIVED = frozenset(("conversion", "conversion_inverted"))  # from the catalog's currencies, not the instrument
_CURRENCY = re.compile(r"[A-Z]{3}")


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
    unknown = set(spec) - set(Instrument.__dataclass_fields__) - {"symbol"} - _DERIVED
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
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise CatalogError(f"{symbol}: currency must be a three-letter ISO code such as USD or JPY, got {currency!r}")
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
        conversion=None,  # the catalog sets it, from its currencies
        conversion_inverted=False,
        **floats,
    )


def _conversion(currency: str, pair: Any, listed: Mapping[str, Instrument]) -> tuple[str, bool]:
    """The pair that converts ``currency`` to USD, and whether its price is ``currency`` per USD (inverted)."""
    if not isinstance(pair, str) or pair not in listed:
        raise CatalogError(f"currencies: {currency}'s conversion pair {pair!r} is not in the catalog")
    quote = listed[pair].currency
    letters = re.sub(r"[^A-Z]", "", pair)  # EURUSD, EUR/USD and EUR-USD name the same pair
    if quote == "USD" and letters == currency + "USD":
        return pair, False
    if quote == currency and letters == "USD" + currency:
        return pair, True
    raise CatalogError(
        f"currencies: {currency}'s conversion pair {pair} must be {currency}USD quoted in USD or USD{currency} "
        f"quoted in {currency} (it is quoted in {quote})"
    )


class InstrumentCatalog(Mapping[str, Instrument]):
    """An immutable symbol -> Instrument mapping.

    Accounts are kept in USD. ``currencies`` names, for each other quote currency, the listed FX pair whose mid
    converts it (``{"GBP": "GBPUSD", "JPY": "USDJPY"}``); each instrument quoted in it carries that pair as its
    ``conversion``.
    """

    def __init__(self, instruments: Iterable[Instrument], currencies: Mapping[str, str] | None = None) -> None:
        listed: dict[str, Instrument] = {}
        for inst in instruments:
            if inst.symbol in listed:
                raise CatalogError(f"{inst.symbol}: listed twice")
            listed[inst.symbol] = inst
        currencies = dict(currencies or {})
        conversions = {c: _conversion(c, pair, listed) for c, pair in currencies.items()}
        self._by_symbol: dict[str, Instrument] = {}
        for symbol, inst in listed.items():
            if inst.currency != "USD":
                if inst.currency not in conversions:
                    raise CatalogError(
                        f"{symbol}: quoted in {inst.currency}, which the catalog's currencies give no conversion "
                        f"pair for (add e.g. {inst.currency}: {inst.currency}USD); accounts are kept in USD"
                    )
                pair, inverted = conversions[inst.currency]
                inst = replace(inst, conversion=pair, conversion_inverted=inverted)
            self._by_symbol[symbol] = inst
        self.currencies: dict[str, str] = currencies

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> InstrumentCatalog:
        """Build from ``{"instruments": {SYMBOL: {field: value, ...}, ...}, "currencies": {CUR: PAIR, ...}}``."""
        if not isinstance(data, Mapping) or not isinstance(data.get("instruments"), Mapping):
            raise CatalogError("the catalog must be a mapping with an 'instruments' mapping")
        instruments = []
        for symbol, spec in data["instruments"].items():
            if not isinstance(symbol, str) or not re.fullmatch(r"[A-Z0-9][A-Z0-9.\-/]{0,19}", symbol):
                raise CatalogError(f"{symbol!r}: a symbol is 1-20 upper-case letters, digits, '.', '-' or '/'")
            instruments.append(_instrument(symbol, spec))
        currencies = data.get("currencies", {})
        if not isinstance(currencies, Mapping):
            raise CatalogError("currencies must be a mapping of currency code to conversion pair")
        for currency in currencies:
            if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency) or currency == "USD":
                raise CatalogError(f"currencies: {currency!r} is not a three-letter ISO code other than USD")
        return cls(instruments, currencies)

    def __getitem__(self, symbol: str) -> Instrument:
        return self._by_symbol[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def by_asset_class(self, asset_class: AssetClass) -> list[Instrument]:
        return [i for i in self._by_symbol.values() if i.asset_class is asset_class]

    def with_conversions(self, symbols: Iterable[str]) -> tuple[str, ...]:
        """``symbols`` (known ones), then the conversion pairs that valuing them needs and they lack: what a feed
        trading them must also carry."""
        chosen = tuple(dict.fromkeys(symbols))
        pairs = (self._by_symbol[s].conversion for s in chosen if s in self._by_symbol)
        return tuple(dict.fromkeys((*chosen, *(p for p in pairs if p is not None))))
