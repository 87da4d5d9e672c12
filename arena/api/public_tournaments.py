"""Whether a tournament may be watched: it exists and is public (drafts are an admin's work in progress).

Checked before anything that costs a Redis reader (streams, delayed boards), so made-up ids cost one indexed
database lookup and nothing more. A tournament, once public, stays public (every status it can move on to is
public, and none is deleted: ``arena.store.tournaments.TRANSITIONS``), so a yes is remembered per database:
thousands of spectators connecting to one tournament cost one lookup, not one each (and no thread hop).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from weakref import WeakKeyDictionary

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from arena.api.errors import ApiError
from arena.api.results import PUBLIC
from arena.store.models import Tournament

KNOWN_MAX = 4_096  # public tournaments remembered per database, the least recently asked forgotten first
_known: WeakKeyDictionary[sessionmaker[Session], OrderedDict[str, None]] = WeakKeyDictionary()


def _is_public(sessions: sessionmaker[Session], slug: str) -> bool:
    with sessions() as session:
        status = session.scalar(select(Tournament.status).where(Tournament.slug == slug))
    return status in PUBLIC


async def require_public(state: Any, slug: str) -> None:  # state: the app's ArenaState (importing it is circular)
    """404 UNKNOWN_TOURNAMENT unless ``slug`` is a public tournament."""
    known = _known.setdefault(state.sessions, OrderedDict())
    if slug in known:
        known.move_to_end(slug)
        return
    if not await run_in_threadpool(_is_public, state.sessions, slug):
        raise ApiError(404, "UNKNOWN_TOURNAMENT", f"no tournament {slug!r}")
    known[slug] = None
    while len(known) > KNOWN_MAX:
        known.popitem(last=False)
