// Ratings and achievements in any page: a contestant's profile (rating, place, level and XP, badges, rating
// history as a chart and a table) and what a tournament's contestants earned in it. Data from the ratings API
// (docs/ratings.md); everything shown comes from the record, never from a bot.
import uPlot from "/static/vendor/uplot/uPlot.esm.js";
import { api } from "/static/js/api.js";
import { clear, fmtNumber, h } from "/static/js/ui.js";

const enc = encodeURIComponent;
const signed = (v) => `${v > 0 ? "+" : v < 0 ? "−" : "±"}${fmtNumber(Math.abs(v))}`;

export const profileHref = (name) => `/c/${enc(name)}`;

// One achievement as a chip: its title, what it is for on hover, and the tournament it was earned in.
export function achievementChip(a, { withContestant = false } = {}) {
  return h("li", { class: `achievement achievement-${a.kind}`, dataset: { code: a.code }, title: a.description },
    h("span", { class: "achievement-title" }, a.title),
    withContestant ? [" ", h("a", { href: profileHref(a.contestant) }, a.contestant)] : null,
    h("span", { class: "muted" }, " · ", a.bot, " in ", h("a", { href: `/t/${enc(a.tournament)}` }, a.tournament)));
}

// The rating after each rated tournament, oldest first (x: the tournament's number in the contestant's history).
function ratingChart(container, history) {
  const data = [history.map((_c, i) => i + 1), history.map((c) => c.rating)];
  const width = () => Math.max(240, container.clientWidth || 320);
  const chart = new uPlot({
    width: width(),
    height: 200,
    legend: { show: false },
    scales: { x: { time: false } },
    axes: [{ values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : "")) }, { size: 60 }],
    series: [{}, { label: "Rating", stroke: "#2563eb", width: 2, points: { show: true } }],
  }, data, container);
  new ResizeObserver(() => chart.setSize({ width: width(), height: 200 })).observe(container);
  return chart;
}

function summary(p) {
  const rows = p.rated
    ? [["Rating", h("strong", { id: "profile-rating" }, fmtNumber(p.rating))],
      ["Place", h("span", { id: "profile-place" }, `#${p.place}`)],
      ["Skill (μ ± σ)", `${p.mu.toFixed(2)} ± ${p.sigma.toFixed(2)}`],
      ["Rated tournaments", p.tournaments], ["Streak", p.streak]]
    : [["Rating", h("span", { id: "profile-rating", class: "muted" }, "not rated yet: finish a tournament")]];
  rows.push(["Level", h("span", { id: "profile-level" }, `${p.level} (${fmtNumber(p.xp)} XP; level ${p.level + 1} at ${fmtNumber(p.next_level_xp)})`)]);
  return h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function historyTable(history) {
  return h("div", { class: "table-wrap" },
    h("table", { id: "rating-history" },
      h("thead", {}, h("tr", {}, ["Tournament", "Place", "Bot", "Rating", "Change"].map((t, i) =>
        h("th", { class: i === 1 || i >= 3 ? "num" : null }, t)))),
      h("tbody", {}, [...history].reverse().map((c) => h("tr", { dataset: { tournament: c.tournament } },
        h("td", {}, h("a", { href: `/t/${enc(c.tournament)}` }, c.name)),
        h("td", { class: "num" }, `${c.rank} of ${c.contestants}`),
        h("td", {}, c.bot),
        h("td", { class: "num" }, fmtNumber(c.rating)),
        h("td", { class: `num ${c.change >= 0 ? "up" : "down"}` }, signed(c.change)))))));
}

// A panel that loads and shows `name`'s profile; `title` heads it.
export function profilePanel(name, { title = "Rating and achievements" } = {}) {
  const panel = h("section", { class: "panel", id: "profile-panel" }, h("h2", {}, title), h("p", { class: "muted" }, "Loading…"));
  api(`/api/v1/contestants/${enc(name)}/profile`).then((p) => {
    const chartBox = h("div", { id: "rating-chart", class: "chart" });
    const badges = p.achievements.filter((a) => a.kind === "badge");
    clear(panel,
      h("h2", {}, title),
      summary(p),
      h("h3", {}, "Badges"),
      badges.length ? h("ul", { id: "badges", class: "achievements" }, badges.map((a) => achievementChip(a)))
        : h("p", { id: "badges", class: "empty" }, "No badges yet."),
      h("h3", {}, "Rating history"),
      p.history.length ? [chartBox, historyTable(p.history)] : h("p", { class: "empty" }, "No rated tournament yet."));
    if (p.history.length) ratingChart(chartBox, p.history);
  }).catch((err) => clear(panel, h("h2", {}, title), h("p", { class: "empty", id: "profile-error" }, err.message)));
  return panel;
}

// What a finished tournament's contestants earned in it (nothing until it is rated).
export function earnedPanel(slug) {
  const panel = h("section", { class: "panel", id: "earned-panel", hidden: true });
  api(`/api/v1/tournaments/${enc(slug)}/achievements?limit=500`).then((page) => {
    if (!page.items.length) return;
    clear(panel, h("h2", {}, "Achievements earned"),
      h("ul", { class: "achievements" }, page.items.map((a) => achievementChip(a, { withContestant: true }))));
    panel.hidden = false;
  }).catch(() => {}); // a page without this panel is still whole
  return panel;
}

