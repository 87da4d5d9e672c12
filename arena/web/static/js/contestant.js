// The contestant pages (/me): sign in with an API key, upload bots (drag and drop) and follow their smoke
// tests, enter open tournaments, and see one's own entries with their results, equity curves and logs.
import { allOf, api, pageOf, session } from "./api.js";
import {
  h, $, clear, fmtMoney, fmtNumber, fmtPct, fmtBytes, fmtTime, badge, notify, showFieldErrors, clearFieldErrors, every, renderWho as renderWhoIn,
} from "./ui.js";
import { equityChart } from "./chart.js";
import { profilePanel } from "/static/js/achievements.js";

const app = $("#app");
const who = $("#who");
const enc = encodeURIComponent;
const BOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const UPLOAD_WAIT_MS = 180_000; // how long to follow one smoke test before leaving it to the list
const OVER = new Set(["finished", "cancelled", "failed"]);
const RAN = new Set(["running", "finished", "cancelled", "failed"]);

const state = {
  me: null,
  bots: [],
  botsSig: "",
  entries: [],
  tournaments: new Map(), // slug -> the public view of a tournament I entered
  open: [],
  openSig: "",
  file: null,
  selected: null, // entry id
  chart: null,
  chartSig: "",
  stopPolling: null,
  ticks: 0,
  autoSelected: false,
};

const report = (err) => notify(err.message, "error");
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- header ----------------------------------------------------------------------------------------

function renderWho() {
  renderWhoIn(who, state.me, signOut);
}

async function signOut() {
  try {
    await session.signOut();
  } catch (err) {
    report(err);
    return;
  }
  dropChart();
  Object.assign(state, { me: null, bots: [], botsSig: "", entries: [], tournaments: new Map(), open: [], openSig: "",
    file: null, selected: null, autoSelected: false });
  render();
}

// ---- sign in ---------------------------------------------------------------------------------------

function signInView() {
  const form = h("form", { id: "signin-form", class: "stack", novalidate: true },
    h("p", { class: "muted" }, "Sign in with the API key your organiser gave you (it starts with arena_)."),
    h("label", {}, "API key", h("input", { name: "api_key", type: "password", autocomplete: "off", placeholder: "arena_…" })),
    h("div", { class: "form-errors", hidden: true }),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const key = form.elements.api_key.value.trim();
    if (!key) {
      showFieldErrors(form, { message: "Paste your API key first." });
      return;
    }
    const button = $("#signin-submit", form);
    button.disabled = true;
    try {
      state.me = (await session.signIn({ api_key: key })).contestant;
      render();
    } catch (err) {
      form.elements.api_key.value = "";
      showFieldErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "panel signin" }, h("h2", {}, "Sign in"), form);
}

// ---- layout ------------------------------------------------------------------------------------------

function pageView() {
  return [
    h("h1", {}, "My bots"),
    h("div", { class: "grid halves" },
      h("section", { class: "panel", id: "upload-panel" }, h("h2", {}, "Upload a bot"), uploadForm()),
      h("section", { class: "panel", id: "enter-panel" }, h("h2", {}, "Enter a tournament"), enterForm())),
    h("section", { class: "panel", id: "bots-panel" }, h("h2", {}, "Bots and versions"), h("div", { id: "bots" })),
    h("section", { class: "panel", id: "entries-panel" },
      h("h2", {}, "My entries and results"),
      h("div", { class: "table-wrap" },
        h("table", { id: "entries" },
          h("thead", {}, h("tr", {}, h("th", {}, "Tournament"), h("th", {}, "Bot"), h("th", { class: "num" }, "Version"),
            h("th", {}, "Entry"), h("th", {}, "End"), h("th", {}, ""))),
          h("tbody", {}))),
      h("section", { id: "entry-detail", class: "entry-detail", hidden: true })),
    profilePanel(state.me.name), // rating, level, badges and rating history, from the record
  ];
}

// ---- upload ------------------------------------------------------------------------------------------

