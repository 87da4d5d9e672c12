"""Score: how an account ranks. Default NAV × (1 − MDD); also plain NAV and return."""

from __future__ import annotations

from arena.engine.rules import ScoringFormula


def score(formula: ScoringFormula, nav: float, starting_balance: float, max_drawdown: float) -> float:
    if formula is ScoringFormula.NAV_DRAWDOWN:
        return nav * (1.0 - max_drawdown)
    if formula is ScoringFormula.NAV:
        return nav
    return nav / starting_balance - 1.0
