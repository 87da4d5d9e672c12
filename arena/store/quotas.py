"""Quotas: what one contestant may hold (API keys, bots, versions, stored bytes, entries per tournament) and do
(uploads per hour, uploads awaiting their smoke test), and the bound on the service's smoke-test queue.

The defaults are the settings' ``Quotas``; an admin may set other values for one contestant
(``contestants.quota_overrides``). Every check counts what the record holds, so a refused request changes
nothing and no counter can drift from the truth. Callers lock the contestant first (``lock``): on PostgreSQL two
requests at once would otherwise both see room for one more (SQLite serialises writers already).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.settings import Quotas
from arena.store.errors import InvalidValue, StoreError
from arena.store.models import ApiKey, Bot, BotVersion, Contestant, Entry, EntryStatus, Tournament, VersionStatus
from arena.store.types import utcnow

QUOTA_NAMES = tuple(Quotas.model_fields)
HOUR = timedelta(hours=1)
# A smoke test gets 30 s in its sandbox; a version still pending long after that lost its worker, and no longer
# holds a place in the queue (else a few lost tests would close uploads for good).
PENDING_HORIZON = timedelta(minutes=30)
RETRY_PENDING_S = 15  # what a refusal for a full queue suggests waiting: about one smoke test


class QuotaExceeded(StoreError):
    """A quota (``quota``: one of QUOTA_NAMES, or ``smoke_queue``) has no room; ``retry_after_s`` when waiting
    helps (a rate, a queue), None when only fewer things held or a higher quota would."""

    code = "QUOTA_EXCEEDED"

    def __init__(self, quota: str, limit: int, used: int, message: str, code: str | None = None,
                 retry_after_s: int | None = None) -> None:  # fmt: skip
        super().__init__(message, code)
        self.quota, self.limit, self.used, self.retry_after_s = quota, limit, used, retry_after_s


def effective(contestant: Contestant, defaults: Quotas) -> Quotas:
    """The contestant's quotas: the admin's values for them over the defaults."""
    overrides = {name: value for name, value in (contestant.quota_overrides or {}).items() if name in QUOTA_NAMES}
    return defaults.model_copy(update=overrides)


def set_overrides(contestant: Contestant, changes: Mapping[str, int | None]) -> dict[str, int]:
    """Give the contestant their own limits: a number sets one, None returns it to the default. An unknown name
    or a value out of range changes nothing (UNKNOWN_QUOTA, INVALID_QUOTA)."""
    merged = dict(contestant.quota_overrides or {})
    for name, value in changes.items():
        if name not in QUOTA_NAMES:
            raise InvalidValue(f"there is no quota {name!r:.80}; quotas: {', '.join(QUOTA_NAMES)}", "UNKNOWN_QUOTA")
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    try:
        Quotas.model_validate(merged)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise InvalidValue(f"quota {where}: {problem['msg']}", "INVALID_QUOTA") from None
    contestant.quota_overrides = merged or None
    return merged


def lock(session: Session, contestant: Contestant) -> None:
    """Hold the contestant's row until the transaction ends, so their quota checks and writes take turns."""
    session.execute(select(Contestant.id).where(Contestant.id == contestant.id).with_for_update())


def usage(session: Session, contestant: Contestant, now: datetime | None = None) -> dict[str, int]:
    """What the contestant holds and did, by quota (entries are per tournament: not here)."""
    now = now or utcnow()
    versions, stored = _versions(session, contestant)
    return {
        "api_keys": _live_keys(session, contestant),
        "bots": _bots(session, contestant),
        "versions": versions,
        "stored_bytes": stored,
        "uploads_per_hour": _recent_uploads(session, contestant, now)[0],
        "pending_smoke_tests": _pending(session, now, contestant),
    }


def check_api_key(session: Session, contestant: Contestant, quotas: Quotas) -> None:
    used = _live_keys(session, contestant)
    if used >= quotas.api_keys:
        message = f"you have {used} live API keys, your quota; revoke one first"
        raise QuotaExceeded("api_keys", quotas.api_keys, used, message, "TOO_MANY_API_KEYS")


