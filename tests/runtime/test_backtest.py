"""`arena backtest` and the in-process SDK: determinism, the JSON contract, replay of real data, bad input."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from arena_bot import Bot
from arena_bot.portfolio import Portfolio
from typer.testing import CliRunner

from arena.catalog import load_catalog
from arena.cli import app
from arena.engine.rules import resolve_ruleset
from arena.feeds import open_feed
from arena.runtime.backtest import BotLoadError, load_bot, run_backtest
from arena.runtime.protocol import encode_line

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "bots").glob("*.py"))
DATA = ROOT / "tests" / "data"
runner = CliRunner()


def backtest_json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["backtest", *args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON object, nothing else
    return result.exit_code, json.loads(lines[0])


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def run(path: Path, catalog, feed: str = "synthetic:3", ticks: int = 240, rules: dict | None = None, seed: int = 0):
    bot = load_bot(path)
    symbols = list(bot.symbols) or None
    source = open_feed(feed, catalog, symbols, ticks=ticks)
    return bot, run_backtest(bot, catalog, resolve_ruleset(rules), list(source), seed=seed)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_bot_trades_and_runs_bit_for_bit_the_same_twice(path, catalog):
    _, first = run(path, catalog)
    _, second = run(path, catalog)
    assert first.fills, f"{path.stem} never traded"
    assert json.dumps(first.as_dict()) == json.dumps(second.as_dict())
    assert first.equity_curve == second.equity_curve


def recording(cls: type, through_messages: bool) -> type:
    """``cls`` on every channel, noting what it knows at every callback (as text: ``repr`` tells 1 from 1.0);
    ``through_messages``: it reads every host message in handle(), so the backtest hands it messages, and here they
    pass through JSON as in a tournament, instead of tickers', ticks' and portfolios' fields."""

    class Recording(cls):
        channels = ("ticker", "orderbook", "trades")  # (the examples read books only)

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []
            self.read: set[str] = set()

        def note(self, where: str, what: object) -> None:
            history = {s: self.history(s, 1) for s in self.tickers} if self.history_size else {}
            books = {s: (b.bids[:2], b.asks[:2], b.last, b.ts, b.seq, b.stale) for s, b in self.books.items()}
            state = (where, what, self.now, self.tick_n, self.portfolio, self.tickers, books, history, self.open_orders)
            self.seen.append(repr(state))

    def noting(callback: str) -> Any:
        def hook(self: Any, arg: Any) -> None:
            self.note(callback, arg.symbol if callback == "on_book" else arg)  # (its Book has no repr)
            getattr(super(Recording, self), callback)(arg)

        return hook

    for callback in ("on_tick", "on_ticker", "on_book", "on_trade", "on_fill", "on_order_update", "on_status"):
        setattr(Recording, callback, noting(callback))

    class Reading(Recording):
        def handle(self, message: dict) -> None:
            self.read.add(message["type"])
            super().handle(json.loads(encode_line(message)))

    return Reading if through_messages else Recording


def lopsided_quotes(folder: Path, catalog, symbols: list[str], rows: int = 240) -> Path:
    """A quotes file of ``symbols``, one row a minute from a regular session's start, with bid and ask sizes that
    differ (a synthetic book's are the same on both sides) and trades now and then."""
    rng = random.Random(7)
    file = folder / "lopsided.csv"
    with file.open("w") as out:
        out.write("ts,symbol,bid,ask,bid_size,ask_size,last,volume\n")
        ticks = {s: round(catalog[s].reference_price / 0.01) for s in symbols}  # every symbol here has a 0.01 tick
        for minute in range(rows):
            for symbol in symbols:
                ticks[symbol] = max(ticks[symbol] + rng.randint(-3, 3), 100)
                bid, ask = ticks[symbol], ticks[symbol] + rng.randint(1, 3)
                last = f"{(bid + rng.randint(0, ask - bid)) / 100:.2f}" if rng.random() < 0.5 else ""
                ts = 1_772_461_860_000 + minute * 60_000  # 2026-03-02 14:31 UTC, XNYS and XNAS open
                out.write(f"{ts},{symbol},{bid / 100:.2f},{ask / 100:.2f},{rng.randint(1, 900)},"
                          f"{rng.randint(1, 900)},{last},{rng.randint(0, 5000) if last else 0}\n")  # fmt: skip
    return file


