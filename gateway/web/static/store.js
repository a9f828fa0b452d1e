// What the page knows: filled by API loads, kept current by live events, read by the views.
// Every slot has a state: "loading" | "ok" | "na" (the endpoint is not on this gateway yet) | "error".

import {api, ApiError, query} from "./api.js";
import {validZone} from "./format.js";
import {syncSiteClock} from "./siteclock.js";

export const store = {
  site: "",
  tz: undefined, // the site's IANA zone when /api/health names it; else the browser's
  health: {state: "loading", data: null},
  devices: {state: "loading", byId: new Map()},
  tickets: {state: "loading", byId: new Map()},
  rounds: new Map(), // "YYYY-MM-DD" -> {state, list}
  recent: new Map(), // ticket or device id -> time of its last live change, to highlight it
};

let listener = () => {};

/** The app re-renders the visible view when an area it shows changes (coalesced there). */
export function onChange(fn) {
  listener = fn;
}

function changed(area) {
  listener(area);
}

export function failure(err) {
  if (err instanceof ApiError && err.notAvailable) return {state: "na"};
  return {state: "error", error: err instanceof ApiError ? err.detail || `HTTP ${err.status}` : String(err)};
}

export async function loadHealth() {
  try {
    const data = await api("/api/health");
    syncSiteClock(data.now);
    store.health = {state: "ok", data};
    store.site = data.site_name || data.site || store.site;
    store.tz = validZone(data.timezone || data.tz) ?? store.tz;
  } catch (err) {
    store.health = {...failure(err), data: null};
  }
  changed("health");
}

export async function loadDevices() {
  try {
    const list = await api("/api/devices");
    store.devices = {state: "ok", byId: new Map(list.map((d) => [d.id, d]))};
  } catch (err) {
    store.devices = {...failure(err), byId: store.devices.byId};
  }
  changed("devices");
}

export async function loadDevice(id) {
  try {
    const device = await api(`/api/devices/${encodeURIComponent(id)}`);
    store.devices.byId.set(device.id, device);
    changed("devices");
    return device;
  } catch (err) {
    return failure(err);
  }
}

/**
 * Tickets in the given statuses (null for every status). A ticket we hold in a fetched status that
 * the server no longer lists has moved on while we were not looking: it is dropped, not shown stale.
 */
export async function loadTickets(statuses) {
  try {
    const lists = await Promise.all(statuses.map((s) => api(query("/api/tickets", {status: s}))));
    const byId = store.tickets.byId;
    const fetched = new Set(statuses);
    for (const [id, t] of byId) if (fetched.has(null) || fetched.has(t.status)) byId.delete(id);
    for (const list of lists) for (const t of list) byId.set(t.id, t);
    store.tickets = {state: "ok", byId};
  } catch (err) {
    store.tickets = {...failure(err), byId: store.tickets.byId};
  }
  changed("tickets");
}

export async function loadTicket(id) {
  const ticket = await api(`/api/tickets/${encodeURIComponent(id)}`);
  store.tickets.byId.set(ticket.id, ticket);
  changed("tickets");
  return ticket;
}

/**
 * POST an action (ack, accept, arrive, resolve, revisit, ...) with a note and the stage's `details`
 * (assignee, work_done and parts, result and satisfaction); throws ApiError with the server's reason.
 */
export async function actOnTicket(id, action, note, actor, details = {}) {
  const body = {...(actor ? {note, actor} : {note}), ...details};
  const ticket = await api(`/api/tickets/${encodeURIComponent(id)}/${action}`, {method: "POST", body});
  store.tickets.byId.set(ticket.id, ticket);
  store.recent.set(ticket.id, Date.now());
  changed("tickets");
  return ticket;
}

export async function loadRounds(date) {
  try {
    const list = await api(query("/api/patrol/rounds", {day: date}));  // the patrol day (a night)
    store.rounds.set(date, {state: "ok", list});
  } catch (err) {
    store.rounds.set(date, {...failure(err), list: []});
  }
  changed("rounds");
}

/**
 * History points [[ms, value], ...]. CONTRACT.md leaves `step`'s format open: we send seconds with a
 * unit ("300s"); a server that refuses it (400/422) is asked again for raw points.
 */
export async function loadSeries({field, device, from, to, step}) {
  const params = {measurement: "reading", field, device, from: new Date(from).toISOString(),
    to: new Date(to).toISOString()};
  let doc;
  try {
    doc = await api(query("/api/series", {...params, step: step ? `${Math.round(step / 1000)}s` : undefined}));
  } catch (err) {
    if (!(err instanceof ApiError) || !step || (err.status !== 400 && err.status !== 422)) throw err;
    doc = await api(query("/api/series", params));
  }
  return (doc.points || []).map(([ts, v]) => [typeof ts === "number" ? (ts > 1e11 ? ts : ts * 1000) : Date.parse(ts),
    v === true ? 1 : v === false ? 0 : v]).filter(([ts]) => Number.isFinite(ts)).sort((a, b) => a[0] - b[0]);
}

/** Fold one live event into what we know. Returns true when the views should redraw. */
export function applyEvent(type, data) {
  if (!data || typeof data !== "object") return false;
  const now = Date.now();
  let area;
  if (type === "hello") {
    store.site = store.site || data.site_name || data.site || "";
    area = "health";
  } else if (type === "ticket" && data.id) {
    area = "tickets";
    const {change, ...ticket} = data;
    store.tickets.byId.set(ticket.id, {...store.tickets.byId.get(ticket.id), ...ticket});
    store.recent.set(ticket.id, now);
  } else if (type === "device" && data.device) {
    area = "devices";
    const device = deviceFor(data.device);
    if (data.change === "online" || data.change === "offline") device.online = data.change === "online";
    if (data.ts) device.last_seen = data.ts;
    store.recent.set(data.device, now);
  } else if (type === "reading" && data.device) {
    area = "devices";
    const device = deviceFor(data.device);
    device.metrics = {...device.metrics, ...data.metrics};
    if (data.ts) device.last_seen = data.ts;
  } else if (type === "round" && data.round_id && data.scheduled_start) {
    area = "rounds";
    // Kept under its patrol day (a 02:00 round belongs to the night before); an older gateway that
    // does not say it lists rounds by their calendar day.
    const slot = store.rounds.get(data.patrol_day || String(data.scheduled_start).slice(0, 10));
    if (slot && slot.state === "ok") {
      const {change, checkpoint, ...round} = data;
      const i = slot.list.findIndex((r) => r.round_id === round.round_id);
      if (i >= 0) slot.list[i] = round;
      else slot.list.push(round);
    }
  } else {
    return false;
  }
  changed(area);
  return true;
}

/** A device we hear about before the device list has it (discovered on the fly). */
function deviceFor(id) {
  let device = store.devices.byId.get(id);
  if (!device) {
    device = {id, kind: "unknown", zone: "", online: null, last_seen: null, metrics: {}, health: null};
    store.devices.byId.set(id, device);
  }
  return device;
}
