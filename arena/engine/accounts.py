"""Account and Position: cash, holdings, P&L, NAV, drawdown and the equity curve.

NAV = cash + Σ qᵢ·pᵢ·multᵢ, marked at each instrument's mid. A price tick re-marks only the
positions in that symbol (the engine keeps a reverse index), by adding q·mult·Δp to NAV.

A position quoted in another currency than USD is *margined*: buying it moves no cash; it adds its open P&L,
q·(p − avg)·mult, to NAV, and its realised P&L and fees settle in cash. Its ``multiplier`` is then the USD value
of one price point at the conversion rate (the contract multiplier × USD per unit of the quote currency), kept
current as the rate moves, so the same q·mult·Δp re-marks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arena.engine.instruments import Instrument
from arena.engine.rules import ScoringFormula


@dataclass(slots=True, eq=False)
class Position:
    account: Account
    symbol: str
    multiplier: float
    sector: str
    qty: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    margined: bool = False  # quoted in another currency: valued by its open P&L (see the module docstring)

    def apply(self, signed_qty: float, price: float) -> float:
        """Add ``signed_qty`` bought (+) or sold (−) at ``price``; returns the P&L realised."""
        qty = self.qty
        realized = 0.0
        if qty == 0 or (qty > 0) == (signed_qty > 0):
            new_qty = qty + signed_qty
            self.avg_price = (qty * self.avg_price + signed_qty * price) / new_qty
        else:
            closed = min(abs(qty), abs(signed_qty))
            direction = 1.0 if qty > 0 else -1.0
            realized = closed * (price - self.avg_price) * direction * self.multiplier
            new_qty = qty + signed_qty
            if abs(new_qty) < 1e-12:
                new_qty = 0.0
                self.avg_price = 0.0
            elif (new_qty > 0) != (qty > 0):
                self.avg_price = price  # flipped: the remainder opened at this price
        self.qty = new_qty
        self.realized_pnl += realized
        return realized


@dataclass(slots=True, eq=False)
class Account:
    id: str
    tournament: str | None
    starting_balance: float
    # From the tournament's ruleset, kept here for the per-tick re-scoring loop.
    formula: ScoringFormula = ScoringFormula.NAV_DRAWDOWN
    daily_loss_limit: float | None = None
    cash: float = 0.0
    positions: dict[str, Position] = field(default_factory=dict)
    nav: float = 0.0
    peak: float = 0.0
    max_drawdown: float = 0.0
    score: float = 0.0
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    fills: int = 0
    gross: float = 0.0  # Σ|q·p·mult| at the marks, kept up as NAV is (exact: gross_exposure)
    traded: dict[str, float] = field(default_factory=dict)  # asset class -> notional traded (fee tiers)
    day: int = -1  # UTC day number of day_open_nav
    day_open_nav: float = 0.0
    loss_limit_day: int = -1  # the day the circuit breaker tripped
    disabled: bool = False
    equity_curve: list[tuple[int, float]] = field(default_factory=list)
    # Set while the account waits in the engine's dirty list for re-scoring.
    dirty: bool = False

    def __post_init__(self) -> None:
        if not self.cash:
            self.cash = self.starting_balance
        self.nav = self.peak = self.cash
        self.day_open_nav = self.cash

    def position(self, instrument: Instrument) -> Position:
        pos = self.positions.get(instrument.symbol)
        if pos is None:
            pos = Position(self, instrument.symbol, instrument.multiplier, instrument.sector,
                           margined=instrument.conversion is not None)
            self.positions[instrument.symbol] = pos
        return pos

    def revalue(self, marks: dict[str, float]) -> float:
        """NAV from scratch (after a fill), so deltas never drift for long."""
        nav = self.cash
        for pos in self.positions.values():
            if pos.qty:
                mark = marks[pos.symbol]
                nav += pos.qty * ((mark - pos.avg_price) if pos.margined else mark) * pos.multiplier
        self.nav = nav
        return nav

    # Loops rather than sum(): Python 3.12's sum() of floats rounds differently from a running total, and the
    # compiled engine must add exactly as the interpreted one does.
    def gross_exposure(self, marks: dict[str, float]) -> float:
        gross = 0.0
        for p in self.positions.values():
            if p.qty:
                gross += abs(p.qty * marks[p.symbol] * p.multiplier)
        return gross

    def sector_allocation(self, marks: dict[str, float]) -> dict[str, float]:
        """Share of gross exposure per sector."""
        totals: dict[str, float] = {}
        for p in self.positions.values():
            if p.qty:
                totals[p.sector] = totals.get(p.sector, 0.0) + abs(p.qty * marks[p.symbol] * p.multiplier)
        gross = 0.0
        for value in totals.values():
            gross += value
        return {sector: value / gross for sector, value in sorted(totals.items())} if gross else {}

    def unrealized_pnl(self, marks: dict[str, float]) -> float:
        pnl = 0.0
        for p in self.positions.values():
            if p.qty:
                pnl += p.qty * (marks[p.symbol] - p.avg_price) * p.multiplier
        return pnl

    def update_drawdown(self) -> None:
        nav = self.nav
        if nav > self.peak:
            self.peak = nav
        elif self.peak > 0:
            drawdown = 1.0 - nav / self.peak
            if drawdown > self.max_drawdown:
                self.max_drawdown = drawdown if drawdown < 1.0 else 1.0
