"""Achievements: XP, levels and badges, computed from what the record says an entry did (its fills, its final
standing and its end), never from anything a bot reports about itself.

XP per tournament, once per contestant (their best placed bot): 100 for taking part, 50 more if one of their bots
ran to the end, and up to 100 for the place: ``round(100 × (n − rank) / (n − 1))`` among ``n`` contestants (the
winner 100, the last 0; a lone contestant 0). Levels: ``level = 1 + ⌊√(XP / 100)⌋``, so level L starts at
``100 × (L − 1)²`` XP (level 2 at 100, 3 at 400, 4 at 900, 5 at 1,600).

Badges, each earned once per contestant, by any one of their (not disqualified) entries:

- ``diversified``: held positions in at least 4 sectors at once (the catalog's sector of each instrument);
- ``risk_manager``: ran to the end with a max drawdown under 2%, having traded (at least one fill: doing nothing
  is not managing risk);
- ``whale``: a single fill whose notional (qty × price × multiplier) is above the whale threshold
  (``ARENA_WHALE_NOTIONAL``, default 100,000);
- ``streak_3``, ``streak_5``, ``streak_10``: entered that many rated tournaments in a row (every tournament that
  finishes and is rated counts; a tournament one did not enter ends the streak).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DIVERSIFIED_SECTORS = 4
RISK_MANAGER_DRAWDOWN = 0.02
WHALE_NOTIONAL = 100_000.0  # the default threshold: a tenth of the default starting balance in one fill
STREAKS = (3, 5, 10)
XP_ENTERED, XP_FINISHED, XP_PLACE = 100, 50, 100
_EPS = 1e-9


@dataclass(frozen=True)
class Badge:
    code: str
    title: str
    description: str


BADGES: dict[str, Badge] = {
    b.code: b
    for b in (
        Badge("diversified", "Diversified", f"held positions in {DIVERSIFIED_SECTORS} or more sectors at once"),
        Badge("risk_manager", "Risk manager",
              f"finished a tournament with a max drawdown under {RISK_MANAGER_DRAWDOWN:.0%}, having traded"),
        Badge("whale", "Whale", "made a single fill above the whale notional"),
        *(Badge(f"streak_{n}", f"{n} in a row", f"entered {n} rated tournaments in a row") for n in STREAKS),
    )
}  # fmt: skip


@dataclass(frozen=True)
class EntryFacts:
    """What the record says one entry did in one tournament."""

    bot: str
    finished: bool  # ran to the end (its entry's status)
    max_drawdown: float  # its final standing's
    fills: int
    sectors_at_once: int  # the most sectors it held positions in at the same time
    largest_fill: float  # the notional of its largest fill (0 without fills)


@dataclass(frozen=True)
class Earned:
    code: str
    bot: str  # the entry that earned it
    detail: dict[str, float | int]


def sectors_at_once(fills: Iterable[tuple[str, str, float]], sector_of: Mapping[str, str]) -> int:
    """The most sectors held at the same time over (symbol, side, qty) fills in the order they happened. A symbol
    the catalog does not know counts as a sector of its own (its symbol)."""
    positions: dict[str, float] = {}
    held: dict[str, int] = {}  # sector → symbols with an open position in it
    most = 0
    for symbol, side, qty in fills:
        before = positions.get(symbol, 0.0)
        after = before + (qty if side == "buy" else -qty)
        positions[symbol] = after
        sector = sector_of.get(symbol, symbol)
        was, now = abs(before) > _EPS, abs(after) > _EPS
        if now and not was:
            held[sector] = held.get(sector, 0) + 1
        elif was and not now:
            held[sector] -= 1
            if not held[sector]:
                del held[sector]
        most = max(most, len(held))
    return most


def entry_badges(facts: EntryFacts, whale_notional: float = WHALE_NOTIONAL) -> list[Earned]:
    """The badges one entry's record earns (streaks are the contestant's: ``streak_badges``)."""
    out = []
    if facts.sectors_at_once >= DIVERSIFIED_SECTORS:
        out.append(Earned("diversified", facts.bot, {"sectors": facts.sectors_at_once}))
    if facts.finished and facts.fills > 0 and facts.max_drawdown < RISK_MANAGER_DRAWDOWN:
        out.append(Earned("risk_manager", facts.bot, {"max_drawdown": facts.max_drawdown}))
    if facts.largest_fill > whale_notional:
        out.append(Earned("whale", facts.bot, {"notional": facts.largest_fill, "threshold": whale_notional}))
    return out


def streak_badges(streak: int, bot: str) -> list[Earned]:
    return [Earned(f"streak_{n}", bot, {"streak": streak}) for n in STREAKS if streak >= n]


def tournament_xp(rank: int, contestants: int, finished: bool) -> dict[str, int]:
    """XP for one tournament, by part: ``entered``, ``finished`` and ``place`` (see the module doc)."""
    place = round(XP_PLACE * (contestants - rank) / (contestants - 1)) if contestants > 1 else 0
    return {"entered": XP_ENTERED, "finished": XP_FINISHED if finished else 0, "place": max(0, place)}


def level(xp: int) -> int:
    return 1 + math.isqrt(max(0, xp) // 100)


def level_starts(lvl: int) -> int:
    """The XP at which level ``lvl`` starts."""
    return 100 * (lvl - 1) ** 2
