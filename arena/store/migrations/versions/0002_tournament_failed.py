"""A tournament can fail: status ``failed`` (its engine stopped and no worker took it over) and the reason.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

SQLite cannot alter a CHECK constraint, so the table is rebuilt (batch mode, recreate="auto"); the
constraint keeps its conventional name on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("draft", "open", "running", "finished", "cancelled")
AFTER = (*BEFORE, "failed")
CHECK = "ck_tournaments_tournament_status"


def _status_check(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("tournaments", recreate="auto") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint("tournament_status", _status_check(AFTER))
        batch.add_column(sa.Column("end_reason", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.execute(sa.text("UPDATE tournaments SET status = 'cancelled' WHERE status = 'failed'"))
    with op.batch_alter_table("tournaments", recreate="auto") as batch:
        batch.drop_column("end_reason")
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint("tournament_status", _status_check(BEFORE))
