"""Webhook secrets sealed at rest: ``webhook_endpoints.secret`` (plain text, 128) becomes ``sealed_secret``
(a Fernet token, 512). The rows keep their plain-text values here; the API seals every one of them with the
operator's key when it starts (``arena.store.webhooks.reseal_secrets``), before its dispatcher reads any, since
the key is runtime configuration that a migration does not see. A downgrade opens them again with the key
the environment's settings name, and refuses (changing nothing) if that key cannot open one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("secret", new_column_name="sealed_secret", type_=sa.String(512),
                           existing_type=sa.String(128), existing_nullable=False)  # fmt: skip


def downgrade() -> None:
    from arena.settings import Settings
    from arena.webhooks.keyring import LEGACY_PREFIX, SecretKeyring

    endpoints = sa.table("webhook_endpoints", sa.column("id", sa.Integer), sa.column("sealed_secret", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(endpoints.c.id, endpoints.c.sealed_secret)).all()
    sealed = [(id_, value) for id_, value in rows if not value.startswith(LEGACY_PREFIX)]
    if sealed:
        settings = Settings()
        keyring = SecretKeyring.from_settings(settings.webhooks_secret_keys, settings.data_dir)
        opened = [(id_, keyring.open(value)) for id_, value in sealed]  # KeyringError before any change
        for id_, plain in opened:
            conn.execute(endpoints.update().where(endpoints.c.id == id_).values(sealed_secret=plain))
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("sealed_secret", new_column_name="secret", type_=sa.String(128),
                           existing_type=sa.String(512), existing_nullable=False)  # fmt: skip
