// The global ranking (/ratings): every rated contestant, the highest rating first, a page at a time (the list
// answers {items, next}; "More" follows the cursor).
import { api } from "/static/js/api.js";
import { $, clear, fmtNumber, h } from "/static/js/ui.js";
import { profileHref } from "/static/js/achievements.js";

const PAGE = 50;
const app = $("#app");
const body = h("tbody");
const more = h("button", { type: "button", id: "more" }, "More");
const moreRow = h("div", { id: "more-row", hidden: true }, more); // a button's display rule would beat [hidden]
let next = null;

function row(r) {
  return h("tr", { dataset: { contestant: r.contestant } },
    h("td", { class: "num place" }, r.place),
    h("td", {}, h("a", { href: profileHref(r.contestant) }, r.contestant)),
    h("td", { class: "num rating" }, fmtNumber(r.rating)),
    h("td", { class: "num" }, r.tournaments),
    h("td", { class: "num" }, r.level),
    h("td", { class: "badges" }, r.badges.map((code) => h("span", { class: "badge achievement-code" }, code.replace(/_/g, " ")))));
}

async function load() {
  const query = new URLSearchParams({ limit: String(PAGE), ...(next ? { cursor: next } : {}) });
  const page = await api(`/api/v1/ratings?${query}`);
  body.append(...page.items.map(row));
  next = page.next;
  moreRow.hidden = !next;
  if (!body.children.length) $("#no-ratings").hidden = false;
}

more.addEventListener("click", () => load().catch((err) => clear(app, h("p", { class: "empty" }, err.message))));
clear(app,
  h("h1", {}, "Ratings"),
  h("p", { class: "muted" }, "Every finished tournament updates its contestants' ratings (openskill); a contestant places by their best bot."),
  h("p", { id: "no-ratings", class: "empty", hidden: true }, "No tournament has been rated yet."),
  h("div", { class: "table-wrap" },
    h("table", { id: "ratings" },
      h("thead", {}, h("tr", {}, ["Place", "Contestant", "Rating", "Tournaments", "Level", "Badges"].map((t, i) =>
        h("th", { class: i === 1 || i === 5 ? null : "num" }, t)))),
      body)),
  moreRow);
load().catch((err) => clear(app, h("h1", {}, "Ratings"), h("p", { class: "empty", id: "load-error" }, err.message)));
