"""The tick record: ``ticks`` holds the top of each symbol's book and what traded, per tick of a tournament (the
market its bots saw), for the record's export. Keyed by (tournament, tick, symbol), WITHOUT ROWID on SQLite.
Tournaments run before it have no ticks on record.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticks",
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("bid", sa.Float(), nullable=True),
        sa.Column("bid_size", sa.Float(), nullable=True),
        sa.Column("ask", sa.Float(), nullable=True),
        sa.Column("ask_size", sa.Float(), nullable=True),
        sa.Column("last", sa.Float(), nullable=True),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tournament_id"], ["tournaments.id"], name="fk_ticks_tournament_id_tournaments",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tournament_id", "n", "symbol", name="pk_ticks"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("ticks")
