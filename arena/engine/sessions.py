"""Session: when each venue trades, in the venue's own time zone.

Holidays and early closes come from the maintained ``exchange_calendars`` library (no hand-written
dates). :meth:`SessionCalendars.build` asks it once for a date range and flattens every venue into
sorted arrays of half-open ``[start, end)`` millisecond intervals; a query is then one ``bisect``,
pure and a few microseconds. The library is imported lazily so that importing this module (and
``arena.engine.instruments``, which checks venues against :data:`VENUES`) stays cheap.

Venues:

- ``XNYS``, ``XNAS``: regular 09:30-16:00 America/New_York (holidays, early closes from the library),
  pre-market 04:00-09:30, post-market until 20:00, or 17:00 on early-close days.
- ``XLON``: 08:00-16:30 Europe/London (early closes 12:30 on Dec 24/31), no extended hours.
- ``CME`` (Globex): 17:00 CT the day before to 16:00 CT, with the daily 16:00-17:00 CT maintenance
  break. Which days trade and the holiday early closes come from the library's ``CMES`` calendar,
  which models 17:00-17:00 without the break, so each session is cut at 16:00 CT unless it closes earlier.
- ``FOREX``: Sunday 17:00 to Friday 17:00 America/New_York, no holidays; one "day" ends 17:00 New York.
- ``CRYPTO``: always open; one "day" ends 00:00 UTC. Not bound to the built range.

Range: a schedule answers for timestamps in ``[start 00:00 UTC, end+1 00:00 UTC)`` of the dates given
to ``build``; outside that it raises :class:`SessionRangeError` rather than guess (extending would
need the library on the hot path). ``session_end``/``next_open`` may return instants past the range:
sessions are built with a few weeks of margin on either side.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import compress, repeat
from operator import gt, is_, le, lt
from zoneinfo import ZoneInfo

VENUES: tuple[str, ...] = ("XNYS", "XNAS", "XLON", "CME", "FOREX", "CRYPTO")
VENUE_TIMEZONES: Mapping[str, str] = {
    "XNYS": "America/New_York",
    "XNAS": "America/New_York",
    "XLON": "Europe/London",
    "CME": "America/Chicago",
    "FOREX": "America/New_York",
    "CRYPTO": "UTC",
}
# Venue -> exchange_calendars calendar name.
_XC_NAME = {"XNYS": "XNYS", "XNAS": "XNAS", "XLON": "XLON", "CME": "CMES"}
# Venues with pre-market and after-hours sessions (the only ones an order tagged ``extended`` may name).
EXTENDED_HOURS_VENUES: frozenset[str] = frozenset({"XNYS", "XNAS"})

DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# Margin of sessions built beyond the asked range, so that next_open/session_end near its edges
# find the next session across the longest closures (Christmas + weekend, Easter).
_PAD_BEFORE = timedelta(days=7)
_PAD_AFTER = timedelta(days=21)


class Phase(StrEnum):
    CLOSED = "closed"
    PRE = "pre"
    REGULAR = "regular"
    POST = "post"


class SessionRangeError(ValueError):
    """A timestamp outside the range a schedule was built for."""


class UnknownVenueError(KeyError, ValueError):
    """A venue with no session rules (a KeyError too, so ``Mapping.get`` and ``in`` behave)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _check_venue(venue: str) -> None:
    if venue not in VENUE_TIMEZONES:
        raise UnknownVenueError(f"unknown venue {venue!r}; supported venues: {', '.join(VENUES)}")


def _ms(dt: datetime) -> int:
    """Exact integer milliseconds of an aware datetime (no float rounding)."""
    return (dt - _EPOCH) // _MS


def _local_ms(day: date, hour: int, minute: int, tz: ZoneInfo) -> int:
    return _ms(datetime.combine(day, time(hour, minute), tzinfo=tz))


def _fmt(ts: int) -> str:
    try:
        return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):  # beyond year 9999: still report the raw number
        return "out of datetime range"


