"""Ratings and achievements (arena.ratings, docs/ratings.md): ``rated_tournaments`` (one row per tournament that
updated the ratings, in rating order), ``contestant_ratings`` (each contestant's rating, XP, level and streak now),
``rating_history`` (their rating after each rated tournament), ``xp_awards`` and ``achievements``. Tournaments
finished before it are not rated; recomputing (POST /api/v1/admin/ratings/recompute) replays only rated ones, and an
admin may rate one with POST /api/v1/admin/tournaments/{slug}/award.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete="CASCADE")


def _when(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "rated_tournaments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("contestants", sa.Integer(), nullable=False),
        _when("rated_at"),
        _fk("rated_tournaments", "tournament_id", "tournaments"),
        sa.PrimaryKeyConstraint("id", name="pk_rated_tournaments"),
        sa.UniqueConstraint("tournament_id", name="uq_rated_tournaments_tournament_id"),
    )
    op.create_table(
        "contestant_ratings",
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("mu", sa.Float(), nullable=False),
        sa.Column("sigma", sa.Float(), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("tournaments", sa.Integer(), nullable=False),
        sa.Column("xp", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("last_rated_id", sa.Integer(), nullable=True),
        _when("updated_at"),
        _fk("contestant_ratings", "contestant_id", "contestants"),
        sa.PrimaryKeyConstraint("contestant_id", name="pk_contestant_ratings"),
    )
    op.create_index("ix_contestant_ratings_rating_contestant_id", "contestant_ratings", ["rating", "contestant_id"])
    op.create_table(
        "rating_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("rated_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("contestants", sa.Integer(), nullable=False),
        sa.Column("bot_key", sa.String(64), nullable=False),
        sa.Column("mu", sa.Float(), nullable=False),
        sa.Column("sigma", sa.Float(), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("change", sa.Float(), nullable=False),
        _fk("rating_history", "contestant_id", "contestants"),
        _fk("rating_history", "tournament_id", "tournaments"),
        _fk("rating_history", "rated_id", "rated_tournaments"),
        sa.PrimaryKeyConstraint("id", name="pk_rating_history"),
        sa.UniqueConstraint("contestant_id", "tournament_id", name="uq_rating_history_contestant_id_tournament_id"),
    )
    op.create_index("ix_rating_history_contestant_id_rated_id", "rating_history", ["contestant_id", "rated_id"])
    op.create_table(
        "xp_awards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("xp", sa.Integer(), nullable=False),
        sa.Column("parts", JSON, nullable=False),
        _when("created_at"),
        _fk("xp_awards", "contestant_id", "contestants"),
        _fk("xp_awards", "tournament_id", "tournaments"),
        sa.PrimaryKeyConstraint("id", name="pk_xp_awards"),
        sa.UniqueConstraint("contestant_id", "tournament_id", name="uq_xp_awards_contestant_id_tournament_id"),
    )
    op.create_table(
        "achievements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contestant_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("tournament_id", sa.Integer(), nullable=False),
        sa.Column("bot_key", sa.String(64), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        _when("earned_at"),
        _fk("achievements", "contestant_id", "contestants"),
        _fk("achievements", "tournament_id", "tournaments"),
        sa.PrimaryKeyConstraint("id", name="pk_achievements"),
        sa.UniqueConstraint("contestant_id", "code", name="uq_achievements_contestant_id_code"),
    )
    op.create_index("ix_achievements_tournament_id", "achievements", ["tournament_id"])


def downgrade() -> None:
    for table in ("achievements", "xp_awards", "rating_history", "contestant_ratings", "rated_tournaments"):
        op.drop_table(table)
