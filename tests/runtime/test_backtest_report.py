"""`arena backtest`'s report: the statistics and curve in --json, the terminal chart, the --html page."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena.cli import app
from arena.runtime import backtest as backtest_module
from arena.runtime.backtest import CURVE_POINTS
from arena.runtime.performance import statistics

ROOT = Path(__file__).resolve().parents[2]
SMA = str(ROOT / "examples/bots/sma_crossover.py")
runner = CliRunner()
STATISTICS = {
    "start_nav", "end_nav", "total_return", "annualized_return", "volatility", "sharpe", "sortino", "max_drawdown",
    "max_drawdown_duration_s", "periods", "periods_per_year", "round_trips", "win_rate", "turnover",
    "traded_notional", "fees",
}  # fmt: skip
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "source"}


def backtest(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["backtest", *args])
    return result.exit_code, result.stdout


def test_json_carries_the_statistics_and_the_equity_curve():
    code, out = backtest(SMA, "--feed", "synthetic:7", "--ticks", "200", "--json")
    assert code == 0
    report = json.loads(out)
    stats, curve = report["statistics"], report["equity_curve"]
    assert set(stats) == STATISTICS
    assert len(curve) == 200 and all(isinstance(ts, int) and isinstance(nav, float) for ts, nav in curve)
    assert [ts for ts, _ in curve] == sorted(ts for ts, _ in curve)
    assert curve[-1][1] == report["nav"] == stats["end_nav"]
    assert stats["start_nav"] == 1_000_000 and stats["total_return"] == pytest.approx(report["return"])
    assert stats["fees"] == pytest.approx(sum(f["fee"] for f in report["fills"]))
    assert stats["periods"] == 200 and stats["round_trips"] > 0
    # The figures are those of the pure module on the same curve (and the whole curve is in the JSON here).
    again = statistics([ts for ts, _ in curve], [nav for _, nav in curve], report["fills"], start_nav=1_000_000)
    assert again.as_dict() == pytest.approx(stats)


def test_a_long_run_s_curve_is_sampled_down_in_json(monkeypatch):
    assert CURVE_POINTS == 5_000  # what the README promises
    monkeypatch.setattr(backtest_module, "CURVE_POINTS", 50)  # a shorter run shows the same
    code, out = backtest(str(ROOT / "examples/bots/buy_and_hold.py"), "--ticks", "120", "--json")
    assert code == 0
    report = json.loads(out)
    curve = report["equity_curve"]
    assert len(curve) == 50 and curve[-1][1] == report["nav"]
    assert report["statistics"]["periods"] == 120  # the statistics still use every tick


def test_the_terminal_chart_is_printed_on_request_only():
    code, plain = backtest(SMA, "--ticks", "120")  # CliRunner's stdout is no TTY: no chart by default
    assert code == 0 and "equity (NAV)" not in plain and "Sharpe ratio" in plain and "win rate" in plain
    code, charted = backtest(SMA, "--ticks", "120", "--chart")
    assert code == 0 and "equity (NAV)" in charted and "drawdown (%)" in charted
    assert "\x1b[" not in charted  # no colour codes when stdout is not a terminal


class _Page(HTMLParser):
    """Checks every element is closed in order, and collects what a self-contained page must not have."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.external += [f"{tag} {name}={value}" for name, value in attrs if name in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.external += [f"{tag} {name}={value}" for name, value in attrs if name in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"</{tag}> closes nothing open"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_writes_one_self_contained_page_with_the_chart_and_the_table(tmp_path):
    page = tmp_path / "report.html"
    code, out = backtest(SMA, "--feed", "synthetic:7", "--ticks", "200", "--json", "--html", str(page))
    assert code == 0
    report = json.loads(out)  # --json still prints exactly the JSON
    text = page.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    assert not parser.external and "script" not in parser.tags and "link" not in parser.tags
    assert parser.tags.count("svg") == 1 and "polyline" in parser.tags and "polygon" in parser.tags
    svg = ET.fromstring(text[text.index("<svg"):text.index("</svg>") + len("</svg>")])  # well-formed XML
    line = svg.find("{http://www.w3.org/2000/svg}polyline")
    assert line is not None and len(line.get("points", "").split()) == 200
    words = " ".join(parser.text)
    for label in ("Sharpe ratio", "Sortino ratio", "max drawdown duration", "win rate", "turnover", "fees paid"):
        assert label in words
    assert f"{report['statistics']['sharpe']:,.2f}" in words and "sma_crossover.py" in words


def test_html_escapes_what_it_did_not_write(tmp_path):
    bot = tmp_path / "<i>bot&co.py"
    bot.write_text((ROOT / "examples/bots/buy_and_hold.py").read_text())
    page = tmp_path / "report.html"
    code, _ = backtest(str(bot), "--ticks", "30", "--no-chart", "--html", str(page))
    assert code == 0
    text = page.read_text(encoding="utf-8")
    assert "<i>bot" not in text and "&lt;i&gt;bot&amp;co.py" in text


def test_html_into_a_missing_folder_is_refused_before_the_run(tmp_path):
    code, out = backtest(SMA, "--json", "--html", str(tmp_path / "nope" / "report.html"))
    assert code == 1 and json.loads(out)["error"]["code"] == "INVALID_INPUT"
