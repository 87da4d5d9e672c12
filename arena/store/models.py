"""The durable record: SQLAlchemy 2 typed models.

Conventions:
- Wall-clock times (created, revoked, entry window, ...) are ``UTCDateTime``: aware UTC on both databases.
- Market times (``ts`` of orders, fills, rejections, equity) are the engine's integer milliseconds since
  the epoch of the *simulated* clock, stored as-is so a re-run compares bit for bit with the record.
- Enums are VARCHAR + CHECK (see ``types.str_enum``); JSON is JSONB on PostgreSQL, JSON text on SQLite.
- High-volume tables (orders, fills, rejections, equity, logs) carry ``tournament_id`` and ``entry_id``
  denormalised so every query a page makes is one indexed range scan, without joins. The market (the same for every
  entry) is kept in ``tick_batches``, keyed by tournament and first tick.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from arena.engine.orders import OrderStatus, OrderType, Side, TimeInForce
from arena.store.types import BigId, JSONType, UTCDateTime, str_enum, utcnow

# Deterministic constraint names: migrations can refer to them and errors can be mapped by name.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LOG_TEXT_MAX = 4096  # characters per log line; longer lines are cut (and marked) by the repository


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSONType}
    if TYPE_CHECKING:  # every model here is a declarative Table (DeclarativeBase says FromClause, for any mapping)
        __table__: ClassVar[Table]


class VersionStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class TournamentStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"  # its engine stopped and nobody took it over (see end_reason); an admin may re-run it


class Clock(StrEnum):
    LOCKSTEP = "lockstep"
    REALTIME = "realtime"


class EntryStatus(StrEnum):
    ENTERED = "entered"  # accepted, tournament not started yet
    RUNNING = "running"
    FINISHED = "finished"  # ran to the end
    OUT = "out"  # ended early (see end_classification: oom, timeout, no_show, host_fault, ...)
    WITHDRAWN = "withdrawn"


class LogStream(StrEnum):
    STDERR = "stderr"
    PROTOCOL = "protocol"
    SYSTEM = "system"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry


def _id() -> Mapped[int]:
    return mapped_column(Integer, primary_key=True)


def _created() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


# -- people and keys ----------------------------------------------------------------------


class Contestant(Base):
    __tablename__ = "contestants"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # scrypt hash for dashboard logins (admins); None: API keys only.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Quotas an admin set for this contestant ({"bots": 50, ...}); the rest are the settings' defaults.
    quota_overrides: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = _created()

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="contestant", cascade="all, delete-orphan")
    bots: Mapped[list[Bot]] = relationship(back_populates="owner", cascade="all, delete-orphan")


class ApiKey(Base):
    """An API key: ``arena_<prefix>_<secret>``. Only the prefix (for lookup) and SHA-256 of the whole key
    are kept; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = _id()
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    hash: Mapped[str] = mapped_column(String(64))  # hex sha256
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    contestant: Mapped[Contestant] = relationship(back_populates="api_keys")


class RemoteKey(Base):
    """A remote bot's credentials: a key id (public, sent with each request) and a secret that never travels
    after its creation. Requests are signed with HMAC-SHA256 under the secret, so the service must be able to
    read it: it is kept sealed (Fernet, under the operator's secret keys), never in plain text."""

    __tablename__ = "remote_keys"

    id: Mapped[int] = _id()
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    sealed_secret: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    contestant: Mapped[Contestant] = relationship()


# -- bots ---------------------------------------------------------------------------------


class Bot(Base):
    __tablename__ = "bots"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = _id()
    owner_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()

    owner: Mapped[Contestant] = relationship(back_populates="bots")
    versions: Mapped[list[BotVersion]] = relationship(
        back_populates="bot", cascade="all, delete-orphan", order_by="BotVersion.version"
    )