// A bot name from a file name: "My Bot (2).tar.gz" -> "My_Bot_2".
function nameFromFile(filename) {
  const stem = filename.replace(/\.(tar\.gz|tgz|zip|py)$/i, "");
  const cleaned = stem.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^[^A-Za-z0-9]+/, "").replace(/_+$/, "");
  return cleaned.slice(0, 64) || "bot";
}

function uploadForm() {
  const fileInput = h("input", { type: "file", id: "upload-file", name: "file", accept: ".py,.zip,.tar.gz,.tgz" });
  const zone = h("div", { id: "dropzone", class: "dropzone", tabindex: "0" },
    h("div", { class: "dz-title" }, "Drop a .py, .zip or .tar.gz here"),
    h("div", { class: "muted small" }, "a .zip or .tar.gz needs main.py at its root"),
    h("label", { class: "dz-pick" }, "or choose a file", fileInput),
    h("div", { id: "upload-chosen", class: "dz-chosen" }));
  const nameInput = h("input", { id: "upload-bot", name: "bot", "data-field": "bot", autocomplete: "off",
    placeholder: "my_bot", maxlength: "64" });
  const form = h("form", { id: "upload-form", class: "stack", novalidate: true },
    zone,
    h("label", {}, "Bot name", nameInput,
      h("span", { class: "muted small" }, "letters, digits and _ . - ; a new upload to the same name is its next version")),
    h("div", { class: "form-errors", hidden: true }),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "upload-submit", disabled: true }, "Upload")),
    h("div", { id: "upload-status", "aria-live": "polite" }));

  nameInput.addEventListener("input", () => {
    nameInput.dataset.touched = nameInput.value ? "true" : "";
  });
  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files[0]) choose(form, fileInput.files[0]);
  });
  const over = (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  };
  zone.addEventListener("dragenter", over);
  zone.addEventListener("dragover", over);
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files[0];
    if (file) choose(form, file);
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fileInput.click();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    upload(form);
  });
  return form;
}

function choose(form, file) {
  state.file = file;
  clearFieldErrors(form);
  clear($("#upload-chosen", form), h("strong", {}, file.name), ` · ${fmtBytes(file.size)}`);
  const name = $("#upload-bot", form);
  if (!name.dataset.touched) name.value = nameFromFile(file.name);
  $("#upload-submit", form).disabled = false;
}

async function upload(form) {
  clearFieldErrors(form);
  const name = $("#upload-bot", form).value.trim();
  if (!state.file) {
    showFieldErrors(form, { message: "Choose or drop a file first." });
    return;
  }
  if (!BOT_NAME.test(name) || name.length > 64) {
    showFieldErrors(form, { message: "invalid bot name", fields: [{ field: "bot",
      message: "1 to 64 letters, digits, _ . or -, starting with a letter or digit" }] });
    return;
  }
  const data = new FormData();
  data.append("file", state.file, state.file.name);
  const button = $("#upload-submit", form);
  const status = $("#upload-status", form);
  button.disabled = true;
  let version;
  try {
    version = await api(`/api/v1/bots/${enc(name)}/versions`, { method: "POST", form: data });
  } catch (err) {
    showFieldErrors(form, { message: err.code && !err.code.startsWith("HTTP_") ? `${err.message} (${err.code})` : err.message,
      fields: err.fields });
    button.disabled = false;
    return;
  }
  state.file = null;
  $("#upload-file", form).value = "";
  clear($("#upload-chosen", form));
  showUpload(status, version);
  loadBots().catch(report);
  const deadline = Date.now() + UPLOAD_WAIT_MS;
  while (version.status === "pending" && Date.now() < deadline) {
    await wait(1000);
    if (!state.me || !document.contains(status)) return; // signed out meanwhile
    try {
      version = await api(`/api/v1/bots/${enc(name)}/versions/${version.version}`);
    } catch (err) {
      report(err);
      break;
    }
    showUpload(status, version);
  }
  if (version.status === "ready") notify(`${name} v${version.version} is ready to enter`, "success");
  else if (version.status === "failed") notify(`${name} v${version.version} failed its smoke test`, "error");
  await Promise.all([loadBots(), loadOpen()]).catch(report);
}

