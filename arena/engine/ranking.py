"""Competition ranking, the one rule every view of a leaderboard follows.

Best score first; equal scores share a rank and the next rank skips (1, 2, 2, 4). Within a tie, bots are
listed as the Redis sorted set lists them (ZREVRANGE: member bytes descending), so the live board, the
delayed spectator board and the engine's standings agree row for row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class Ranked(NamedTuple):
    rank: int
    bot: str
    score: float


def _order(item: tuple[str, float]) -> tuple[float, bytes]:
    bot, score = item
    return score, bot.encode()


def competition_ranks(scores: Mapping[str, float]) -> list[Ranked]:
    out: list[Ranked] = []
    for i, (bot, score) in enumerate(sorted(scores.items(), key=_order, reverse=True)):
        rank = out[-1].rank if out and out[-1].score == score else i + 1
        out.append(Ranked(rank, bot, score))
    return out
