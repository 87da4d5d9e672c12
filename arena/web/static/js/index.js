// The spectators' front page: every public tournament, running ones first, then open, then finished
// (cancelled last), each linking to its live page. Refreshed every few seconds so a tournament that
// starts or ends moves to its group without a reload.
import { allOf } from "/static/js/api.js";
import { $, badge, clear, every, fmtTime, h } from "/static/js/ui.js";

const GROUPS = [
  { status: "running", title: "Running now" },
  { status: "open", title: "Open for entries" },
  { status: "finished", title: "Finished" },
  { status: "cancelled", title: "Cancelled" },
  { status: "failed", title: "Failed" },
];
const REFRESH_MS = 10_000;

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// The one or two times that matter for a tournament in its current state.
function timing(t) {
  const lines = [];
  if (t.status === "running") {
    lines.push(["Started", t.started_at]);
    if (t.ends_at) lines.push(["Ends", t.ends_at]);
  } else if (t.status === "open") {
    if (t.entry_closes_at) lines.push(["Entries close", t.entry_closes_at]);
    lines.push(["Starts", t.starts_at]);
  } else {
    lines.push([t.status === "finished" ? "Finished" : "Ended", t.finished_at]);
  }
  return lines
    .filter(([, when]) => when !== null && when !== undefined)
    .map(([label, when]) => h("span", { class: "when" }, `${label} `, h("time", { datetime: when }, fmtTime(when))));
}

function card(t) {
  const length = t.ticks ? `${plural(t.ticks, "tick")}, ${t.clock} clock` : `${t.clock} clock`;
  return h("li", { class: "tournament panel", dataset: { slug: t.slug, status: t.status } },
    h("div", { class: "row" },
      h("a", { class: "name", href: `/t/${encodeURIComponent(t.slug)}` }, t.name),
      h("span", { class: "spacer" }),
      badge(t.status)),
    h("div", { class: "row meta muted" },
      h("span", { class: "entrants" }, plural(t.entries, "entrant")),
      h("span", {}, length),
      timing(t)));
}

function render(app, tournaments) {
  const sections = GROUPS.map(({ status, title }) => {
    const members = tournaments.filter((t) => t.status === status);
    if (!members.length) return null;
    return h("section", { id: `group-${status}`, "data-testid": `group-${status}` },
      h("h2", {}, title, " ", h("span", { class: "muted count" }, `(${members.length})`)),
      h("ul", { class: "tournaments" }, members.map(card)));
  });
  const empty = h("p", { id: "no-tournaments", class: "empty" },
    "No tournaments yet. When an organiser opens one, it appears here.");
  clear(app,
    h("h1", {}, "Tournaments"),
    sections.some(Boolean) ? h("div", { id: "tournaments" }, sections) : empty);
}

async function load(app) {
  // The API lists newest first; within a group that order stays (the most recent on top).
  render(app, await allOf("/api/v1/tournaments", { max: 1000 }));
}

const app = $("#app");
clear(app, h("h1", {}, "Tournaments"), h("p", { class: "muted" }, "Loading…"));
load(app)
  .catch((err) => clear(app, h("h1", {}, "Tournaments"), h("p", { class: "empty", id: "load-error" }, err.message)))
  .finally(() => every(REFRESH_MS, () => load(app)));