@pytest.mark.parametrize("feed", ["synthetic", "quotes"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_a_bot_sees_the_same_whether_handed_fields_or_messages(path, feed, catalog, monkeypatch, tmp_path):
    """In-process the bot gets tickers, ticks and portfolio updates as their fields (no message built and read
    back); what it then knows, tick by tick, and what it does are what the messages give it, bit for bit."""
    cls = type(load_bot(path))
    symbols = list(cls.symbols)
    source = "synthetic:3" if feed == "synthetic" else str(lopsided_quotes(tmp_path, catalog, symbols))
    ticks = list(open_feed(source, catalog, symbols, ticks=240))
    reading = recording(cls, through_messages=True)()
    by_messages = run_backtest(reading, catalog, resolve_ruleset(None), ticks)
    assert {"tick", "ticker"} <= reading.read and ("portfolio" in reading.read) == bool(by_messages.fills)

    def no_message(*args: object) -> None:
        raise AssertionError("a message was built for a bot handed fields")

    monkeypatch.setattr("arena.runtime.backtest.tick_message", no_message)
    monkeypatch.setattr("arena.runtime.backtest.portfolio_message", no_message)
    direct = recording(cls, through_messages=False)()
    by_fields = run_backtest(direct, catalog, resolve_ruleset(None), ticks)
    assert sum(seen.startswith("('on_tick',") for seen in direct.seen) == len(ticks)
    assert direct.seen == reading.seen
    assert json.dumps(by_fields.as_dict()) == json.dumps(by_messages.as_dict())


def test_a_bot_that_reads_its_messages_its_own_way_gets_them(catalog, monkeypatch):
    """The fields go straight in only where the SDK's own handlers would have read the messages: a portfolio whose
    update() is the bot's own, or an SDK handle() replaced from a bot file, gets every message as in a tournament."""
    cls = type(load_bot(ROOT / "examples/bots/sma_crossover.py"))
    ticks = list(open_feed("synthetic:3", catalog, list(cls.symbols), ticks=120))
    plain = run_backtest(cls(), catalog, resolve_ruleset(None), ticks)
    portfolio_messages: list[dict] = []

    class Logged(Portfolio):
        def update(self, message: dict) -> None:
            portfolio_messages.append(message)
            super().update(message)

    class OwnPortfolio(cls):
        def on_start(self, info: dict) -> None:
            self.portfolio = Logged(self.portfolio.cash, self.portfolio.nav)
            super().on_start(info)

    own = run_backtest(OwnPortfolio(), catalog, resolve_ruleset(None), ticks)
    assert plain.fills and len(portfolio_messages) > len(plain.fills)
    assert json.dumps(own.as_dict()) == json.dumps(plain.as_dict())

    kinds: Counter[str] = Counter()
    sdk_handle = Bot.handle

    def traced(self: Bot, message: dict) -> None:
        kinds[message["type"]] += 1
        sdk_handle(self, message)

    monkeypatch.setattr(Bot, "handle", traced)
    patched = run_backtest(cls(), catalog, resolve_ruleset(None), ticks)
    assert kinds["tick"] == len(ticks) and kinds["portfolio"] > 0
    assert json.dumps(patched.as_dict()) == json.dumps(plain.as_dict())


def test_a_different_feed_seed_gives_a_different_run(catalog):
    _, a = run(ROOT / "examples/bots/sma_crossover.py", catalog, feed="synthetic:3")
    _, b = run(ROOT / "examples/bots/sma_crossover.py", catalog, feed="synthetic:4")
    assert a.fills != b.fills


def test_twap_slices_cost_less_than_one_block_order(catalog):
    _, twap = run(ROOT / "examples/bots/twap.py", catalog, ticks=120)
    assert len(twap.fills) > 10
    sizes = [f["qty"] for f in twap.fills]
    assert max(sizes) <= 2 * min(sizes) + 1  # even slices


def test_sdk_sees_fills_typed_rejections_and_cancels(catalog):
    bot, result = run(DATA / "bots" / "every_order.py", catalog, ticks=5)
    statuses = [(u.client_order_id, u.status, u.code) for u in bot.updates]
    assert ("o1", "filled", None) in statuses
    assert ("resting", "accepted", None) in statuses
    assert ("resting", "cancelled", "CANCELLED") in statuses
    codes = {type(e).__name__ for e in bot.errors}
    assert {"ConcentrationLimitError", "LiquidityHaltError", "InvalidOrderError", "UnknownOrderError"} == codes
    assert {r["code"] for r in result.rejections} == {
        "CONCENTRATION_LIMIT", "LIQUIDITY_HALT", "INVALID_ORDER", "UNKNOWN_ORDER"
    }  # fmt: skip
    filled = [u for u in bot.updates if u.status == "filled"]
    assert filled[0].filled_qty == 0.5 and filled[0].remaining == 0.0
    assert bot.fills and bot.fills[0].qty == 0.5
    assert bot.portfolio.position("BTC-USD") == pytest.approx(0.5)
    assert "resting" not in bot.open_orders


def test_cli_json_contract():
    code, out = backtest_json(str(ROOT / "examples/bots/sma_crossover.py"), "--feed", "synthetic:7", "--ticks", "200")
    assert code == 0
    assert {"nav", "cash", "return", "max_drawdown", "score", "orders", "fills", "rejections"} <= set(out)
    assert out["fills"] and all(set(f) == {"ts", "symbol", "side", "qty", "price", "fee"} for f in out["fills"])
    assert out["score"] == pytest.approx(out["nav"] * (1 - out["max_drawdown"]))
    assert out["return"] == pytest.approx(out["nav"] / 1_000_000 - 1)


def test_cli_with_a_rules_file_applies_the_override(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("asset_classes: [crypto]\nfees:\n  crypto:\n    taker_bps: 200\n")
    code, out = backtest_json(str(ROOT / "examples/bots/sma_crossover.py"), "--rules", str(rules), "--ticks", "200")
    assert code == 0
    assert {f["symbol"] for f in out["fills"]} == {"BTC-USD"}
    assert all(f["fee"] == pytest.approx(f["qty"] * f["price"] * 0.02) for f in out["fills"])
    assert {r["code"] for r in out["rejections"]} == {"SYMBOL_NOT_ALLOWED"}


def test_cli_replays_real_daily_bars(tmp_path):
    bot = tmp_path / "hold_nvda.py"
    bot.write_text(
        "from arena_bot import Bot\n\n"
        "class Hold(Bot):\n"
        "    symbols = ('NVDA',)\n\n"
        "    def on_tick(self, ts):\n"
        "        if not self.portfolio.position('NVDA') and not self.open_orders:\n"
        "            self.buy('NVDA', 1000)\n"
    )
    code, out = backtest_json(str(bot), "--feed", str(DATA / "equities-daily-sample.csv"))
    assert code == 0
    (fill,) = out["fills"]
    # The first NVDA bar in the sample opened at 12.56 on 2013-01-02.
    assert fill["symbol"] == "NVDA" and 12.5 < fill["price"] < 12.7
    assert out["nav"] != 1_000_000


@pytest.mark.parametrize(
    ("rules_text", "code", "needle"),
    [
        ("max_leverage: -1\n", "INVALID_RULES_FILE", "max_leverage"),
        ("fees: {crypto: {taker_bps: oops}}\n", "INVALID_RULES_FILE", "fees.crypto.taker_bps"),
        ("max_leverage: [1\n", "INVALID_RULES_FILE", "not valid YAML"),
        ("- a list\n", "INVALID_RULES_FILE", "mapping"),
    ],
)
def test_cli_bad_rules_file_is_refused_with_a_code(tmp_path, rules_text, code, needle):
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text)
    exit_code, out = backtest_json(str(ROOT / "examples/bots/buy_and_hold.py"), "--rules", str(rules))
    assert exit_code == 1
    assert out["error"]["code"] == code and needle in out["error"]["message"]


def test_cli_bad_csv_names_file_and_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "ts,symbol,open,high,low,close,volume\n2013-01-02,NVDA,12.5,12.7,12.4,12.6,100\n2013-01-03,NVDA,x,1,1,1,1\n"
    )
    exit_code, out = backtest_json(str(ROOT / "examples/bots/buy_and_hold.py"), "--feed", str(csv), "--symbols", "NVDA")
    assert exit_code == 1
    assert "bad.csv" in out["error"]["message"] and "3" in out["error"]["message"]
    assert out["error"]["code"] == "BAD_NUMBER"


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("def broken(:\n", "failed to import"),
        ("x = 1\n", "exactly one subclass"),
        (
            "from arena_bot import Bot\nclass A(Bot):\n    pass\nclass B(Bot):\n    pass\n",
            "exactly one subclass",
        ),
    ],
)
def test_bad_bot_files_are_refused(tmp_path, source, needle):
    bot = tmp_path / "bot.py"
    bot.write_text(source)
    with pytest.raises(BotLoadError, match=needle):
        load_bot(bot)
    exit_code, out = backtest_json(str(bot))
    assert exit_code == 1 and out["error"]["code"] == "BOT_LOAD_FAILED"


