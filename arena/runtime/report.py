"""The backtest report: the statistics table, the terminal chart (plotext) and the one-page HTML report.

The HTML page is self-contained: its chart is inline SVG drawn here, its style inline; it loads nothing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from arena.runtime.performance import Statistics, downsample, drawdowns

CHART_POINTS = 2_000  # points drawn; a longer curve is evenly sampled (the statistics use every tick)


def _pct(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else (f"{value:+.2%}" if signed else f"{value:.2%}")


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def duration_text(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``45s``: the two largest units."""
    seconds = round(seconds)
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if seconds >= size or (name == "s" and not parts):
            parts.append(f"{seconds // size}{name}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def statistic_rows(stats: Statistics) -> list[tuple[str, str]]:
    """The statistics as (label, formatted value), in the order the report shows them."""
    return [
        ("total return", _pct(stats.total_return, signed=True)),
        ("annualised return", _pct(stats.annualized_return, signed=True)),
        ("volatility (annualised)", _pct(stats.volatility)),
        ("Sharpe ratio", _num(stats.sharpe)),
        ("Sortino ratio", _num(stats.sortino)),
        ("max drawdown (tick closes)", _pct(stats.max_drawdown)),
        ("max drawdown duration", duration_text(stats.max_drawdown_duration_s)),
        ("round trips", f"{stats.round_trips:,}"),
        ("win rate", _pct(stats.win_rate)),
        ("turnover (× average NAV)", _num(stats.turnover)),
        ("fees paid", _num(stats.fees)),
    ]


def _time_labels(ts: Sequence[int], count: int) -> tuple[list[int], list[str]]:
    """``count`` evenly spaced times across the curve and their labels (clock times within a day, else dates)."""
    first, last = ts[0], ts[-1]
    span = last - first
    form = "%H:%M" if span < 2 * 86_400_000 else "%Y-%m-%d"
    if span == 0:
        return [first], [datetime.fromtimestamp(first / 1000, UTC).strftime(form)]
    positions = [first + span * i // (count - 1) for i in range(count)]
    return positions, [datetime.fromtimestamp(p / 1000, UTC).strftime(form) for p in positions]


def terminal_chart(ts: Sequence[int], navs: Sequence[float], width: int, height: int, color: bool) -> str:
    """The equity curve over its drawdown (in %), as text for a terminal ``width`` × ``height`` cells."""
    import plotext  # imported here: only a report with a chart pays for it

    points = downsample(ts, navs, CHART_POINTS)
    xs = [p[0] / 1000 for p in points]
    equity = [p[1] for p in points]
    underwater = [-100 * d for d in drawdowns(equity)]
    positions, labels = _time_labels([p[0] for p in points], 5)
    figure = plotext.figure
    figure.clear()
    figure.subplots(2, 1)
    figure.plot_size(width, height)
    top, bottom = figure.subplot(1, 1), figure.subplot(2, 1)
    top.plot_size(width, max(height * 3 // 5, 8))
    for panel, title, ys, form in ((top, "equity (NAV)", equity, "{:,.0f}"), (bottom, "drawdown (%)", underwater,
                                                                               "{:.2f}")):  # fmt: skip
        panel.title(title)
        panel.draw(panel.signal(xs, ys).lines())
        panel.ruler("x").ticks([p / 1000 for p in positions], labels)
        low, high = min(ys), max(ys)
        values = _nice_ticks(low, high, 4) if high > low else [low]
        panel.ruler("y").ticks(values, [form.format(v) for v in values])
    text = str(figure.build().string(colorless=not color))
    figure.clear()
    return text


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values spanning [low, high] for an axis (1, 2 or 5 × a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step + 1e-9) + 1)]


def _panel(
    xs: Sequence[float], ys: Sequence[float], box: tuple[float, float, float, float], fill: bool, label: str,
    value_text: str,
) -> list[str]:  # fmt: skip
    """One chart panel as SVG elements: horizontal grid with labels, the line (or an area down from 0)."""
    left, top, width, height = box
    low, high = min(ys), max(ys)
    if fill:
        high = max(high, 0.0)
    if high - low < 1e-12 * max(abs(high), 1.0):
        low, high = low - 1.0, high + 1.0  # a flat line sits in the middle
    pad = (high - low) * 0.05
    low, high = low - (0 if fill else pad), high + pad
    x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * width

    def sy(y: float) -> float:
        return top + (high - y) / (high - low) * height

    out = [f'<text x="{left}" y="{top - 8}" class="title">{html.escape(label)}</text>']
    for tick in _nice_ticks(low, high):
        y = sy(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f"{html.escape(value_text.format(tick))}</text>")  # fmt: skip
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
    if fill:
        base = sy(0.0)
        out.append(f'<polygon points="{sx(xs[0]):.1f},{base:.1f} {path} {sx(xs[-1]):.1f},{base:.1f}" class="area"/>')
    else:
        out.append(f'<polyline points="{path}" class="line"/>')
    out.append(f'<rect x="{left}" y="{top}" width="{width}" height="{height}" class="frame"/>')
    return out


def svg_chart(ts: Sequence[int], navs: Sequence[float], width: int = 960, height: int = 460) -> str:
    """The equity curve over its drawdown, as one inline ``<svg>`` element."""
    points = downsample(ts, navs, CHART_POINTS)
    xs = [float(p[0]) for p in points]
    equity = [p[1] for p in points]
    underwater = [-100 * d for d in drawdowns(equity)]
    left, right, gap = 90, 20, 50
    plot_w = width - left - right
    top_h = (height - 3 * gap) * 2 // 3
    bottom_h = height - 3 * gap - top_h
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
             'aria-label="equity curve and drawdown">']  # fmt: skip
    parts += _panel(xs, equity, (left, gap / 2 + 10, plot_w, top_h), False, "Equity (NAV)", "{:,.0f}")
    bottom_top = gap / 2 + 10 + top_h + gap
    parts += _panel(xs, underwater, (left, bottom_top, plot_w, bottom_h), True, "Drawdown (%)", "{:.2f}")
    positions, labels = _time_labels([p[0] for p in points], 6)
    span = (xs[-1] - xs[0]) or 1.0
    for position, label in zip(positions, labels, strict=True):
        x = left + (position - xs[0]) / span * plot_w
        parts.append(f'<text x="{x:.1f}" y="{bottom_top + bottom_h + 18:.1f}" class="axis" text-anchor="middle">'
                     f"{html.escape(label)}</text>")  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; color: #1d232b; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } p.sub { color: #5b6572; margin-top: 0; }
table { border-collapse: collapse; min-width: 26rem; margin: 1rem 0 2rem; }
th, td { padding: .3rem .8rem; border-bottom: 1px solid #e3e6ea; } th { text-align: left; font-weight: 600; }
td { text-align: right; font-variant-numeric: tabular-nums; }
svg .grid { stroke: #e3e6ea; } svg .frame { fill: none; stroke: #9aa3ad; }
svg .line { fill: none; stroke: #1f6feb; stroke-width: 1.5; } svg .area { fill: #f3b7b2; stroke: #cf222e; }
svg .axis { font-size: 12px; fill: #5b6572; } svg .title { font-size: 14px; font-weight: 600; fill: #1d232b; }
"""


def html_report(
    title: str, subtitle: str, summary: Sequence[tuple[str, str]], stats: Statistics, ts: Sequence[int],
    navs: Sequence[float],
) -> str:  # fmt: skip
    """A one-page report: the chart and the statistics table. Every text from outside is escaped."""
    rows = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in [*summary, *statistic_rows(stats)]
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="sub">{html.escape(subtitle)}</p>
<figure>
{svg_chart(ts, navs)}
</figure>
<table>
<caption hidden>Statistics</caption>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""
