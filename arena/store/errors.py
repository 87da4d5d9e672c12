"""Domain errors of the store, each with a machine-readable ``code``.

Suggested HTTP mapping for the API: NotFound → 404, Conflict → 409, IllegalTransition → 409,
InvalidValue → 422.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.store.models import Base


class StoreError(Exception):
    code = "STORE_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class NotFound(StoreError):
    """Missing, or not the caller's: owner-scoped lookups do not tell the two apart."""

    code = "NOT_FOUND"


class Conflict(StoreError):
    code = "CONFLICT"


class IllegalTransition(StoreError):
    code = "ILLEGAL_TRANSITION"


class InvalidValue(StoreError):
    code = "INVALID_VALUE"


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError broke, on PostgreSQL or SQLite (unique ones only there:
    SQLite names neither foreign-key nor CHECK failures)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:  # psycopg
        return diag.constraint_name
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    if match is None:
        return None
    columns = [c.strip().split(".", 1) for c in match.group(1).split(",")]
    table = Base.metadata.tables.get(columns[0][0])
    wanted = {c[1] for c in columns if len(c) == 2}
    if table is None:
        return None
    for constraint in table.constraints:
        names = {c.name for c in getattr(constraint, "columns", ())}
        if names == wanted and constraint.name:
            return str(constraint.name)
    for index in table.indexes:
        if index.unique and {c.name for c in index.columns} == wanted:
            return str(index.name)
    return None


@contextmanager
def integrity(session: Session, errors: Mapping[str, StoreError]) -> Iterator[None]:
    """Run the block in a SAVEPOINT and flush; a broken constraint named in ``errors`` raises that domain
    error (the savepoint is rolled back, the outer transaction stays usable), any other re-raises."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        name = violated_constraint(exc)
        if name is not None and name in errors:
            raise errors[name] from exc
        raise Conflict(f"the change breaks a database constraint ({name or 'unnamed'})", "CONSTRAINT") from exc
