"""Orders keep their trading session: ``orders.session``, ``regular`` or ``extended`` (an order that may trade in
pre-market and after-hours). Orders recorded before it existed were all regular.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("session", sa.String(16), nullable=False, server_default="regular"))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("session")
