"""Initial schema: contestants, keys, bots and versions, tournaments and entries, the tournament record
(orders, fills, rejections, equity, standings, logs) and webhooks.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Generated with `python -m arena.store.migrate revision --autogenerate` against an empty database, then
reviewed: shared column types below, plain create_index (batch mode is for ALTERs of existing SQLite tables).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text on SQLite; BIGINT ids on PostgreSQL, rowid-aliased INTEGER on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contestants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contestants")),
        sa.UniqueConstraint("name", name=op.f("uq_contestants_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contestant_id"],
            ["contestants.id"],
            name=op.f("fk_api_keys_contestant_id_contestants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_contestant_id"), "api_keys", ["contestant_id"], unique=False)

    op.create_table(
        "bots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["contestants.id"], name=op.f("fk_bots_owner_id_contestants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_bots_owner_id_name")),
    )
    op.create_table(
        "tournaments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "open",
                "running",
                "finished",
                "cancelled",
                name="tournament_status",
                native_enum=False,
                create_constraint=True,
                length=17,
            ),
            nullable=False,
        ),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("feed", sa.String(length=1024), nullable=False),
        sa.Column("symbols", JSON, nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("ticks", sa.Integer(), nullable=True),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column(
            "clock",
            sa.Enum("lockstep", "realtime", name="clock", native_enum=False, create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("tick_deadline_s", sa.Float(), nullable=False),
        sa.Column("limits", JSON, nullable=False),
        sa.Column("entry_opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entry_closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tick_deadline_s > 0", name=op.f("ck_tournaments_tick_deadline_positive")),
        sa.CheckConstraint("ticks IS NULL OR ticks >= 1", name=op.f("ck_tournaments_ticks_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["contestants.id"],
            name=op.f("fk_tournaments_created_by_id_contestants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tournaments")),
        sa.UniqueConstraint("slug", name=op.f("uq_tournaments_slug")),
    )
    op.create_index(op.f("ix_tournaments_status"), "tournaments", ["status"], unique=False)

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contestant_id"],
            ["contestants.id"],
            name=op.f("fk_webhook_endpoints_contestant_id_contestants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(op.f("ix_webhook_endpoints_contestant_id"), "webhook_endpoints", ["contestant_id"], unique=False)

    op.create_table(
        "bot_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("storage_path", sa.String(length=1024), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "ready",
                "failed",
                name="version_status",
                native_enum=False,
                create_constraint=True,
                length=15,
            ),
            nullable=False,
        ),
        sa.Column("smoke_log", sa.Text(), nullable=False),
        sa.Column("end_classification", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("version >= 1", name=op.f("ck_bot_versions_version_positive")),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_bot_versions_bot_id_bots"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_versions")),
        sa.UniqueConstraint("bot_id", "version", name=op.f("uq_bot_versions_bot_id_version")),
    )
    op.create_index(op.f("ix_bot_versions_sha256"), "bot_versions", ["sha256"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
                length=17,
            ),
            nullable=False,
        ),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("endpoint_id", "event_id", name=op.f("uq_webhook_deliveries_endpoint_id_event_id")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_status_next_attempt_at"),
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )

    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("bot_version_id", sa.Integer(), nullable=False),
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("bot_key", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "entered",
                "running",
                "finished",
                "out",
                "withdrawn",
                name="entry_status",
                native_enum=False,
                create_constraint=True,
                length=17,
            ),
            nullable=False,
        ),
        sa.Column("disqualified", sa.Boolean(), nullable=False),
        sa.Column("end_classification", sa.String(length=32), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=False),
        sa.Column("resource_use", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_entries_bot_id_bots")),
        sa.ForeignKeyConstraint(
            ["bot_version_id"], ["bot_versions.id"], name=op.f("fk_entries_bot_version_id_bot_versions")
        ),
        sa.ForeignKeyConstraint(
            ["contestant_id"], ["contestants.id"], name=op.f("fk_entries_contestant_id_contestants")
        ),
        sa.ForeignKeyConstraint(
            ["tournament_id"], ["tournaments.id"], name=op.f("fk_entries_tournament_id_tournaments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint("tournament_id", "bot_id", name=op.f("uq_entries_tournament_id_bot_id")),
        sa.UniqueConstraint("tournament_id", "bot_key", name=op.f("uq_entries_tournament_id_bot_key")),
    )
    op.create_index(op.f("ix_entries_contestant_id"), "entries", ["contestant_id"], unique=False)

    op.create_table(
        "equity_snapshots",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("nav", sa.Float(), nullable=False),
        sa.Column("drawdown", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_equity_snapshots_entry_id_entries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tournament_id"],
            ["tournaments.id"],
            name=op.f("fk_equity_snapshots_tournament_id_tournaments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_snapshots")),
    )
    op.create_index(op.f("ix_equity_snapshots_entry_id_ts"), "equity_snapshots", ["entry_id", "ts"], unique=False)
    op.create_index(
        op.f("ix_equity_snapshots_tournament_id_ts"), "equity_snapshots", ["tournament_id", "ts"], unique=False
    )

    op.create_table(
        "fills",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column(
            "side",
            sa.Enum("buy", "sell", name="side", native_enum=False, create_constraint=True, length=12),
            nullable=False,
        ),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("maker", sa.Boolean(), nullable=False),
        sa.Column("filled_qty", sa.Float(), nullable=False),
        sa.Column("remaining", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_fills_entry_id_entries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tournament_id"], ["tournaments.id"], name=op.f("fk_fills_tournament_id_tournaments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
    )
    op.create_index(op.f("ix_fills_entry_id_ts"), "fills", ["entry_id", "ts"], unique=False)
    op.create_index(op.f("ix_fills_tournament_id_order_id"), "fills", ["tournament_id", "order_id"], unique=False)

    op.create_table(
        "log_lines",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "stream",
            sa.Enum(
                "stderr", "protocol", "system", name="log_stream", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_log_lines_entry_id_entries"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_lines")),
    )
    op.create_index(op.f("ix_log_lines_entry_id_id"), "log_lines", ["entry_id", "id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column(
            "side",
            sa.Enum("buy", "sell", name="side", native_enum=False, create_constraint=True, length=12),
            nullable=True,
        ),
        sa.Column(
            "type",
            sa.Enum(
                "market",
                "limit",
                "stop",
                "stop_limit",
                name="order_type",
                native_enum=False,
                create_constraint=True,
                length=18,
            ),
            nullable=True,
        ),
        sa.Column(
            "tif",
            sa.Enum("gtc", "day", "ioc", "fok", name="tif", native_enum=False, create_constraint=True, length=11),
            nullable=True,
        ),
        sa.Column("qty", sa.Float(), nullable=True),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("stop_price", sa.Float(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_filled",
                "filled",
                "cancelled",
                "expired",
                name="order_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("filled_qty", sa.Float(), nullable=False),
        sa.Column("fees", sa.Float(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("done_ts", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_orders_entry_id_entries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tournament_id"], ["tournaments.id"], name=op.f("fk_orders_tournament_id_tournaments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("tournament_id", "order_id", name=op.f("uq_orders_tournament_id_order_id")),
    )
    op.create_index(op.f("ix_orders_entry_id_ts"), "orders", ["entry_id", "ts"], unique=False)

    op.create_table(
        "rejections",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_rejections_entry_id_entries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tournament_id"],
            ["tournaments.id"],
            name=op.f("fk_rejections_tournament_id_tournaments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejections")),
    )
    op.create_index(op.f("ix_rejections_entry_id_ts"), "rejections", ["entry_id", "ts"], unique=False)

    op.create_table(
        "standings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("nav", sa.Float(), nullable=False),
        sa.Column("max_drawdown", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("fees", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_standings_entry_id_entries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tournament_id"],
            ["tournaments.id"],
            name=op.f("fk_standings_tournament_id_tournaments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standings")),
        sa.UniqueConstraint("tournament_id", "entry_id", name=op.f("uq_standings_tournament_id_entry_id")),
    )
    op.create_index(op.f("ix_standings_tournament_id_rank"), "standings", ["tournament_id", "rank"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_standings_tournament_id_rank"), table_name="standings")

    op.drop_table("standings")
    op.drop_index(op.f("ix_rejections_entry_id_ts"), table_name="rejections")

    op.drop_table("rejections")
    op.drop_index(op.f("ix_orders_entry_id_ts"), table_name="orders")

    op.drop_table("orders")
    op.drop_index(op.f("ix_log_lines_entry_id_id"), table_name="log_lines")

    op.drop_table("log_lines")
    op.drop_index(op.f("ix_fills_tournament_id_order_id"), table_name="fills")
    op.drop_index(op.f("ix_fills_entry_id_ts"), table_name="fills")

    op.drop_table("fills")
    op.drop_index(op.f("ix_equity_snapshots_tournament_id_ts"), table_name="equity_snapshots")
    op.drop_index(op.f("ix_equity_snapshots_entry_id_ts"), table_name="equity_snapshots")

    op.drop_table("equity_snapshots")
    op.drop_index(op.f("ix_entries_contestant_id"), table_name="entries")

    op.drop_table("entries")
    op.drop_index(op.f("ix_webhook_deliveries_status_next_attempt_at"), table_name="webhook_deliveries")

    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_bot_versions_sha256"), table_name="bot_versions")

    op.drop_table("bot_versions")
    op.drop_index(op.f("ix_webhook_endpoints_contestant_id"), table_name="webhook_endpoints")

    op.drop_table("webhook_endpoints")
    op.drop_index(op.f("ix_tournaments_status"), table_name="tournaments")

    op.drop_table("tournaments")
    op.drop_table("bots")
    op.drop_index(op.f("ix_api_keys_contestant_id"), table_name="api_keys")

    op.drop_table("api_keys")
    op.drop_table("contestants")