function showUpload(status, v) {
  const pending = v.status === "pending";
  clear(status, h("div", { class: `upload-result upload-${v.status}`, id: "upload-result", "data-status": v.status },
    h("div", { class: "row" }, h("strong", {}, `${v.bot} v${v.version}`), badge(v.status),
      v.end_classification ? badge(v.end_classification) : null),
    h("div", { class: "muted small" }, pending ? "Uploaded; the smoke test is running in the sandbox…"
      : v.status === "ready" ? "Passed its smoke test: it can enter tournaments."
        : "Failed its smoke test: see the log, fix it and upload again."),
    pending ? null : h("details", { open: v.status === "failed" }, h("summary", {}, "smoke log"),
      h("pre", { class: "log" }, v.smoke_log || "(empty)"))));
}

// ---- bots and versions -----------------------------------------------------------------------------

async function loadBots() {
  state.bots = await allOf("/api/v1/bots");
  const sig = JSON.stringify(state.bots);
  if (sig !== state.botsSig) {
    state.botsSig = sig;
    renderBots();
    renderEnterChoices();
  }
}

function renderBots() {
  const root = $("#bots");
  if (!root) return;
  const open = new Set([...root.querySelectorAll("details[open]")].map((d) => d.dataset.for));
  if (!state.bots.length) {
    clear(root, h("p", { class: "empty" }, "No bots yet: upload one above."));
    return;
  }
  clear(root, state.bots.map((bot) => {
    const versions = [...bot.versions].sort((a, b) => b.version - a.version);
    return h("section", { class: "bot", "data-bot": bot.name },
      h("h3", {}, bot.name, " ", h("span", { class: "muted small" }, `${versions.length} version${versions.length === 1 ? "" : "s"}`)),
      h("div", { class: "table-wrap" },
        h("table", { class: "versions" },
          h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Version"), h("th", {}, "Status"), h("th", {}, "SHA-256"),
            h("th", { class: "num" }, "Size"), h("th", { class: "num" }, "Files"), h("th", {}, "Uploaded"),
            h("th", {}, "Smoke test"), h("th", {}, "Log"))),
          h("tbody", {}, versions.map((v) => {
            const key = `${bot.name}:${v.version}`;
            return h("tr", { "data-version": key },
              h("td", { class: "num" }, `v${v.version}`),
              h("td", { "data-col": "status" }, badge(v.status)),
              h("td", { class: "mono", title: v.sha256 }, v.sha256.slice(0, 12)),
              h("td", { class: "num" }, fmtBytes(v.size_bytes)),
              h("td", { class: "num" }, String(v.file_count)),
              h("td", {}, fmtTime(v.created_at)),
              h("td", { "data-col": "end" }, v.end_classification ? badge(v.end_classification) : v.status === "pending" ? "running…" : "—"),
              h("td", {}, h("details", { "data-for": key, open: open.has(key) }, h("summary", {}, "smoke log"),
                h("pre", { class: "log" }, v.smoke_log || (v.status === "pending" ? "(the smoke test is running)" : "(empty)")))));
          })))));
  }));
}

// ---- entering a tournament ----------------------------------------------------------------------------

function enterForm() {
  const form = h("form", { id: "enter-form", class: "stack", novalidate: true },
    h("label", {}, "Tournament", h("select", { id: "enter-tournament", name: "tournament", "data-field": "tournament" })),
    h("label", {}, "Bot", h("select", { id: "enter-bot", name: "bot", "data-field": "bot" })),
    h("label", {}, "Version", h("select", { id: "enter-version", name: "version", "data-field": "version" })),
    h("div", { id: "enter-rules", class: "muted small" }),
    h("div", { class: "form-errors", hidden: true }),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "enter-submit", disabled: true }, "Enter")));
  form.elements.bot.addEventListener("change", () => renderVersions(form));
  form.elements.tournament.addEventListener("change", () => describeTournament(form));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    enter(form);
  });
  return form;
}

