"""Tournaments, their lifecycle, and entries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.orm import Session

from arena.engine.rules import resolve_ruleset
from arena.store.errors import Conflict, IllegalTransition, InvalidValue, NotFound, integrity
from arena.store.models import (
    Bot,
    BotVersion,
    Contestant,
    Entry,
    EntryStatus,
    Tournament,
    TournamentStatus,
    VersionStatus,
)
from arena.store.types import utcnow

# The runtime's tournament id (Redis keys, hash tags): what both arena.runtime.bus.check_id and
# arena.runtime.leaderboard.validate_tournament_id accept.
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

S = TournamentStatus
# draft → open → running → finished; anything not finished (or already cancelled) → cancelled.
TRANSITIONS: dict[TournamentStatus, frozenset[TournamentStatus]] = {
    S.DRAFT: frozenset({S.OPEN, S.CANCELLED}),
    S.OPEN: frozenset({S.RUNNING, S.CANCELLED}),
    S.RUNNING: frozenset({S.FINISHED, S.CANCELLED, S.FAILED}),
    S.FINISHED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
EDITABLE_IN = frozenset({S.DRAFT, S.OPEN})
EDITABLE = frozenset(
    {
        "name",
        "rules",
        "feed",
        "symbols",
        "seed",
        "ticks",
        "interval_s",
        "clock",
        "tick_deadline_s",
        "limits",
        "entry_opens_at",
        "entry_closes_at",
        "starts_at",
        "ends_at",
    }
)


def create_tournament(
    session: Session, slug: str, name: str, created_by: Contestant | None = None, **fields: Any
) -> Tournament:
    """A draft tournament. ``fields``: any of EDITABLE (validate ``rules`` with the engine first)."""
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise InvalidValue(
            f"tournament id must be 1-64 characters of A-Z a-z 0-9 _ . : -, starting with a letter or digit "
            f"(got {slug!r:.80})",
            "INVALID_SLUG",
        )
    _check_fields(fields)
    tournament = Tournament(slug=slug, name=name, created_by_id=created_by.id if created_by else None, **fields)
    _check_window(tournament)
    taken = Conflict(f"a tournament {slug!r} exists already", "TOURNAMENT_ID_TAKEN")
    with integrity(session, {"uq_tournaments_slug": taken}):
        session.add(tournament)
    return tournament


def get_tournament(session: Session, ident: int | str) -> Tournament:
    """By numeric id or by slug."""
    if isinstance(ident, int):
        tournament = session.get(Tournament, ident)
    else:
        tournament = session.scalar(select(Tournament).where(Tournament.slug == ident))
    if tournament is None:
        raise NotFound(f"no tournament {ident!r}")
    return tournament


def list_tournaments(session: Session, status: TournamentStatus | None = None) -> list[Tournament]:
    query = select(Tournament).order_by(Tournament.id.desc())
    if status is not None:
        query = query.where(Tournament.status == status)
    return list(session.scalars(query))


def update_tournament(session: Session, tournament: Tournament, **fields: Any) -> Tournament:
    """Edit settings while the tournament is a draft or open; a running one keeps what it started with."""
    if tournament.status not in EDITABLE_IN:
        raise IllegalTransition(
            f"tournament {tournament.slug} is {tournament.status.value}; only a draft or open tournament can be edited",
            "TOURNAMENT_NOT_EDITABLE",
        )
    _check_fields(fields)
    for key, value in fields.items():
        setattr(tournament, key, value)
    _check_window(tournament)
    session.flush()
    return tournament


def transition(
    session: Session, tournament: Tournament, to: TournamentStatus | str, now: datetime | None = None,
    reason: str = "",
) -> Tournament:
    """Move the tournament to ``to`` if the lifecycle allows it, else IllegalTransition
    (code ILLEGAL_TRANSITION). A compare-and-set on the status, so of two concurrent starts one wins and
    the other gets the error."""
    try:
        target = TournamentStatus(to)
    except ValueError:
        raise InvalidValue(f"unknown tournament status {to!r}", "INVALID_STATUS") from None
    current = tournament.status
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none: it is over"
        raise IllegalTransition(
            f"tournament {tournament.slug} is {current.value}: it cannot become {target.value} (allowed: {allowed})"
        )
    now = now or utcnow()
    values: dict[str, Any] = {"status": target}
    if target is S.RUNNING:
        values["started_at"] = now
    elif target in (S.FINISHED, S.CANCELLED, S.FAILED):
        values["finished_at"] = now
    if reason:
        values["end_reason"] = reason[:4096]
    changed = _rows_updated(
        session,
        update(Tournament)
        .where(Tournament.id == tournament.id, Tournament.status == current)
        .values(**values)
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        session.refresh(tournament)
        raise IllegalTransition(
            f"tournament {tournament.slug} changed meanwhile (now {tournament.status.value}); reload and retry"
        )
    session.refresh(tournament)
    return tournament


def set_frozen(session: Session, tournament: Tournament, frozen: bool = True) -> Tournament:
    tournament.frozen = frozen
    session.flush()
    return tournament


def take_record(session: Session, t: Tournament, holder: str) -> None:
    """``holder`` (an engine run) keeps ``t``'s record from now on. The row is locked first and read again after,
    so ``t.recorded_tick`` includes what the previous holder committed meanwhile (call first in the transaction)."""
    session.execute(update(Tournament).where(Tournament.id == t.id).values(record_holder=holder))
    session.refresh(t)


def holds_record(session: Session, tournament_id: int, holder: str) -> bool:
    """Whether ``holder`` still keeps the tournament's record. Locks the row for the rest of the transaction (a
    write, so SQLite too): a takeover's ``take_record`` cannot slip between this check and the writes after it."""
    return bool(_rows_updated(
        session,
        update(Tournament)
        .where(Tournament.id == tournament_id, Tournament.record_holder == holder)
        .values(recorded_tick=Tournament.recorded_tick),
    ))


