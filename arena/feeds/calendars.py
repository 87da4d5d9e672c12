"""Session calendars for a feed, built on demand, with any failure reported as a FeedError."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from arena.feeds.errors import FeedError, FeedErrorCode

if TYPE_CHECKING:
    from arena.engine.sessions import SessionCalendars


def build_calendars(first: date, last: date, venues: Iterable[str], path: str | Path | None = None) -> SessionCalendars:
    """Calendars of ``venues`` for the UTC days ``first`` .. ``last``.

    The schedules come from exchange_calendars and pandas, which fail in their own ways for dates far
    from today (pandas stops at 2262, the library has no sessions before its first year, dates near
    year 1 overflow); all of them become one error code.
    """
    from arena.engine.sessions import SessionCalendars, UnknownVenueError

    venues = list(venues)
    try:
        return SessionCalendars.build(first, last, venues)
    except UnknownVenueError as exc:
        raise FeedError(FeedErrorCode.UNKNOWN_VENUE, str(exc), path) from None
    except Exception as exc:  # third-party failures at the edge of their supported range
        raise FeedError(
            FeedErrorCode.CALENDAR,
            f"no session calendar for {', '.join(venues)} from {first} to {last}: {exc}",
            path,
        ) from None
