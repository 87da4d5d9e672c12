"""Instrument: one tradable symbol as the host describes it in ``hello``, with its lot and tick rounding."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_EPSILON = 1e-9  # in steps: 100.12 / 0.01 is 10011.999..., still 10012 ticks


@dataclass(frozen=True, slots=True)
class Instrument:
    """``qty_step`` is the lot: every order quantity is a whole multiple of it, and at least ``min_qty``;
    every price a whole multiple of ``tick_size``. ``tradable`` is False for a symbol the tournament's rules
    do not allow (its market data still arrives)."""

    symbol: str
    asset_class: str = ""
    sector: str = ""
    venue: str = ""
    tick_size: float = 0.01
    qty_decimals: int = 0
    min_qty: float = 0.0
    multiplier: float = 1.0
    expiry: str | None = None  # ISO date of a future's last trading day
    tradable: bool = True
    # The currency of its prices; for one other than USD, the symbol whose mid converts it to the USD account.
    currency: str = "USD"
    conversion: str | None = None

    @property
    def qty_step(self) -> float:
        return 10.0**-self.qty_decimals

    def round_qty(self, qty: float) -> float:
        """``qty`` rounded toward zero to the lot, so an order never exceeds what was asked; 0.0 when that is
        below ``min_qty`` (nothing can be ordered). The sign is kept."""
        scale = 10.0**self.qty_decimals
        lots = math.floor(abs(qty) * scale + _EPSILON)
        rounded = round(lots / scale, self.qty_decimals)
        if rounded <= 0 or rounded < self.min_qty:
            return 0.0
        return math.copysign(rounded, qty)

    def round_price(self, price: float, side: str | None = None) -> float:
        """``price`` on the tick grid: the nearest tick, or for a ``buy`` the tick at or below it and for a
        ``sell`` the one at or above (a limit never worse than the price asked for)."""
        steps = price / self.tick_size
        if side == "buy":
            ticks = math.floor(steps + _EPSILON)
        elif side == "sell":
            ticks = math.ceil(steps - _EPSILON)
        elif side is None:
            ticks = round(steps)
        else:
            raise ValueError(f"side must be 'buy', 'sell' or None, got {side!r}")
        return round(ticks * self.tick_size, 10)

    @classmethod
    def from_message(cls, entry: Mapping[str, Any]) -> Instrument:
        """One entry of ``hello``'s ``instruments`` (fields this SDK does not know are ignored)."""
        expiry = entry.get("expiry")
        return cls(
            symbol=str(entry["symbol"]),
            asset_class=str(entry.get("asset_class") or ""),
            sector=str(entry.get("sector") or ""),
            venue=str(entry.get("venue") or ""),
            tick_size=float(entry.get("tick_size") or 0.01),
            qty_decimals=int(entry.get("qty_decimals") or 0),
            min_qty=float(entry.get("min_qty") or 0.0),
            multiplier=float(entry.get("multiplier") or 1.0),
            expiry=str(expiry) if expiry is not None else None,
            tradable=bool(entry.get("tradable", True)),
            currency=str(entry.get("currency") or "USD"),
            conversion=str(entry["conversion"]) if entry.get("conversion") else None,
        )
