// The live spectator page of one tournament (/t/{slug}): its clock, the live leaderboard (server-sent
// events merged into a local board), the rules in plain words, a bot's card with its equity curve, and
// the final results once it is over.
import { allOf, api, followLeaderboard, pageOf } from "/static/js/api.js";
import { equityChart } from "/static/js/chart.js";
import { earnedPanel } from "/static/js/achievements.js";
import { $, badge, clear, every, fmtMoney, fmtNumber, fmtPct, fmtTime, h, notify } from "/static/js/ui.js";

const DETAIL_MS = 4000; // status changes (open -> running -> finished) are caught by polling the detail
const CARD_MS = 5000; // an open bot card is refreshed this often while the tournament runs
const MAX_ROWS = 5000; // the initial board is read page by page up to this many bots; the stream adds the rest

const slug = decodeURIComponent(location.pathname.replace(/^\/t\//, "").replace(/\/+$/, ""));
const base = `/api/v1/tournaments/${encodeURIComponent(slug)}`;
const cents = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" }); // fees are small sums

const state = {
  detail: null, // the last GET /tournaments/{slug}
  scores: new Map(), // bot key -> latest score; null for an entrant not scored yet
  labels: new Map(), // bot key -> { name, contestant }: the bot's name as chosen, and its owner (from the API)
  shownRanks: new Map(), // bot key -> the rank on screen, to tell who moved
  moves: new Map(), // bot key -> places moved in the last reshuffle (+ up, - down)
  tick: null, // the clock: the latest tick seen (detail or stream) and its simulated time
  ts: null,
  board: "none", // the initial board read: none | loading | loaded | failed
  touched: null, // bots the stream changed while the initial board was being read (their value wins)
  catchingUp: false, // a status refresh prompted by the stream is under way
  stopFollowing: null,
  stopDetail: null,
  stopCard: null,
  results: "none", // none | loading | shown | failed
  renderQueued: false,
  rulesKey: "",
  card: { bot: null, chart: null },
};

// -- the page's skeleton: built once, then only updated -----------------------------------------------

const el = {
  name: h("h1", { id: "tournament-name" }, slug),
  status: h("span", { id: "tournament-status", class: "badge" }, "loading"),
  connection: h("span", { id: "connection", class: "badge", title: "live updates" }, "connecting"),
  tick: h("span", { id: "clock-tick" }, "—"),
  progress: h("progress", { id: "clock-progress", max: 1, value: 0 }),
  market: h("span", { id: "clock-market" }, "—"),
  wall: h("dl", { id: "clock-wall", class: "kv" }),
  boardNote: h("p", { id: "board-note", class: "empty" }, "Loading…"),
  boardBody: h("tbody"),
  boardPanel: null,
  left: null, // the wide column: the live board; the bot card once the final results take the page's width
  results: h("section", { id: "results", class: "panel", hidden: true }),
  rules: h("ul", { id: "rules" }),
  card: h("section", { id: "card", class: "panel", hidden: true, "aria-live": "polite" }),
  cardBot: h("h2", { id: "card-bot" }),
  cardOwner: h("span", { id: "card-contestant", class: "contestant muted" }),
  cardFigures: h("dl", { id: "card-figures", class: "kv" }),
  cardNote: h("p", { id: "card-note", class: "muted" }),
  cardChart: h("div", { id: "card-chart", class: "chart" }),
};

function skeleton(app) {
  el.boardPanel = h("section", { id: "board-panel", class: "panel" },
    h("h2", {}, "Leaderboard"),
    el.boardNote,
    h("div", { class: "table-wrap" },
      h("table", { id: "leaderboard" },
        h("thead", {}, h("tr", {},
          h("th", { class: "num" }, "Rank"), h("th", {}, "Bot"), h("th", { class: "num" }, "Score"),
          h("th", { class: "num" }, "Change"))),
        el.boardBody)));
  el.left = h("div", {}, el.boardPanel);
  clear(el.card,
    h("div", { class: "row" }, el.cardBot, el.cardOwner, h("span", { class: "spacer" }),
      h("button", { id: "card-close", type: "button", onclick: closeCard }, "Close")),
    el.cardFigures, el.cardNote, el.cardChart);
  clear(app,
    h("section", { id: "head", class: "panel" },
      h("div", { class: "row" }, el.name, h("span", { class: "spacer" }), el.status, el.connection),
      h("div", { id: "clock" },
        h("div", { class: "row" }, el.tick, h("span", { class: "spacer" }),
          h("span", { class: "muted" }, "market time ", el.market)),
        el.progress,
        el.wall)),
    el.results,
    h("div", { class: "grid two" },
      el.left,
      h("div", {}, el.card,
        h("section", { id: "rules-panel", class: "panel" }, h("h2", {}, "Rules"), el.rules))));
}

function setBadge(node, text) {
  node.className = `badge badge-${String(text).replace(/[^a-z_]/gi, "")}`;
  node.textContent = text;
}

const setConnection = (text) => setBadge(el.connection, text);

const SCORE = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

// Scores by the tournament's formula: a return is a percentage, NAV-based scores are dollar amounts
// shown to the cent (close rivals differ by little).
function fmtScore(score) {
  if (score === null || score === undefined) return "—";
  return state.detail?.ruleset?.scoring?.formula === "return" ? fmtPct(score) : SCORE.format(score);
}

// -- header and clock ------------------------------------------------------------------------------------

function renderHeader(detail) {
  el.name.textContent = detail.name;
  document.title = `${detail.name} · Arena`;
  setBadge(el.status, detail.status);
  const times = [
    ["Entries open", detail.status === "open" ? detail.entry_opens_at : null],
    ["Entries close", detail.status === "open" ? detail.entry_closes_at : null],
    ["Starts", detail.status === "open" ? detail.starts_at : null],
    ["Started", detail.started_at],
    ["Ends", detail.status === "running" ? detail.ends_at : null],
    ["Finished", detail.finished_at],
  ].filter(([, when]) => when);
  clear(el.wall, times.map(([label, when]) => [h("dt", {}, label), h("dd", {}, fmtTime(when))]));
}

// The clock only moves forward: the detail poll and the stream may report ticks out of order.
function advanceClock(tick, ts) {
  if (typeof tick !== "number" || (state.tick !== null && tick < state.tick)) return;
  state.tick = tick;
  if (typeof ts === "number") state.ts = ts;
  renderClock();
}

function renderClock() {
  const detail = state.detail;
  const total = detail?.progress?.ticks ?? detail?.ticks ?? null;
  if (state.tick === null) {
    const waiting = { open: "not started", running: "waiting for the first tick" };
    el.tick.textContent = waiting[detail?.status] ?? "no ticks run";
  } else {
    el.tick.textContent = total ? `tick ${state.tick} of ${total}` : `tick ${state.tick}`;
  }
  el.progress.max = total || 1;
  el.progress.value = Math.min(state.tick ?? 0, total || 1);
  el.market.textContent = fmtTime(state.ts);
  el.market.parentElement.hidden = state.ts === null; // e.g. a finished run's end carries no market time
}

function renderRules(lines) {
  const key = JSON.stringify(lines || []);
  if (key === state.rulesKey) return; // unchanged: keep the list (and the reader's selection) as it is
  state.rulesKey = key;
  clear(el.rules, lines?.length ? lines.map((line) => h("li", {}, line))
    : h("li", { class: "muted" }, "The default rules apply."));
}

// -- the leaderboard -----------------------------------------------------------------------------------

// Competition ranking (1, 2, 2, 4); ties listed by bot key, descending. Entrants without a score come last, unranked.
function ranked() {
  const scored = [];
  const waiting = [];
  for (const [bot, score] of state.scores) (score === null ? waiting : scored).push({ bot, score });
  const byKey = (a, b) => (a.bot < b.bot ? -1 : a.bot > b.bot ? 1 : 0);
  // Ties as the server lists them (the Redis sorted set: bot key descending), so reloads agree with the stream.
  scored.sort((a, b) => b.score - a.score || byKey(b, a));
  waiting.sort(byKey);
  scored.forEach((row, i) => {
    row.rank = i > 0 && scored[i - 1].score === row.score ? scored[i - 1].rank : i + 1;
  });
  return [...scored, ...waiting.map((row) => ({ ...row, rank: null }))];
}

// -- names: the API names each bot key's bot and owner (the stream carries keys only) -----------------------

function learnLabels(list) {
  let changed = false;
  for (const { bot, name, contestant } of list || []) {
    if (!bot || !name || state.labels.get(bot)?.name === name) continue;
    state.labels.set(bot, { name, contestant: contestant ?? null });
    changed = true;
  }
  if (changed) for (const [bot, row] of rows) fillName(row.name, bot);
}

const labelOf = (bot) => state.labels.get(bot) ?? { name: bot, contestant: null };

// The bot's name, then its owner as a secondary label.
function nameCell(bot) {
  const cell = h("span", { class: "bot-name" });
  fillName(cell, bot);
  return cell;
}

function fillName(cell, bot) {
  const { name, contestant } = labelOf(bot);
  clear(cell, h("span", { class: "name" }, name), contestant ? h("span", { class: "contestant muted" }, contestant) : null);
}

const rows = new Map(); // bot key -> its <tr> and cells, reused across updates so animations survive

function rowFor(bot) {
  let row = rows.get(bot);
  if (row) return row;
  const name = nameCell(bot);
  const link = h("a", { href: `#bot=${encodeURIComponent(bot)}`, title: bot }, name);
  row = {
    name,
    tr: h("tr", { class: "clickable", dataset: { bot }, onclick: rowClick(bot) }),
    rank: h("td", { class: "rank num" }),
    bot: h("td", { class: "bot" }, link),
    score: h("td", { class: "score num" }),
    change: h("td", { class: "change num" }),
  };
  row.tr.append(row.rank, row.bot, row.score, row.change);
  row.tr.addEventListener("animationend", () => row.tr.classList.remove("moved-up", "moved-down"));
  rows.set(bot, row);
  return row;
}

// Restart the row's highlight even if it is still playing from the previous move.
function flash(tr, cls) {
  tr.classList.remove("moved-up", "moved-down");
  void tr.offsetWidth; // forces a style flush, so the re-added class starts the animation again
  tr.classList.add(cls);
}

// Re-rank and redraw, at most once per frame however many stream messages arrived.
function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    renderBoard();
  });
}

