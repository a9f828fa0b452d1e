// Overview: site health, devices online, active tickets by severity with SLA, tonight's patrol.

import {fill, h} from "./dom.js";
import {addDays, compareTickets, coverageSummary, nightOf, pct, SEVERITIES, tonight} from "./format.js";
import {t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {loadDevices, loadHealth, loadRounds, loadTickets, store} from "./store.js";
import {onlineBadge, ratioBar, severityBadge, slaCountdown, slotNotice, statusBadge} from "./widgets.js";

const ACTIVE = ["open", "acknowledged"];
const URGENT_LIST = 8;

export function createOverview() {
  const cards = {
    health: card("overview.health"),
    devices: card("overview.devices"),
    tickets: card("overview.tickets"),
    patrol: card("overview.patrol"),
  };
  const el = h("div", {class: "cards"}, Object.values(cards).map((c) => c.el));

  function refresh() {
    // "Tonight" is a site-local notion: the rounds wait for /api/health, which names the time zone.
    const rounds = loadHealth().then(() => {
      const night = tonight(siteNow(), store.tz);
      return Promise.all([loadRounds(night), loadRounds(addDays(night, 1))]);
    });
    return Promise.all([rounds, loadDevices(), loadTickets(ACTIVE)]);
  }

  function render() {
    renderHealth(cards.health.body);
    renderDevices(cards.devices.body);
    renderTickets(cards.tickets.body);
    renderPatrol(cards.patrol.body);
  }

  return {el, title: "nav.overview", deps: ["health", "devices", "tickets", "rounds"], show: refresh, refresh, render};
}

function card(titleKey) {
  const body = h("div", {class: "card-body"});
  const id = `card-${titleKey.replace(".", "-")}`;
  const el = h("section", {class: "card", id, "aria-labelledby": `${id}-title`},
    h("h2", {id: `${id}-title`, "data-i18n": titleKey}, t(titleKey)), body);
  return {el, body};
}

function renderHealth(body) {
  const slot = store.health;
  const notice = slotNotice(slot);
  if (notice) return fill(body, notice);
  const d = slot.data;
  const row = (key, value, group) => h("div", {class: "kv"},
    h("dt", {}, t(key)), h("dd", {class: `state-${value}`}, tv(group, value)));
  fill(body,
    h("p", {class: `big health-${d.status}`, id: "site-status"}, tv("health", d.status)),
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

function renderTickets(body) {
  const slot = store.tickets;
  const notice = slotNotice(slot);
  if (notice) return fill(body, notice);
  const active = [...slot.byId.values()].filter((tk) => ACTIVE.includes(tk.status)).sort(compareTickets);
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, active.filter((tk) => tk.severity === s).length]));
  fill(body,
    h("ul", {class: "sev-counts", id: "severity-counts"}, SEVERITIES.map((s) =>
      h("li", {class: `sev-tile sev-${s}`, dataset: {severity: s}},
        h("span", {class: "count"}, String(counts[s])), h("span", {}, tv("severity", s))))),
    active.length === 0 ? h("p", {class: "muted"}, t("tickets.none_active")) :
      h("ul", {class: "urgent"}, active.slice(0, URGENT_LIST).map((tk) => h("li", {dataset: {ticketId: tk.id}},
        severityBadge(tk.severity), " ",
        h("a", {href: `#/tickets/${encodeURIComponent(tk.id)}`}, tk.title || tk.id), " ",
        statusBadge(tk.status), " ", slaCountdown(tk.due_at)))),
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
