// The admin dashboard (/admin): tournaments and their lifecycle, a creation form with the ruleset, each
// tournament's entrants with their live CPU and memory, logs, disqualification, and recent uploads with
// their smoke tests.
import { allOf, api, pageOf, session } from "./api.js";
import {
  h, $, clear, fmtBytes, fmtNumber, fmtTime, badge, notify, showFieldErrors, clearFieldErrors, every, renderWho as renderWhoIn,
} from "./ui.js";

const app = $("#app");
const who = $("#who");

// Which lifecycle actions the store allows from each status (arena/store/tournaments.py TRANSITIONS,
// plus freeze and re-run).
const LEGAL = {
  draft: ["open", "cancel"],
  open: ["start", "cancel"],
  running: ["stop", "freeze", "cancel"],
  finished: ["freeze", "rerun"],
  cancelled: ["rerun"],
  failed: ["rerun"],
};
const ACTIONS = [
  { action: "open", label: "Open entries", hint: "draft → open: contestants may enter" },
  { action: "start", label: "Start", hint: "open → running", primary: true },
  { action: "stop", label: "Stop", hint: "end it now with the standings so far", confirm: "Confirm stop" },
  { action: "freeze", label: "Freeze board", hint: "freeze the public leaderboard" },
  { action: "cancel", label: "Cancel", hint: "cancel the tournament", confirm: "Confirm cancel", danger: true },
  { action: "rerun", label: "Re-run", hint: "run again from the recorded seed as a new tournament" },
];
const LIVE = new Set(["open", "running"]);
const FORMULAS = [
  ["nav_drawdown", "NAV × (1 − max drawdown)"],
  ["nav", "NAV"],
  ["return", "return"],
];

const state = {
  me: null,
  tournaments: [],
  selected: null, // slug
  detail: null,
  defaults: null, // the default ruleset
  uploads: [],
  stopPolling: null,
  ticks: 0,
  log: null, // {entry, lines, next}
};

// ---- small helpers -----------------------------------------------------------------------------------

const enc = encodeURIComponent;

function getPath(obj, path) {
  return path.split(".").reduce((o, key) => (o === null || o === undefined ? undefined : o[key]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const key of keys.slice(0, -1)) {
    if (typeof o[key] !== "object" || o[key] === null) o[key] = {};
    o = o[key];
  }
  o[keys[keys.length - 1]] = value;
}

const isPlainObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

function deepMerge(base, over) {
  const out = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? deepMerge(out[key], value) : value;
  }
  return out;
}

const commaList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

// An API field like "rules.asset_classes.0" or "symbols.1" belongs next to the nearest input that has a
// data-field for it or one of its parents ("rules" is the advanced JSON box).
function nearestFields(form, error) {
  const fields = (error.fields || []).map(({ field, message }) => {
    const parts = String(field).split(".");
    while (parts.length > 1 && !form.querySelector(`[data-field="${CSS.escape(parts.join("."))}"]`)) parts.pop();
    const near = parts.join(".");
    const found = form.querySelector(`[data-field="${CSS.escape(near)}"]`);
    return found && near !== field ? { field: near, message: `${field.slice(near.length + 1)}: ${message}` } : { field, message };
  });
  return { message: error.message, fields };
}

// A button that asks once more inline: the first click turns it into "Confirm …", the second acts.
function confirmable(button, confirmText, action) {
  const label = button.textContent;
  let timer = null;
  const disarm = () => {
    clearTimeout(timer);
    delete button.dataset.armed;
    button.classList.remove("armed");
    button.textContent = label;
  };
  button.disarm = disarm;
  button.addEventListener("click", async () => {
    if (!button.dataset.armed) {
      button.dataset.armed = "true";
      button.classList.add("armed");
      button.textContent = confirmText;
      timer = setTimeout(disarm, 8000);
      return;
    }
    disarm();
    await action();
  });
  return button;
}

// Keep a table body's rows in step with items, row by row (so buttons, open <details> and half-finished
// confirmations survive a refresh): build(item) makes a row, update(row, item) refreshes it.
function syncRows(tbody, items, keyOf, attr, build, update) {
  const existing = new Map([...tbody.children].filter((r) => r.dataset[attr] !== undefined).map((r) => [r.dataset[attr], r]));
  const wanted = items.map((item) => {
    const key = String(keyOf(item));
    let row = existing.get(key);
    existing.delete(key);
    if (!row) {
      row = build(item);
      row.dataset[attr] = key;
    }
    update(row, item);
    return row;
  });
  for (const row of existing.values()) row.remove();
  for (const row of [...tbody.children]) if (row.dataset[attr] === undefined) row.remove();
  wanted.forEach((row, i) => {
    if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
  });
}

