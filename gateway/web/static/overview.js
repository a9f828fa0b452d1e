// Overview, for an engineer glancing between jobs: the site's status (red / amber / green and why, from
// GET /api/status: the rules are the server's, docs/dashboard.md), what needs action now with the
// buttons the token's role allows, devices, tonight's patrol, the floor list, and the gateway's own
// health as a small item apart.

import {access, loadAccess} from "./access.js";
import {api} from "./api.js";
import {fill, h} from "./dom.js";
import {addDays, coverageSummary, nightOf, parseTs, pct, SEVERITIES, severityRank, tonight} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {fmtSiteStamp} from "./stages.js";
import {actOnTicket, failure, loadDevices, loadHealth, loadRounds, loadTickets, store} from "./store.js";
import {offeredActions} from "./ticketactions.js";
import {onlineBadge, ratioBar, severityBadge, slaCountdown, slotNotice, statusBadge} from "./widgets.js";

const ACTIVE = ["open", "acknowledged"];
const URGENT_LIST = 8;
// The actions a glance can take without filling anything in; the rest are on the ticket's page.
const QUICK = ["accept", "ack", "arrive"];
// Live changes re-ask /api/status, at most this often (a burst of tickets is one request).
const STATUS_GAP_MS = 700;

/** Most urgent first: overdue, then the more severe, then the oldest (as /api/status orders them). */
export function urgency(a, b, now) {
  const late = (tk) => {
    const due = parseTs(tk.due_at);
    return Number.isFinite(due) && due <= now;
  };
  return (late(b) - late(a)) || severityRank(a.severity) - severityRank(b.severity)
    || (parseTs(a.opened_at) || 0) - (parseTs(b.opened_at) || 0);
}

/** Planned work (a daily fire-door check) waits for its round unless it is overdue (as /api/status). */
export function needsActionNow(tk, now) {
  const due = parseTs(tk.due_at);
  return tk.source !== "planned" || (Number.isFinite(due) && due <= now);
}

export function createOverview() {
  const cards = {
    status: card("overview.status", "card-wide"),
    tickets: card("overview.needs_action", "card-wide"),
    devices: card("overview.devices"),
    patrol: card("overview.patrol"),
    health: card("overview.gateway"),
    places: card("overview.places", "card-wide"),
  };
  // Keep the historic ids the tests and bookmarks know (card-overview-tickets, card-overview-health).
  cards.tickets.el.id = "card-overview-tickets";
  cards.health.el.id = "card-overview-health";
  const el = h("div", {class: "cards overview"}, Object.values(cards).map((c) => c.el));
  let status = {state: "loading", data: null};
  let places = {state: "loading", list: []};
  let statusTimer = null;
  const messages = new Map(); // ticket id -> what the last button press answered

  async function loadStatus() {
    try {
      status = {state: "ok", data: await api("/api/status")};
    } catch (err) {
      status = {...failure(err), data: status.data};
    }
    try {
      places = {state: "ok", list: await api("/api/places")};
    } catch (err) {
      places = {...failure(err), list: places.list};
    }
    render();
  }

  function refresh() {
    // "Tonight" is a site-local notion: the rounds wait for /api/health, which names the time zone.
    const rounds = loadHealth().then(() => {
      const night = tonight(siteNow(), store.tz);
      return Promise.all([loadRounds(night), loadRounds(addDays(night, 1))]);
    });
    return Promise.all([rounds, loadDevices(), loadTickets(ACTIVE), loadStatus(), loadAccess().then(render)]);
  }

  function onEvent(type) {
    if (!["ticket", "device", "round"].includes(type) || statusTimer) return;
    statusTimer = setTimeout(() => {
      statusTimer = null;
      loadStatus();
    }, STATUS_GAP_MS);
  }

  async function act(tk, action, button) {
    button.disabled = true;
    try {
      const done = await actOnTicket(tk.id, action, "");
      messages.set(tk.id, {error: false, text: t("tickets.done", {status: tv("status", done.status)})});
    } catch (err) {
      messages.set(tk.id, {error: true, text: t("tickets.refused", {status: err.status || "-",
        reason: err.detail || err.message})});
    }
    loadStatus();
    render();
  }

  function render() {
    renderStatus(cards.status, status);
    renderHealth(cards.health.body);
    renderDevices(cards.devices.body);
    renderNeedsAction(cards.tickets.body, status, messages, act);
    renderPatrol(cards.patrol.body);
    renderPlaces(cards.places, places);
  }

  return {el, title: "nav.overview", deps: ["health", "devices", "tickets", "rounds"], show: refresh, refresh,
    render, onEvent};
}

function card(titleKey, extra = "") {
  const body = h("div", {class: "card-body"});
  const id = `card-${titleKey.replace(".", "-")}`;
  const el = h("section", {class: `card ${extra}`.trim(), id, "aria-labelledby": `${id}-title`},
    h("h2", {id: `${id}-title`, "data-i18n": titleKey}, t(titleKey)), body);
  return {el, body};
}

