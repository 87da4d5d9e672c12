"""The packaged instrument catalog, and malformed catalogs rejected with a message naming file and field."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.catalog import load_catalog
from arena.engine.instruments import MONTH_CODES, AssetClass, CatalogError, InstrumentCatalog
from arena.engine.sessions import VENUES, SessionCalendars

pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning an ndarray:DeprecationWarning")

LATE_2026 = date(2026, 11, 15)


@pytest.fixture(scope="module")
def catalog() -> InstrumentCatalog:
    return load_catalog()


# --- the packaged catalog ---------------------------------------------------------------------------


def test_packaged_catalog_loads_with_every_asset_class(catalog: InstrumentCatalog) -> None:
    assert len(catalog) >= 36
    for asset_class in AssetClass:
        assert catalog.by_asset_class(asset_class), asset_class
    # Only FX pairs quote in another currency, each converted to the USD account through a listed pair.
    foreign = [inst for inst in catalog.values() if inst.currency != "USD"]
    assert foreign and all(inst.asset_class is AssetClass.FOREX and inst.conversion in catalog for inst in foreign)


def test_packaged_catalog_lists_the_named_instruments(catalog: InstrumentCatalog) -> None:
    wanted = [
        *("AAPL", "MSFT", "NVDA", "ORCL", "JPM", "XOM", "YHOO", "SPY", "QQQ", "GLD", "TLT", "CSPX.L"),
        *("BTC-USD", "ETH-USD", "SOL-USD", "EURUSD", "GBPUSD", "AUDUSD", "SPX", "NDX", "DJI", "UKX"),
        *("GCQ26", "GCZ26", "GCG27", "CLF27", "CLG27", "ESZ26", "ESH27", "NQZ26", "SIH27"),
    ]
    assert [s for s in wanted if s not in catalog] == []
    assert catalog["CSPX.L"].venue == "XLON"
    assert catalog["UKX"].venue == "XLON"


def test_every_venue_has_sessions(catalog: InstrumentCatalog) -> None:
    venues = {inst.venue for inst in catalog.values()}
    assert venues <= set(VENUES)
    cals = SessionCalendars.build(date(2026, 11, 16), date(2026, 11, 20), venues)
    # Wednesday 2026-11-18 16:00 UTC: New York 11:00, London 16:00, Chicago 10:00 - everything is open.
    ts = int(datetime(2026, 11, 18, 16, 0, tzinfo=UTC).timestamp()) * 1000
    for inst in catalog.values():
        assert cals[inst.venue].is_open(ts), inst.symbol


@pytest.mark.parametrize(
    ("asset_class", "decimals"),
    [(AssetClass.CRYPTO, 8), (AssetClass.EQUITY, 0), (AssetClass.ETF, 0), (AssetClass.FUTURE, 0)],
)
def test_quantity_decimals(catalog: InstrumentCatalog, asset_class: AssetClass, decimals: int) -> None:
    assert {i.qty_decimals for i in catalog.by_asset_class(asset_class)} == {decimals}


def test_venues_and_units_by_class(catalog: InstrumentCatalog) -> None:
    for inst in catalog.by_asset_class(AssetClass.CRYPTO):
        assert inst.venue == "CRYPTO" and inst.sector == "crypto"
    for inst in catalog.by_asset_class(AssetClass.FOREX):
        # Six letters, base then quote currency; a tenth of a pip, which is 0.001 when the quote is yen.
        assert inst.venue == "FOREX" and len(inst.symbol) == 6 and inst.symbol[3:] == inst.currency
        assert inst.tick_size == (0.001 if inst.currency == "JPY" else 0.00001)
    for inst in catalog.by_asset_class(AssetClass.FUTURE):
        assert inst.venue == "CME" and inst.multiplier > 1
    assert {s: catalog[s].multiplier for s in ("GCZ26", "CLF27", "ESZ26", "NQZ26", "SIH27")} == {
        "GCZ26": 100,
        "CLF27": 1000,
        "ESZ26": 50,
        "NQZ26": 20,
        "SIH27": 5000,
    }


def test_reference_figures_are_consistent(catalog: InstrumentCatalog) -> None:
    for inst in catalog.values():
        assert inst.name and inst.sector, inst.symbol
        assert inst.is_valid_price(inst.reference_price), inst.symbol
        assert inst.is_valid_qty(inst.min_qty) and inst.min_qty > 0, inst.symbol
        assert 0 < inst.annual_volatility < 2 and 0 < inst.spread_bps < 50 and inst.daily_volume > 0
        # The spread is at least one tick wide at the reference price.
        assert inst.reference_price * inst.spread_bps / 1e4 >= inst.tick_size * 0.99, inst.symbol


def test_futures_month_codes_and_expiries(catalog: InstrumentCatalog) -> None:
    futures = catalog.by_asset_class(AssetClass.FUTURE)
    assert len(futures) >= 8
    for inst in futures:
        match = re.fullmatch(r"([A-Z0-9]{1,3})([FGHJKMNQUVXZ])(\d{2})", inst.symbol)
        assert match and inst.expiry is not None, inst.symbol
        month = MONTH_CODES.index(match[2]) + 1
        # The last trading day falls in the contract month or (crude oil, gas, RBOB, ULSD) the month before.
        months_before = (2000 + int(match[3])) * 12 + month - (inst.expiry.year * 12 + inst.expiry.month)
        assert months_before in (0, 1), inst.symbol
    assert catalog["GCQ26"].expiry == date(2026, 8, 27)
    assert catalog["ESZ26"].expiry == date(2026, 12, 18)  # third Friday
    assert catalog["CLF27"].expiry < date(2027, 1, 1)  # crude expires in the month before


def test_expired_contract_detected(catalog: InstrumentCatalog) -> None:
    gcq26, gcz26 = catalog["GCQ26"], catalog["GCZ26"]
    assert gcq26.is_expired(LATE_2026)
    assert not gcz26.is_expired(LATE_2026)
    assert not gcq26.is_expired(date(2026, 8, 27))  # still trades on its last trading day
    assert gcq26.is_expired(date(2026, 8, 28))
    assert not catalog["AAPL"].is_expired(date(2100, 1, 1))  # no expiry, never expires
    expired = {i.symbol for i in catalog.values() if i.is_expired(LATE_2026)}
    assert "GCQ26" in expired and expired < set(catalog)


# --- loading files ------------------------------------------------------------------------------------

GOOD: dict[str, dict[str, Any]] = {
    "AAPL": {
        "asset_class": "equity",
        "sector": "information_technology",
        "venue": "XNAS",
        "tick_size": 0.01,
        "qty_decimals": 0,
    },
    "GCZ26": {
        "asset_class": "future",
        "sector": "commodities",
        "venue": "CME",
        "tick_size": 0.1,
        "qty_decimals": 0,
        "multiplier": 100,
        "expiry": "2026-12-29",
    },
}


def write(tmp_path: Path, instruments: Any, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    data = {"instruments": instruments}
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data), encoding="utf-8")
    return path


def with_field(symbol: str, **changes: Any) -> dict[str, dict[str, Any]]:
    spec = {k: v for k, v in GOOD[symbol].items() if k not in changes or changes[k] is not ...}
    spec.update({k: v for k, v in changes.items() if v is not ...})
    return {symbol: spec}


@pytest.mark.parametrize("name", ["catalog.yaml", "catalog.yml", "catalog.json"])
def test_load_from_a_file(tmp_path: Path, name: str) -> None:
    cat = load_catalog(write(tmp_path, GOOD, name))
    assert set(cat) == {"AAPL", "GCZ26"}
    assert cat["GCZ26"].expiry == date(2026, 12, 29)
    assert cat["AAPL"].min_qty == 1  # defaults to one quantity step
    assert load_catalog(str(write(tmp_path, GOOD, name))) == cat


MALFORMED = {
    "missing field": (with_field("AAPL", tick_size=...), r"AAPL: missing field\(s\) tick_size"),
    "bad asset class": (with_field("AAPL", asset_class="stock"), "AAPL: asset_class must be one of"),
    "future without expiry": (with_field("GCZ26", expiry=...), "GCZ26: a future needs an expiry"),
    "wrong month": (with_field("GCZ26", expiry="2026-08-27"), "GCZ26: expiry 2026-08-27 does not fit .* Z"),
    "bad expiry": (with_field("GCZ26", expiry="Dec 2026"), "GCZ26: expiry must be a date"),
    "future symbol": ({"GOLD": GOOD["GCZ26"]}, "GOLD: a future's symbol is ROOT"),
    "expiry on an equity": (with_field("AAPL", expiry="2026-12-29"), "AAPL: only futures have an expiry"),
    "non-USD without a conversion": (with_field("AAPL", currency="EUR"), "AAPL: quoted in EUR, which the catalog's "
                                     "currencies give no conversion pair"),
    "bad currency": (with_field("AAPL", currency="usd"), "AAPL: currency must be a three-letter ISO code"),
    "bad symbol": ({"aapl": GOOD["AAPL"]}, "'aapl': a symbol is"),
    "symbol with a space": ({"AA PL": GOOD["AAPL"]}, "'AA PL': a symbol is"),
    "zero tick": (with_field("AAPL", tick_size=0), "AAPL: tick_size must be a positive"),
    "negative tick": (with_field("AAPL", tick_size=-0.01), "AAPL: tick_size must be a positive"),
    "text tick": (with_field("AAPL", tick_size="cent"), "AAPL: tick_size must be a number"),
    "unknown venue": (with_field("AAPL", venue="NYSE"), "AAPL: venue 'NYSE' has no session rules"),
    "unknown field": (with_field("AAPL", lot_size=100), r"AAPL: unknown field\(s\) lot_size"),
    "qty_decimals too big": (with_field("AAPL", qty_decimals=9), "AAPL: qty_decimals must be"),
    "qty_decimals bool": (with_field("AAPL", qty_decimals=True), "AAPL: qty_decimals must be"),
    "min_qty off step": (with_field("AAPL", min_qty=0.5), "AAPL: min_qty 0.5 is not a multiple"),
    "negative min_qty": (with_field("AAPL", min_qty=-1), "AAPL: min_qty must be a positive"),
    "empty sector": (with_field("AAPL", sector=""), "AAPL: sector must be"),
    "spec not a mapping": ({"AAPL": ["equity"]}, "AAPL: expected a mapping"),
    "instruments not a mapping": (["AAPL"], "must be a mapping with an 'instruments' mapping"),
}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_catalog_rejected(tmp_path: Path, case: str, fmt: str) -> None:
    instruments, message = MALFORMED[case]
    path = write(tmp_path, instruments, f"bad.{fmt}")
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(path)
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "dup.yaml",
            "instruments:\n"
            "  AAPL: {asset_class: equity, sector: it, venue: XNAS, tick_size: 0.01, qty_decimals: 0}\n"
            "  AAPL: {asset_class: equity, sector: it, venue: XNYS, tick_size: 0.01, qty_decimals: 0}\n",
            r"AAPL: duplicate key, listed twice \(line 3\)",
        ),
        (
            "dup-field.yaml",
            "instruments:\n  AAPL: {asset_class: equity, tick_size: 0.01, tick_size: 1}",
            "tick_size: duplicate key",
        ),
        (
            "dup.json",
            '{"instruments": {"AAPL": {"asset_class": "equity"}, "AAPL": {"asset_class": "etf"}}}',
            "AAPL: duplicate key",
        ),
        ("bad.yaml", "instruments:\n  AAPL: [equity\n", "not valid YAML"),
        ("bad.json", '{"instruments": {', "not valid JSON"),
        ("empty.yaml", "", "must be a mapping with an 'instruments' mapping"),
    ],
)
def test_bad_files_rejected(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(path)
    assert str(err.value).startswith(f"{path}: ")


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match=f"{re.escape(str(missing))}: cannot read"):
        load_catalog(missing)


def test_from_mapping_is_pure_and_names_the_instrument() -> None:
    # The engine-side validator, without any file: the same messages, minus the file name.
    with pytest.raises(CatalogError, match=r"^GCZ26: a future needs an expiry"):
        InstrumentCatalog.from_mapping({"instruments": with_field("GCZ26", expiry=...)})
    assert InstrumentCatalog.from_mapping({"instruments": GOOD})["GCZ26"].multiplier == 100