function renderBoard() {
  const order = ranked();
  const moved = [];
  for (const { bot, rank } of order) {
    const before = state.shownRanks.get(bot);
    if (rank !== null && before !== undefined && before !== null && before !== rank) moved.push([bot, before - rank]);
  }
  if (moved.length) state.moves = new Map(moved); // arrows show the latest reshuffle only
  for (const { bot, score, rank } of order) {
    const row = rowFor(bot);
    row.rank.textContent = rank === null ? "—" : String(rank);
    row.score.textContent = fmtScore(score);
    const places = state.moves.get(bot) ?? 0;
    const n = Math.abs(places);
    row.change.className = `change num ${places > 0 ? "up" : places < 0 ? "down" : "muted"}`;
    row.change.textContent = places > 0 ? `▲${n}` : places < 0 ? `▼${n}` : "–";
    row.change.title = places ? `${places > 0 ? "up" : "down"} ${n} place${n === 1 ? "" : "s"}` : "";
    row.tr.classList.toggle("selected", bot === state.card.bot);
    el.boardBody.append(row.tr); // appending an attached row moves it: the body ends up in rank order
  }
  for (const [bot, change] of moved) flash(rowFor(bot).tr, change > 0 ? "moved-up" : "moved-down");
  state.shownRanks = new Map(order.map(({ bot, rank }) => [bot, rank]));
  renderBoardNote();
}

