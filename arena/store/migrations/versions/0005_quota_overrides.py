"""Per-contestant quotas: ``contestants.quota_overrides``, the limits an admin set for one contestant (JSON,
null: the settings' defaults apply).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("contestants") as batch:
        batch.add_column(sa.Column("quota_overrides", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contestants") as batch:
        batch.drop_column("quota_overrides")
