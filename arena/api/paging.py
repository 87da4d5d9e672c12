"""One paging contract for every list the API returns (docs/api.md, "Lists and paging").

A list answers ``{"items": [...], "next": <cursor> | null}``. The caller passes ``limit`` (1..MAX_LIMIT, default
DEFAULT_LIMIT) and, for every page after the first, ``cursor`` = the previous page's ``next``. A cursor is opaque
to callers: base64url of JSON ``[list, key...]``, the list's name and the last row's sort key. Each list has a
total order (its sort key ends with a unique id), and a page holds the rows strictly after the cursor's key, so
walking the pages yields each row once, however many rows are added or removed meanwhile (keyset paging: an
offset would repeat or skip rows as the list changes under it).

A cursor is decoded strictly (size, encoding, the list it came from, the types and ranges of its key): anything
else is 422 INVALID_CURSOR, and nothing is read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import QueryableAttribute, Session

from arena.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_CHARS = 512
MAX_ID = 2**63 - 1

T = TypeVar("T")
Row = TypeVar("Row")
Key = tuple[Any, ...]


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next: str | None = Field(description="the cursor of the next page (pass it as `cursor`); null on the last page")


def _invalid(why: str) -> ApiError:
    return ApiError(422, "INVALID_CURSOR", f"invalid cursor: {why}; pass a `next` this list returned, or none",
                    fields=[{"field": "query.cursor", "message": why}])  # fmt: skip


def encode(kind: str, key: Key) -> str:
    """The cursor of the page after the row whose sort key is ``key``, in list ``kind``."""
    raw = json.dumps([kind, *key], separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _valid_part(value: Any, kind: type) -> bool:
    if kind is int:
        return type(value) is int and 0 <= value <= MAX_ID
    if kind is float:  # JSON has no NaN or infinity (json.loads gives float('nan') for "NaN": refused below)
        return type(value) in (int, float) and value == value and abs(value) != float("inf")
    return type(value) is str and 0 < len(value) <= 256


def decode(cursor: str, kind: str, shape: Sequence[type]) -> Key:
    """The sort key in ``cursor``, which must come from list ``kind`` and hold values of the types in ``shape``."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _invalid(f"longer than {MAX_CURSOR_CHARS} characters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw, parse_constant=lambda name: _reject(name))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid("not a cursor of this API") from None
    if not isinstance(parts, list) or not parts or parts[0] != kind:
        raise _invalid(f"not a cursor of this list ({kind})")
    key = tuple(parts[1:])
    if len(key) != len(shape) or not all(_valid_part(v, t) for v, t in zip(key, shape, strict=True)):
        raise _invalid("its key is malformed")
    return tuple(float(v) if t is float else v for v, t in zip(key, shape, strict=True))


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class PageRequest:
    """What the caller asked for: ``limit`` rows after ``cursor`` (None: from the start)."""

    limit: int
    cursor: str | None

    def after(self, kind: str, shape: Sequence[type]) -> Key | None:
        """The sort key to continue after, checked to belong to list ``kind``; None for the first page."""
        return None if self.cursor is None else decode(self.cursor, kind, shape)

    def page(self, kind: str, rows: Sequence[Row], key: Callable[[Row], Key]) -> tuple[list[Row], str | None]:
        """The first ``limit`` of ``rows`` (read with ``limit + 1`` to learn whether more follow), and the
        cursor after the last of them, or None when nothing follows."""
        shown = list(rows[: self.limit])
        more = len(rows) > self.limit
        return shown, encode(kind, key(shown[-1])) if more and shown else None


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"rows per page (default {DEFAULT_LIMIT}, "
                                f"at most {MAX_LIMIT})")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description="the previous page's `next`; "
                                        "omit it for the first page")] = None,
) -> PageRequest:  # fmt: skip
    return PageRequest(limit, cursor or None)


Paging = Annotated[PageRequest, Depends(page_request)]


def by_id(
    session: Session, query: Select[Any], id_column: ColumnElement[int] | QueryableAttribute[int],
    paging: PageRequest, kind: str, *, newest_first: bool = False,
) -> tuple[list[Any], str | None]:
    """A page of ``query``'s rows ordered by their unique id (ascending, or newest first), and the next cursor."""
    after = paging.after(kind, (int,))
    if after is not None:
        query = query.where(id_column < after[0] if newest_first else id_column > after[0])
    ordered = query.order_by(id_column.desc() if newest_first else id_column).limit(paging.limit + 1)
    return paging.page(kind, list(session.scalars(ordered)), lambda row: (row.id,))
