// Small DOM helpers shared by every page: element building, formatting, messages and form errors.

// h("a", {href: "/x", class: "btn"}, "text", child) — attributes starting with "on" become listeners.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function clear(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

export const fmtMoney = (v) => (v === null || v === undefined ? "—" : money.format(v));
export const fmtNumber = (v) => (v === null || v === undefined ? "—" : number.format(v));
export const fmtPct = (v, digits = 2) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(digits)}%`);

export function fmtBytes(v) {
  if (v === null || v === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// Epoch milliseconds or an ISO string, shown in the viewer's time zone.
export function fmtTime(value) {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

// A status pill: <span class="badge badge-running">running</span>.
export const badge = (status) => h("span", { class: `badge badge-${String(status).replace(/[^a-z_]/gi, "")}` }, status);

// A message in the page's banner area (role=status so screen readers hear it).
export function notify(message, kind = "info", timeoutMs = 6000) {
  let area = document.getElementById("notices");
  if (!area) {
    area = h("div", { id: "notices", role: "status", "aria-live": "polite" });
    document.body.append(area);
  }
  const note = h("div", { class: `notice notice-${kind}` }, message);
  area.append(note);
  if (timeoutMs) setTimeout(() => note.remove(), timeoutMs);
  return note;
}

// Show an ApiError's field errors next to the inputs whose data-field (or name) matches; errors that
// match no input go to the form's .form-errors box. Returns how many were placed beside fields.
export function showFieldErrors(form, error) {
  clearFieldErrors(form);
  let placed = 0;
  const loose = [];
  for (const { field, message } of error.fields || []) {
    const input = form.querySelector(`[data-field="${CSS.escape(field)}"]`) || form.querySelector(`[name="${CSS.escape(field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      const note = h("div", { class: "field-error", "data-error-for": field }, message);
      (input.closest("label") || input).after(note);
      placed += 1;
    } else {
      loose.push(`${field}: ${message}`);
    }
  }
  const box = form.querySelector(".form-errors");
  if (box) {
    const lines = loose.length ? loose : placed ? [] : [error.message];
    clear(box, lines.map((line) => h("div", {}, line)));
    box.hidden = lines.length === 0;
  }
  return placed;
}

export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const box = form.querySelector(".form-errors");
  if (box) {
    clear(box);
    box.hidden = true;
  }
}

// Run fn every ms while the page is visible; returns a stop function. fn's failures are reported, not thrown.
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await fn();
      } catch (err) {
        notify(err.message, "error");
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// The header's "who is signed in" area: name, an admin badge, and a sign-out button (empty when signed out).
export function renderWho(container, me, onSignOut) {
  if (!me) {
    clear(container);
    return;
  }
  clear(container,
    h("span", { id: "who-name" }, me.name),
    me.is_admin ? badge("admin") : null,
    h("button", { type: "button", id: "signout", onclick: onSignOut }, "Sign out"));
}
