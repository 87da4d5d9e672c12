"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Enum, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both databases.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones and returns naive values, so we
    normalise to UTC on the way in and attach UTC on the way out. Naive input is refused: a naive
    datetime is a bug (local time or UTC? nobody knows) and would round-trip differently per database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        # SQLite's DateTime stores the string as given; keep it naive-UTC so strings sort in time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), the portable JSON (TEXT) on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")

# SQLite auto-increments only an ``INTEGER PRIMARY KEY`` (the rowid alias); BIGINT would not.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def str_enum(enum: type[StrEnum], name: str) -> Enum:
    """A StrEnum stored as its values in a VARCHAR with a CHECK constraint (no native PG enum types:
    adding a value to a native enum needs special DDL; a CHECK is one batch migration on either DB)."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(e.value) for e in enum) + 8,  # room to grow without widening the column
        values_callable=_values,
        validate_strings=True,
    )


def _values(enum: Any) -> list[str]:
    return [e.value for e in enum]


def utcnow() -> datetime:
    return datetime.now(UTC)