def check_upload(session: Session, contestant: Contestant, quotas: Quotas, *, new_bot: bool, size_bytes: int = 0,
                 now: datetime | None = None) -> None:  # fmt: skip
    """Room for one more version of ``size_bytes`` unpacked (of a new bot: ``new_bot``). Holdings are checked
    before rates: waiting does not help with those."""
    now = now or utcnow()
    if new_bot:
        bots = _bots(session, contestant)
        _within("bots", quotas.bots, bots, 1, f"you have {bots} bots, your quota")
    versions, stored = _versions(session, contestant)
    _within("versions", quotas.versions, versions, 1, f"your bots have {versions} versions, your quota")
    _within("stored_bytes", quotas.stored_bytes, stored, size_bytes,
            f"your versions hold {stored} bytes; {size_bytes} more would pass your quota")  # fmt: skip
    recent, oldest = _recent_uploads(session, contestant, now)
    if recent >= quotas.uploads_per_hour:
        wait = math.ceil(((oldest + HOUR - now) if oldest else HOUR).total_seconds())
        raise QuotaExceeded("uploads_per_hour", quotas.uploads_per_hour, recent,
                            f"you uploaded {recent} versions in the last hour, your quota; retry in {max(1, wait)} s",
                            retry_after_s=max(1, wait))  # fmt: skip
    pending = _pending(session, now, contestant)
    if pending >= quotas.pending_smoke_tests:
        raise QuotaExceeded("pending_smoke_tests", quotas.pending_smoke_tests, pending,
                            f"{pending} of your uploads await their smoke test, your quota; retry once one has its "
                            "verdict", retry_after_s=RETRY_PENDING_S)  # fmt: skip


def check_smoke_queue(session: Session, capacity: int, now: datetime | None = None) -> None:
    """The service's smoke-test queue (uploads of everyone awaiting their verdict) has room for one more."""
    waiting = _pending(session, now or utcnow())
    if waiting >= capacity:
        raise QuotaExceeded("smoke_queue", capacity, waiting,
                            f"{waiting} uploads await their smoke test, as many as the service queues; retry in "
                            f"{RETRY_PENDING_S} s", "SMOKE_QUEUE_FULL", retry_after_s=RETRY_PENDING_S)  # fmt: skip


def check_entry(session: Session, contestant: Contestant, tournament: Tournament, quotas: Quotas) -> None:
    used = session.scalar(select(func.count(Entry.id)).where(
        Entry.tournament_id == tournament.id, Entry.contestant_id == contestant.id,
        Entry.status != EntryStatus.WITHDRAWN)) or 0  # fmt: skip
    _within("entries_per_tournament", quotas.entries_per_tournament, used, 1,
            f"you have {used} bots in tournament {tournament.slug}, your quota")  # fmt: skip


def _within(quota: str, limit: int, used: int, more: int, message: str) -> None:
    if used + more > limit:
        raise QuotaExceeded(quota, limit, used, f"{message}; ask an admin for more")


def _live_keys(session: Session, contestant: Contestant) -> int:
    return session.scalar(select(func.count(ApiKey.id)).where(
        ApiKey.contestant_id == contestant.id, ApiKey.revoked_at.is_(None))) or 0  # fmt: skip


def _bots(session: Session, contestant: Contestant) -> int:
    return session.scalar(select(func.count(Bot.id)).where(Bot.owner_id == contestant.id)) or 0


def _versions(session: Session, contestant: Contestant) -> tuple[int, int]:
    count, stored = session.execute(
        select(func.count(BotVersion.id), func.coalesce(func.sum(BotVersion.size_bytes), 0))
        .join(Bot, BotVersion.bot_id == Bot.id)
        .where(Bot.owner_id == contestant.id)
    ).one()
    return int(count), int(stored)


def _recent_uploads(session: Session, contestant: Contestant, now: datetime) -> tuple[int, datetime | None]:
    """Versions uploaded in the hour before ``now``, and the oldest of them (when the next slot frees)."""
    count, oldest = session.execute(
        select(func.count(BotVersion.id), func.min(BotVersion.created_at))
        .join(Bot, BotVersion.bot_id == Bot.id)
        .where(Bot.owner_id == contestant.id, BotVersion.created_at > now - HOUR)
    ).one()
    return int(count), oldest


def _pending(session: Session, now: datetime, contestant: Contestant | None = None) -> int:
    """Uploads awaiting their verdict (the contestant's, or everyone's), lost ones (see PENDING_HORIZON) aside."""
    query = select(func.count(BotVersion.id)).where(
        BotVersion.status == VersionStatus.PENDING, BotVersion.created_at > now - PENDING_HORIZON)
    if contestant is not None:
        query = query.join(Bot, BotVersion.bot_id == Bot.id).where(Bot.owner_id == contestant.id)
    return session.scalar(query) or 0
