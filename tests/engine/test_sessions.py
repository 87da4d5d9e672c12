"""Venue sessions against real exchange hours (exchange_calendars; no mocks)."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.engine.sessions import (
    DAY_MS,
    VENUE_TIMEZONES,
    VENUES,
    Phase,
    SessionCalendars,
    SessionRangeError,
    VenueSchedule,
)

# exchange_calendars 4.13 under pandas 3.1 trips pandas' own deprecation of Series.values; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray:DeprecationWarning")

NY, LON, CHI = "America/New_York", "Europe/London", "America/Chicago"
START, END = date(2026, 1, 1), date(2027, 12, 31)
CLOSED, PRE, REGULAR, POST = Phase.CLOSED, Phase.PRE, Phase.REGULAR, Phase.POST


def at(local: str, tz: str) -> int:
    """'YYYY-MM-DD HH:MM[:SS[.fff]]' in ``tz`` -> epoch ms."""
    dt = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz))
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def utc(local: str) -> int:
    return at(local, "UTC")


@pytest.fixture(scope="module")
def cals() -> SessionCalendars:
    return SessionCalendars.build(START, END)


def phases(schedule: VenueSchedule, tz: str, times: dict[str, Phase]) -> dict[str, Phase]:
    return {t: schedule.phase(at(t, tz)) for t in times}


# --- NYSE / Nasdaq ---------------------------------------------------------------------------------

NORMAL_DAY = {
    "03:59:59.999": CLOSED,
    "04:00": PRE,
    "09:29:59.999": PRE,
    "09:30": REGULAR,
    "12:00": REGULAR,
    "15:59:59.999": REGULAR,
    "16:00": POST,
    "19:59:59.999": POST,
    "20:00": CLOSED,
    "23:00": CLOSED,
}


@pytest.mark.parametrize("venue", ["XNYS", "XNAS"])
@pytest.mark.parametrize(
    "day",
    [
        "2026-03-06",  # Friday, EST
        "2026-03-09",  # Monday after the March DST change, EDT
        "2026-10-30",  # Friday, EDT
        "2026-11-02",  # Monday after the November change, EST
    ],
)
def test_us_equity_phases_in_local_time(cals: SessionCalendars, venue: str, day: str) -> None:
    expected = {f"{day} {t}": p for t, p in NORMAL_DAY.items()}
    assert phases(cals[venue], NY, expected) == expected


def test_us_open_moves_in_utc_across_dst(cals: SessionCalendars) -> None:
    nyse = cals["XNYS"]
    # March: 09:30 EST = 14:30 UTC before, 09:30 EDT = 13:30 UTC after.
    assert at("2026-03-06 09:30", NY) == utc("2026-03-06 14:30")
    assert at("2026-03-09 09:30", NY) == utc("2026-03-09 13:30")
    assert nyse.phase(utc("2026-03-06 13:30")) is PRE
    assert nyse.phase(utc("2026-03-09 13:30")) is REGULAR
    assert nyse.phase(utc("2026-03-06 21:00")) is POST  # 16:00 EST
    assert nyse.phase(utc("2026-03-09 20:00")) is POST  # 16:00 EDT
    # November: back to 14:30 UTC.
    assert nyse.phase(utc("2026-10-30 13:30")) is REGULAR
    assert nyse.phase(utc("2026-11-02 13:30")) is PRE
    assert nyse.phase(utc("2026-11-02 14:30")) is REGULAR


@pytest.mark.parametrize("day", ["2026-11-26", "2026-12-25", "2026-01-01", "2026-07-03"])
def test_us_holidays_are_closed_all_day(cals: SessionCalendars, day: str) -> None:
    for venue in ("XNYS", "XNAS"):
        for t in ("04:00", "08:00", "09:30", "12:00", "16:00", "19:00"):
            assert cals[venue].phase(at(f"{day} {t}", NY)) is CLOSED, (venue, day, t)


def test_us_early_close_day_after_thanksgiving(cals: SessionCalendars) -> None:
    nyse = cals["XNYS"]
    expected = {
        "2026-11-27 04:00": PRE,
        "2026-11-27 09:30": REGULAR,
        "2026-11-27 12:59:59.999": REGULAR,
        "2026-11-27 13:00": POST,
        "2026-11-27 16:59:59.999": POST,
        "2026-11-27 17:00": CLOSED,
        "2026-11-27 19:00": CLOSED,
    }
    assert phases(nyse, NY, expected) == expected
    assert nyse.session_end(at("2026-11-27 10:00", NY)) == at("2026-11-27 13:00", NY)
    assert nyse.is_open(at("2026-11-27 14:00", NY), extended_hours=True)
    assert not nyse.is_open(at("2026-11-27 14:00", NY))


def test_christmas_eve_early_close_us(cals: SessionCalendars) -> None:
    nyse = cals["XNYS"]
    assert nyse.phase(at("2026-12-24 12:59", NY)) is REGULAR
    assert nyse.phase(at("2026-12-24 13:00", NY)) is POST


@pytest.mark.parametrize("day", ["2026-11-28", "2026-11-29"])
def test_us_weekend_closed(cals: SessionCalendars, day: str) -> None:
    for hour in range(24):
        ts = at(f"{day} {hour:02d}:00", NY)
        assert cals["XNYS"].phase(ts) is CLOSED
        assert not cals["XNYS"].is_open(ts, extended_hours=True)


def test_is_open_extended_hours(cals: SessionCalendars) -> None:
    nyse = cals["XNYS"]
    pre, reg, post, night = (at(f"2026-06-10 {t}", NY) for t in ("08:00", "10:00", "18:00", "21:00"))
    times = (pre, reg, post, night)
    assert [nyse.is_open(t) for t in times] == [False, True, False, False]
    assert [nyse.is_open(t, extended_hours=True) for t in times] == [True, True, True, False]


# --- London -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "open_utc", "close_utc"),
    [
        ("2026-03-27", "08:00", "16:30"),  # GMT, before the change on Sunday 29 March
        ("2026-03-30", "07:00", "15:30"),  # BST
        ("2026-10-23", "07:00", "15:30"),  # BST, before the change on Sunday 25 October
        ("2026-10-26", "08:00", "16:30"),  # GMT
    ],
)
def test_lse_hours_across_bst(cals: SessionCalendars, day: str, open_utc: str, close_utc: str) -> None:
    lse = cals["XLON"]
    assert at(f"{day} 08:00", LON) == utc(f"{day} {open_utc}")
    assert lse.phase(utc(f"{day} {open_utc}") - 1) is CLOSED
    assert lse.phase(utc(f"{day} {open_utc}")) is REGULAR
    assert lse.phase(utc(f"{day} {close_utc}") - 1) is REGULAR
    assert lse.phase(utc(f"{day} {close_utc}")) is CLOSED
    # No extended hours in London.
    assert not lse.is_open(at(f"{day} 07:30", LON), extended_hours=True)
    assert not lse.is_open(at(f"{day} 17:00", LON), extended_hours=True)


def test_lse_christmas_eve_and_new_years_eve_early_close(cals: SessionCalendars) -> None:
    lse = cals["XLON"]
    for day in ("2026-12-24", "2026-12-31"):
        assert lse.phase(at(f"{day} 12:29:59.999", LON)) is REGULAR
        assert lse.phase(at(f"{day} 12:30", LON)) is CLOSED
        assert lse.session_end(at(f"{day} 09:00", LON)) == at(f"{day} 12:30", LON)
    for day in ("2026-12-25", "2026-12-28"):  # Christmas; Boxing Day (a Saturday) moved to Monday
        assert lse.phase(at(f"{day} 10:00", LON)) is CLOSED
    assert lse.next_open(at("2026-12-24 13:00", LON)) == at("2026-12-29 08:00", LON)


# --- CME Globex -------------------------------------------------------------------------------------


def test_cme_daily_maintenance_break(cals: SessionCalendars) -> None:
    cme = cals["CME"]
    expected = {
        "2026-11-18 09:00": REGULAR,
        "2026-11-18 15:59:59.999": REGULAR,
        "2026-11-18 16:00": CLOSED,
        "2026-11-18 16:59:59.999": CLOSED,
        "2026-11-18 17:00": REGULAR,
        "2026-11-18 23:00": REGULAR,
        "2026-11-19 03:00": REGULAR,
    }
    assert phases(cme, CHI, expected) == expected
    assert cme.next_open(at("2026-11-18 16:30", CHI)) == at("2026-11-18 17:00", CHI)
    # A DAY order placed in the break lives until the end of the session that opens at 17:00.
    assert cme.session_end(at("2026-11-18 16:30", CHI)) == at("2026-11-19 16:00", CHI)
    assert cme.session_end(at("2026-11-18 10:00", CHI)) == at("2026-11-18 16:00", CHI)


def test_cme_weekend(cals: SessionCalendars) -> None:
    cme = cals["CME"]
    assert cme.phase(at("2026-11-20 15:59", CHI)) is REGULAR  # Friday
    assert cme.phase(at("2026-11-20 16:00", CHI)) is CLOSED
    assert cme.phase(at("2026-11-20 17:00", CHI)) is CLOSED  # no Friday-evening session
    assert cme.phase(at("2026-11-21 12:00", CHI)) is CLOSED  # Saturday
    assert cme.phase(at("2026-11-22 16:59:59.999", CHI)) is CLOSED  # Sunday
    assert cme.phase(at("2026-11-22 17:00", CHI)) is REGULAR
    assert cme.next_open(at("2026-11-21 12:00", CHI)) == at("2026-11-22 17:00", CHI)
    assert cme.session_end(at("2026-11-22 18:00", CHI)) == at("2026-11-23 16:00", CHI)


def test_cme_sunday_open_across_dst(cals: SessionCalendars) -> None:
    cme = cals["CME"]
    assert cme.next_open(utc("2026-03-01 12:00")) == utc("2026-03-01 23:00")  # 17:00 CST
    assert cme.next_open(utc("2026-03-08 12:00")) == utc("2026-03-08 22:00")  # 17:00 CDT, DST began 02:00
    assert cme.next_open(utc("2026-11-01 12:00")) == utc("2026-11-01 23:00")  # back to CST


def test_cme_holidays(cals: SessionCalendars) -> None:
    cme = cals["CME"]
    # Thanksgiving: closes early at 12:00 CT; Friday's session opens at 17:00 and also closes at 12:00.
    assert cme.phase(at("2026-11-26 11:59", CHI)) is REGULAR
    assert cme.phase(at("2026-11-26 12:00", CHI)) is CLOSED
    assert cme.phase(at("2026-11-26 17:00", CHI)) is REGULAR
    assert cme.phase(at("2026-11-27 12:00", CHI)) is CLOSED
    # Christmas (a Friday): Thursday closes 12:00 CT; closed until Sunday 17:00.
    assert cme.phase(at("2026-12-24 11:59", CHI)) is REGULAR
    assert cme.phase(at("2026-12-24 12:00", CHI)) is CLOSED
    assert cme.phase(at("2026-12-24 17:00", CHI)) is CLOSED
    assert cme.phase(at("2026-12-25 10:00", CHI)) is CLOSED
    assert cme.next_open(at("2026-12-24 12:00", CHI)) == at("2026-12-27 17:00", CHI)
    # CME never has pre/post phases.
    assert not cme.is_open(at("2026-12-25 10:00", CHI), extended_hours=True)


# --- FOREX and CRYPTO -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sunday", "friday", "sunday_open_utc", "friday_close_utc"),
    [
        ("2026-03-01", "2026-03-06", "22:00", "22:00"),  # EST
        ("2026-03-15", "2026-03-20", "21:00", "21:00"),  # EDT
        ("2026-11-01", "2026-11-06", "22:00", "22:00"),  # EST again (the change is that Sunday at 02:00)
    ],
)
def test_forex_week(
    cals: SessionCalendars, sunday: str, friday: str, sunday_open_utc: str, friday_close_utc: str
) -> None:
    fx = cals["FOREX"]
    assert at(f"{sunday} 17:00", NY) == utc(f"{sunday} {sunday_open_utc}")
    assert fx.phase(at(f"{sunday} 16:59:59.999", NY)) is CLOSED
    assert fx.phase(at(f"{sunday} 17:00", NY)) is REGULAR
    assert fx.phase(at(f"{friday} 16:59:59.999", NY)) is REGULAR
    assert fx.phase(at(f"{friday} 17:00", NY)) is CLOSED
    assert utc(f"{friday} {friday_close_utc}") == at(f"{friday} 17:00", NY)
    saturday = (date.fromisoformat(friday) + timedelta(days=1)).isoformat()
    assert fx.phase(at(f"{saturday} 12:00", NY)) is CLOSED
    # Open straight through the week, midnight included.
    wednesday = (date.fromisoformat(sunday) + timedelta(days=3)).isoformat()
    assert fx.phase(at(f"{wednesday} 00:00", NY)) is REGULAR
    assert fx.next_open(at(f"{wednesday} 00:00", NY)) == at(f"{wednesday} 00:00", NY)
    next_sunday = (date.fromisoformat(sunday) + timedelta(days=7)).isoformat()
    assert fx.next_open(at(f"{saturday} 12:00", NY)) == at(f"{next_sunday} 17:00", NY)


def test_forex_has_no_holidays_and_days_end_at_17_new_york(cals: SessionCalendars) -> None:
    fx = cals["FOREX"]
    assert fx.is_open(at("2026-12-25 10:00", NY))  # a weekly rule only
    assert fx.session_end(at("2026-06-10 12:00", NY)) == at("2026-06-10 17:00", NY)
    assert fx.session_end(at("2026-06-10 17:00", NY)) == at("2026-06-11 17:00", NY)
    assert fx.session_end(at("2026-06-13 12:00", NY)) == at("2026-06-15 17:00", NY)  # Saturday -> Monday


_CRYPTO = SessionCalendars.build(START, START, ["CRYPTO"])["CRYPTO"]


@settings(max_examples=200)
@given(st.integers(min_value=-(2**50), max_value=2**50))
def test_crypto_always_open_whatever_the_range(ts: int) -> None:
    crypto = _CRYPTO
    assert crypto.phase(ts) is REGULAR
    assert crypto.is_open(ts) and crypto.is_open(ts, extended_hours=True)
    assert crypto.next_open(ts) == ts
    end = crypto.session_end(ts)
    assert end is not None and ts < end <= ts + DAY_MS and end % DAY_MS == 0


# --- session_end / next_open on US equities ---------------------------------------------------------


def test_us_next_open_and_session_end(cals: SessionCalendars) -> None:
    nyse = cals["XNYS"]
    saturday = at("2026-11-28 12:00", NY)
    assert nyse.next_open(saturday) == at("2026-11-30 09:30", NY)
    assert nyse.next_open(saturday, extended_hours=True) == at("2026-11-30 04:00", NY)
    assert nyse.session_end(saturday) == at("2026-11-30 16:00", NY)
    # After Wednesday's post-market, Thanksgiving is skipped; Friday closes early.
    wednesday_night = at("2026-11-25 21:00", NY)
    assert nyse.next_open(wednesday_night) == at("2026-11-27 09:30", NY)
    assert nyse.session_end(wednesday_night) == at("2026-11-27 13:00", NY)
    # Pre-market: the regular session of that day.
    pre = at("2026-06-10 08:00", NY)
    assert nyse.next_open(pre) == at("2026-06-10 09:30", NY)
    assert nyse.next_open(pre, extended_hours=True) == pre
    assert nyse.session_end(pre) == at("2026-06-10 16:00", NY)
    # Open now -> now. Sessions are half-open: at the close the next session counts.
    regular = at("2026-06-10 11:00", NY)
    assert nyse.next_open(regular) == regular
    assert nyse.session_end(at("2026-06-10 16:00", NY)) == at("2026-06-11 16:00", NY)
    assert nyse.next_open(at("2026-06-10 16:00", NY)) == at("2026-06-11 09:30", NY)


def test_open_intervals(cals: SessionCalendars) -> None:
    nyse = cals["XNYS"]
    start, end = at("2026-11-25 00:00", NY), at("2026-11-28 00:00", NY)
    assert nyse.open_intervals(start, end) == [
        (at("2026-11-25 09:30", NY), at("2026-11-25 16:00", NY)),
        (at("2026-11-27 09:30", NY), at("2026-11-27 13:00", NY)),
    ]
    assert nyse.open_intervals(start, end, extended_hours=True) == [
        (at("2026-11-25 04:00", NY), at("2026-11-25 20:00", NY)),
        (at("2026-11-27 04:00", NY), at("2026-11-27 17:00", NY)),
    ]
    # Clipped to the window.
    mid = at("2026-11-25 12:00", NY)
    assert nyse.open_intervals(mid, mid + 60_000) == [(mid, mid + 60_000)]


# --- building, range and errors ---------------------------------------------------------------------


def test_build_defaults_to_all_venues(cals: SessionCalendars) -> None:
    assert list(cals) == list(VENUES)
    assert {v: cals[v].tz for v in cals} == dict(VENUE_TIMEZONES)


def test_unknown_venue_is_a_clear_error(cals: SessionCalendars) -> None:
    with pytest.raises(ValueError, match=r"unknown venue 'NYSE'.*XNYS, XNAS, XLON, CME, FOREX, CRYPTO"):
        SessionCalendars.build(START, END, ["NYSE"])
    with pytest.raises(ValueError, match="unknown venue 'BATS'"):
        cals["BATS"]
    assert "BATS" not in cals
    assert cals.get("BATS") is None
    only_lse = SessionCalendars.build(START, START, ["XLON"])
    with pytest.raises(KeyError, match="'CME' was not built"):
        only_lse["CME"]


def test_bad_range() -> None:
    with pytest.raises(ValueError, match="before start"):
        SessionCalendars.build(END, START)


def test_queries_outside_the_built_range_raise() -> None:
    cals = SessionCalendars.build(date(2026, 12, 1), date(2026, 12, 24), ["XNYS", "FOREX"])
    nyse = cals["XNYS"]
    lo, hi = utc("2026-12-01 00:00"), utc("2026-12-25 00:00")
    assert nyse.phase(lo) is POST  # 19:00 New York on Monday 30 November
    assert nyse.phase(hi - 1) is CLOSED
    for ts in (lo - 1, hi):
        for call in (nyse.phase, nyse.is_open, nyse.session_end, nyse.next_open, cals["FOREX"].phase):
            with pytest.raises(SessionRangeError, match=r"outside the built range.*wider"):
                call(ts)
    # Answers may lie past the range: sessions are built with a margin.
    assert nyse.next_open(at("2026-12-24 14:00", NY)) == at("2026-12-28 09:30", NY)
    assert nyse.session_end(at("2026-12-24 14:00", NY)) == at("2026-12-28 16:00", NY)


def test_queries_are_answered_from_the_built_tables_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Built once, a calendar answers from its own sorted tables (a bisect): the calendar library is never asked
    again, so a query costs the same whatever the range (counted, not timed: speed belongs in bench/)."""
    cals = SessionCalendars.build(date(2030, 1, 1), date(2031, 12, 31))  # a range nobody else built
    asked = []
    monkeypatch.setattr(xc, "get_calendar", lambda *a, **k: asked.append(a) or pytest.fail("the library was asked"))
    nyse, ts = cals["XNYS"], at("2030-06-12 10:00", NY)
    assert nyse.is_open(ts) and nyse.session_end(ts) == at("2030-06-12 16:00", NY)
    assert nyse.next_open(at("2030-06-15 12:00", NY)) == at("2030-06-17 09:30", NY)  # a Saturday: Monday's open
    assert asked == []


