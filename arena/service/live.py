"""What a tournament is doing right now, read from its bus: how far it has got, and its bots' resource use."""

from __future__ import annotations

import redis
from pydantic import BaseModel, Field

from arena.runtime.bus import Bus
from arena.runtime.leaderboard import LeaderboardKeys, decode_change
from arena.runtime.streams import entries, entry_field
from arena.store.models import Tournament, TournamentStatus


class Progress(BaseModel):
    tick: int = Field(description="ticks run so far")
    ticks: int | None = Field(description="ticks planned (null: until its end time)")
    ts: int | None = Field(description="the simulated time of the latest tick, ms since the epoch")
    ended: bool


class Usage(BaseModel):
    cpu_percent: float | None = Field(description="of one CPU, over the last second")
    cpu_seconds: float | None
    memory_bytes: int | None
    peak_memory_bytes: int | None
    at: float = Field(description="when it was sampled, seconds since the epoch")


def progress(client: redis.Redis, slug: str, ticks: int | None) -> Progress | None:
    """None until the tournament's first tick."""
    found = Bus(client, slug).progress()
    if found is None:
        return None
    tick, ts, ended = found
    return Progress(tick=tick, ticks=ticks, ts=ts, ended=ended)


def statuses(client: redis.Redis, tournament: Tournament) -> dict[str, str]:
    """Each bot's status as the running engine sees it (starting, running, crashed, ...); empty unless the
    tournament is running: the record says "entered" until the end, and is right once it is over."""
    if tournament.status is not TournamentStatus.RUNNING:
        return {}
    return Bus(client, tournament.slug).statuses()


def usage(client: redis.Redis, slug: str) -> dict[str, Usage]:
    return {bot: Usage.model_validate(figures) for bot, figures in Bus(client, slug).usage().items()}


def board_as_of(client: redis.Redis, slug: str, delay_s: float, now: float) -> int | None:
    """The simulated time (ms) of the newest leaderboard change at least ``delay_s`` old at ``now`` (seconds since
    the epoch): how far the public's delayed board has got (ChangeHub's rule: a change shows ``delay_s`` after it
    was published). None while no change is that old."""
    cutoff_ms = int(now * 1000 - delay_s * 1000)
    if cutoff_ms <= 0:
        return None
    newest = entries(client.xrevrange(LeaderboardKeys.for_tournament(slug).changes, max=str(cutoff_ms), min="-",
                                      count=1))
    if not newest:
        return None
    fields = newest[0][1]
    return decode_change(entry_field(fields, "change")).ts