class BotVersion(Base):
    __tablename__ = "bot_versions"
    __table_args__ = (UniqueConstraint("bot_id", "version"), CheckConstraint("version >= 1", name="version_positive"))

    id: Mapped[int] = _id()
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per bot
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # content address of the upload
    size_bytes: Mapped[int] = mapped_column(BigInteger)  # unpacked
    file_count: Mapped[int] = mapped_column(Integer)
    storage_path: Mapped[str] = mapped_column(String(1024))  # blob reference (path under the data dir, or URL)
    status: Mapped[VersionStatus] = mapped_column(
        str_enum(VersionStatus, "version_status"), default=VersionStatus.PENDING
    )
    smoke_log: Mapped[str] = mapped_column(Text, default="")
    end_classification: Mapped[str | None] = mapped_column(String(32))  # sandbox Status of the smoke test
    created_at: Mapped[datetime] = _created()
    checked_at: Mapped[datetime | None]  # when the smoke test gave its verdict

    bot: Mapped[Bot] = relationship(back_populates="versions")


# -- tournaments --------------------------------------------------------------------------


class Tournament(Base):
    __tablename__ = "tournaments"
    __table_args__ = (
        CheckConstraint("ticks IS NULL OR ticks >= 1", name="ticks_positive"),
        CheckConstraint("tick_deadline_s > 0", name="tick_deadline_positive"),
        Index(None, "status"),
    )

    id: Mapped[int] = _id()
    slug: Mapped[str] = mapped_column(String(64), unique=True)  # the runtime's tournament id (Redis keys)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[TournamentStatus] = mapped_column(
        str_enum(TournamentStatus, "tournament_status"), default=TournamentStatus.DRAFT
    )
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)  # ruleset override, as validated by the engine
    feed: Mapped[str] = mapped_column(String(1024), default="synthetic:0")  # feed spec (synthetic:<seed>, csv path)
    symbols: Mapped[list[str] | None] = mapped_column(JSONType)
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    ticks: Mapped[int | None] = mapped_column(Integer)
    interval_s: Mapped[int] = mapped_column(Integer, default=60)
    clock: Mapped[Clock] = mapped_column(str_enum(Clock, "clock"), default=Clock.LOCKSTEP)
    tick_deadline_s: Mapped[float] = mapped_column(Float, default=2.0)
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)  # sandbox limits (LimitsSpec fields)
    entry_opens_at: Mapped[datetime | None]
    entry_closes_at: Mapped[datetime | None]
    starts_at: Mapped[datetime | None]  # scheduled
    ends_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]  # actual
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("contestants.id", ondelete="SET NULL"))
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)  # leaderboard frozen
    end_reason: Mapped[str] = mapped_column(Text, default="", server_default="")  # why it failed; a finished run's gaps
    # The last tick whose orders, fills and rejections are all in the record (a takeover records on from it).
    recorded_tick: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The engine run that keeps the record now (its lease value): a run that lost the tournament writes no more.
    record_holder: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = _created()

    entries: Mapped[list[Entry]] = relationship(back_populates="tournament", cascade="all, delete-orphan")