# --- property: agrees with a slow reference built from zoneinfo + exchange_calendars ---------------

_XC_NAME = {"XNYS": "XNYS", "XNAS": "XNAS", "XLON": "XLON", "CME": "CMES"}


@functools.cache
def _ref_calendar(name: str) -> xc.ExchangeCalendar:
    return xc.get_calendar(name, start="2025-12-01", end="2028-01-31")


def _local_ts(day: date, hh: int, mm: int, tz: ZoneInfo) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz))


def reference_phase(venue: str, ts: int) -> Phase:
    """Phase from first principles, one day at a time."""
    tz = ZoneInfo(VENUE_TIMEZONES[venue])
    t = pd.Timestamp(ts, unit="ms", tz="UTC")
    local = t.tz_convert(tz)
    if venue == "CRYPTO":
        return REGULAR
    if venue == "FOREX":
        weekday, hhmm = local.weekday(), (local.hour, local.minute)
        closed = weekday == 5 or (weekday == 4 and hhmm >= (17, 0)) or (weekday == 6 and hhmm < (17, 0))
        return CLOSED if closed else REGULAR
    cal = _ref_calendar(_XC_NAME[venue])
    if venue == "CME":
        # A Globex session is labelled with the day it ends on; it began at 17:00 CT the evening before.
        for day in (local.date(), local.date() + timedelta(days=1)):
            if cal.is_session(day.isoformat()):
                close = min(cal.session_close(day.isoformat()), _local_ts(day, 16, 0, tz))
                if cal.session_open(day.isoformat()) <= t < close:
                    return REGULAR
        return CLOSED
    day = local.date()
    if not cal.is_session(day.isoformat()):
        return CLOSED
    open_, close = cal.session_open(day.isoformat()), cal.session_close(day.isoformat())
    if open_ <= t < close:
        return REGULAR
    if venue in ("XNYS", "XNAS"):
        if _local_ts(day, 4, 0, tz) <= t < open_:
            return PRE
        post_end = _local_ts(day, 17 if close < _local_ts(day, 16, 0, tz) else 20, 0, tz)
        if close <= t < post_end:
            return POST
    return CLOSED


