"""Instruments quoted in another currency than USD (FX crosses, USD-base pairs): the catalog's conversion pairs,
and the engine valuing them in the USD account at the conversion rate."""

from __future__ import annotations

from typing import Any

import pytest

from arena.engine.events import AccountUpdate, Fill, OrderRejected
from arena.engine.instruments import CatalogError, InstrumentCatalog
from arena.engine.rejections import RejectionCode
from tests.engine.builders import T0, ladder, tick

PIP = 0.00001
YEN_PIP = 0.001
FX = {"asset_class": "forex", "sector": "currencies", "venue": "FOREX", "tick_size": PIP, "qty_decimals": 0,
      "min_qty": 1000}  # fmt: skip
ROOMY = {"max_leverage": 10, "max_position_fraction": 10}


def fx_book(symbol: str, ts: int, mid: float, tick_size: float = PIP):
    half = 2 * tick_size
    return ladder(symbol, ts, round(mid - half, 6), round(mid + half, 6), size=5_000_000, step=tick_size,
                  volume=5e9)  # a deep market: the slippage model's impact stays small


def fills(events) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def one_fill(events) -> Fill:
    [fill] = fills(events)
    return fill


# -- the catalog -----------------------------------------------------------------------------------


def test_the_packaged_crosses_and_usd_base_pairs_name_their_conversion_pairs(catalog):
    assert (catalog["EURGBP"].currency, catalog["EURGBP"].conversion, catalog["EURGBP"].conversion_inverted) == (
        "GBP", "GBPUSD", False)  # fmt: skip
    for symbol in ("USDJPY", "EURJPY", "GBPJPY", "AUDJPY"):
        inst = catalog[symbol]
        assert (inst.currency, inst.conversion, inst.conversion_inverted, inst.tick_size) == ("JPY", "USDJPY", True,
                                                                                               0.001)  # fmt: skip
    assert catalog["EURCHF"].conversion == catalog["USDCHF"].conversion == "USDCHF"
    assert catalog["USDCAD"].conversion == "USDCAD" and catalog["USDCAD"].conversion_inverted
    assert catalog["EURUSD"].conversion is None and catalog["AAPL"].conversion is None
    assert catalog.with_conversions(["EURJPY", "AAPL", "GBPUSD", "EURGBP"]) == ("EURJPY", "AAPL", "GBPUSD", "EURGBP",
                                                                                 "USDJPY")  # fmt: skip


