"""The record has one writer: ``tournaments.record_holder``, the engine run (its lease value) that keeps it now.

An engine taking a tournament over takes its record first; each write of the run it took it from then changes
nothing, so ticks that run still held unwritten are recorded once, by the new run (its replay shows them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tournaments") as batch:
        batch.add_column(sa.Column("record_holder", sa.String(160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tournaments") as batch:
        batch.drop_column("record_holder")
