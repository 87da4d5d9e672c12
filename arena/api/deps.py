"""Request dependencies: a database session per request, and who is calling (API key or session cookie)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Cookie, Depends, Header, Request
from sqlalchemy import event
from sqlalchemy.orm import Session

from arena.api import signin
from arena.api.errors import ApiError
from arena.store import accounts
from arena.store.models import Contestant


def db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed after the handler, rolled back if it raised (a StoreError
    then becomes its HTTP answer through the app's exception handler). Used with scope="function" (see
    ``Db``): the commit happens before the answer is sent, so a client that reads right after a write sees it."""
    with request.app.state.arena.sessions.begin() as session:
        yield session


# FastAPI's default scope would end the transaction after the response has gone out.
_transaction = Depends(db, scope="function")


def after_commit(session: Session, action: Callable[[], object]) -> None:
    """Run ``action`` once this request's transaction has committed (never if it rolls back): background work
    started earlier could read the database before the request's own rows are visible (PostgreSQL)."""
    event.listen(session, "after_commit", lambda _session: action(), once=True)


def contestant(
    request: Request,
    session: Annotated[Session, _transaction],
    x_api_key: Annotated[str | None, Header(description="Your API key (shown once when it was created).")] = None,
    arena_session: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> Contestant:
    if not x_api_key and arena_session:
        return _session_contestant(request, session, arena_session)
    if not x_api_key:
        raise ApiError(401, "UNAUTHENTICATED", "send your API key in the X-API-Key header",
                       {"WWW-Authenticate": "ApiKey"})  # fmt: skip
    key = accounts.authenticate(session, x_api_key)
    if key is None:
        raise ApiError(401, "INVALID_API_KEY", "that API key is unknown or revoked", {"WWW-Authenticate": "ApiKey"})
    return key.contestant


def _session_contestant(request: Request, session: Session, token: str) -> Contestant:
    found = signin.session_contestant(request.app.state.arena.redis, session, token)
    if found is None:
        raise ApiError(401, "SESSION_EXPIRED", "your session has ended; sign in again")
    if request.method not in signin.SAFE_METHODS and not request.headers.get(signin.CSRF_HEADER):
        raise ApiError(403, "CSRF_HEADER_MISSING",
                       f"changes made with a session cookie need the {signin.CSRF_HEADER} header")  # fmt: skip
    return found[0]


def viewer(
    request: Request,
    session: Annotated[Session, _transaction],
    x_api_key: Annotated[str | None, Header(description="Your API key: owners and admins see more.")] = None,
    arena_session: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> Contestant | None:
    """Who is asking on a public route: None when anonymous. An expired session is anonymous (a public page
    still answers); an unknown API key is refused, as everywhere."""
    return viewer_in(request, session, x_api_key, arena_session)


def viewer_in(
    request: Request, session: Session, x_api_key: str | None, arena_session: str | None
) -> Contestant | None:
    """``viewer`` in a session of the caller's choosing (a route that must not hold the request's transaction)."""
    if not x_api_key and not arena_session:
        return None
    try:
        return contestant(request, session, x_api_key, arena_session)
    except ApiError as exc:
        if exc.code == "SESSION_EXPIRED":
            return None
        raise


def admin(who: Annotated[Contestant, Depends(contestant)]) -> Contestant:
    if not who.is_admin:
        raise ApiError(403, "ADMIN_ONLY", "this needs an administrator's API key")
    return who


Db = Annotated[Session, _transaction]
Me = Annotated[Contestant, Depends(contestant)]
Admin = Annotated[Contestant, Depends(admin)]
Viewer = Annotated[Contestant | None, Depends(viewer)]