def set_recorded_tick(session: Session, tournament_id: int, tick: int) -> None:
    """The record now holds every tick up to ``tick`` whole (never moves back)."""
    session.execute(
        update(Tournament)
        .where(Tournament.id == tournament_id, Tournament.recorded_tick < tick)
        .values(recorded_tick=tick)
    )


# -- entries ------------------------------------------------------------------------------


def bot_key(contestant: Contestant, bot_name: str) -> str:
    """The entry's id in the runtime: readable on the leaderboard, unique (names have no ':')."""
    return f"{contestant.name}:{bot_name}"


def key_names(key: str) -> tuple[str, str | None]:
    """(the bot's name as its owner chose it, the contestant's name) from a bot key (a bot's name has no ':', a
    contestant's may); a key made elsewhere (the demo, a backtest) without a contestant part is its own name."""
    contestant, sep, name = key.rpartition(":")
    return (name, contestant) if sep and name and contestant else (key, None)


def enter(
    session: Session,
    tournament: Tournament,
    version: BotVersion | None,
    contestant: Contestant,
    now: datetime | None = None,
    *,
    bot: Bot | None = None,
) -> Entry:
    """Enter ``contestant``'s ready ``version`` into an open tournament (one version per bot). With no version,
    ``bot`` enters as a remote bot (it connects through the bot gateway), where the tournament's rules let it."""
    if version is not None:
        bot = version.bot
    if bot is None or bot.owner_id != contestant.id:
        raise NotFound(f"no bot version {version.id}" if version is not None else "no such bot")
    if tournament.status is not S.OPEN:
        raise IllegalTransition(
            f"tournament {tournament.slug} is {tournament.status.value}; entries are taken while it is open",
            "TOURNAMENT_NOT_OPEN",
        )
    now = now or utcnow()
    if (tournament.entry_opens_at and now < tournament.entry_opens_at) or (
        tournament.entry_closes_at and now >= tournament.entry_closes_at
    ):
        raise IllegalTransition(f"the entry window of tournament {tournament.slug} is closed", "ENTRY_WINDOW_CLOSED")
    if version is None:
        if not resolve_ruleset(tournament.rules).remote_allowed:
            raise IllegalTransition(f"tournament {tournament.slug} takes sandboxed bots only (its rules: practice "
                                    "tournaments take remote bots, ranked ones do not)", "REMOTE_NOT_ALLOWED")
    elif version.status is not VersionStatus.READY:
        raise IllegalTransition(
            f"bot version {version.version} of {bot.name} is {version.status.value}; enter a ready version",
            "VERSION_NOT_READY",
        )
    entry = Entry(
        tournament_id=tournament.id,
        bot_id=bot.id,
        bot_version_id=version.id if version is not None else None,
        contestant_id=contestant.id,
        remote=version is None,
        bot_key=bot_key(contestant, bot.name),
    )
    already = Conflict(f"bot {bot.name} is already entered in tournament {tournament.slug}", "ALREADY_ENTERED")
    with integrity(session, {"uq_entries_tournament_id_bot_id": already, "uq_entries_tournament_id_bot_key": already}):
        session.add(entry)
    return entry


