"""`arena backtest --html` renders in a browser: Chromium draws its chart and table and fetches nothing."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from arena.cli import app
from tests.web.conftest import screenshot

ROOT = Path(__file__).resolve().parents[2]


def test_the_html_report_renders_its_chart_and_table_offline(tmp_path, open_page):
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["backtest", str(ROOT / "examples/bots/sma_crossover.py"), "--ticks", "200",
                                      "--feed", "synthetic:7", "--no-chart", "--html", str(report)])  # fmt: skip
    assert result.exit_code == 0, result.stdout
    page = open_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    chart = page.locator("svg").bounding_box()
    assert chart is not None and chart["width"] > 600 and chart["height"] > 250
    line = page.locator("svg polyline").bounding_box()
    assert line is not None and line["width"] > 500  # the curve spans the panel
    assert page.locator("svg polygon").count() == 1  # the drawdown area
    assert page.get_by_role("row", name="Sharpe ratio").is_visible()
    assert page.get_by_role("row", name="win rate").is_visible()
    assert requests == [report.as_uri()]  # self-contained: nothing else was fetched
    screenshot(page, "backtest-report")
