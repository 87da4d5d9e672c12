"""The packaged catalog's breadth, and its futures' real listing cycles and last trading days."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import exchange_calendars
import pytest

from arena.engine.instruments import MONTH_CODES, AssetClass

# Each root's listed months (CME's active cycle) and its last-trading-day rule, from the contract specs.
CYCLES = {
    **dict.fromkeys(("ES", "NQ", "YM", "RTY", "MES", "MNQ", "ZN", "ZB", "ZF", "ZT", "PA"), "HMUZ"),
    **dict.fromkeys(("6E", "6J", "6B", "6A", "6C", "6S"), "HMUZ"),
    **dict.fromkeys(("CL", "NG", "RB", "HO"), MONTH_CODES),
    "GC": "GJMQVZ", "SI": "FHKNUZ", "HG": "HKNUZ", "PL": "FJNV",
    "ZC": "HKNUZ", "ZW": "HKNUZ", "ZS": "FHKNQUX", "ZL": "FHKNQUVZ", "ZM": "FHKNQUVZ",
    "LE": "GJMQVZ", "HE": "GJKMNQVZ", "GF": "FHJKQUVX",
}


@pytest.fixture(scope="module")
def business_days() -> set[date]:
    """CME's business days, taken as the NYSE's sessions (the two share their holidays)."""
    calendar = exchange_calendars.get_calendar("XNYS", start="2026-01-01", end="2027-12-31")
    return {d.date() for d in calendar.sessions}


def last_trading_day(root: str, year: int, month: int, days: set[date]) -> date:
    def back(day: date, n: int) -> date:  # n business days before day
        while n:
            day -= timedelta(days=1)
            n -= day in days
        return day

    def on_or_before(day: date) -> date:
        while day not in days:
            day -= timedelta(days=1)
        return day

    def weekdays(weekday: int) -> list[date]:
        first = date(year, month, 1)
        return [first + timedelta(d) for d in range(31)
                if (first + timedelta(d)).month == month and (first + timedelta(d)).weekday() == weekday]

    next_month = date(year + month // 12, month % 12 + 1, 1)
    last = on_or_before(next_month - timedelta(days=1))
    first = date(year, month, 1)
    prior_25th = date(year - (month == 1), (month - 2) % 12 + 1, 25)
    if root in ("ES", "NQ", "YM", "RTY", "MES", "MNQ"):
        return on_or_before(weekdays(4)[2])  # the third Friday
    if root in ("GC", "SI", "HG", "PL", "PA"):
        return back(last, 2)  # the third-last business day
    if root == "CL":
        return back(prior_25th, 3 if prior_25th in days else 4)
    if root == "NG":
        return back(first, 3)
    if root in ("RB", "HO"):
        return back(first, 1)  # the last business day of the prior month
    if root in ("ZC", "ZS", "ZW", "ZL", "ZM"):
        return back(date(year, month, 15), 1)
    if root in ("LE", "ZF", "ZT"):
        return last
    if root == "HE":
        return sorted(d for d in days if d.year == year and d.month == month)[9]
    if root == "GF":
        return on_or_before(weekdays(3)[-1])
    if root in ("ZN", "ZB"):
        return back(last, 7)
    return back(weekdays(2)[2], 1 if root == "6C" else 2)  # currency futures: before the third Wednesday


def test_the_catalog_spans_the_six_classes_broadly(catalog):
    classes = Counter(inst.asset_class for inst in catalog.values())
    assert len(catalog) >= 160
    assert set(classes) == set(AssetClass)
    assert classes[AssetClass.EQUITY] >= 50 and classes[AssetClass.ETF] >= 30 and classes[AssetClass.FUTURE] >= 60
    assert classes[AssetClass.CRYPTO] >= 15 and classes[AssetClass.INDEX] >= 10
    equity_sectors = {inst.sector for inst in catalog.values() if inst.asset_class is AssetClass.EQUITY}
    assert len(equity_sectors) == 11, "every GICS sector has at least one stock"


def test_every_future_is_in_its_roots_cycle_and_expires_by_its_roots_rule(catalog, business_days):
    futures = [inst for inst in catalog.values() if inst.asset_class is AssetClass.FUTURE]
    roots = {inst.symbol[:-3] for inst in futures}
    assert roots <= set(CYCLES), f"no cycle/rule known for {sorted(roots - set(CYCLES))}"
    assert len(roots) >= 30
    for inst in futures:
        root, code, year = inst.symbol[:-3], inst.symbol[-3], 2000 + int(inst.symbol[-2:])
        assert code in CYCLES[root], f"{inst.symbol}: {code} is not a listed month of {root}"
        expected = last_trading_day(root, year, MONTH_CODES.index(code) + 1, business_days)
        assert inst.expiry == expected, f"{inst.symbol}: expiry {inst.expiry}, the {root} rule gives {expected}"
        assert inst.expiry in business_days
