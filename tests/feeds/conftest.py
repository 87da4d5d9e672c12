from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from arena.engine.instruments import InstrumentCatalog
from arena.engine.sessions import SessionCalendars

DATA = Path(__file__).resolve().parent.parent / "data"
EQUITIES_SAMPLE = DATA / "equities-daily-sample.csv"
QUOTES_SAMPLE = DATA / "quotes-sample.csv"


def ms(text: str) -> int:
    """Epoch ms of an ISO date-time (naive = UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="session")
def calendars_2026() -> SessionCalendars:
    """Built once: building takes a few tenths of a second."""
    return SessionCalendars.build(date(2026, 1, 1), date(2026, 12, 31))


@pytest.fixture(scope="session")
def calendars_2013() -> SessionCalendars:
    return SessionCalendars.build(date(2012, 12, 1), date(2015, 1, 31))


@pytest.fixture
def small_catalog() -> InstrumentCatalog:
    """Hand-made instruments for the corners the packaged catalog lacks."""
    return InstrumentCatalog.from_mapping(
        {
            "instruments": {
                "PENNY": {
                    "asset_class": "equity",
                    "sector": "test",
                    "venue": "XNYS",
                    "tick_size": 0.01,
                    "qty_decimals": 0,
                    "reference_price": 0.05,
                    "spread_bps": 400,
                },
                "COIN": {
                    "asset_class": "crypto",
                    "sector": "test",
                    "venue": "CRYPTO",
                    "tick_size": 0.5,
                    "qty_decimals": 3,
                    "reference_price": 20.0,
                    "annual_volatility": 1.2,
                    "daily_volume": 50.0,
                },
            }
        }
    )
