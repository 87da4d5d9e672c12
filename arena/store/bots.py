"""Bots and their versions, scoped to their owner."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.runtime.smoke_log import SmokeLog
from arena.store.accounts import check_name
from arena.store.errors import Conflict, IllegalTransition, InvalidValue, NotFound, integrity
from arena.store.models import Bot, BotVersion, Contestant, VersionStatus
from arena.store.types import utcnow

_SHA256 = re.compile(r"[0-9a-f]{64}")


def create_bot(session: Session, owner: Contestant, name: str) -> Bot:
    bot = Bot(owner_id=owner.id, name=check_name("bot", name))
    taken = Conflict(f"you already have a bot named {name!r}", "BOT_NAME_TAKEN")
    with integrity(session, {"uq_bots_owner_id_name": taken}):
        session.add(bot)
    return bot


def get_bot(session: Session, bot_id: int, owner: Contestant | None = None) -> Bot:
    """The bot; with ``owner``, only if it is theirs (else NotFound, as if it did not exist)."""
    bot = session.get(Bot, bot_id)
    if bot is None or (owner is not None and bot.owner_id != owner.id):
        raise NotFound(f"no bot {bot_id}")
    return bot


def bot_by_name(session: Session, owner: Contestant, name: str) -> Bot | None:
    return session.scalar(select(Bot).where(Bot.owner_id == owner.id, Bot.name == name))


def bots_of(session: Session, owner: Contestant) -> list[Bot]:
    return list(session.scalars(select(Bot).where(Bot.owner_id == owner.id).order_by(Bot.id)))


def add_version(
    session: Session, bot: Bot, *, sha256: str, size_bytes: int, file_count: int, storage_path: str
) -> BotVersion:
    """The bot's next version (1, 2, ...), pending its smoke test."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InvalidValue("sha256 must be 64 lowercase hex digits", "INVALID_HASH")
    # Lock the bot row so two uploads at once number their versions one after the other (PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already serialises writers, and FOR UPDATE renders as nothing there).
    session.execute(select(Bot.id).where(Bot.id == bot.id).with_for_update())
    last = session.scalar(select(func.max(BotVersion.version)).where(BotVersion.bot_id == bot.id)) or 0
    version = BotVersion(
        bot_id=bot.id,
        version=last + 1,
        sha256=sha256,
        size_bytes=size_bytes,
        file_count=file_count,
        storage_path=storage_path,
    )
    clash = Conflict("another upload of this bot took that version number; retry", "VERSION_CONFLICT")
    with integrity(session, {"uq_bot_versions_bot_id_version": clash}):
        session.add(version)
    return version


def get_version(session: Session, version_id: int, owner: Contestant | None = None) -> BotVersion:
    version = session.get(BotVersion, version_id)
    if version is None or (owner is not None and version.bot.owner_id != owner.id):
        raise NotFound(f"no bot version {version_id}")
    return version


def versions_of(session: Session, bot: Bot) -> list[BotVersion]:
    return list(session.scalars(select(BotVersion).where(BotVersion.bot_id == bot.id).order_by(BotVersion.version)))


def latest_ready_version(session: Session, bot: Bot) -> BotVersion | None:
    return session.scalar(
        select(BotVersion)
        .where(BotVersion.bot_id == bot.id, BotVersion.status == VersionStatus.READY)
        .order_by(BotVersion.version.desc())
        .limit(1)
    )


def version_by_hash(session: Session, bot: Bot, sha256: str) -> BotVersion | None:
    """An existing version of this bot with the same content (the API may answer it instead of a new one)."""
    return session.scalar(
        select(BotVersion).where(BotVersion.bot_id == bot.id, BotVersion.sha256 == sha256).order_by(BotVersion.version)
    )


def set_version_verdict(
    session: Session,
    version: BotVersion,
    status: VersionStatus,
    log: str = "",
    end_classification: str | None = None,
    now: datetime | None = None,
) -> BotVersion:
    """The smoke test's verdict: pending → ready | failed, once. The log is kept within SmokeLog's bounds
    (its first and last lines, 1,000 lines and 64 KiB at most), whoever wrote it."""
    status = VersionStatus(status)
    if version.status is not VersionStatus.PENDING or status is VersionStatus.PENDING:
        raise IllegalTransition(
            f"bot version {version.id} is {version.status.value}; only a pending version gets a verdict "
            f"(ready or failed), not {status.value}",
            "ILLEGAL_VERSION_TRANSITION",
        )
    version.status = status
    version.smoke_log = SmokeLog.of(log)
    version.end_classification = end_classification
    version.checked_at = now or utcnow()
    session.flush()
    return version