function cell(row, name) {
  return row.querySelector(`[data-col="${name}"]`);
}

function emptyRow(tbody, columns, text) {
  if (!tbody.children.length) tbody.append(h("tr", { class: "empty-row" }, h("td", { colspan: columns, class: "empty" }, text)));
}

// ---- header: who is signed in -------------------------------------------------------------------------

function renderWho() {
  renderWhoIn(who, state.me, signOut);
}

async function signOut() {
  try {
    await session.signOut();
  } catch (err) {
    notify(err.message, "error");
    return;
  }
  state.stopPolling?.();
  Object.assign(state, { me: null, tournaments: [], selected: null, detail: null, uploads: [], log: null });
  render();
}

// ---- sign in ------------------------------------------------------------------------------------------

function signInView(message) {
  const form = h("form", { id: "signin-form", class: "stack", novalidate: true },
    message ? h("p", { class: "notice-inline", id: "not-admin" }, message) : null,
    h("label", {}, "Name", h("input", { name: "name", autocomplete: "username", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password" })),
    h("p", { class: "muted or" }, "or"),
    h("label", {}, "Admin API key",
      h("input", { name: "api_key", type: "password", autocomplete: "off", placeholder: "arena_…" })),
    h("div", { class: "form-errors", hidden: true }),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const data = new FormData(form);
    const key = String(data.get("api_key") || "").trim();
    const name = String(data.get("name") || "").trim();
    const password = String(data.get("password") || "");
    if (!key && !(name && password)) {
      showFieldErrors(form, { message: "Enter your name and password, or an admin API key." });
      return;
    }
    const button = $("#signin-submit", form);
    button.disabled = true;
    try {
      const answer = await session.signIn(key ? { api_key: key } : { name, password });
      state.me = answer.contestant;
      render();
    } catch (err) {
      form.elements.password.value = "";
      form.elements.api_key.value = "";
      showFieldErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "panel signin" }, h("h2", {}, "Admin sign-in"), form);
}

// ---- dashboard ----------------------------------------------------------------------------------------

function dashboardView() {
  return [
    h("h1", {}, "Admin"),
    h("div", { class: "grid two admin-top" },
      h("section", { class: "panel", id: "tournaments-panel" },
        h("div", { class: "row" }, h("h2", {}, "Tournaments"), h("span", { class: "spacer" }),
          h("button", { type: "button", id: "tournaments-refresh", onclick: () => loadTournaments().catch(report) }, "Refresh")),
        h("div", { class: "table-wrap" },
          h("table", { id: "tournaments" },
            h("thead", {}, h("tr", {}, h("th", {}, "Tournament"), h("th", {}, "Status"), h("th", {}, "Clock"),
              h("th", { class: "num" }, "Ticks"), h("th", { class: "num" }, "Entrants"))),
            h("tbody", {})))),
      h("section", { class: "panel", id: "create-panel" }, h("h2", {}, "New tournament"), createForm())),
    h("section", { class: "panel", id: "tournament-detail", hidden: true }),
    h("section", { class: "panel", id: "uploads-panel" },
      h("div", { class: "row" }, h("h2", {}, "Recent uploads"), h("span", { class: "spacer" }),
        h("button", { type: "button", id: "uploads-refresh", onclick: () => loadUploads().catch(report) }, "Refresh")),
      h("div", { class: "table-wrap" },
        h("table", { id: "uploads" },
          h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Owner"), h("th", {}, "Bot"),
            h("th", { class: "num" }, "Version"), h("th", {}, "Status"), h("th", {}, "Smoke test"),
            h("th", { class: "num" }, "Size"), h("th", {}, "Log"))),
          h("tbody", {})))),
  ];
}

function report(err) {
  notify(err.message, "error");
}

// ---- tournaments list ---------------------------------------------------------------------------------

async function loadTournaments() {
  state.tournaments = await allOf("/api/v1/admin/tournaments");
  renderTournaments();
}

function renderTournaments() {
  const tbody = $("#tournaments tbody");
  if (!tbody) return;
  syncRows(tbody, state.tournaments, (t) => t.slug, "slug",
    (t) => {
      const row = h("tr", { class: "clickable", tabindex: "0" },
        h("td", { "data-col": "name" }), h("td", { "data-col": "status" }), h("td", { "data-col": "clock" }),
        h("td", { class: "num", "data-col": "ticks" }), h("td", { class: "num", "data-col": "entries" }));
      row.addEventListener("click", () => select(t.slug, true));
      row.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          select(t.slug, true);
        }
      });
      return row;
    },
    (row, t) => {
      row.classList.toggle("selected", t.slug === state.selected);
      row.setAttribute("aria-selected", String(t.slug === state.selected));
      clear(cell(row, "name"), h("div", { class: "t-name" }, t.name), h("div", { class: "muted small" }, t.slug));
      clear(cell(row, "status"), badge(t.status), t.frozen ? [" ", badge("frozen")] : null);
      clear(cell(row, "clock"), t.clock);
      clear(cell(row, "ticks"), fmtNumber(t.ticks));
      clear(cell(row, "entries"), String(t.entries));
    });
  emptyRow(tbody, 5, "No tournaments yet: create one.");
}