class VenueSchedule:
    """The trading phases of one venue over a built date range."""

    __slots__ = (
        "_ends",
        "_ext_ends",
        "_ext_starts",
        "_phases",
        "_reg_ends",
        "_reg_run_ends",
        "_reg_run_starts",
        "_reg_starts",
        "_starts",
        "hi",
        "lo",
        "tz",
        "venue",
    )

    def __init__(self, venue: str, lo: int, hi: int, intervals: Iterable[tuple[int, int, Phase]]) -> None:
        """``intervals``: non-overlapping ``(start, end, phase)``, phase never CLOSED; ``[lo, hi)`` the
        range queries may ask about."""
        ordered = sorted([interval for interval in intervals if interval[1] > interval[0]])
        self._build(venue, lo, hi, [s for s, _, _ in ordered], [e for _, e, _ in ordered], [p for _, _, p in ordered])

    @classmethod
    def from_columns(cls, venue: str, lo: int, hi: int, starts: list[int], ends: list[int],
                     phases: list[Phase]) -> VenueSchedule:  # fmt: skip
        """``VenueSchedule(venue, lo, hi, zip(starts, ends, phases))``, without sorting and re-reading each interval
        when they come in order and none is empty (as ``intervals`` gives them back, and the cache stores them)."""
        if not len(starts) == len(ends) == len(phases):
            raise ValueError(f"{venue}: {len(starts)} starts, {len(ends)} ends and {len(phases)} phases")
        if not (all(map(lt, starts, ends)) and all(map(le, ends, starts[1:]))):
            return cls(venue, lo, hi, zip(starts, ends, phases, strict=True))
        schedule = cls.__new__(cls)
        schedule._build(venue, lo, hi, list(starts), list(ends), list(phases))
        return schedule

    def _build(self, venue: str, lo: int, hi: int, starts: list[int], ends: list[int], phases: list[Phase]) -> None:
        """From the intervals in order, none empty, as columns: column by column, in C loops (map, compress), since
        a decade of a venue's days, read back from the cache at each run, is over 7,000 intervals."""
        _check_venue(venue)
        self.venue = venue
        self.tz = VENUE_TIMEZONES[venue]
        self.lo = lo
        self.hi = hi
        overlapping = list(compress(starts[1:], map(lt, starts[1:], ends)))
        if overlapping:
            raise ValueError(f"{venue}: overlapping session intervals at {_fmt(overlapping[0])}")
        self._starts, self._ends, self._phases = starts, ends, phases
        regular = list(map(is_, phases, repeat(Phase.REGULAR)))
        self._reg_starts = list(compress(starts, regular))
        self._reg_ends = list(compress(ends, regular))
        self._reg_run_starts, self._reg_run_ends = _merge(self._reg_starts, self._reg_ends)
        self._ext_starts, self._ext_ends = _merge(starts, ends)

    @property
    def intervals(self) -> list[tuple[int, int, Phase]]:
        """The ``(start, end, phase)`` intervals it answers from, in order (to store it and build it again)."""
        return list(zip(self._starts, self._ends, self._phases, strict=True))

    def __repr__(self) -> str:
        return f"VenueSchedule({self.venue!r}, {_fmt(self.lo)} .. {_fmt(self.hi)})"

    def _check(self, ts: int) -> None:
        if not self.lo <= ts < self.hi:
            raise SessionRangeError(
                f"{self.venue}: timestamp {ts} ({_fmt(ts)}) is outside the built range "
                f"{_fmt(self.lo)} .. {_fmt(self.hi)}; build SessionCalendars for a wider date range"
            )

    def phase(self, ts: int) -> Phase:
        self._check(ts)
        i = bisect_right(self._starts, ts) - 1
        if i >= 0 and ts < self._ends[i]:
            return self._phases[i]
        return Phase.CLOSED

    def phase_until(self, ts: int) -> tuple[Phase, int]:
        """The phase at ``ts`` and the instant it may next change: it holds from ``ts`` up to (not including) there,
        the end of the interval holding ``ts`` or, between intervals, the next one's start (``hi`` past the last)."""
        self._check(ts)
        i = bisect_right(self._starts, ts) - 1
        if i >= 0 and ts < self._ends[i]:
            return self._phases[i], self._ends[i]
        return Phase.CLOSED, self._starts[i + 1] if i + 1 < len(self._starts) else self.hi

    def is_open(self, ts: int, extended_hours: bool = False) -> bool:
        """True in the regular session, or in pre/post-market too when ``extended_hours``."""
        phase = self.phase(ts)
        return phase is Phase.REGULAR or (extended_hours and phase is not Phase.CLOSED)

    def session_end(self, ts: int, extended_hours: bool = False) -> int | None:
        """End of the regular session containing ``ts``, else of the next one (where DAY orders
        expire); None if none was built. With ``extended_hours``, the end of the open stretch
        (pre-market, regular and after-hours joined) containing ``ts``, else of the next one."""
        self._check(ts)
        # Each regular session on its own (a DAY order ends at its own session's close), or the joined stretches.
        starts, ends = (self._ext_starts, self._ext_ends) if extended_hours else (self._reg_starts, self._reg_ends)
        i = bisect_right(starts, ts) - 1
        if i >= 0 and ts < ends[i]:
            return ends[i]
        return ends[i + 1] if i + 1 < len(ends) else None

    def regular_days(self, days: Iterable[int]) -> dict[int, tuple[int, int] | None]:
        """Each UTC day (its 00:00) -> its regular session clipped to the day, ``(open, close)``, or None when no
        regular session opens that day. A venue already in session at 00:00 (CRYPTO, FOREX, CME) opens the day then.

        What ``phase``, ``next_open`` and ``session_end`` give for each day (a daily bar's replay asks it of every
        day it holds), found by one walk over the days in order and the sessions, not by three searches a day.
        Raises :class:`SessionRangeError` for a day outside the built range, as they do.
        """
        ordered = list(dict.fromkeys(sorted(days)))
        if ordered:  # the others lie between the first and the last
            self._check(ordered[0])
            self._check(ordered[-1])
        starts, ends = self._reg_starts, self._reg_ends
        count = len(ends)
        out: dict[int, tuple[int, int] | None] = {}
        i = 0
        for day in ordered:  # (conditional expressions rather than max and min: a third of the time)
            while i < count and ends[i] <= day:  # sessions over before this day
                i += 1
            day_end = day + DAY_MS
            if i == count or starts[i] >= day_end:  # none left, or the next opens on a later day
                out[day] = None
                continue
            opens = starts[i] if starts[i] > day else day  # in session at 00:00: the day opens then
            if opens >= self.hi:
                self._check(opens)  # as session_end(opens) would: only for a range whose end is not 00:00 UTC
            out[day] = (opens, ends[i] if ends[i] < day_end else day_end)
        return out

    def _runs(self, extended_hours: bool) -> tuple[list[int], list[int]]:
        if extended_hours:
            return self._ext_starts, self._ext_ends
        return self._reg_run_starts, self._reg_run_ends

    def next_open(self, ts: int, extended_hours: bool = False) -> int | None:
        """The earliest instant at or after ``ts`` at which :meth:`is_open` holds: ``ts`` itself when
        open, else the start of the next open stretch (pre-market counts with ``extended_hours``);
        None if none was built."""
        self._check(ts)
        starts, ends = self._runs(extended_hours)
        i = bisect_right(starts, ts) - 1
        if i >= 0 and ts < ends[i]:
            return ts
        return starts[i + 1] if i + 1 < len(starts) else None

    def open_intervals(self, start: int, end: int, extended_hours: bool = False) -> list[tuple[int, int]]:
        """The open stretches ``[s, e)`` overlapping ``[start, end)``, clipped to it (for feeds)."""
        self._check(start)
        if end > start:
            self._check(end - 1)
        starts, ends = self._runs(extended_hours)
        out: list[tuple[int, int]] = []
        i = max(bisect_right(starts, start) - 1, 0)
        while i < len(starts) and starts[i] < end:
            s, e = max(starts[i], start), min(ends[i], end)
            if s < e:
                out.append((s, e))
            i += 1
        return out