/** The site's colour and its reasons, in the page's language (the server words them in both). */
function renderStatus(c, slot) {
  const notice = slot.data ? null : slotNotice(slot);
  if (notice) return fill(c.body, notice);
  const d = slot.data;
  c.el.dataset.level = d.level;
  const text = (r) => (lang() === "zh" ? r.text_zh : r.text_en);
  fill(c.body,
    h("p", {class: `level level-${d.level}`, id: "site-level", dataset: {level: d.level}, role: "status"},
      h("span", {class: "lamp", "aria-hidden": "true"}), tv("status_level", d.level)),
    d.reasons.length ? h("ul", {class: "reasons", id: "status-reasons"}, d.reasons.map((r) =>
      h("li", {class: `reason reason-${r.level}`, dataset: {code: r.code, level: r.level}}, text(r))))
      : h("p", {class: "muted", id: "status-reasons-none"}, t("overview.all_clear_detail")),
    slot.state === "error" ? h("p", {class: "notice error", role: "alert"},
      t("common.load_failed", {reason: slot.error})) : null);
}

/** The gateway's own health: small, apart from the site's status. */
function renderHealth(body) {
  const slot = store.health;
  const notice = slotNotice(slot);
  if (notice) return fill(body, notice);
  const d = slot.data;
  const row = (key, value, group) => h("div", {class: "kv"},
    h("dt", {}, t(key)), h("dd", {class: `state-${value}`}, tv(group, value)));
  fill(body,
    h("p", {class: `gateway-state health-${d.status}`, id: "site-status"}, tv("health", d.status)),
    h("dl", {}, row("overview.mqtt", d.mqtt, "mqtt"), row("overview.timeseries", d.timeseries, "timeseries")),
    (d.problems || []).length ? h("ul", {class: "problems"}, d.problems.map((p) => h("li", {}, p))) : null);
}

function renderDevices(body) {
  const slot = store.devices;
  const notice = slotNotice(slot);
  if (notice) return fill(body, notice);
  const all = [...slot.byId.values()];
  const online = all.filter((d) => d.online === true).length;
  const offline = all.filter((d) => d.online === false);
  fill(body,
    h("p", {class: "big", id: "devices-online"}, `${online} / ${all.length}`),
    ratioBar(all.length ? online / all.length : NaN, t("overview.devices")),
    offline.length ? h("ul", {class: "compact"}, offline.slice(0, 6).map((d) => h("li", {},
      h("a", {href: `#/devices/${encodeURIComponent(d.id)}`}, d.id), " ", onlineBadge(false)))) : null,
    offline.length > 6 ? h("p", {class: "muted"}, t("overview.more", {n: offline.length - 6})) : null,
    h("p", {}, h("a", {href: "#/devices", "data-i18n": "overview.all_devices"}, t("overview.all_devices"))));
}

/** Where a ticket is: the server's answer (inventory location, checkpoint name), else what we know. */
function placeOf(tk, serverPlaces) {
  const device = tk.device_id && store.devices.byId.get(tk.device_id);
  return serverPlaces.get(tk.id) || (device && device.location) || tk.place || tk.device_id || tk.zone || "–";
}