function renderBoardNote() {
  const status = state.detail?.status;
  const scored = [...state.scores.values()].some((score) => score !== null);
  let note = "";
  if (status === "cancelled") note = "This tournament was cancelled.";
  else if (status === "failed") note = "This tournament failed: its engine stopped. It may be re-run.";
  else if (!state.scores.size) note = "No entrants yet.";
  else if (status === "open") note = "The board fills in when the tournament starts.";
  else if (!scored) note = "Waiting for the first scores.";
  el.boardNote.textContent = note;
  el.boardNote.hidden = !note;
}

// A stream message carries the scores of the bots that changed only: merge, then re-rank.
function onChange(message) {
  setConnection("live"); // a message is proof of a working stream, heartbeat or not
  for (const [bot, score] of Object.entries(message.scores || {})) {
    state.scores.set(bot, score);
    state.touched?.add(bot);
  }
  advanceClock(message.tick, message.ts);
  scheduleRender();
  // A change is published after the board is written, so from now on reading the board cannot 404.
  loadBoard();
  // Scores only flow once it runs: catch up with the status now rather than at the next poll.
  if (state.detail?.status === "open" && !state.catchingUp) {
    state.catchingUp = true;
    refresh().catch((err) => notify(err.message, "error")).finally(() => (state.catchingUp = false));
  }
}

function startFollowing() {
  if (state.stopFollowing) return;
  setConnection("connecting");
  state.stopFollowing = followLeaderboard(slug, { onChange, onState: setConnection });
}

function stopFollowing(label) {
  state.stopFollowing?.();
  state.stopFollowing = null;
  setConnection(label);
}