def get_entry(session: Session, entry_id: int, owner: Contestant | None = None) -> Entry:
    entry = session.get(Entry, entry_id)
    if entry is None or (owner is not None and entry.contestant_id != owner.id):
        raise NotFound(f"no entry {entry_id}")
    return entry


def entries_of(session: Session, tournament: Tournament) -> list[Entry]:
    return list(session.scalars(select(Entry).where(Entry.tournament_id == tournament.id).order_by(Entry.id)))


def entries_of_contestant(session: Session, contestant: Contestant) -> list[Entry]:
    return list(session.scalars(select(Entry).where(Entry.contestant_id == contestant.id).order_by(Entry.id)))


def entry_map(session: Session, tournament: Tournament) -> dict[str, int]:
    """bot key (the runtime's bot/account id) → entry id, for the recorders."""
    rows = session.execute(select(Entry.bot_key, Entry.id).where(Entry.tournament_id == tournament.id))
    return {key: ident for key, ident in rows}


def withdraw(session: Session, entry: Entry, owner: Contestant | None = None) -> Entry:
    if owner is not None and entry.contestant_id != owner.id:
        raise NotFound(f"no entry {entry.id}")
    if entry.tournament.status is not S.OPEN:
        raise IllegalTransition("an entry can be withdrawn only while the tournament is open", "TOURNAMENT_NOT_OPEN")
    entry.status = EntryStatus.WITHDRAWN
    session.flush()
    return entry


def disqualify(session: Session, entry: Entry) -> Entry:
    """Mark the entry: it stays on the board (the runtime stops its orders)."""
    entry.disqualified = True
    session.flush()
    return entry


def record_entry_end(session: Session, entry: Entry, status: EntryStatus, report: Mapping[str, Any]) -> Entry:
    """How the entry's run ended, from a SupervisorReport.as_dict(): classification, reason, resource use.
    Its stderr and log lines go to the log table via ``record.append_logs``."""
    entry.status = EntryStatus(status)
    entry.end_classification = str(report.get("status") or "")[:32] or None
    entry.end_reason = str(report.get("reason") or "")[:4096]
    keys = ("exit_code", "host_fault", "protocol_errors", "rate_limited", "orders", "cpu_seconds",
            "peak_memory_bytes", "wall_seconds", "sandbox",
            "host", "last_heartbeat", "seen_lost_at")  # a lost bot host's evidence  # fmt: skip
    entry.resource_use = {k: report[k] for k in keys if k in report}
    session.flush()
    return entry


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - EDITABLE
    if unknown:
        raise InvalidValue(f"unknown or read-only tournament field(s): {', '.join(sorted(unknown))}", "INVALID_FIELD")
    for key, value in fields.items():
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise InvalidValue(f"{key} needs a time zone (UTC), got the naive {value.isoformat()}", "NAIVE_DATETIME")


def _check_window(tournament: Tournament) -> None:
    pairs = (("entry_opens_at", "entry_closes_at"), ("starts_at", "ends_at"))
    for start, end in pairs:
        a, b = getattr(tournament, start), getattr(tournament, end)
        if a is not None and b is not None and b <= a:
            raise InvalidValue(f"{end} must be after {start}", "INVALID_WINDOW")


def _rows_updated(session: Session, statement: Update) -> int:
    """How many rows an UPDATE with a WHERE matched (Session.execute is typed for any statement: a Result)."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)  # what an UPDATE ... WHERE gives, with its rowcount
    return result.rowcount