def test_missing_bot_file(tmp_path):
    exit_code, out = backtest_json(str(tmp_path / "nope.py"))
    assert exit_code == 1 and "no such bot file" in out["error"]["message"]


def test_human_output_has_a_summary():
    result = runner.invoke(app, ["backtest", str(ROOT / "examples/bots/buy_and_hold.py"), "--ticks", "60"])
    assert result.exit_code == 0
    assert "NAV" in result.stdout and "max drawdown" in result.stdout and "score" in result.stdout


def _fake_runner_rootfs(images: Path, manifest: dict) -> None:
    root = images / "rootfs" / "python-test"
    for directory in ("usr/local/bin", "proc", "dev", "tmp", "bot", "opt/arena/sdk"):
        (root / directory).mkdir(parents=True)
    (root / "usr/local/bin/python3").touch()
    (root / "bot/main.py").touch()
    (root / "opt/arena/manifest.json").write_text(json.dumps(manifest))
    (images / "rootfs" / "python").symlink_to("python-test")


def test_drift_from_the_runner_image_is_named_package_by_package():
    from arena.images.drift import differences

    manifest = {"python": "3.11.2", "packages": {"numpy": "1.24.2", "pandas": "1.5.3"}}
    assert differences(manifest, {"python": "3.11.2", "numpy": "1.24.2", "pandas": "1.5.3"}) == []
    assert differences(manifest, {"python": "3.11.7", "numpy": "1.24.2", "pandas": None}) == [
        "python 3.11.7 here, 3.11.2 in the runner image", "pandas missing here, 1.5.3 in the runner image"]
    assert differences({}) == []