class Entry(Base):
    """One bot version entered in one tournament. ``bot_key`` is its id in the runtime: the engine
    account, the supervisor's bot id and the leaderboard member."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("tournament_id", "bot_id"),
        UniqueConstraint("tournament_id", "bot_key"),
        Index(None, "contestant_id"),
    )

    id: Mapped[int] = _id()
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    # No cascade from bots, versions or contestants: an entry is part of the record; delete it explicitly.
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    bot_version_id: Mapped[int | None] = mapped_column(ForeignKey("bot_versions.id"))  # None: a remote bot
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id"))
    bot_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[EntryStatus] = mapped_column(str_enum(EntryStatus, "entry_status"), default=EntryStatus.ENTERED)
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False)
    end_classification: Mapped[str | None] = mapped_column(String(32))
    end_reason: Mapped[str] = mapped_column(Text, default="")
    resource_use: Mapped[dict[str, Any]] = mapped_column(default=dict)  # cpu_seconds, peak_memory_bytes, ...
    # A remote bot: it runs on its contestant's machine and connects through the bot gateway (no version, no sandbox).
    remote: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = _created()

    tournament: Mapped[Tournament] = relationship(back_populates="entries")
    bot: Mapped[Bot] = relationship()
    bot_version: Mapped[BotVersion | None] = relationship()


# -- what happened in a tournament (high volume; ts = simulated ms) --------------------------------


class OrderRecord(Base):
    """An accepted order and its final state. Side/type/qty/prices are filled when the recorder is given
    the engine's Order (its events alone carry only the id, symbol and, on fills, the side)."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("tournament_id", "order_id"), Index(None, "entry_id", "ts"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(BigInteger)  # the engine's id, unique within the tournament
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[Side | None] = mapped_column(str_enum(Side, "side"))
    type: Mapped[OrderType | None] = mapped_column(str_enum(OrderType, "order_type"))
    tif: Mapped[TimeInForce | None] = mapped_column(str_enum(TimeInForce, "tif"))
    # "regular" or "extended" (may trade in pre-market and after-hours); a string, not an enum type: the
    # migration adding it stays a plain column on PostgreSQL and SQLite alike.
    session: Mapped[str] = mapped_column(String(16), default="regular", server_default="regular")
    qty: Mapped[float | None] = mapped_column(Float)
    limit_price: Mapped[float | None] = mapped_column(Float)
    stop_price: Mapped[float | None] = mapped_column(Float)
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus, "order_status"), default=OrderStatus.OPEN)
    filled_qty: Mapped[float] = mapped_column(Float, default=0.0)
    fees: Mapped[float] = mapped_column(Float, default=0.0)
    ts: Mapped[int] = mapped_column(BigInteger)  # accepted
    done_ts: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(255), default="")  # why it left the book unfilled