// The board as it stands, read once (the stream carries only changes). Only called once the board is
// known to exist: the tournament finished, or a change was streamed. Progress alone is not enough (a bot
// reaches the board when its NAV first moves, which may be ticks later), and a 404 is a console error.
async function loadBoard() {
  if (state.board !== "none") return; // read already, or being read, or refused (not asked again)
  state.board = "loading";
  state.touched = new Set();
  try {
    const read = new Map();
    const standings = await allOf(`${base}/leaderboard`, { max: MAX_ROWS });
    learnLabels(standings);
    for (const { bot, score } of standings) read.set(bot, score);
    // A change streamed while we read is at least as new as what the read saw.
    for (const [bot, score] of read) if (!state.touched.has(bot)) state.scores.set(bot, score);
    state.board = "loaded";
    scheduleRender();
  } catch (err) {
    if (err.status === 0) {
      state.board = "none"; // unreachable for a moment: the next streamed change tries again
    } else {
      state.board = "failed";
      notify(err.message, "error");
    }
  } finally {
    state.touched = null;
  }
}

// -- final results -------------------------------------------------------------------------------------

async function showResults() {
  if (state.results !== "none") return;
  state.results = "loading";
  let results;
  const standings = [];
  try {
    results = await pageOf(`${base}/results`); // the first page says when it finished; the rest follow
    standings.push(...results.items);
    for (let next = results.next; next && standings.length < MAX_ROWS;) {
      const page = await pageOf(`${base}/results`, { cursor: next });
      standings.push(...page.items);
      next = page.next;
    }
  } catch (err) {
    state.results = "failed";
    notify(err.message, "error");
    loadBoard(); // the final board is the next best thing
    return;
  }
  state.results = "shown";
  learnLabels(standings);
  const body = standings.map((s) => h("tr",
    { class: "clickable", dataset: { bot: s.bot }, onclick: rowClick(s.bot) },
    h("td", { class: "rank num" }, s.rank),
    h("td", { class: "bot" }, h("a", { href: `#bot=${encodeURIComponent(s.bot)}`, title: s.bot }, nameCell(s.bot))),
    h("td", { class: "score num" }, fmtScore(s.score)),
    h("td", { class: "nav num" }, fmtMoney(s.nav)),
    h("td", { class: "drawdown num" }, fmtPct(s.max_drawdown)),
    h("td", { class: "trades num" }, fmtNumber(s.trades)),
    h("td", { class: "fees num" }, cents.format(s.fees)),
    h("td", { class: "status" }, badge(s.status), s.disqualified ? [" ", badge("disqualified")] : null)));
  clear(el.results,
    h("h2", {}, "Final results"),
    h("p", { class: "muted" }, `Finished ${fmtTime(results.finished_at)}.`),
    // The whole record is public once finished (ticks, orders, fills, rejections, equity, standings).
    h("p", { id: "record-downloads", class: "muted" }, "Download the record: ",
      h("a", { href: `${base}/export?format=parquet`, download: "" }, "Parquet"), " · ",
      h("a", { href: `${base}/export?format=csv`, download: "" }, "CSV"),
      " (zip; schema in docs/export.md)"),
    h("div", { class: "table-wrap" },
      h("table", { id: "results-table" },
        h("thead", {}, h("tr", {},
          ["Rank", "Bot", "Score", "NAV", "Max drawdown", "Trades", "Fees", "Status"].map((title, i) =>
            h("th", { class: i === 1 || i === 7 ? null : "num" }, title)))),
        h("tbody", {}, body))));
  el.results.hidden = false;
  el.results.after(earnedPanel(slug)); // the badges and levels its contestants earned in it, once rated
  el.boardPanel.hidden = true; // the final standings, full width above, replace the live board
  el.left.prepend(el.card); // and the card takes its place (the chart follows its new width)
}

// -- the bot card --------------------------------------------------------------------------------------

function botFromHash() {
  return new URLSearchParams(location.hash.slice(1)).get("bot");
}

// Clicking a bot goes through the address (#bot=<key>), so a card can be linked to and Back closes it.
function showBot(bot) {
  const target = `#bot=${encodeURIComponent(bot)}`;
  if (location.hash === target) openCard(bot);
  else location.hash = target;
}

// A click anywhere on a bot's row opens its card; on its link, the link does (it changes the hash).
function rowClick(bot) {
  return (event) => {
    if (!event.target.closest("a")) showBot(bot);
  };
}

function closeCard() {
  history.replaceState(null, "", location.pathname + location.search);
  hideCard();
}

function hideCard() {
  state.card.bot = null;
  dropChart();
  el.card.hidden = true;
  for (const row of rows.values()) row.tr.classList.remove("selected");
}

function dropChart() {
  state.card.chart?.stopFollowing();
  state.card.chart?.destroy();
  state.card.chart = null;
}