async function loadOpen() {
  state.open = await allOf("/api/v1/tournaments?status=open");
  const sig = JSON.stringify(state.open.map((t) => [t.slug, t.name, t.entry_closes_at]));
  if (sig !== state.openSig) {
    state.openSig = sig;
    renderEnterChoices();
  }
}

function fillSelect(select, options, empty) {
  const previous = select.value;
  clear(select, options.length ? options.map(([value, text]) => h("option", { value }, text)) : h("option", { value: "" }, empty));
  if (options.some(([value]) => value === previous)) select.value = previous;
  select.disabled = !options.length;
}

const readyVersions = (bot) => bot.versions.filter((v) => v.status === "ready").sort((a, b) => b.version - a.version);

function renderEnterChoices() {
  const form = $("#enter-form");
  if (!form) return;
  fillSelect(form.elements.tournament,
    state.open.map((t) => [t.slug, `${t.name} (${t.slug})`]), "no tournament is open for entries");
  fillSelect(form.elements.bot,
    state.bots.filter((b) => readyVersions(b).length).map((b) => [b.name, b.name]), "no bot with a ready version");
  renderVersions(form);
  describeTournament(form);
}

function renderVersions(form) {
  const bot = state.bots.find((b) => b.name === form.elements.bot.value);
  fillSelect(form.elements.version,
    bot ? readyVersions(bot).map((v, i) => [String(v.version), `v${v.version}${i === 0 ? " (latest)" : ""} · ${v.sha256.slice(0, 8)}`]) : [],
    "—");
  $("#enter-submit", form).disabled = !(form.elements.tournament.value && form.elements.bot.value && form.elements.version.value);
}

function describeTournament(form) {
  const t = state.open.find((x) => x.slug === form.elements.tournament.value);
  const box = $("#enter-rules", form);
  if (!t) {
    clear(box);
    return;
  }
  const r = t.ruleset || {};
  clear(box, `${fmtNumber(t.ticks)} ticks, ${t.clock} clock · starting balance ${fmtMoney(r.starting_balance)}, ` +
    `leverage ≤ ${fmtNumber(r.max_leverage)}× · entries close ${fmtTime(t.entry_closes_at)} · `,
  h("a", { href: `/t/${enc(t.slug)}` }, "rules and live page"));
}

async function enter(form) {
  clearFieldErrors(form);
  const slug = form.elements.tournament.value;
  const bot = form.elements.bot.value;
  const version = Number(form.elements.version.value);
  const button = $("#enter-submit", form);
  button.disabled = true;
  try {
    const entry = await api(`/api/v1/tournaments/${enc(slug)}/entries`, { method: "POST", body: { bot, version } });
    notify(`${entry.bot_key} v${entry.version} entered ${entry.tournament}`, "success");
    await loadEntries();
  } catch (err) {
    showFieldErrors(form, err);
  } finally {
    button.disabled = false;
  }
}

// ---- entries and results -------------------------------------------------------------------------------

// The tournament an entry is in (its status says whether there are results to show).
const tournamentOf = (entry) => state.tournaments.get(entry.tournament);
const hasRun = (entry) => RAN.has(tournamentOf(entry)?.status);

async function loadEntries() {
  const before = new Map(state.entries.map((e) => [e.id, `${e.status}:${tournamentOf(e)?.status}`]));
  state.entries = await allOf("/api/v1/entries");
  // The tournaments still to finish: their status and progress (an entry's own status changes when its run ends).
  const slugs = [...new Set(state.entries.map((e) => e.tournament))].filter((slug) => !OVER.has(state.tournaments.get(slug)?.status));
  const views = await Promise.all(slugs.map((slug) => api(`/api/v1/tournaments/${enc(slug)}`)));
  for (const view of views) state.tournaments.set(view.slug, view);
  renderEntries();
  const selected = state.entries.find((e) => e.id === state.selected);
  if (!state.selected && !state.autoSelected) {
    const ran = state.entries.filter(hasRun);
    if (ran.length) {
      state.autoSelected = true;
      await selectEntry(Math.max(...ran.map((e) => e.id)));
    }
  } else if (selected && before.get(selected.id) !== `${selected.status}:${tournamentOf(selected)?.status}`) {
    await showEntry(selected);
  }
}

