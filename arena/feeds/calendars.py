"""Session calendars for a feed, built on demand, with any failure reported as a FeedError.

Building an exchange's schedule means importing exchange_calendars and pandas and computing its holidays:
most of a short backtest's start-up. So each venue's schedule for a date range is kept in Arena's cache directory
(arena/cache.py: ``ARENA_CACHE_DIR``, else ``$XDG_CACHE_HOME/arena`` or ``~/.cache/arena``) as JSON, keyed by the
range, the exchange_calendars release and a digest of the code that turns its sessions into ours; a later run with
the same range reads it back without importing either (the intervals' times packed as 64-bit integers in base64, which
reads several times faster than JSON's numbers). A cache entry that is unreadable or malformed is rebuilt; a cache
directory that cannot be written is only slower.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from array import array
from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arena.cache import cache_dir, load_json, store_json
from arena.feeds.errors import FeedError, FeedErrorCode

if TYPE_CHECKING:
    from arena.engine.sessions import SessionCalendars, VenueSchedule

_CACHED_VENUES = frozenset({"XNYS", "XNAS", "XLON", "CME"})  # FOREX and CRYPTO are arithmetic: nothing to save
_KEEP = 256  # cache entries kept; the oldest go first
_MAX_BYTES = 8 << 20  # a schedule file larger than this is not ours
_LAYOUT = 3  # of a stored schedule (_store); an entry of another is built again
_PHASE_DIGITS = "0123456789"
# The days a run's calendars cover beyond its first and last (DAY orders' session ends, the next open after a holiday).
MARGIN_BEFORE = timedelta(days=7)
MARGIN_AFTER = timedelta(days=14)
_last: tuple[tuple[date, date, tuple[str, ...]], SessionCalendars] | None = None  # calendars_around's latest


@cache
def _code_version() -> str:
    """What a stored schedule depends on besides its range: exchange_calendars' release and our sessions code."""
    try:
        xcals = metadata.version("exchange-calendars")
    except metadata.PackageNotFoundError:
        xcals = "none"
    source = (resources.files("arena.engine") / "sessions.py").read_bytes()
    return f"{xcals}-{hashlib.sha256(source).hexdigest()[:16]}"


def _load(file: Path, venue: str) -> VenueSchedule | None:
    from arena.engine.sessions import Phase, VenueSchedule

    data: Any = load_json(file, _MAX_BYTES)
    try:
        if data["layout"] != _LAYOUT or data["venue"] != venue:
            return None
        lo, hi, names = data["lo"], data["hi"], data["phases"]
        if not all(isinstance(x, int) for x in (lo, hi)):
            return None
        starts, ends = _integers(data["starts"]), _integers(data["ends"])
        # Column by column, in C loops: a decade of days is over 7,000 intervals.
        phases = list(map(dict(zip(_PHASE_DIGITS, Phase, strict=False)).__getitem__, names))
        return VenueSchedule.from_columns(venue, lo, hi, starts, ends, phases)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _store(file: Path, schedule: VenueSchedule) -> None:
    """As columns: the intervals' starts, their ends (each packed, see _packed), and their phases, a digit each (the
    phase's place in Phase; sessions.py, which says it, is in the entry's name)."""
    intervals = schedule.intervals
    try:
        starts, ends = _packed([s for s, _, _ in intervals]), _packed([e for _, e, _ in intervals])
    except OverflowError:  # beyond 64 bits: not a time of ours
        return
    from arena.engine.sessions import Phase

    digit = dict(zip(Phase, _PHASE_DIGITS, strict=False))
    data = {"layout": _LAYOUT, "venue": schedule.venue, "lo": schedule.lo, "hi": schedule.hi, "starts": starts,
            "ends": ends, "phases": "".join(digit[p] for _, _, p in intervals)}  # fmt: skip
    store_json(file, data, _KEEP)


def _packed(values: list[int]) -> str:
    """Integers as the base64 of their 8-byte little-endian values: JSON then reads one string where it would read
    thousands of numbers (a decade's schedule loads in a fifth of the time)."""
    column = array("q", values)
    if sys.byteorder == "big":
        column.byteswap()
    return base64.b64encode(column.tobytes()).decode("ascii")


def _integers(text: str) -> list[int]:
    """The integers of a _packed column; ValueError (or TypeError) for anything else."""
    column = array("q", base64.b64decode(text, validate=True))  # a length not a multiple of 8: ValueError
    if sys.byteorder == "big":
        column.byteswap()
    return column.tolist()


def _schedule(venue: str, first: date, last: date) -> VenueSchedule:
    from arena.engine.sessions import build_schedule

    if venue not in _CACHED_VENUES:
        return build_schedule(venue, first, last)
    file = cache_dir("sessions") / f"{venue}-{first}-{last}-{_code_version()}.json"
    schedule = _load(file, venue)
    if schedule is None:
        schedule = build_schedule(venue, first, last)
        _store(file, schedule)
    return schedule


def build_calendars(first: date, last: date, venues: Iterable[str], path: str | Path | None = None) -> SessionCalendars:
    """Calendars of ``venues`` for the UTC days ``first`` .. ``last``.

    The schedules come from exchange_calendars and pandas (or the cache above), which fail in their own ways for
    dates far from today (pandas stops at 2262, the library has no sessions before its first year, dates near
    year 1 overflow); all of them become one error code.
    """
    from arena.engine.sessions import SessionCalendars, UnknownVenueError

    venues = list(dict.fromkeys(venues))
    try:
        if last < first:  # build_schedule says so too, but a cached venue would not get that far
            raise ValueError(f"session range: end {last} is before start {first}")
        return SessionCalendars({v: _schedule(v, first, last) for v in venues}, first, last)
    except UnknownVenueError as exc:
        raise FeedError(FeedErrorCode.UNKNOWN_VENUE, str(exc), path) from None
    except Exception as exc:  # third-party failures at the edge of their supported range
        raise FeedError(
            FeedErrorCode.CALENDAR,
            f"no session calendar for {', '.join(venues)} from {first} to {last}: {exc}",
            path,
        ) from None


def calendars_around(
    first: date, last: date, venues: Iterable[str], path: str | Path | None = None
) -> SessionCalendars:
    """Calendars of ``venues`` for the days ``first`` .. ``last`` and the margins a run needs around them.

    A replay asks for its bars' days and the backtest then for its ticks' days: the same range, so the latest
    answer is kept and the second asker gets it instead of building it again (calendars are immutable).
    """
    global _last
    try:
        lo, hi = first - MARGIN_BEFORE, last + MARGIN_AFTER
    except OverflowError:
        lo, hi = first, last  # year 1 or 9999: the build reports it
    key = (lo, hi, tuple(dict.fromkeys(venues)))
    last_built = _last  # one read: another thread may replace it meanwhile
    if last_built is not None and last_built[0] == key:
        return last_built[1]
    calendars = build_calendars(lo, hi, key[2], path)
    _last = (key, calendars)
    return calendars


def forget_calendars() -> None:
    """Drop the calendars :func:`calendars_around` keeps, so that the next run builds (or reads) them again, as a
    new process would (bench/peer.py times each run so)."""
    global _last
    _last = None