class FillRecord(Base):
    __tablename__ = "fills"
    __table_args__ = (Index(None, "entry_id", "ts"), Index(None, "tournament_id", "order_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(BigInteger)
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[int] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[Side] = mapped_column(str_enum(Side, "side"))
    qty: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float)
    maker: Mapped[bool] = mapped_column(Boolean)
    filled_qty: Mapped[float] = mapped_column(Float)  # of the order so far, this fill included
    remaining: Mapped[float] = mapped_column(Float)
    liquidation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # forced by the engine


class RejectionRecord(Base):
    __tablename__ = "rejections"
    __table_args__ = (Index(None, "entry_id", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    ts: Mapped[int] = mapped_column(BigInteger)
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(40))  # RejectionCode; no CHECK: new codes need no migration
    message: Mapped[str] = mapped_column(Text)


class EquitySnapshot(Base):
    __tablename__ = "equity_snapshots"
    __table_args__ = (Index(None, "entry_id", "ts"), Index(None, "tournament_id", "ts"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    ts: Mapped[int] = mapped_column(BigInteger)
    nav: Mapped[float] = mapped_column(Float)
    drawdown: Mapped[float] = mapped_column(Float)  # max drawdown so far, as the engine scores it
    score: Mapped[float] = mapped_column(Float)


class StandingRecord(Base):
    """A final standing (the runtime's ``Standing`` plus trades and fees)."""

    __tablename__ = "standings"
    __table_args__ = (UniqueConstraint("tournament_id", "entry_id"), Index(None, "tournament_id", "rank"))

    id: Mapped[int] = _id()
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    nav: Mapped[float] = mapped_column(Float)
    max_drawdown: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))  # BotState.status at the end
    trades: Mapped[int] = mapped_column(Integer, default=0)
    fees: Mapped[float] = mapped_column(Float, default=0.0)

    entry: Mapped[Entry] = relationship()


class TickBatch(Base):
    """The market of a run of whole ticks of a tournament, as the recorder wrote it (one row per written batch, in
    the same fenced transaction as those ticks' orders, so a tick is on record once): per symbol per tick, the top of
    its book, its last trade and the volume traded. ``data`` is an Arrow IPC stream (zstd) of ``record.TICKS``'s
    columns: several times smaller than a row per symbol per tick, and the export copies it as it is.
    Read it with ``record.market_of``."""

    __tablename__ = "tick_batches"

    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"), primary_key=True)
    first_n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # its first tick (from 1)
    last_n: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)  # symbol-ticks in it
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LogLine(Base):
    __tablename__ = "log_lines"
    __table_args__ = (Index(None, "entry_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(default=utcnow)  # wall clock: logs are about the process, not the market
    stream: Mapped[LogStream] = mapped_column(str_enum(LogStream, "log_stream"))
    text: Mapped[str] = mapped_column(Text)


# -- webhooks -----------------------------------------------------------------------------


class WebhookEndpoint(Base):
    """A contestant's webhook. HMAC signing needs the secret itself, so a hash is useless: it is kept
    sealed with the operator's key (arena/webhooks/keyring.py), and a copy of the database alone reveals
    no secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = _id()
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    sealed_secret: Mapped[str] = mapped_column(String(512))  # a Fernet token (~164 characters)
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)  # subscribed event types; [] = all
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),  # one delivery per event per endpoint: de-duplication
        Index(None, "status", "next_attempt_at"),  # the dispatcher's "what is due" scan
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None]


# -- ratings and achievements (arena.ratings; docs/ratings.md) --------------------------------------


class RatedTournament(Base):
    """A finished tournament whose standings updated the ratings: one row per tournament, written in the same
    transaction as the update, so a tournament rates once however often its finish runs. ``id`` is the rating
    order (ratings are recomputed by replaying the rated tournaments in it)."""

    __tablename__ = "rated_tournaments"

    id: Mapped[int] = _id()
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"), unique=True)
    contestants: Mapped[int] = mapped_column(Integer)  # placed in it
    rated_at: Mapped[datetime] = _created()


class ContestantRating(Base):
    """A contestant's rating now (openskill μ and σ; ``rating`` the displayed value), XP, level and streak."""

    __tablename__ = "contestant_ratings"
    __table_args__ = (Index(None, "rating", "contestant_id"),)

    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"), primary_key=True)
    mu: Mapped[float] = mapped_column(Float)
    sigma: Mapped[float] = mapped_column(Float)
    rating: Mapped[float] = mapped_column(Float)
    tournaments: Mapped[int] = mapped_column(Integer, default=0)  # rated tournaments entered
    xp: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[int] = mapped_column(Integer, default=1)
    streak: Mapped[int] = mapped_column(Integer, default=0)  # rated tournaments entered in a row, up to the last
    last_rated_id: Mapped[int | None] = mapped_column(Integer)  # the last rated tournament entered (its order)
    updated_at: Mapped[datetime] = _created()


class RatingChange(Base):
    """A contestant's rating after one rated tournament, and their place in it."""

    __tablename__ = "rating_history"
    __table_args__ = (UniqueConstraint("contestant_id", "tournament_id"), Index(None, "contestant_id", "rated_id"))

    id: Mapped[int] = _id()
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"))
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    rated_id: Mapped[int] = mapped_column(ForeignKey("rated_tournaments.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)  # among contestants, by their best bot
    contestants: Mapped[int] = mapped_column(Integer)
    bot_key: Mapped[str] = mapped_column(String(64))  # the best bot, which placed them
    mu: Mapped[float] = mapped_column(Float)
    sigma: Mapped[float] = mapped_column(Float)
    rating: Mapped[float] = mapped_column(Float)
    change: Mapped[float] = mapped_column(Float)  # of the displayed rating


class XpAward(Base):
    """The XP one tournament gave one contestant (once per contestant and tournament), by part."""

    __tablename__ = "xp_awards"
    __table_args__ = (UniqueConstraint("contestant_id", "tournament_id"),)

    id: Mapped[int] = _id()
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"))
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    xp: Mapped[int] = mapped_column(Integer)
    parts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"entered": 100, "finished": 50, "place": 80}
    created_at: Mapped[datetime] = _created()


class Achievement(Base):
    """A badge (``code``: diversified, risk_manager, whale, streak_N) or a level reached (``level_N``), earned once
    per contestant, in ``tournament_id`` by the entry ``bot_key``."""

    __tablename__ = "achievements"
    __table_args__ = (UniqueConstraint("contestant_id", "code"), Index(None, "tournament_id"))

    id: Mapped[int] = _id()
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    tournament_id: Mapped[int] = mapped_column(ForeignKey("tournaments.id", ondelete="CASCADE"))
    bot_key: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    earned_at: Mapped[datetime] = _created()
