"""Portfolio: the bot's view of its own account, as the host last reported it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Holding:
    qty: float = 0.0
    avg_price: float = 0.0


@dataclass
class Portfolio:
    cash: float = 0.0
    nav: float = 0.0
    positions: dict[str, Holding] = field(default_factory=dict)

    def position(self, symbol: str) -> float:
        """Units held of ``symbol`` (negative when short, 0 when flat)."""
        holding = self.positions.get(symbol)
        return holding.qty if holding else 0.0

    def update(self, message: dict[str, Any]) -> None:
        """A ``portfolio`` message, applied."""
        positions = message.get("positions")
        holdings = None if positions is None else {
            s: Holding(float(p.get("qty", 0.0)), float(p.get("avg_price", 0.0))) for s, p in positions.items()
        }
        self._apply(float(message.get("cash", self.cash)), float(message.get("nav", self.nav)), holdings)

    def _apply(self, cash: float, nav: float, positions: dict[str, Holding] | None = None) -> None:
        """A ``portfolio`` message's fields (``positions`` None: unchanged), for a host that runs the bot in its own
        process and builds no message."""
        self.cash = cash
        self.nav = nav
        if positions is not None:
            self.positions = positions