async function select(slug, reveal = false) {
  if (state.selected !== slug) state.log = null;
  state.selected = slug;
  renderTournaments();
  try {
    await loadDetail(true);
  } catch (err) {
    report(err);
    return;
  }
  const panel = $("#tournament-detail");
  if (reveal && panel && panel.getBoundingClientRect().top > window.innerHeight) panel.scrollIntoView({ block: "start" });
}

// ---- one tournament -----------------------------------------------------------------------------------

async function loadDetail(fresh = false) {
  const slug = state.selected;
  if (!slug) return;
  const detail = await api(`/api/v1/admin/tournaments/${enc(slug)}`);
  if (state.selected !== slug) return; // another was chosen meanwhile
  const changed = state.detail && state.detail.slug === slug && state.detail.status !== detail.status;
  state.detail = detail;
  renderDetail(fresh);
  if (changed && state.log) await fetchLog(null); // the run ended: its log and end are on record now
}

function renderDetail(fresh) {
  const panel = $("#tournament-detail");
  const t = state.detail;
  if (!panel || !t) return;
  if (fresh || panel.dataset.slug !== t.slug) {
    panel.dataset.slug = t.slug;
    clear(panel,
      h("div", { class: "row detail-head" }, h("h2", { id: "detail-title" }), h("span", { class: "spacer" }),
        h("span", { id: "detail-link" })),
      h("dl", { class: "kv", id: "detail-facts" }),
      h("div", { class: "row actions", id: "lifecycle" }, ACTIONS.map(actionButton)),
      h("details", { id: "detail-rules" }, h("summary", {}, "Ruleset override"), h("pre", { class: "rules-json" })),
      h("h3", {}, "Entrants"),
      h("div", { class: "table-wrap" },
        h("table", { id: "entrants" },
          h("thead", {}, h("tr", {}, h("th", {}, "Bot"), h("th", {}, "Owner"), h("th", { class: "num" }, "Version"),
            h("th", {}, "Status"), h("th", { class: "num" }, "CPU"), h("th", { class: "num" }, "Memory"),
            h("th", {}, "End"), h("th", {}, ""))),
          h("tbody", {}))),
      h("section", { id: "log-viewer", class: "log-viewer", hidden: true }));
    panel.hidden = false;
  }
  clear($("#detail-title", panel), t.name, " ", badge(t.status), t.frozen ? [" ", badge("frozen")] : null);
  clear($("#detail-link", panel), t.status === "draft" ? null : h("a", { href: `/t/${enc(t.slug)}` }, "Public page →"));
  const progress = t.progress ? `tick ${fmtNumber(t.progress.tick)} of ${fmtNumber(t.progress.ticks)} (${fmtTime(t.progress.ts)})` : "not started";
  const facts = [
    ["Slug", t.slug],
    ["Feed", t.feed],
    ["Seed", String(t.seed)],
    ["Ticks", fmtNumber(t.ticks)],
    ["Clock", `${t.clock} · ${t.interval_s} s of market per tick · ${t.tick_deadline_s} s ${t.clock === "realtime" ? "per tick" : "deadline"}`],
    ["Symbols", t.symbols && t.symbols.length ? t.symbols.join(", ") : "all of the feed's"],
    ["Entries", `${fmtTime(t.entry_opens_at)} → ${fmtTime(t.entry_closes_at)}`],
    ["Schedule", `${fmtTime(t.starts_at)} → ${fmtTime(t.ends_at)}`],
    ["Ran", `${fmtTime(t.started_at)} → ${fmtTime(t.finished_at)}`],
    ["Progress", progress],
  ];
  if (t.end_reason) facts.push([t.status === "finished" ? "Note" : "Why it ended", t.end_reason]);
  clear($("#detail-facts", panel), facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  $(".rules-json", panel).textContent = JSON.stringify(t.rules || {}, null, 2);
  const legal = LEGAL[t.status] || [];
  for (const { action } of ACTIONS) {
    const button = $(`#action-${action}`, panel);
    let ok = legal.includes(action);
    let why = ok ? "" : `not while ${t.status}`;
    if (ok && action === "freeze" && t.frozen) [ok, why] = [false, "already frozen"];
    if (ok && action === "start" && !(t.entrants || []).length) [ok, why] = [false, "no entrants yet"];
    if (!ok && button.dataset.armed) button.disarm();
    button.disabled = !ok;
    button.title = why || ACTIONS.find((a) => a.action === action).hint;
  }
  renderEntrants(t);
  renderLog();
}

function actionButton({ action, label, confirm, primary, danger }) {
  const button = h("button", { type: "button", id: `action-${action}`, class: primary ? "primary" : danger ? "danger" : null }, label);
  const run = async () => {
    const slug = state.selected;
    button.disabled = true;
    try {
      const answer = await api(`/api/v1/admin/tournaments/${enc(slug)}/${action}`, { method: "POST" });
      notify(action === "rerun" ? `Re-running as ${answer.slug}` : `${slug}: ${answer.status}${answer.frozen ? " (frozen)" : ""}`, "success");
      await loadTournaments();
      await select(action === "rerun" ? answer.slug : slug);
    } catch (err) {
      report(err);
      await loadDetail().catch(() => {});
    }
  };
  if (confirm) confirmable(button, confirm, run);
  else button.addEventListener("click", run);
  return button;
}

function usageCells(usage, running) {
  if (!usage) return [running ? "…" : "—", "—"];
  const known = (v) => v !== null && v !== undefined;
  const cpuTotal = known(usage.cpu_seconds) ? h("div", { class: "muted small" }, `${Number(usage.cpu_seconds).toFixed(2)} CPU s`) : null;
  const cpu = known(usage.cpu_percent) ? `${Number(usage.cpu_percent).toFixed(1)}%` : running ? "…" : "—";
  const memory = known(usage.memory_bytes) ? fmtBytes(usage.memory_bytes) : "—";
  const peak = known(usage.peak_memory_bytes) ? h("div", { class: "muted small" }, `peak ${fmtBytes(usage.peak_memory_bytes)}`) : null;
  return [[cpu, cpuTotal], [memory, peak]];
}

function renderEntrants(t) {
  const tbody = $("#entrants tbody");
  const running = t.status === "running";
  syncRows(tbody, t.entrants || [], (e) => e.id, "entry",
    (e) => {
      const logs = h("button", { type: "button", "data-action": "logs" }, "Logs");
      logs.addEventListener("click", () => openLog(e.id, e.bot_key));
      const dq = h("button", { type: "button", class: "danger", "data-action": "disqualify" }, "Disqualify");
      confirmable(dq, "Confirm", () => disqualify(e.id, e.bot_key));
      return h("tr", {},
        h("td", { "data-col": "bot" }), h("td", { "data-col": "owner" }), h("td", { class: "num", "data-col": "version" }),
        h("td", { "data-col": "status" }), h("td", { class: "num", "data-col": "cpu" }), h("td", { class: "num", "data-col": "memory" }),
        h("td", { "data-col": "end" }), h("td", { class: "row-actions" }, logs, " ", dq));
    },
    (row, e) => {
      clear(cell(row, "bot"), e.bot_key);
      clear(cell(row, "owner"), e.contestant ?? "—");
      clear(cell(row, "version"), e.version == null ? "remote" : `v${e.version}`);  // a remote bot has no version
      clear(cell(row, "status"), badge(e.status), e.disqualified ? [" ", badge("disqualified")] : null);
      const [cpu, memory] = usageCells(e.usage, running && e.status === "running");
      clear(cell(row, "cpu"), cpu);
      clear(cell(row, "memory"), memory);
      clear(cell(row, "end"), e.end_classification ? badge(e.end_classification) : "—",
        e.end_reason ? h("div", { class: "muted small" }, e.end_reason) : null);
      const dq = row.querySelector('[data-action="disqualify"]');
      const can = !e.disqualified && LIVE.has(t.status);
      if (!can && dq.dataset.armed) dq.disarm();
      dq.disabled = !can;
      dq.title = e.disqualified ? "already disqualified" : can ? "stop its orders; it stays on the board, marked" : `not while ${t.status}`;
    });
  emptyRow(tbody, 8, t.status === "draft" ? "Open the tournament for entries." : "No entrants yet.");
}

async function disqualify(entryId, botKey) {
  try {
    await api(`/api/v1/admin/tournaments/${enc(state.selected)}/entries/${entryId}/disqualify`, { method: "POST" });
    notify(`${botKey} is disqualified`, "success");
    await loadDetail();
  } catch (err) {
    report(err);
  }
}

// ---- an entry's logs ------------------------------------------------------------------------------------

async function openLog(entryId, botKey) {
  state.log = { entry: entryId, bot: botKey, lines: [], next: null, info: null };
  renderLog();
  await fetchLog(null);
  $("#log-viewer")?.scrollIntoView({ block: "nearest" });
}

// The log's first page (cursor null), or the page after `cursor` (Load more).
async function fetchLog(cursor) {
  const log = state.log;
  if (!log) return;
  try {
    const page = await pageOf(`/api/v1/entries/${log.entry}/logs`, { cursor });
    if (state.log !== log) return;
    log.info = page;
    log.lines = cursor ? log.lines.concat(page.items) : page.items;
    log.next = page.next;
    renderLog();
  } catch (err) {
    report(err);
  }
}

function renderLog() {
  const viewer = $("#log-viewer");
  if (!viewer) return;
  const log = state.log;
  if (!log) {
    viewer.hidden = true;
    clear(viewer);
    return;
  }
  viewer.hidden = false;
  const info = log.info;
  const text = log.lines.map((l) => `${new Date(l.ts).toLocaleTimeString()} [${l.stream}] ${l.text}`).join("\n");
  const use = info && info.resource_use && Object.keys(info.resource_use).length ? info.resource_use : null;
  clear(viewer,
    h("div", { class: "row" }, h("h3", {}, `Logs · ${log.bot}`), h("span", { class: "spacer" }),
      h("button", { type: "button", id: "log-refresh", onclick: () => fetchLog(null) }, "Refresh"),
      h("button", { type: "button", id: "log-close", onclick: () => { state.log = null; renderLog(); } }, "Close")),
    info ? h("dl", { class: "kv" },
      h("dt", {}, "Status"), h("dd", {}, badge(info.status), info.end_classification ? [" ", badge(info.end_classification)] : null),
      info.end_reason ? [h("dt", {}, "Reason"), h("dd", {}, info.end_reason)] : null,
      use ? [h("dt", {}, "Resources"), h("dd", {}, resourceText(use))] : null) : h("p", { class: "muted" }, "Loading…"),
    h("pre", { class: "log", id: "log-text" }, info ? text || "(no log lines yet)" : ""),
    log.next ? h("button", { type: "button", id: "log-more", onclick: () => fetchLog(log.next) }, "Load more") : null);
}

function resourceText(use) {
  return Object.entries(use).map(([k, v]) => {
    if (k === "sandbox" && v && typeof v === "object") {
      const image = v.image ? `image ${String(v.image).slice(0, 12)}, Python ${v.python}` : "host Python";
      return `sandbox: ${v.runtime}${v.platform ? ` (${v.platform})` : ""}, ${image}`;
    }
    if (typeof v === "number" && /bytes/.test(k)) return `${k.replace(/_/g, " ")}: ${fmtBytes(v)}`;
    if (typeof v === "number") return `${k.replace(/_/g, " ")}: ${fmtNumber(v)}`;
    return `${k.replace(/_/g, " ")}: ${typeof v === "object" ? JSON.stringify(v) : v}`;
  }).join(" · ");
}

// ---- recent uploads ------------------------------------------------------------------------------------

async function loadUploads() {
  state.uploads = (await pageOf("/api/v1/admin/uploads", { limit: 50 })).items; // the latest 50
  const tbody = $("#uploads tbody");
  if (!tbody) return;
  syncRows(tbody, state.uploads, (v) => v.id, "upload",
    () => h("tr", {},
      h("td", { "data-col": "when" }), h("td", { "data-col": "owner" }), h("td", { "data-col": "bot" }),
      h("td", { class: "num", "data-col": "version" }), h("td", { "data-col": "status" }), h("td", { "data-col": "smoke" }),
      h("td", { class: "num", "data-col": "size" }),
      h("td", { "data-col": "log" }, h("details", {}, h("summary", {}, "smoke log"), h("pre", { class: "log" })))),
    (row, v) => {
      clear(cell(row, "when"), fmtTime(v.created_at));
      clear(cell(row, "owner"), v.owner ?? "—");
      clear(cell(row, "bot"), v.bot);
      clear(cell(row, "version"), `v${v.version}`);
      clear(cell(row, "status"), badge(v.status));
      clear(cell(row, "smoke"), v.end_classification ? badge(v.end_classification) : v.status === "pending" ? "running…" : "—");
      clear(cell(row, "size"), fmtBytes(v.size_bytes));
      $("pre", cell(row, "log")).textContent = v.smoke_log || (v.status === "pending" ? "(the smoke test is running)" : "(empty)");
    });
  emptyRow(tbody, 8, "No uploads yet.");
}

// ---- the creation form ------------------------------------------------------------------------------

// A labelled input in its own box, so an error placed after the label stays with it in the form's grid.
function field(label, input, hint) {
  return h("div", { class: "field" }, h("label", {}, label, input, hint ? h("span", { class: "muted small" }, hint) : null));
}

function createForm() {
  const form = h("form", { id: "create-form", class: "stack", novalidate: true },
    h("fieldset", { class: "cols" }, h("legend", {}, "Tournament"),
      field("Slug", h("input", { name: "slug", "data-field": "slug", placeholder: "spring-cup", autocomplete: "off" })),
      field("Name", h("input", { name: "name", "data-field": "name", placeholder: "Spring Cup" })),
      field("Feed", h("input", { name: "feed", "data-field": "feed", value: "synthetic:1" }), "synthetic:SEED or an uploaded replay"),
      field("Seed", h("input", { name: "seed", "data-field": "seed", type: "number", step: "1", value: "0" })),
      field("Ticks", h("input", { name: "ticks", "data-field": "ticks", type: "number", step: "1", value: "200" })),
      field("Market seconds per tick", h("input", { name: "interval_s", "data-field": "interval_s", type: "number", step: "1", value: "60" })),
      field("Clock", h("select", { name: "clock", "data-field": "clock" },
        h("option", { value: "lockstep" }, "lockstep"), h("option", { value: "realtime" }, "realtime")), "lockstep: as fast as the bots answer"),
      field("Tick deadline (s)", h("input", { name: "tick_deadline_s", "data-field": "tick_deadline_s", type: "number", step: "any", value: "2" })),
      field("Symbols", h("input", { name: "symbols", "data-field": "symbols", placeholder: "SPY, BTC-USD" }), "comma list; blank: the feed's"),
      field("Entries open", h("input", { name: "entry_opens_at", "data-field": "entry_opens_at", type: "datetime-local" })),
      field("Entries close", h("input", { name: "entry_closes_at", "data-field": "entry_closes_at", type: "datetime-local" })),
      field("Starts at", h("input", { name: "starts_at", "data-field": "starts_at", type: "datetime-local" }), "starts by itself once open"),
      field("Ends at", h("input", { name: "ends_at", "data-field": "ends_at", type: "datetime-local" }))),
    h("fieldset", { class: "cols", id: "ruleset-fields" }, h("legend", {}, "Ruleset"),
      h("p", { class: "muted small span-all" }, "Loading the default ruleset…")),
    h("fieldset", { id: "fee-fields" }, h("legend", {}, "Fees (basis points of notional)")),
    h("details", { id: "advanced" }, h("summary", {}, "Advanced override (JSON)"),
      field("Merged over the values above", h("textarea", { name: "rules_json", "data-field": "rules", id: "rules-json",
        spellcheck: "false", placeholder: '{"slippage": {"crypto": {"gamma": 0.02}}}' }))),
    h("div", { class: "form-errors", hidden: true }),
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary", id: "create-submit" }, "Create tournament"),
      h("button", { type: "button", id: "rules-reset", onclick: () => fillRules(form) }, "Reset ruleset to defaults"),
      h("span", { class: "muted small", id: "override-summary" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    createTournament(form);
  });
  form.addEventListener("input", () => summarize(form));
  form.addEventListener("change", () => summarize(form));
  return form;
}

// Asset classes as people write them (the API says "etf", "forex", ...).
const CLASS_NAMES = { equity: "Equities", etf: "ETFs", crypto: "Crypto", forex: "Forex", future: "Futures", index: "Indices" };

// The ruleset inputs: [path, label, kind, hint].
const RULE_INPUTS = [
  ["starting_balance", "Starting balance ($)", "number"],
  ["max_leverage", "Max leverage", "number", "gross exposure / NAV"],
  ["max_position_fraction", "Max position", "number", "one position's value / NAV"],
  ["daily_loss_limit", "Daily loss limit", "number", "fraction of the day's opening NAV; blank: none"],
  ["symbols", "Symbol whitelist", "list", "comma list; blank: every symbol"],
  ["asset_classes", "Asset classes", "list", "comma list; blank: all"],
  ["order_rate.max_orders", "Max orders", "number", "per window below"],
  ["order_rate.per_ms", "Order window (ms)", "number"],
  ["scoring.formula", "Scoring", "formula"],
  ["short_selling", "Short selling", "bool"],
  ["extended_hours", "Extended hours", "bool"],
];

function ruleInput(path, kind, value) {
  const attrs = { name: `rules.${path}`, "data-field": `rules.${path}`, "data-kind": kind };
  if (kind === "bool") return h("input", { ...attrs, type: "checkbox", checked: Boolean(value) });
  if (kind === "formula") {
    return h("select", attrs, FORMULAS.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  }
  if (kind === "list") return h("input", { ...attrs, value: value ? value.join(", ") : "", placeholder: "all" });
  return h("input", { ...attrs, type: "number", step: "any", value: value ?? "", placeholder: value === null ? "none" : null });
}

function buildRuleFields(form) {
  const d = state.defaults;
  const rules = $("#ruleset-fields", form);
  clear(rules, h("legend", {}, "Ruleset"), RULE_INPUTS.map(([path, label, kind, hint]) => {
    const input = ruleInput(path, kind, getPath(d, path));
    return kind === "bool" ? h("div", { class: "field" }, h("label", { class: "inline" }, input, label)) : field(label, input, hint);
  }));
  const classes = Object.keys(d.fees || {});
  const fees = $("#fee-fields", form);
  clear(fees, h("legend", {}, "Fees (basis points of notional)"),
    h("div", { class: "fee-grid" },
      // One box per asset class: an error goes on its own line under the class's two inputs.
      classes.map((cls) => h("div", { class: "fee-class field", "data-class": cls },
        h("span", { class: "fee-name" }, CLASS_NAMES[cls] || cls),
        h("label", {}, "maker", ruleInput(`fees.${cls}.maker_bps`, "number", d.fees[cls].maker_bps)),
        h("label", {}, "taker", ruleInput(`fees.${cls}.taker_bps`, "number", d.fees[cls].taker_bps))))));
  summarize(form);
}

function fillRules(form) {
  if (!state.defaults) return;
  for (const input of form.querySelectorAll("[data-kind]")) {
    const value = getPath(state.defaults, input.name.slice("rules.".length));
    if (input.type === "checkbox") input.checked = Boolean(value);
    else if (input.dataset.kind === "list") input.value = value ? value.join(", ") : "";
    else input.value = value ?? "";
  }
  form.elements.rules_json.value = "";
  clearFieldErrors(form);
  summarize(form);
}

// The ruleset override: only the values that differ from the default, then the advanced JSON over them.
// Returns {rules} or {error} (a JSON syntax error in the advanced box).
function ruleOverride(form) {
  const override = {};
  const d = state.defaults || {};
  for (const input of form.querySelectorAll("[data-kind]")) {
    const path = input.name.slice("rules.".length);
    const kind = input.dataset.kind;
    const base = getPath(d, path);
    let value;
    if (kind === "bool") value = input.checked;
    else if (kind === "list") {
      const items = commaList(input.value);
      value = items.length ? items : null;
    } else if (kind === "formula") value = input.value;
    else {
      const raw = input.value.trim();
      if (raw === "") continue; // blank: the default (for the loss limit: none)
      const n = Number(raw);
      value = Number.isFinite(n) ? n : raw; // the API explains what is wrong with it
    }
    if (JSON.stringify(value) !== JSON.stringify(base ?? null)) setPath(override, path, value);
  }
  const text = form.elements.rules_json.value.trim();
  if (!text) return { rules: override };
  let extra;
  try {
    extra = JSON.parse(text);
  } catch (err) {
    return { error: { message: "The advanced override is not valid JSON.", fields: [{ field: "rules", message: `not valid JSON: ${err.message}` }] } };
  }
  return { rules: isPlainObject(extra) ? deepMerge(override, extra) : extra };
}

function summarize(form) {
  const out = $("#override-summary", form);
  if (!out || !state.defaults) return;
  const { rules } = ruleOverride(form);
  const count = rules && isPlainObject(rules) ? JSON.stringify(rules) === "{}" ? 0 : countLeaves(rules) : 0;
  out.textContent = count ? `${count} ruleset value${count === 1 ? " differs" : "s differ"} from the default` : "the default ruleset";
}

function countLeaves(obj) {
  return Object.values(obj).reduce((n, v) => n + (isPlainObject(v) ? countLeaves(v) : 1), 0);
}

function localTime(value) {
  if (!value) return undefined;
  const date = new Date(value); // datetime-local: the admin's own time zone
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

function numberOrRaw(value) {
  const raw = String(value ?? "").trim();
  if (raw === "") return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

async function createTournament(form) {
  clearFieldErrors(form);
  const { rules, error } = ruleOverride(form);
  if (error) {
    $("#advanced", form).open = true;
    showFieldErrors(form, error);
    return;
  }
  const f = form.elements;
  const body = {
    slug: f.slug.value.trim(),
    name: f.name.value.trim(),
    feed: f.feed.value.trim() || undefined,
    seed: numberOrRaw(f.seed.value),
    ticks: numberOrRaw(f.ticks.value),
    interval_s: numberOrRaw(f.interval_s.value),
    clock: f.clock.value,
    tick_deadline_s: numberOrRaw(f.tick_deadline_s.value),
    symbols: commaList(f.symbols.value).length ? commaList(f.symbols.value) : undefined,
    entry_opens_at: localTime(f.entry_opens_at.value),
    entry_closes_at: localTime(f.entry_closes_at.value),
    starts_at: localTime(f.starts_at.value),
    ends_at: localTime(f.ends_at.value),
    rules,
  };
  const button = $("#create-submit", form);
  button.disabled = true;
  try {
    const created = await api("/api/v1/admin/tournaments", { method: "POST", body });
    notify(`Created ${created.slug} (draft)`, "success");
    f.slug.value = "";
    f.name.value = "";
    await loadTournaments();
    await select(created.slug);
  } catch (err) {
    const shown = nearestFields(form, err);
    if (shown.fields.some((x) => x.field === "rules")) $("#advanced", form).open = true;
    showFieldErrors(form, shown);
    (form.querySelector("[aria-invalid]") || $(".form-errors", form))?.scrollIntoView({ block: "center" });
  } finally {
    button.disabled = false;
  }
}

// ---- page --------------------------------------------------------------------------------------------

async function poll() {
  state.ticks += 1;
  const live = state.tournaments.some((t) => LIVE.has(t.status)) || (state.detail && LIVE.has(state.detail.status));
  if (state.detail && LIVE.has(state.detail.status)) await loadDetail();
  if (live && state.ticks % 2 === 0) await loadTournaments();
  if (state.uploads.some((v) => v.status === "pending") || state.ticks % 5 === 0) await loadUploads();
  if (state.log && state.detail?.status === "running" && state.ticks % 3 === 0) await fetchLog(null);
}

async function startDashboard() {
  const [defaults] = await Promise.all([
    api("/api/v1/rules/default").then((answer) => answer.ruleset),
    loadTournaments(),
    loadUploads(),
  ]);
  state.defaults = defaults;
  const form = $("#create-form");
  if (form) buildRuleFields(form);
  state.stopPolling?.();
  state.stopPolling = every(2000, poll);
}

function render() {
  renderWho();
  state.stopPolling?.();
  state.stopPolling = null;
  if (!state.me) {
    clear(app, h("h1", {}, "Admin"), signInView());
    $("#signin-form input")?.focus();
    return;
  }
  if (!state.me.is_admin) {
    clear(app, h("h1", {}, "Admin"), signInView(
      `You are signed in as ${state.me.name}, who is not an admin: this dashboard is for admins. ` +
      "Your bots and entries are on the My bots page; sign in below with an admin's name and password to continue."));
    return;
  }
  clear(app, dashboardView());
  startDashboard().catch(report);
}

async function main() {
  try {
    state.me = await session.current();
  } catch (err) {
    report(err);
  }
  render();
}

main();