async function openCard(bot) {
  // Only bots of this tournament: anything else would be a 404 (a console error) for a typo'd address.
  if (!state.scores.has(bot)) {
    notify(`${bot} is not entered in this tournament`, "error");
    return;
  }
  const switching = state.card.bot !== bot;
  state.card.bot = bot;
  el.cardBot.textContent = labelOf(bot).name;
  el.cardOwner.textContent = labelOf(bot).contestant ?? "";
  el.card.hidden = false;
  for (const [key, row] of rows) row.tr.classList.toggle("selected", key === bot);
  if (switching) {
    dropChart();
    clear(el.cardFigures);
    el.cardNote.textContent = "Loading…";
  }
  await loadCard();
  if (switching && matchMedia("(max-width: 899px)").matches) el.card.scrollIntoView({ block: "start" });
}

async function loadCard() {
  const bot = state.card.bot;
  if (!bot) return;
  let card;
  try {
    card = await api(`${base}/bots/${encodeURIComponent(bot)}`);
  } catch (err) {
    if (err.status !== 0) notify(err.message, "error"); // offline: the next refresh retries quietly
    return;
  }
  if (state.card.bot !== bot) return; // another bot was chosen meanwhile
  learnLabels([card]);
  el.cardBot.textContent = labelOf(bot).name;
  el.cardOwner.textContent = labelOf(bot).contestant ?? "";
  const liveRank = state.shownRanks.get(bot) ?? null;
  clear(el.cardFigures, [
    ["Score", fmtScore(card.score)],
    ["NAV", fmtMoney(card.nav)],
    ["Max drawdown", fmtPct(card.max_drawdown)],
    ["Trades", fmtNumber(card.trades)],
    ["Fees", cents.format(card.fees)],
    ["Rank", card.rank ?? liveRank ?? "—"],
    ["Status", [badge(card.status), card.disqualified ? [" ", badge("disqualified")] : null]],
  ].map(([label, value]) => [
    h("dt", {}, label),
    h("dd", { "data-figure": label.toLowerCase().replace(/ /g, "-") }, value), // e.g. data-figure="max-drawdown"
  ]));
  // A curve needs two points; until then no empty frame (the record is written in batches of ticks).
  const drawable = card.equity.length >= 2;
  el.cardNote.textContent = card.final ? "Final figures."
    : drawable ? "So far: the record trails the live board by a few seconds." : "No equity curve on record yet.";
  dropChart();
  el.cardChart.hidden = !drawable;
  if (drawable) state.card.chart = equityChart(el.cardChart, card.equity);
}

function onHash() {
  const bot = botFromHash();
  if (bot) openCard(bot);
  else hideCard();
}

// -- following the tournament through its life ------------------------------------------------------------

function apply(detail) {
  state.detail = detail;
  renderHeader(detail);
  renderRules(detail.rules_text);
  learnLabels(detail.entrants);
  if (detail.progress) advanceClock(detail.progress.tick, detail.progress.ts);
  else renderClock();
  for (const bot of detail.bots || []) {
    if (!state.scores.has(bot)) state.scores.set(bot, null); // listed, unranked, before its first score
  }
  scheduleRender(); // new entrants, and the board's note follows the status
  const status = detail.status;
  if (status === "open" || status === "running") startFollowing();
  if (status === "finished" || status === "cancelled" || status === "failed") {
    // Terminal: nothing changes any more, so stop the stream and the polling.
    stopFollowing(status === "finished" ? "final" : "ended");
    state.stopDetail?.();
    state.stopCard?.();
    state.stopDetail = state.stopCard = null;
    if (status === "finished") showResults().then(loadCard);
    else renderBoardNote();
  }
}

async function refresh() {
  let detail;
  try {
    detail = await api(base);
  } catch (err) {
    if (err.status === 0) return; // unreachable for a moment: the next poll tries again
    throw err; // every() shows it
  }
  apply(detail);
}

async function main() {
  const app = $("#app");
  skeleton(app);
  let detail;
  try {
    detail = await api(base);
  } catch (err) {
    clear(app,
      h("h1", { id: "tournament-name" }, slug),
      h("p", { id: "load-error", class: "empty" }, err.message),
      h("p", {}, h("a", { href: "/" }, "All tournaments")));
    return;
  }
  state.stopDetail = every(DETAIL_MS, refresh);
  state.stopCard = every(CARD_MS, () => (state.detail?.status === "running" ? loadCard() : undefined));
  apply(detail);
  window.addEventListener("hashchange", onHash);
  if (botFromHash()) onHash();
}

main();