function renderEntries() {
  const tbody = $("#entries tbody");
  if (!tbody) return;
  const rows = new Map([...tbody.querySelectorAll("tr[data-entry]")].map((r) => [r.dataset.entry, r]));
  const wanted = state.entries.map((e) => {
    let row = rows.get(String(e.id));
    rows.delete(String(e.id));
    if (!row) {
      const results = h("button", { type: "button", "data-action": "results" }, "Results & logs");
      row = h("tr", { class: "clickable", "data-entry": String(e.id) },
        h("td", { "data-col": "tournament" }), h("td", { "data-col": "bot" }), h("td", { class: "num", "data-col": "version" }),
        h("td", { "data-col": "status" }), h("td", { "data-col": "end" }), h("td", {}, results));
      row.addEventListener("click", () => selectEntry(e.id));
    }
    const t = tournamentOf(e);
    const progress = t?.progress && t.status === "running" ? ` tick ${fmtNumber(t.progress.tick)}/${fmtNumber(t.progress.ticks)}` : "";
    clear(row.querySelector('[data-col="tournament"]'), h("a", { href: `/t/${enc(e.tournament)}` }, t?.name || e.tournament),
      h("div", { class: "small" }, t ? badge(t.status) : null, h("span", { class: "muted" }, progress)));
    clear(row.querySelector('[data-col="bot"]'), e.bot_key);
    clear(row.querySelector('[data-col="version"]'), `v${e.version}`);
    clear(row.querySelector('[data-col="status"]'), badge(e.status), e.disqualified ? [" ", badge("disqualified")] : null);
    clear(row.querySelector('[data-col="end"]'), e.end_classification ? badge(e.end_classification) : "—");
    row.classList.toggle("selected", e.id === state.selected);
    return row;
  });
  for (const row of rows.values()) row.remove();
  for (const row of [...tbody.children]) if (!row.dataset.entry) row.remove();
  wanted.forEach((row, i) => {
    if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
  });
  if (!wanted.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No entries yet.")));
}

async function selectEntry(id) {
  state.selected = id;
  renderEntries();
  const entry = state.entries.find((e) => e.id === id);
  if (entry) await showEntry(entry, true);
}

function dropChart() {
  if (state.chart) {
    state.chart.stopFollowing?.();
    state.chart.destroy();
  }
  state.chart = null;
  state.chartSig = "";
}

// The entry's card (public endpoint: tournament + bot key) and its log.
async function showEntry(entry, fresh = false) {
  const panel = $("#entry-detail");
  if (!panel) return;
  if (fresh || panel.dataset.entry !== String(entry.id)) {
    dropChart();
    panel.dataset.entry = String(entry.id);
    clear(panel,
      h("div", { class: "row" }, h("h3", { id: "entry-title" }), h("span", { class: "spacer" }),
        h("button", { type: "button", id: "entry-refresh", onclick: () => showEntry(entry).catch(report) }, "Refresh")),
      h("dl", { class: "kv", id: "entry-card" }),
      h("div", { id: "entry-chart", class: "chart" }),
      h("p", { id: "entry-downloads", class: "muted small" }),
      h("h4", {}, "Log"),
      h("div", { id: "entry-log-info", class: "muted small" }),
      h("pre", { class: "log", id: "entry-log" }, "…"));
    panel.hidden = false;
  }
  const t = tournamentOf(entry);
  clear($("#entry-title", panel), `${t?.name || entry.tournament} · ${entry.bot_key} v${entry.version} `, badge(t?.status || entry.status));
  if (!hasRun(entry)) {
    dropChart();
    clear($("#entry-card", panel), h("dt", {}, "Results"), h("dd", {}, "The tournament has not started yet: results and the equity curve appear once it runs."));
    clear($("#entry-chart", panel));
    clear($("#entry-log-info", panel));
    clear($("#entry-downloads", panel));
    $("#entry-log", panel).textContent = "(no log before the tournament starts)";
    return;
  }
  const [card, log] = await Promise.all([
    api(`/api/v1/tournaments/${enc(entry.tournament)}/bots/${enc(entry.bot_key)}`),
    pageOf(`/api/v1/entries/${entry.id}/logs`), // its first 500 lines
  ]);
  if (state.selected !== entry.id && !fresh) return;
  renderCard(panel, card);
  // The bot's own record so far (the whole record is public once the tournament has finished): the session cookie
  // signs the download, as the export route reads it.
  const record = `/api/v1/tournaments/${enc(entry.tournament)}/export?bot=${enc(entry.bot_key)}`;
  clear($("#entry-downloads", panel), "Download this bot's record so far: ",
    h("a", { href: `${record}&format=parquet`, download: "" }, "Parquet"), " · ",
    h("a", { href: `${record}&format=csv`, download: "" }, "CSV"),
    " (zip: its orders, fills, rejections, equity, standing and the market's ticks)");
  const info = [log.end_classification ? `ended: ${log.end_classification}` : null, log.end_reason || null].filter(Boolean).join(" · ");
  clear($("#entry-log-info", panel), info);
  $("#entry-log", panel).textContent = log.items.length
    ? log.items.map((l) => `${new Date(l.ts).toLocaleTimeString()} [${l.stream}] ${l.text}`).join("\n")
    : "(no log lines)";
}

function renderCard(panel, card) {
  const facts = [
    ["Rank", card.rank ? `#${card.rank}${card.final ? " (final)" : ""}` : card.final ? "—" : "live: see the leaderboard"],
    ["Score", fmtNumber(card.score)],
    ["NAV", fmtMoney(card.nav)],
    ["Max drawdown", fmtPct(card.max_drawdown)],
    ["Trades", fmtNumber(card.trades)],
    ["Fees", fmtMoney(card.fees)],
    ["Status", [badge(card.status), card.disqualified ? [" ", badge("disqualified")] : null]],
  ];
  clear($("#entry-card", panel), facts.map(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k.toLowerCase().replace(/ /g, "_") }, v)]));
  const chartBox = $("#entry-chart", panel);
  const points = card.equity || [];
  const sig = `${points.length}:${points.length ? points[points.length - 1].ts : 0}`;
  if (sig === state.chartSig) return;
  dropChart();
  clear(chartBox);
  if (points.length < 2) {
    chartBox.append(h("p", { class: "empty" }, "No equity on record yet."));
    return;
  }
  state.chartSig = sig;
  state.chart = equityChart(chartBox, points);
}

// ---- page ------------------------------------------------------------------------------------------------

async function poll() {
  state.ticks += 1;
  const pending = state.bots.some((b) => b.versions.some((v) => v.status === "pending"));
  if (pending) await loadBots();
  const live = state.entries.some((e) => !OVER.has(tournamentOf(e)?.status));
  if (live && state.ticks % 2 === 0) await loadEntries();
  if (state.ticks % 2 === 0) await loadOpen();
  const selected = state.entries.find((e) => e.id === state.selected);
  if (selected && tournamentOf(selected)?.status === "running" && state.ticks % 2 === 1) await showEntry(selected);
}

async function start() {
  await Promise.all([loadBots(), loadOpen()]);
  await loadEntries();
  state.stopPolling = every(2500, poll);
}

function render() {
  renderWho();
  state.stopPolling?.();
  state.stopPolling = null;
  if (!state.me) {
    clear(app, h("h1", {}, "My bots"), signInView());
    return;
  }
  clear(app, pageView());
  start().catch(report);
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
