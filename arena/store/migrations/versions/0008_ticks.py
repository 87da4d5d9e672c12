"""The tick record: ``tick_batches`` holds the market of each tournament as the recorder wrote it, one row per batch
of whole ticks (the top of each symbol's book, its last trade and volume, per tick, as an Arrow IPC stream), for
the record's export. Tournaments run before it have no ticks on record.

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
        "tick_batches",
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("first_n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_n", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["tournament_id"], ["tournaments.id"],
                                name="fk_tick_batches_tournament_id_tournaments", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tournament_id", "first_n", name="pk_tick_batches"),
    )


def downgrade() -> None:
    op.drop_table("tick_batches")