def test_drift_of_the_ml_packages_is_named_with_the_extra_that_installs_them():
    from arena.images.drift import differences, local_versions

    manifest = {"python": "3.11.2", "packages": {"numpy": "1.24.2", "scikit-learn": "1.2.1", "onnxruntime": "1.24.4"}}
    same = {"python": "3.11.2", "numpy": "1.24.2", "scikit-learn": "1.2.1", "onnxruntime": "1.24.4"}
    assert differences(manifest, same) == []
    assert differences(manifest, {**same, "scikit-learn": "1.5.0", "onnxruntime": None}) == [
        "scikit-learn 1.5.0 here, 1.2.1 in the runner image",
        "onnxruntime missing (the 'ml' extra installs it: pip install 'arena[ml]') here, 1.24.4 in the runner image"]
    # The dev environment has the ml extra at the image's versions (uv.lock): Debian's, and the wheel it pins.
    from arena.images.recipe import RUNNER_DIR
    from arena.images.wheels import WHEELS_FILE, parse_pins

    pinned = {pin.name: pin.version for pin in parse_pins((RUNNER_DIR / WHEELS_FILE).read_text())}
    here = local_versions()
    assert (here["scikit-learn"], here["scipy"], here["onnxruntime"]) == ("1.2.1", "1.10.1", pinned["onnxruntime"])


def test_cli_backtest_warns_when_this_python_differs_from_the_runner_image(tmp_path, monkeypatch):
    from arena.images.drift import local_versions

    here = local_versions()
    _fake_runner_rootfs(tmp_path, {"python": "2.7.18", "packages": {"numpy": here["numpy"]}})
    monkeypatch.setenv("ARENA_IMAGES_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["backtest", str(EXAMPLES[0]), "--ticks", "20"])
    assert result.exit_code == 0, result.output
    assert "RUNNER_DRIFT" in result.output and "2.7.18 in the runner image" in result.output
    assert "numpy" not in result.output.split("RUNNER_DRIFT")[1].split("tournament")[0]  # equal: not named
