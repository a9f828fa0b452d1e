// Tickets: filter the list, open one to read its history, act on it with a note.

import {fill, h, options} from "./dom.js";
import {compareTickets, fmtDateTime, parseTs, SEVERITIES} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {actOnTicket, loadTicket, loadTickets, store} from "./store.js";
import {severityBadge, slaCountdown, slotNotice, statusBadge} from "./widgets.js";

const STATUS_CHOICES = ["active", "open", "acknowledged", "resolved", "closed", "cancelled", "all"];
const ACTIONS = ["ack", "resolve", "close"];
const ACTOR_KEY = "sitegate.actor";
const FLASH_MS = 4000;

function statusesFor(choice) {
  if (choice === "active") return ["open", "acknowledged"];
  if (choice === "all") return [null];
  return [choice];
}

export function createTickets() {
  const status = h("select", {id: "filter-status", name: "status"});
  const severity = h("select", {id: "filter-severity", name: "severity"});
  const zone = h("select", {id: "filter-zone", name: "zone"});
  const device = h("input", {id: "filter-device", name: "device", type: "search", autocomplete: "off"});
  const field = (id, key, control) => h("div", {class: "field"},
    h("label", {for: id, "data-i18n": key}, t(key)), control);
  const filters = h("form", {class: "filters", role: "search", onsubmit: (e) => e.preventDefault()},
    field("filter-status", "tickets.status", status), field("filter-severity", "tickets.severity", severity),
    field("filter-zone", "tickets.zone", zone), field("filter-device", "tickets.device", device));
  status.value = "active";
  const listBody = h("div", {class: "list", id: "ticket-list"});
  const detail = h("section", {class: "detail", id: "ticket-detail", hidden: true, "aria-live": "polite"});
  // On one column the opened ticket comes first, where the tap was (see app.css).
  const el = h("div", {class: "tickets-view"}, h("div", {class: "split"}, h("div", {}, filters, listBody), detail));

  let selected = null; // ticket id shown in the detail panel
  let form = null; // the action form, kept across re-renders so a half-written note survives

  status.addEventListener("change", () => loadTickets(statusesFor(status.value)));
  for (const control of [severity, zone]) control.addEventListener("change", render);
  device.addEventListener("input", render);

  function refresh() {
    const loads = [loadTickets(statusesFor(status.value || "active"))];
    if (selected) loads.push(loadTicket(selected).catch(() => null));
    return Promise.all(loads);
  }

  function show(params) {
    const id = params[0] ? decodeURIComponent(params[0]) : null;
    if (id !== selected) form = null;
    selected = id;
    render();
    return refresh();
  }

  function matches(tk) {
    const statuses = statusesFor(status.value);
    return (statuses.includes(null) || statuses.includes(tk.status))
      && (!severity.value || tk.severity === severity.value)
      && (!zone.value || tk.zone === zone.value)
      && (!device.value || String(tk.device_id || "").toLowerCase().includes(device.value.trim().toLowerCase()));
  }

  function renderFilters() {
    options(status, STATUS_CHOICES.map((s) => [s, s === "active" || s === "all" ? t(`tickets.choice_${s}`) : tv("status", s)]),
      status.value || "active");
    options(severity, [["", t("common.any")], ...SEVERITIES.map((s) => [s, tv("severity", s)])], severity.value);
    const zones = new Set([...store.tickets.byId.values()].map((tk) => tk.zone).filter(Boolean));
    for (const d of store.devices.byId.values()) if (d.zone) zones.add(d.zone);
    options(zone, [["", t("common.any")], ...[...zones].sort().map((z) => [z, z])], zone.value);
    device.placeholder = t("tickets.device_hint");
  }

  function renderList() {
    const notice = slotNotice(store.tickets);
    if (notice && store.tickets.state !== "loading") return fill(listBody, notice);
    const rows = [...store.tickets.byId.values()].filter(matches).sort(compareTickets);
    if (!rows.length) return fill(listBody, notice || h("p", {class: "muted"}, t("tickets.none")));
    const now = Date.now();
    // Three columns fit a phone: what, which ticket (and where), and how it stands against its deadline.
    const head = [["tickets.severity"], ["tickets.title"], ["tickets.status"], ["tickets.opened", "opt"]];
    fill(listBody, h("div", {class: "table-wrap"}, h("table", {class: "tickets"},
      h("caption", {class: "visually-hidden"}, t("nav.tickets")),
      h("thead", {}, h("tr", {}, head.map(([k, cls]) => h("th", {scope: "col", class: cls}, t(k))))),
      h("tbody", {}, rows.map((tk) => h("tr", {
        dataset: {ticketId: tk.id},
        class: [tk.id === selected ? "selected" : "", now - (store.recent.get(tk.id) || 0) < FLASH_MS ? "flash" : ""]
          .join(" ").trim() || null,
      },
      h("td", {}, severityBadge(tk.severity)),
      h("td", {},
        h("a", {href: `#/tickets/${encodeURIComponent(tk.id)}`, class: "ticket-link"}, tk.title || tk.id),
        h("div", {class: "sub"},
          tk.device_id ? h("a", {href: `#/devices/${encodeURIComponent(tk.device_id)}`}, tk.device_id) : null,
          tk.zone ? ` · ${tk.zone}` : null)),
      h("td", {class: "status"}, statusBadge(tk.status),
        ["open", "acknowledged"].includes(tk.status) ? h("div", {class: "sub"}, slaCountdown(tk.due_at)) : null),
      h("td", {class: "opt"}, fmtDateTime(parseTs(tk.opened_at), store.tz, lang()))))))));
  }

  function renderDetail() {
    detail.hidden = !selected;
    if (!selected) return;
    const tk = store.tickets.byId.get(selected);
    if (!tk) return fill(detail, h("p", {class: "notice"}, t("common.loading")));
    form ??= actionForm(tk.id);
    fill(detail,
      h("p", {}, h("a", {href: "#/tickets", class: "back"}, t("tickets.back"))),
      h("h2", {id: "ticket-title"}, tk.title || tk.id),
      h("p", {}, severityBadge(tk.severity), " ", statusBadge(tk.status), " ",
        ["open", "acknowledged"].includes(tk.status) ? slaCountdown(tk.due_at) : null),
      h("dl", {class: "facts"}, fact("tickets.id", tk.id), fact("tickets.rule", tk.rule),
        fact("tickets.device", tk.device_id
          ? h("a", {href: `#/devices/${encodeURIComponent(tk.device_id)}`}, tk.device_id) : null),
        fact("tickets.zone", tk.zone),
        fact("tickets.opened", fmtDateTime(parseTs(tk.opened_at), store.tz, lang())),
        fact("tickets.due", fmtDateTime(parseTs(tk.due_at), store.tz, lang())),
        fact("tickets.occurrences", tk.occurrences), fact("tickets.assignee", tk.assignee || "–")),
      tk.description ? h("p", {}, tk.description) : null,
      form.el,
      h("h3", {}, t("tickets.history")),
      history(tk.history || []));
    form.relabel();
  }

  function render() {
    renderFilters();
    renderList();
    renderDetail();
  }

  return {el, title: "nav.tickets", deps: ["tickets"], show, refresh, render};
}