def _ref_open(venue: str, ts: int, extended: bool) -> bool:
    phase = reference_phase(venue, ts)
    return phase is REGULAR or (extended and phase is not CLOSED)


_LO, _HI = utc("2026-01-01 00:00"), utc("2028-01-01 00:00")
BOUNDARIES = [(4, 0), (8, 0), (9, 30), (12, 0), (12, 30), (13, 0), (16, 0), (16, 30), (17, 0), (20, 0)]


@st.composite
def timestamps(draw: st.DrawFn, venue: str) -> int:
    """Anywhere in the range, or within a millisecond of a typical boundary in the venue's time zone."""
    if draw(st.booleans()):
        return draw(st.integers(_LO, _HI - 1))
    day = draw(st.dates(date(2026, 1, 2), date(2027, 12, 30)))
    hh, mm = draw(st.sampled_from(BOUNDARIES))
    base = at(f"{day.isoformat()} {hh:02d}:{mm:02d}", VENUE_TIMEZONES[venue])
    return base + draw(st.sampled_from([-1, 0, 1]))


@pytest.mark.parametrize("venue", VENUES)
def test_phase_agrees_with_reference(cals: SessionCalendars, venue: str) -> None:
    schedule = cals[venue]

    @settings(max_examples=300, deadline=None)
    @given(timestamps(venue))
    def check(ts: int) -> None:
        phase = schedule.phase(ts)
        assert phase is reference_phase(venue, ts), (venue, ts, pd.Timestamp(ts, unit="ms", tz=schedule.tz))
        assert schedule.is_open(ts) == (phase is REGULAR)
        assert schedule.is_open(ts, extended_hours=True) == (phase is not CLOSED)
        # next_open: now when open, else a later instant that is open, just after a closed one.
        # (Checked with the reference: the answer may lie past the built range.)
        for extended in (False, True):
            nxt = schedule.next_open(ts, extended)
            assert nxt is not None
            if schedule.is_open(ts, extended):
                assert nxt == ts
            else:
                assert nxt > ts
                assert _ref_open(venue, nxt, extended) and not _ref_open(venue, nxt - 1, extended)
        # session_end: the end of a regular stretch at or after ts.
        end = schedule.session_end(ts)
        assert end is not None and end > ts
        assert reference_phase(venue, end - 1) is REGULAR

    check()


@settings(max_examples=300, deadline=None)
@given(venue=st.sampled_from(sorted(VENUES)), offset=st.integers(0, 700 * DAY_MS))
def test_phase_until_holds_the_phase_until_it_says(cals: SessionCalendars, venue: str, offset: int) -> None:
    """phase_until(ts) is phase(ts), and the phase stays so up to the instant it names (where it may change, or a
    back-to-back interval of the same phase begin: FOREX's days); what SessionWatch relies on to skip lookups."""
    schedule = cals[venue]
    ts = max(utc("2026-01-01 00:00"), schedule.lo) + offset
    phase, until = schedule.phase_until(ts)
    assert phase is schedule.phase(ts)
    assert until > ts
    if until < min(schedule.hi, 2**62):
        assert schedule.phase(until - 1) is phase
        assert schedule.phase((ts + until) // 2) is phase
