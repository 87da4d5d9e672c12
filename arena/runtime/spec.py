"""TournamentSpec: everything needed to run a tournament, as plain JSON-able data.

Admins (and ``arena demo``) describe a tournament with a spec; the engine task and the supervisor
tasks each rebuild what they need from it, so a spec can cross process and host boundaries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arena.engine.instruments import InstrumentCatalog
from arena.engine.rules import DEFAULT_MEMORY_MIB, MAX_MEMORY_MIB, RulesetError, resolve_ruleset
from arena.feeds import DEFAULT_START, open_feed
from arena.runtime.bus import check_id
from arena.runtime.tournament import Entry, TournamentConfig
from sandbox import Limits, LimitsError
from sandbox.limits import MiB, parse_bytes


class EntrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bot: str
    path: str = ""  # the bundle; none for a remote bot
    remote: bool = False  # runs on its contestant's machine, connected through the bot gateway (no sandbox)

    @field_validator("bot")
    @classmethod
    def _bot_id(cls, value: str) -> str:
        return check_id("bot", value)


class LimitsSpec(BaseModel):
    """Each bot's sandbox. ``memory`` is normally the ruleset's ``memory_mib`` (TournamentSpec fills it in); set
    here, it overrides the rules, within the same bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cpu: str = "0.5"
    memory: str | None = None
    pids: int = Field(64, ge=8, le=4096)
    timeout: str = "3600"

    @field_validator("memory")
    @classmethod
    def _memory_bound(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                size = parse_bytes(value, what="memory")
            except LimitsError as exc:
                raise ValueError(str(exc)) from None
            if size > MAX_MEMORY_MIB * MiB:
                raise ValueError(f"memory: at most {MAX_MEMORY_MIB} MiB a bot, got {value!r}")
        return value

    def build(self) -> Limits:
        memory = self.memory if self.memory is not None else f"{DEFAULT_MEMORY_MIB}M"
        return Limits.parse(cpu=self.cpu, memory=memory, pids=self.pids, timeout=self.timeout)


class TournamentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    rules: dict[str, Any] = Field(default_factory=dict, description="ruleset override")
    feed: str = "synthetic:0"
    symbols: list[str] | None = None
    ticks: int = Field(200, ge=1, le=10_000_000)
    interval_s: int = Field(60, ge=1)
    start: datetime | None = None
    seed: int = 0
    clock: Literal["lockstep", "realtime"] = "lockstep"
    tick_deadline_s: float = Field(2.0, gt=0, le=600)
    realtime_tick_s: float = Field(0.5, gt=0, le=600)
    start_timeout_s: float = Field(60.0, gt=0, le=3600)
    limits: LimitsSpec = LimitsSpec()
    entries: list[EntrySpec] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _tournament_id(cls, value: str) -> str:
        return check_id("tournament", value)

    @model_validator(mode="after")
    def _memory_from_the_rules(self) -> TournamentSpec:
        """The bots' memory is the ruleset's ``memory_mib`` unless the limits name one: filled in here, so every
        plane that takes ``limits`` from the spec (engine, supervisors, bot hosts) applies the same."""
        if self.limits.memory is None:
            try:
                mib = resolve_ruleset(self.rules).memory_mib
            except RulesetError:
                return self  # build() reports the rules' errors
            self.limits = self.limits.model_copy(update={"memory": f"{mib}M"})
        return self

    def start_ms(self) -> int:
        if self.start is None:
            return DEFAULT_START
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=UTC)
        return int(start.timestamp() * 1000)

    def build(self, catalog: InstrumentCatalog) -> tuple[TournamentConfig, list[Entry]]:
        """The engine side's configuration: ruleset resolved, feed validated and read."""
        ruleset = resolve_ruleset(self.rules)
        symbols = self.symbols or _allowed(catalog, ruleset.symbols, ruleset.asset_classes)
        feed = open_feed(
            self.feed,
            catalog,
            symbols,
            start=self.start_ms(),
            interval_ms=self.interval_s * 1000,
            ticks=self.ticks,
            extended_hours=ruleset.extended_hours,
        )
        feed.validate()
        ticks = list(feed)[: self.ticks]
        config = TournamentConfig(
            id=self.id,
            ruleset=ruleset,
            ticks=ticks,
            seed=self.seed,
            clock=self.clock,
            tick_deadline_s=self.tick_deadline_s,
            realtime_tick_s=self.realtime_tick_s,
            start_timeout_s=self.start_timeout_s,
            limits=self.limits.build(),
        )
        return config, [Entry(e.bot, Path(e.path), e.remote) for e in self.entries]


def _allowed(catalog: InstrumentCatalog, symbols: list[str] | None, classes: list[Any] | None) -> list[str]:
    """The catalog symbols a ruleset lets bots trade (expired futures excluded)."""
    return [
        s
        for s, i in catalog.items()
        if (symbols is None or s in symbols) and (classes is None or i.asset_class in classes) and i.expiry is None
    ]