function fact(key, value) {
  return h("div", {class: "kv"}, h("dt", {}, t(key)), h("dd", {}, value === null || value === undefined ? "–" : value));
}

function history(entries) {
  if (!entries.length) return h("p", {class: "muted"}, t("tickets.no_history"));
  return h("ol", {class: "history"}, [...entries].reverse().map((e) => h("li", {},
    h("time", {datetime: e.at || ""}, fmtDateTime(parseTs(e.at), store.tz, lang())), " ",
    h("strong", {}, tv("action", e.action)), " ",
    e.from && e.to && e.from !== e.to ? `${tv("status", e.from)} → ${tv("status", e.to)} ` : "",
    e.actor ? h("span", {class: "muted"}, `(${e.actor})`) : null,
    e.note ? h("blockquote", {}, e.note) : null)));
}

/** The note, who acts, and the three action buttons; reports the server's refusal in words. */
function actionForm(ticketId) {
  const note = h("textarea", {id: "action-note", name: "note", rows: 2, maxlength: 4000});
  const actor = h("input", {id: "action-actor", name: "actor", autocomplete: "name",
    value: localStorage.getItem(ACTOR_KEY) || ""});
  const result = h("p", {class: "result", id: "action-result", role: "status"});
  const buttons = ACTIONS.map((action) => h("button", {type: "button", class: `action-${action}`,
    dataset: {action}, onclick: () => run(action)}));
  const labels = {note: h("label", {for: "action-note"}), actor: h("label", {for: "action-actor"})};
  const el = h("form", {class: "actions", onsubmit: (e) => e.preventDefault()},
    h("div", {class: "field"}, labels.note, note), h("div", {class: "field"}, labels.actor, actor),
    h("div", {class: "buttons"}, buttons), result);

  async function run(action) {
    for (const b of buttons) b.disabled = true;
    result.className = "result";
    result.setAttribute("role", "status");
    result.textContent = t("common.sending");
    const name = actor.value.trim();
    if (name) localStorage.setItem(ACTOR_KEY, name);
    try {
      const tk = await actOnTicket(ticketId, action, note.value.trim(), name || undefined);
      note.value = "";
      result.textContent = t("tickets.done", {status: tv("status", tk.status)});
    } catch (err) {
      result.className = "result error";
      result.setAttribute("role", "alert");
      result.textContent = t("tickets.refused", {status: err.status || "-", reason: err.detail || err.message});
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  function relabel() {
    labels.note.textContent = t("tickets.note");
    labels.actor.textContent = t("tickets.actor");
    for (const b of buttons) b.textContent = t(`tickets.do_${b.dataset.action}`);
  }

  return {el, relabel};
}
