"""A contestant's rating across tournaments: openskill's Plackett-Luce model over each finished tournament's
standings, as a multi-player ranking of contestants.

A contestant with several bots in one tournament places as their best bot (the lowest standing rank): a
contestant is one player however many bots they enter, so entering more bots cannot earn more rating updates per
tournament. Contestants whose best bots tie share a place, as the standings' competition ranks do (1, 2, 2, 4).

The displayed rating is ``1000 + 40 × (μ − 3σ)``: openskill's ordinal (a conservative estimate, 99.7% below the
true skill), scaled so a newcomer shows 1000 and a tournament moves it by tens of points, as on chess sites.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from openskill.models import PlackettLuce

MU = 25.0
SIGMA = MU / 3
DISPLAY_BASE = 1000.0
DISPLAY_SCALE = 40.0

_MODEL = PlackettLuce(mu=MU, sigma=SIGMA)


@dataclass(frozen=True)
class Skill:
    mu: float = MU
    sigma: float = SIGMA

    @property
    def display(self) -> float:
        """The rating shown: ``1000 + 40 × ordinal`` (ordinal = μ − 3σ), rounded to 0.01."""
        return round(DISPLAY_BASE + DISPLAY_SCALE * (self.mu - 3 * self.sigma), 2)


NEWCOMER = Skill()


@dataclass(frozen=True)
class Placing:
    """A contestant's place in one tournament: ``rank`` among contestants (1 = best; ties share it), from their
    best bot ``bot`` (its standing rank ``bot_rank``)."""

    contestant: int
    rank: int
    bot: str
    bot_rank: int


def placings(standings: Iterable[tuple[int, str, int]]) -> list[Placing]:
    """Contestants' places from (contestant, bot key, standing rank) rows: each contestant's best bot (the lowest
    rank; the first bot key on a tie, so the choice is stable), then competition ranks over those, best first."""
    best: dict[int, tuple[int, str]] = {}
    for contestant, bot, rank in standings:
        if contestant not in best or (rank, bot) < best[contestant]:
            best[contestant] = (rank, bot)
    ordered = sorted(best.items(), key=lambda item: (item[1], item[0]))
    out: list[Placing] = []
    for i, (contestant, (bot_rank, bot)) in enumerate(ordered):
        rank = out[-1].rank if out and out[-1].bot_rank == bot_rank else i + 1
        out.append(Placing(contestant, rank, bot, bot_rank))
    return out


def rate(before: Mapping[int, Skill], places: list[Placing]) -> dict[int, Skill]:
    """Everyone's skill after one tournament: ``before`` (a contestant missing from it is a newcomer) updated by
    their places. Fewer than two contestants rate nobody (a ranking needs opponents): the skills stay as they were.
    Deterministic: the same skills and places give the same result."""
    if len(places) < 2:
        return {p.contestant: before.get(p.contestant, NEWCOMER) for p in places}
    teams = [[_MODEL.rating(mu=s.mu, sigma=s.sigma)] for s in (before.get(p.contestant, NEWCOMER) for p in places)]
    after = _MODEL.rate(teams, ranks=[float(p.rank) for p in places])
    return {p.contestant: Skill(team[0].mu, team[0].sigma) for p, team in zip(places, after, strict=True)}
