"""The record knows how far it goes: ``tournaments.recorded_tick``, the last tick whose orders, fills and
rejections are all written (each recorder transaction holds whole ticks and advances it). An engine taking
over a tournament shows its observer only the replayed ticks after it, so nothing is recorded twice or lost.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tournaments") as batch:
        batch.add_column(sa.Column("recorded_tick", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("tournaments") as batch:
        batch.drop_column("recorded_tick")
