// Arena's HTTP API from the browser: JSON in and out; a failure becomes an ApiError carrying the API's
// machine-readable code and, for validation errors, the offending fields.

export class ApiError extends Error {
  constructor(status, code, message, fields = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

// Every call carries X-Requested-With: cookie-authenticated writes without it are refused (CSRF guard),
// and a cross-site form cannot set a custom header.
export async function api(path, { method = "GET", body, form, signal } = {}) {
  const headers = { Accept: "application/json", "X-Requested-With": "arena" };
  let payload;
  if (form !== undefined) {
    payload = form;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin", signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "NETWORK", "the server cannot be reached; retrying may help");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`,
      error.message || response.statusText, error.fields || []);
  }
  return data;
}

// Every list answers {items, next}: `next` is the cursor of the following page (null on the last one).
// One page: pass the previous page's `next` as `cursor` (omit it for the first page).
export function pageOf(path, { limit = 500, cursor = null } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (cursor) params.set("cursor", cursor);
  return api(`${path}${path.includes("?") ? "&" : "?"}${params}`);
}

// A whole list, page by page, up to `max` items (what a page can reasonably show).
export async function allOf(path, { max = 5000, limit = 500 } = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await pageOf(path, { limit, cursor });
    items.push(...page.items);
    cursor = page.next;
  } while (cursor && items.length < max);
  return items;
}

// The signed-in contestant (or null). Signing in sets an HttpOnly session cookie; the key or password
// never stays in the page.
export const session = {
  current: async () => (await api("/api/v1/session")).contestant,
  signIn: (credentials) => api("/api/v1/session", { method: "POST", body: credentials }),
  signOut: () => api("/api/v1/session", { method: "DELETE" }),
};

// Live leaderboard changes over server-sent events. EventSource resumes by itself with Last-Event-ID
// after a dropped connection; when the browser gives up (the server answered an error, or went away
// for good) we open a new one after a capped backoff, resuming from the last change seen.
export function followLeaderboard(slug, { onChange, onState }) {
  let source = null;
  let lastId = null;
  let delay = 1000;
  let timer = null;
  let stopped = false;

  const open = () => {
    const query = lastId ? `?after=${encodeURIComponent(lastId)}` : "";
    source = new EventSource(`/api/v1/tournaments/${encodeURIComponent(slug)}/leaderboard/stream${query}`);
    source.addEventListener("open", () => {
      delay = 1000;
      onState?.("live");
    });
    source.addEventListener("leaderboard", (event) => {
      lastId = event.lastEventId || lastId;
      onChange(JSON.parse(event.data));
    });
    source.addEventListener("heartbeat", () => onState?.("live"));
    source.addEventListener("error", () => {
      if (stopped) return;
      if (source.readyState === EventSource.CLOSED) {
        onState?.("reconnecting");
        source.close();
        timer = setTimeout(open, delay);
        delay = Math.min(delay * 2, 15000);
      } else {
        onState?.("reconnecting");
      }
    });
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