@pytest.mark.parametrize(
    ("currencies", "instruments", "message"),
    [
        ({}, {"EURGBP": {**FX, "currency": "GBP"}},
         "EURGBP: quoted in GBP, which the catalog's currencies give no conversion pair"),
        ({"GBP": "GBPUSD"}, {"EURGBP": {**FX, "currency": "GBP"}},
         "currencies: GBP's conversion pair 'GBPUSD' is not in the catalog"),
        ({"GBP": "EURUSD"}, {"EURUSD": FX, "EURGBP": {**FX, "currency": "GBP"}},
         "currencies: GBP's conversion pair EURUSD must be GBPUSD quoted in USD or USDGBP quoted in GBP"),
        ({"JPY": "USDJPY"}, {"USDJPY": FX, "EURJPY": {**FX, "currency": "JPY"}},
         "USDJPY must be JPYUSD quoted in USD or USDJPY quoted in JPY \\(it is quoted in USD\\)"),
        ({"usd": "GBPUSD"}, {"GBPUSD": FX}, "currencies: 'usd' is not a three-letter ISO code"),
        ({"USD": "GBPUSD"}, {"GBPUSD": FX}, "currencies: 'USD' is not a three-letter ISO code other than USD"),
        (["GBP"], {"GBPUSD": FX}, "currencies must be a mapping"),
        ({}, {"GBPUSD": {**FX, "currency": 7}}, "GBPUSD: currency must be a three-letter ISO code"),
    ],
)  # fmt: skip
def test_a_currency_without_a_usable_conversion_pair_is_a_catalog_error(
    currencies: Any, instruments: dict[str, Any], message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        InstrumentCatalog.from_mapping({"currencies": currencies, "instruments": instruments})


def test_conversion_pairs_may_be_spelled_with_separators() -> None:
    catalog = InstrumentCatalog.from_mapping({"currencies": {"JPY": "USD/JPY"}, "instruments": {
        "USD/JPY": {**FX, "currency": "JPY", "tick_size": YEN_PIP}}})  # fmt: skip
    assert catalog["USD/JPY"].conversion == "USD/JPY" and catalog["USD/JPY"].conversion_inverted


# -- the engine ------------------------------------------------------------------------------------


def test_an_order_before_its_conversion_rate_is_known_is_rejected_and_changes_nothing(make_engine):
    engine = make_engine(ROOMY)
    engine.on_tick(tick(T0, fx_book("EURGBP", T0, 0.88)))
    account = engine.accounts["a"]
    before = (account.cash, account.nav, account.fills, dict(account.positions), engine.orders.copy())
    events = engine.submit({"symbol": "EURGBP", "side": "buy", "qty": 10_000}, T0 + 1, account="a")
    [rejected] = events
    assert isinstance(rejected, OrderRejected) and rejected.rejection.code is RejectionCode.NO_CONVERSION_RATE
    assert "EURGBP is quoted in GBP; its conversion pair GBPUSD has no price yet" in rejected.rejection.message
    assert (account.cash, account.nav, account.fills, dict(account.positions), engine.orders) == before
    engine.on_tick(tick(T0 + 1_000, fx_book("GBPUSD", T0 + 1_000, 1.3)))
    assert fills(engine.submit({"symbol": "EURGBP", "side": "buy", "qty": 10_000}, T0 + 1_001, account="a"))


def test_a_cross_is_valued_at_the_conversion_rate_and_realises_at_the_fills_rate(make_engine):
    engine = make_engine(ROOMY)
    fees = engine.ruleset(None).fees["forex"]
    start = engine.accounts["a"].cash
    engine.on_tick(tick(T0, fx_book("GBPUSD", T0, 1.3), fx_book("EURGBP", T0, 0.88)))
    account = engine.accounts["a"]
    buy = one_fill(engine.submit({"symbol": "EURGBP", "side": "buy", "qty": 500_000}, T0 + 1, account="a"))
    # The fee is charged on the notional in USD: GBP notional x GBPUSD.
    assert buy.fee == pytest.approx(max(500_000 * buy.price * 1.3 * fees.taker_bps * 1e-4, fees.min_per_fill))
    assert account.cash == pytest.approx(start - buy.fee)  # margined: no notional leaves the USD cash
    assert account.positions["EURGBP"].multiplier == pytest.approx(1.3)

    def open_pnl(cross_mid: float, rate: float) -> float:
        return 500_000 * (cross_mid - buy.price) * rate

    assert account.nav == pytest.approx(start - buy.fee + open_pnl(0.88, 1.3), rel=1e-12)
    # The pound strengthens: the open P&L in GBP is worth more dollars; only holders of GBP-quoted positions move.
    updates = [e for e in engine.on_tick(tick(T0 + 1_000, fx_book("GBPUSD", T0 + 1_000, 1.4)))
               if isinstance(e, AccountUpdate)]  # fmt: skip
    assert [u.account for u in updates] == ["a"]
    assert account.nav == pytest.approx(start - buy.fee + open_pnl(0.88, 1.4), rel=1e-12)
    engine.on_tick(tick(T0 + 2_000, fx_book("EURGBP", T0 + 2_000, 0.89)))
    assert account.nav == pytest.approx(start - buy.fee + open_pnl(0.89, 1.4), rel=1e-12)
    assert account.nav == pytest.approx(account.revalue(engine.marks), rel=1e-12)
    assert account.gross == pytest.approx(account.gross_exposure(engine.marks)) == pytest.approx(500_000 * 0.89 * 1.4)
    assert account.unrealized_pnl(engine.marks) == pytest.approx(open_pnl(0.89, 1.4))
    # Closing realises the GBP P&L at the closing fill's rate, into the USD cash.
    sell = one_fill(engine.submit({"symbol": "EURGBP", "side": "sell", "qty": 500_000}, T0 + 2_001, account="a"))
    realised = 500_000 * (sell.price - buy.price) * 1.4
    assert account.realized_pnl == pytest.approx(realised, rel=1e-12)
    assert account.cash == pytest.approx(start - buy.fee - sell.fee + realised, rel=1e-12)
    assert account.nav == pytest.approx(account.cash, rel=1e-12) and account.gross == pytest.approx(0.0, abs=1e-6)
    assert "EURGBP" not in engine._holders.get("EURGBP", {})


def test_a_usd_base_pair_converts_at_its_own_inverted_rate(make_engine):
    engine = make_engine(ROOMY)
    start = engine.accounts["a"].cash
    engine.on_tick(tick(T0, fx_book("USDJPY", T0, 150.0, YEN_PIP)))
    account = engine.accounts["a"]
    buy = one_fill(engine.submit({"symbol": "USDJPY", "side": "buy", "qty": 100_000}, T0 + 1, account="a"))
    assert account.positions["USDJPY"].multiplier == pytest.approx(1 / 150.0)
    engine.on_tick(tick(T0 + 1_000, fx_book("USDJPY", T0 + 1_000, 155.0, YEN_PIP)))
    # Long 100,000 dollars against yen: the yen P&L, 100,000 x (155 - price), is worth 1/155 of it in dollars.
    assert account.nav == pytest.approx(start - buy.fee + 100_000 * (155.0 - buy.price) / 155.0, rel=1e-12)
    assert account.gross == pytest.approx(100_000.0)  # the position is worth its 100,000 dollars
    assert account.nav == pytest.approx(account.revalue(engine.marks), rel=1e-12)


def test_margin_and_concentration_count_a_yen_quoted_position_in_dollars(make_engine):
    engine = make_engine({"max_leverage": 10, "max_position_fraction": 0.25})
    engine.on_tick(tick(T0, fx_book("USDJPY", T0, 150.0, YEN_PIP), fx_book("EURJPY", T0, 180.0, YEN_PIP)))
    # 1,000,000 NAV, a 25% cap: 200,000 euros (about 240,000 dollars) pass; 220,000 (264,000 dollars) do not,
    # although either is 36 million or more in yen.
    refused = engine.submit({"symbol": "EURJPY", "side": "buy", "qty": 220_000}, T0 + 1, account="a")
    assert [e.rejection.code for e in refused if isinstance(e, OrderRejected)] == [RejectionCode.CONCENTRATION_LIMIT]
    assert fills(engine.submit({"symbol": "EURJPY", "side": "buy", "qty": 200_000}, T0 + 2, account="a"))
    account = engine.accounts["a"]
    assert account.gross == pytest.approx(200_000 * 180.0 / 150.0)


def test_forced_liquidation_reduces_a_cross_after_its_conversion_rate_moves(make_engine):
    engine = make_engine({"max_leverage": 5, "max_position_fraction": 10,
                          "liquidation": {"maintenance_leverage": 6, "target_leverage": 4}})  # fmt: skip
    engine.on_tick(tick(T0, fx_book("GBPUSD", T0, 1.3), fx_book("EURGBP", T0, 0.88)))
    engine.submit({"symbol": "EURGBP", "side": "buy", "qty": 4_000_000}, T0 + 1, account="a")  # ~4.6x NAV
    # The pound jumps 40%: the same position is now worth more dollars than the maintenance level allows.
    events = engine.on_tick(tick(T0 + 1_000, fx_book("GBPUSD", T0 + 1_000, 1.82)))
    liquidations = [f for f in fills(events) if f.liquidation]
    assert liquidations and liquidations[0].symbol == "EURGBP" and liquidations[0].side.value == "sell"
    account = engine.accounts["a"]
    assert 0 < account.gross <= 4.0 * account.nav * 1.001
    assert account.gross == pytest.approx(account.gross_exposure(engine.marks), rel=1e-9)