function renderNeedsAction(body, statusSlot, messages, act) {
  const slot = store.tickets;
  const notice = slotNotice(slot);
  if (notice) return fill(body, notice);
  const now = siteNow();
  const serverPlaces = new Map(((statusSlot.data && statusSlot.data.needs_action) || []).map((x) => [x.id, x.place]));
  const all = [...slot.byId.values()].filter((tk) => ACTIVE.includes(tk.status));
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, all.filter((tk) => tk.severity === s).length]));
  const active = all.filter((tk) => needsActionNow(tk, now)).sort((a, b) => urgency(a, b, now));
  const may = access().may;
  const item = (tk) => {
    const buttons = offeredActions(tk, may, access().zones).filter((a) => QUICK.includes(a)).map((a) =>
      h("button", {type: "button", id: `na-${tk.id}-${a}`, class: `na-action action-${a}`, dataset: {action: a},
        onclick: (e) => act(tk, a, e.currentTarget)}, t(`tickets.do_${a}`)));
    const said = messages.get(tk.id);
    const owner = tk.assignee ? tk.assignee : `${t("overview.unassigned")}${tk.team ? ` · ${tk.team}` : ""}`;
    return h("li", {class: "na-item", dataset: {ticketId: tk.id, severity: tk.severity}},
      h("div", {class: "na-head"}, severityBadge(tk.severity), " ",
        h("a", {href: `#/tickets/${encodeURIComponent(tk.id)}`, class: "na-title"}, tk.title || tk.id), " ",
        statusBadge(tk.status), " ", slaCountdown(tk.due_at)),
      h("dl", {class: "na-meta"},
        h("div", {}, h("dt", {}, t("overview.where")), h("dd", {class: "na-place"}, placeOf(tk, serverPlaces))),
        h("div", {}, h("dt", {}, t("overview.since")),
          h("dd", {class: "na-since"}, fmtSiteStamp(parseTs(tk.opened_at), store.tz))),
        h("div", {}, h("dt", {}, t("overview.owner")),
          h("dd", {class: `na-owner${tk.assignee ? "" : " unassigned"}`}, owner))),
      buttons.length ? h("div", {class: "buttons na-actions"}, buttons) : null,
      said ? h("p", {class: `result${said.error ? " error" : ""}`, role: said.error ? "alert" : "status"}, said.text)
        : null);
  };
  fill(body,
    h("ul", {class: "sev-counts", id: "severity-counts"}, SEVERITIES.map((s) =>
      h("li", {class: `sev-tile sev-${s}`, dataset: {severity: s}},
        h("span", {class: "count"}, String(counts[s])), h("span", {}, tv("severity", s))))),
    active.length === 0 ? h("p", {class: "muted"}, t("tickets.none_active")) :
      h("ol", {class: "urgent needs-action", id: "needs-action"}, active.slice(0, URGENT_LIST).map(item)),
    active.length > URGENT_LIST ? h("p", {class: "muted"}, t("overview.more", {n: active.length - URGENT_LIST})) : null,
    h("p", {}, h("a", {href: "#/tickets", "data-i18n": "overview.all_tickets"}, t("overview.all_tickets"))));
}

function renderPatrol(body) {
  const night = tonight(siteNow(), store.tz);
  const slots = [store.rounds.get(night), store.rounds.get(addDays(night, 1))].filter(Boolean);
  if (!slots.length) return fill(body, slotNotice({state: "loading"}));
  const missing = slots.find((s) => s.state !== "ok");
  if (missing && slots.every((s) => s.state !== "ok")) return fill(body, slotNotice(missing));
  const rounds = slots.flatMap((s) => s.list).filter((r) => nightOf(r.scheduled_start) === night);
  const sum = coverageSummary(rounds);
  fill(body,
    h("p", {class: "big", id: "patrol-coverage"}, pct(sum.coverage)),
    ratioBar(sum.coverage ?? NaN, t("overview.patrol")),
    h("p", {}, t("patrol.rounds_done", {done: sum.finished, total: sum.rounds})),
    h("p", {}, t("patrol.missed_late", {missed: sum.missed, late: sum.late})),
    h("p", {}, h("a", {href: "#/patrol", "data-i18n": "overview.all_patrol"}, t("overview.all_patrol"))));
}

/** Zones with their counts; a zone's floors that have something wrong are named in its row. */
function renderPlaces(c, slot) {
  if (slot.state === "na") {
    c.el.hidden = true; // an older gateway: no floor list, nothing to say about it
    return;
  }
  c.el.hidden = false;
  const notice = slot.list.length ? null : slot.state === "ok"
    ? h("p", {class: "muted"}, t("overview.no_places")) : slotNotice(slot);
  if (notice) return fill(c.body, notice);
  const num = (n, bad) => h("td", {class: `num${n && bad ? " bad" : ""}`}, String(n));
  const floorsCell = (z) => {
    const troubled = z.floors.filter((f) => f.offline || f.faulty || f.open_tickets);
    if (!z.floors.length) return h("td", {class: "muted"}, "–");
    return h("td", {class: "floors"},
      h("span", {class: "muted"}, t("overview.floors_n", {n: z.floors.length})),
      troubled.map((f) => h("span", {class: "floor-chip", dataset: {floor: f.floor}}, `${f.floor}: ${[
        f.open_tickets ? t("overview.n_tickets", {n: f.open_tickets}) : null,
        f.faulty ? t("overview.n_faulty", {n: f.faulty}) : null,
        f.offline ? t("overview.n_offline", {n: f.offline}) : null,
      ].filter(Boolean).join(", ")}`)));
  };
  fill(c.body, h("div", {class: "table-wrap"}, h("table", {class: "places", id: "places"},
    h("thead", {}, h("tr", {}, ["overview.zone", "overview.col_devices", "overview.col_offline", "overview.col_faulty",
      "overview.col_tickets", "overview.col_floors"].map((k) => h("th", {scope: "col"}, t(k))))),
    h("tbody", {}, slot.list.map((z) => h("tr", {dataset: {zone: z.zone},
      class: z.open_tickets || z.faulty || z.offline ? "has-trouble" : ""},
    h("th", {scope: "row"}, h("a", {href: "#/devices"}, z.zone)),
    num(z.devices, false), num(z.offline, true), num(z.faulty, true), num(z.open_tickets, true), floorsCell(z)))))));
}
