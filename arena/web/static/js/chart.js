// Equity curves with uPlot (vendored, MIT): NAV on the left axis, drawdown (%) on the right.
import uPlot from "/static/vendor/uplot/uPlot.esm.js";

// Axis labels with as many decimals as the spacing of the ticks needs: a NAV that moves by less than a
// dollar still gets distinct labels, and a wide range is not cluttered with cents.
function dollars(ticks) {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const decimals = step >= 1 || step === 0 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)));
  const format = new Intl.NumberFormat("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  return ticks.map((v) => `$${format.format(v)}`);
}

// points: [{ts (epoch ms), nav, drawdown (0..1)}, ...]. Returns the uPlot instance; it follows the
// container's width (phones included).
export function equityChart(container, points, { height = 220 } = {}) {
  const data = [
    points.map((p) => p.ts / 1000),
    points.map((p) => p.nav),
    points.map((p) => -100 * p.drawdown),
  ];
  const width = () => Math.max(240, container.clientWidth || 320);
  const chart = new uPlot(
    {
      width: width(),
      height,
      legend: { show: true },
      scales: { x: { time: true }, nav: {}, dd: { range: (_u, min) => [Math.min(min, -1), 0] } },
      axes: [
        {},
        { scale: "nav", values: (_u, ticks) => dollars(ticks), size: 84 },
        { scale: "dd", side: 1, grid: { show: false }, values: (_u, ticks) => ticks.map((v) => `${v.toFixed(1)}%`) },
      ],
      series: [
        {},
        { label: "NAV", scale: "nav", stroke: "#2563eb", width: 2, value: (_u, v) => (v === null ? "—" : `$${v.toFixed(0)}`) },
        { label: "Drawdown", scale: "dd", stroke: "#dc2626", fill: "rgba(220,38,38,0.12)", width: 1,
          value: (_u, v) => (v === null ? "—" : `${v.toFixed(2)}%`) },
      ],
    },
    data,
    container,
  );
  const resize = new ResizeObserver(() => chart.setSize({ width: width(), height }));
  resize.observe(container);
  chart.stopFollowing = () => resize.disconnect();
  return chart;
}
