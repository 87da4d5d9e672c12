"""Remote bots: ``remote_keys`` (a key id and its sealed HMAC secret per contestant) and remote entries
(``entries.remote``; such an entry has no bot version, so ``entries.bot_version_id`` may be null). Existing
entries are sandboxed ones. A downgrade refuses (changing nothing) while a remote entry exists: its row has no
version to give back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "remote_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("sealed_secret", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contestant_id"], ["contestants.id"],
                                name=op.f("fk_remote_keys_contestant_id_contestants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_remote_keys_key_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_remote_keys_contestant_id"), "remote_keys", ["contestant_id"], unique=False)
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("remote", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.alter_column("bot_version_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    entries = sa.table("entries", sa.column("remote", sa.Boolean))
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(entries).where(entries.c.remote)).scalar():
        raise RuntimeError("remote entries exist: they have no bot version to keep after a downgrade; delete them")
    with op.batch_alter_table("entries") as batch:
        batch.alter_column("bot_version_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("remote")
    op.drop_index(op.f("ix_remote_keys_contestant_id"), table_name="remote_keys")
    op.drop_table("remote_keys")
