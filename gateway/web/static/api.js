// Talking to the gateway: JSON calls with the bearer token, and the live event stream.
// A 401 asks for a token once (shared by all waiting calls) and retries; 404 means "not available yet".

const TOKEN_KEY = "sitegate.token";
let askForToken = null; // set by the app: () => Promise<string|null>
let pendingAsk = null;

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }

  /** The feature is not on this gateway (yet): the page says "not available" instead of failing. */
  get notAvailable() {
    return this.status === 404 || this.status === 405 || this.status === 501;
  }
}

export function onTokenNeeded(fn) {
  askForToken = fn;
}

function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? {Authorization: `Bearer ${token}`} : {};
}

/** Ask the person for a token once, however many calls were refused at the same moment. */
async function renewToken() {
  if (!askForToken) return false;
  pendingAsk ??= askForToken().finally(() => { pendingAsk = null; });
  const token = await pendingAsk;
  if (!token) return false;
  localStorage.setItem(TOKEN_KEY, token);
  return true;
}

async function detailOf(res) {
  const text = await res.text().catch(() => "");
  try {
    const doc = JSON.parse(text);
    if (typeof doc.detail === "string") return doc.detail;
    // FastAPI validation errors: [{loc, msg}, ...]
    if (Array.isArray(doc.detail)) return doc.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return text;
  } catch {
    return text.slice(0, 300);
  }
}

/** GET (or POST with `body`) a JSON endpoint; throws ApiError with the server's reason. */
export async function api(path, {method = "GET", body} = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = {Accept: "application/json", ...authHeaders()};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {method, headers, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body)});
    } catch (err) {
      throw new ApiError(0, String(err.message || err), path);
    }
    if (res.status === 401 && attempt === 0 && await renewToken()) continue;
    if (!res.ok) throw new ApiError(res.status, await detailOf(res), path);
    return res.status === 204 ? null : res.json();
  }
}

/** Save what `path` answers as a file, with the token (a plain link would go without it). */
export async function download(path, filename) {
  const res = await fetch(path, {headers: authHeaders(), cache: "no-store"});
  if (!res.ok) throw new ApiError(res.status, await detailOf(res), path);
  const url = URL.createObjectURL(await res.blob());
  const link = Object.assign(document.createElement("a"), {href: url, download: filename});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function query(path, params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") qs.set(k, v);
  const text = qs.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Server-Sent Events read with fetch, not EventSource: EventSource cannot send the Authorization
 * header. Reconnects with backoff. onState gets "connecting" | "live" | "reconnecting" | "unavailable".
 */
export function connectEvents(path, {onEvent, onState}) {
  const ctrl = new AbortController();
  let stopped = false;

  async function once() {
    const res = await fetch(path, {headers: {Accept: "text/event-stream", ...authHeaders()},
      cache: "no-store", signal: ctrl.signal});
    if (res.status === 401) {
      if (!await renewToken()) throw new ApiError(401, "token refused", path);
      return false;
    }
    if (!res.ok || !res.body) throw new ApiError(res.status, await detailOf(res), path);
    onState("live");
    await readStream(res.body, onEvent);
    return true;
  }

  (async () => {
    let failures = 0;
    while (!stopped) {
      onState(failures ? "reconnecting" : "connecting");
      let delay = 500; // the server ended the stream normally: come back soon
      try {
        await once();
        failures = 0;
      } catch (err) {
        if (stopped) return;
        failures++;
        const missing = err instanceof ApiError && err.notAvailable;
        if (missing) onState("unavailable");
        delay = missing ? 30_000 : Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
      }
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, delay));
    }
  })();

  return {close() { stopped = true; ctrl.abort(); }};
}

/** Parse an event stream (spec: lines end in CRLF, LF or CR; a blank line ends an event). */
async function readStream(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", type = "", data = [];
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    // A CR at the very end may be the first half of a CRLF split across chunks: keep it for later.
    const cut = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
    buffer = lines.pop() + buffer.slice(cut);
    for (const line of lines) {
      if (line === "") {
        if (data.length) dispatch(type || "message", data.join("\n"), onEvent);
        type = "";
        data = [];
      } else if (!line.startsWith(":")) {
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let val = i < 0 ? "" : line.slice(i + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "event") type = val;
        else if (field === "data") data.push(val);
      }
    }
  }
}

function dispatch(type, text, onEvent) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = {text};
  }
  try {
    onEvent(type, data);
  } catch (err) {
    console.error("live event handler failed", type, err);
  }
}