class _AlwaysOpen(VenueSchedule):
    """CRYPTO: open at every instant; a "day" (for DAY orders) ends at 00:00 UTC. Needs no range."""

    __slots__ = ()

    def __init__(self, venue: str) -> None:
        super().__init__(venue, -(2**63), 2**63 - 1, ())

    def __repr__(self) -> str:
        return f"VenueSchedule({self.venue!r}, always open)"

    def phase(self, ts: int) -> Phase:
        return Phase.REGULAR

    def phase_until(self, ts: int) -> tuple[Phase, int]:
        return Phase.REGULAR, self.hi

    def is_open(self, ts: int, extended_hours: bool = False) -> bool:
        return True

    def session_end(self, ts: int, extended_hours: bool = False) -> int | None:
        return (ts // DAY_MS + 1) * DAY_MS

    def next_open(self, ts: int, extended_hours: bool = False) -> int | None:
        return ts

    def open_intervals(self, start: int, end: int, extended_hours: bool = False) -> list[tuple[int, int]]:
        return [(start, end)] if end > start else []

    def regular_days(self, days: Iterable[int]) -> dict[int, tuple[int, int] | None]:
        # Open all day; a "day" ends at 00:00 UTC, as session_end says.
        return {day: (day, min((day // DAY_MS + 1) * DAY_MS, day + DAY_MS)) for day in days}


def _merge(starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
    """Join touching intervals (sorted, none overlapping) into stretches (pre+regular+post; FOREX's back-to-back
    days): a stretch starts where an interval starts after the one before it ended, and ends where the next one
    starts after it."""
    apart = list(map(gt, starts[1:], ends))  # interval i+1 starts after interval i ends
    return list(compress(starts, [True, *apart])), list(compress(ends, [*apart, True]))


def _exchange_intervals(venue: str, first: date, last: date) -> list[tuple[int, int, Phase]]:
    """Sessions of a venue backed by an exchange_calendars calendar, with session dates in [first, last]."""
    # No type hints shipped (hence the ignore); imported here as it is heavy (pandas) and only needed to build.
    import exchange_calendars as xc  # type: ignore[import-untyped]

    tz = ZoneInfo(VENUE_TIMEZONES[venue])
    schedule = xc.get_calendar(_XC_NAME[venue], start=first.isoformat(), end=last.isoformat()).schedule
    # datetime64[ms] -> int; NaT (no break) becomes the int64 minimum.
    cols = {c: schedule[c].to_numpy(dtype="datetime64[ms]").astype("int64").tolist() for c in schedule}
    nat = -(2**63)
    out: list[tuple[int, int, Phase]] = []
    for i, label in enumerate(schedule.index):
        day = label.date()
        open_, close = cols["open"][i], cols["close"][i]
        if venue == "CME":
            close = min(close, _local_ms(day, 16, 0, tz))  # the daily maintenance break
        brk_start, brk_end = cols["break_start"][i], cols["break_end"][i]
        if brk_start != nat and brk_end != nat:
            out += [(open_, brk_start, Phase.REGULAR), (brk_end, close, Phase.REGULAR)]
        else:
            out.append((open_, close, Phase.REGULAR))
        if venue in EXTENDED_HOURS_VENUES:
            early_close = close < _local_ms(day, 16, 0, tz)
            out.append((_local_ms(day, 4, 0, tz), open_, Phase.PRE))
            out.append((close, _local_ms(day, 17 if early_close else 20, 0, tz), Phase.POST))
    return out


def _forex_intervals(first: date, last: date) -> list[tuple[int, int, Phase]]:
    """One day per weekday D: 17:00 New York on D-1 to 17:00 on D (Sunday 17:00 .. Friday 17:00)."""
    tz = ZoneInfo(VENUE_TIMEZONES["FOREX"])
    out: list[tuple[int, int, Phase]] = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            start = _local_ms(day - timedelta(days=1), 17, 0, tz)
            out.append((start, _local_ms(day, 17, 0, tz), Phase.REGULAR))
        day += timedelta(days=1)
    return out


def build_schedule(venue: str, start: date, end: date) -> VenueSchedule:
    """One venue's schedule answering for ``[start 00:00 UTC, end+1 00:00 UTC)``."""
    _check_venue(venue)
    if end < start:
        raise ValueError(f"session range: end {end} is before start {start}")
    if venue == "CRYPTO":
        return _AlwaysOpen(venue)
    lo = _ms(datetime.combine(start, time(), tzinfo=UTC))
    hi = _ms(datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC))
    first, last = start - _PAD_BEFORE, end + _PAD_AFTER
    intervals = _forex_intervals(first, last) if venue == "FOREX" else _exchange_intervals(venue, first, last)
    return VenueSchedule(venue, lo, hi, intervals)


class SessionCalendars(Mapping[str, VenueSchedule]):
    """Venue -> :class:`VenueSchedule`, built once for a date range; immutable afterwards."""

    def __init__(self, schedules: Mapping[str, VenueSchedule], start: date, end: date) -> None:
        self._schedules = dict(schedules)
        self.start = start
        self.end = end

    @classmethod
    def build(cls, start: date, end: date, venues: Iterable[str] | None = None) -> SessionCalendars:
        """Schedules for ``venues`` (default: all of :data:`VENUES`) answering for the UTC days
        ``start`` .. ``end`` inclusive."""
        wanted = list(dict.fromkeys(VENUES if venues is None else venues))
        for venue in wanted:
            _check_venue(venue)
        return cls({v: build_schedule(v, start, end) for v in wanted}, start, end)

    def __getitem__(self, venue: str) -> VenueSchedule:
        try:
            return self._schedules[venue]
        except KeyError:
            _check_venue(venue)
            raise UnknownVenueError(
                f"venue {venue!r} was not built; built venues: {', '.join(self._schedules)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._schedules)

    def __len__(self) -> int:
        return len(self._schedules)

    def __repr__(self) -> str:
        return f"SessionCalendars({self.start} .. {self.end}, venues={list(self._schedules)})"
