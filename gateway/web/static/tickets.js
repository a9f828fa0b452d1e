// Tickets: filter the list, open one to read its stages and history, act on it with a note, and
// register a new request from a person (request.js).

import {access, loadAccess, mayDo} from "./access.js";
import {fill, h, options} from "./dom.js";
import {compareTickets, fmtDateTime, parseTs, SEVERITIES} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {createRequestForm} from "./request.js";
import {siteNow} from "./siteclock.js";
import {stagesTable} from "./stages.js";
import {actOnTicket, loadDevices, loadTicket, loadTickets, store} from "./store.js";
import {NEEDS_DETAILS, offeredActions, ORDER} from "./ticketactions.js";
import {severityBadge, slaCountdown, slotNotice, statusBadge} from "./widgets.js";

const STATUS_CHOICES = ["active", "open", "acknowledged", "resolved", "closed", "cancelled", "all"];
const ACTOR_KEY = "sitegate.actor";
const FLASH_MS = 4000;
const NEW = "new"; // #/tickets/new: the request form

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
  const newButton = h("button", {type: "button", id: "new-request", class: "new-request",
    onclick: () => { location.hash = `#/tickets/${NEW}`; }});
  const listBody = h("div", {class: "list", id: "ticket-list"});
  const detail = h("section", {class: "detail", id: "ticket-detail", hidden: true, "aria-live": "polite"});
  // On one column the opened ticket comes first, where the tap was (see app.css).
  const el = h("div", {class: "tickets-view"}, h("div", {class: "split"},
    h("div", {}, h("div", {class: "buttons list-tools"}, newButton), filters, listBody), detail));

  let selected = null; // ticket id shown in the detail panel
  let form = null; // the action form, kept across re-renders so a half-written note survives
  let creating = false; // the request form is open instead of a ticket
  const request = createRequestForm({zones: knownZones, onCreated: (tk) => { location.hash = `#/tickets/${encodeURIComponent(tk.id)}`; }});

  status.addEventListener("change", () => loadTickets(statusesFor(status.value)));
  for (const control of [severity, zone]) control.addEventListener("change", render);
  device.addEventListener("input", render);

  function refresh() {
    const loads = [loadTickets(statusesFor(status.value || "active"))];
    if (selected) loads.push(loadTicket(selected).catch(() => null));
    // What the token may do decides the buttons; re-render once it is known.
    loads.push(loadAccess().then(render));
    return Promise.all(loads);
  }

  function show(params) {
    const id = params[0] ? decodeURIComponent(params[0]) : null;
    const opening = id === NEW;
    if (opening && !creating) {
      request.reset();
      // The zones to offer come from the devices too; the tickets view does not load them otherwise.
      if (store.devices.state !== "ok") loadDevices().then(() => request.relabel());
    }
    creating = opening;
    const ticketId = opening ? null : id;
    if (ticketId !== selected) form = null;
    selected = ticketId;
    render();
    if (opening) request.focus();
    return refresh();
  }

  /** Zones people can file a request under: those of tickets and devices, within the token's zones. */
  function knownZones() {
    const zones = new Set([...store.tickets.byId.values()].map((tk) => tk.zone).filter(Boolean));
    for (const d of store.devices.byId.values()) if (d.zone && d.zone !== "unassigned") zones.add(d.zone);
    const limited = access().zones || [];
    for (const z of limited) zones.add(z);
    return [...zones].filter((z) => !limited.length || limited.includes(z)).sort();
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
        h("a", {href: `#/tickets/${encodeURIComponent(tk.id)}`, class: "ticket-link", "data-raw": true},
          tk.title || tk.id),
        h("div", {class: "sub"},
          tk.device_id ? h("a", {href: `#/devices/${encodeURIComponent(tk.device_id)}`}, tk.device_id) : null,
          tk.zone ? ` · ${tk.zone}` : null)),
      h("td", {class: "status"}, statusBadge(tk.status),
        ["open", "acknowledged"].includes(tk.status) ? h("div", {class: "sub"}, slaCountdown(tk.due_at)) : null),
      h("td", {class: "opt"}, fmtDateTime(parseTs(tk.opened_at), store.tz, lang()))))))));
  }

  function renderDetail() {
    newButton.textContent = t("request.new");
    newButton.hidden = !mayDo("ticket.create");
    detail.hidden = !selected && !creating;
    if (creating) {
      // Built once per opening: replacing it on every live event would take the keyboard focus
      // away from someone typing (and their keystrokes with it).
      if (!detail.contains(request.el)) {
        fill(detail, h("p", {}, h("a", {href: "#/tickets", class: "back"}, t("tickets.back"))),
          h("h2", {id: "request-heading"}), request.el);
      }
      detail.querySelector(".back").textContent = t("tickets.back");
      detail.querySelector("#request-heading").textContent = t("request.heading");
      request.relabel();
      return;
    }
    if (!selected) return;
    const tk = store.tickets.byId.get(selected);
    if (!tk) return fill(detail, h("p", {class: "notice"}, t("common.loading")));
    form ??= actionForm(tk.id, render);
    // The detail is redrawn on every live event: put the keyboard focus (and the caret) back where
    // someone was typing, or their next keystrokes would go nowhere.
    const typing = form.el.contains(document.activeElement) ? document.activeElement : null;
    const caret = typing && typeof typing.selectionStart === "number" ? [typing.selectionStart, typing.selectionEnd]
      : null;
    fill(detail,
      h("p", {}, h("a", {href: "#/tickets", class: "back"}, t("tickets.back"))),
      h("h2", {id: "ticket-title", "data-raw": true}, tk.title || tk.id),
      h("p", {}, severityBadge(tk.severity), " ", statusBadge(tk.status), " ",
        ["open", "acknowledged"].includes(tk.status) ? slaCountdown(tk.due_at) : null),
      h("dl", {class: "facts"}, fact("tickets.id", tk.id, true), fact("tickets.rule", tk.rule, true),
        fact("tickets.device", tk.device_id
          ? h("a", {href: `#/devices/${encodeURIComponent(tk.device_id)}`}, tk.device_id) : null, true),
        fact("tickets.zone", tk.zone, true),
        fact("tickets.opened", fmtDateTime(parseTs(tk.opened_at), store.tz, lang())),
        fact("tickets.due", fmtDateTime(parseTs(tk.due_at), store.tz, lang())),
        fact("tickets.occurrences", tk.occurrences), fact("tickets.assignee", tk.assignee || "–", true)),
      tk.description ? h("p", {"data-raw": true}, tk.description) : null,
      serviceFacts(tk),
      h("h3", {}, t("stages.title")),
      stagesTable(tk, store.tz, siteNow()),
      form.el,
      h("h3", {}, t("tickets.history")),
      history(tk.history || []));
    form.update(tk);
    if (typing && document.activeElement !== typing) {
      typing.focus();
      if (caret) typing.setSelectionRange(...caret);
    }
  }

  function render() {
    renderFilters();
    renderList();
    renderDetail();
  }

  return {el, title: "nav.tickets", deps: ["tickets"], show, refresh, render};
}

/** One fact of the ticket; `raw` marks a value shown as the site or a person wrote it (an id, a
 * name), which is the same in both languages. */
function fact(key, value, raw = false) {
  return h("div", {class: "kv"}, h("dt", {}, t(key)),
    h("dd", {"data-raw": raw}, value === null || value === undefined ? "–" : value));
}

function history(entries) {
  if (!entries.length) return h("p", {class: "muted"}, t("tickets.no_history"));
  return h("ol", {class: "history"}, [...entries].reverse().map((e) => h("li", {},
    h("time", {datetime: e.at || ""}, fmtDateTime(parseTs(e.at), store.tz, lang())), " ",
    h("strong", {}, tv("action", e.action)), " ",
    e.from && e.to && e.from !== e.to ? `${tv("status", e.from)} → ${tv("status", e.to)} ` : "",
    e.actor ? actorLabel(e.actor) : null,
    e.note ? h("blockquote", {"data-raw": true}, e.note) : null)));
}

/** Who acted: the gateway's own actors (system, schedule) in words; a person's name as written. */
function actorLabel(actor) {
  const label = tv("actor", actor);
  return h("span", {class: "muted", "data-raw": label === actor}, `(${label})`);
}

// Facts written by people or the site file (names, places, teams, work notes), shown as written.
const RAW_FACTS = new Set(["tickets.reporter", "tickets.place", "tickets.team", "tickets.resolved_by",
  "tickets.work_done", "tickets.parts", "tickets.revisited_by"]);

/** Who asked and how, and what the service loop recorded: only the facts the ticket has. */
function serviceFacts(tk) {
  const reporter = tk.reporter ? [tk.reporter.name, tk.reporter.contact].filter(Boolean).join(" · ") : "";
  const photos = (tk.photos || []).filter((p) => /^https?:\/\/\S/i.test(p));
  const items = [
    ["tickets.source", tk.source ? tv("source", tk.source) : null],
    ["tickets.channel", tk.channel && tk.channel !== tk.source ? tv("channel", tk.channel) : null],
    ["tickets.category", tk.category && tk.category !== "general" ? tv("category", tk.category) : null],
    ["tickets.emergency", tk.emergency ? t("tickets.yes") : null],
    ["tickets.reporter", reporter || null],
    ["tickets.place", tk.place || null],
    ["tickets.team", tk.team || null],
    ["tickets.resolved_by", tk.resolved_by || null],
    ["tickets.work_done", tk.work_done || null],
    ["tickets.parts", tk.parts && tk.parts.length ? tk.parts.join(", ") : null],
    ["tickets.revisited_by", tk.revisited_by || null],
    ["tickets.revisit_result", tk.revisit_result ? tv("revisit_result", tk.revisit_result) : null],
    ["tickets.satisfaction", tk.satisfaction ? `${tk.satisfaction} / 5` : null],
    ["tickets.reopen_count", tk.reopen_count ? tk.reopen_count : null],
    ["tickets.photos", photos.length ? photos.map((p, i) => [i ? " " : "", h("a", {href: p, target: "_blank",
      rel: "noopener noreferrer"}, t("tickets.photo_n", {n: i + 1}))]) : null],
  ].filter(([, value]) => value !== null && value !== undefined);
  if (!items.length) return null;
  return h("dl", {class: "facts service-facts", id: "ticket-service"},
    items.map(([k, v]) => fact(k, v, RAW_FACTS.has(k))));
}

/**
 * The note, who acts, and the buttons the ticket's status and the token's role allow. Accept,
 * resolve and revisit ask for their details first (a panel with its own send button); the others
 * go at once. Reports the server's refusal in words.
 */
function actionForm(ticketId, rerender) {
  const note = h("textarea", {id: "action-note", name: "note", rows: 2, maxlength: 4000});
  const actor = h("input", {id: "action-actor", name: "actor", autocomplete: "name",
    value: localStorage.getItem(ACTOR_KEY) || ""});
  const result = h("p", {class: "result", id: "action-result", role: "status"});
  const buttons = ORDER.map((action) => h("button", {type: "button", class: `action-${action}`, hidden: true,
    dataset: {action}, onclick: () => (NEEDS_DETAILS.has(action) ? openDetails(action) : run(action))}));
  const labels = {note: h("label", {for: "action-note"}), actor: h("label", {for: "action-actor"})};

  // The details each of accept, resolve and revisit asks for.
  const d = {
    assignee: h("input", {id: "action-assignee", name: "assignee", maxlength: 200, autocomplete: "off"}),
    work_done: h("textarea", {id: "action-work", name: "work_done", rows: 2, maxlength: 4000}),
    parts: h("input", {id: "action-parts", name: "parts", maxlength: 2000, autocomplete: "off"}),
    result: h("select", {id: "action-revisit-result", name: "result"}),
    satisfaction: h("select", {id: "action-satisfaction", name: "satisfaction"}),
  };
  const dl = {};
  const detailField = (name) => {
    dl[name] = h("label", {for: d[name].id});
    return h("div", {class: "field"}, dl[name], d[name]);
  };
  const groups = {
    accept: h("div", {class: "detail-fields", dataset: {for: "accept"}}, detailField("assignee")),
    resolve: h("div", {class: "detail-fields", dataset: {for: "resolve"}}, detailField("work_done"),
      detailField("parts")),
    revisit: h("div", {class: "detail-fields", dataset: {for: "revisit"}}, detailField("result"),
      detailField("satisfaction")),
  };
  const confirm = h("button", {type: "button", id: "action-confirm", class: "confirm",
    onclick: () => run(panel.dataset.action)});
  const back = h("button", {type: "button", id: "action-back", onclick: closeDetails});
  const panelTitle = h("h4", {});
  const panel = h("fieldset", {class: "action-details", id: "action-details", hidden: true},
    panelTitle, Object.values(groups), h("div", {class: "buttons"}, confirm, back));
  const el = h("form", {class: "actions", onsubmit: (e) => e.preventDefault()},
    h("div", {class: "field"}, labels.note, note), h("div", {class: "field"}, labels.actor, actor),
    h("div", {class: "buttons", id: "action-buttons"}, buttons), panel, result);

  function openDetails(action) {
    panel.dataset.action = action;
    panel.hidden = false;
    for (const [name, group] of Object.entries(groups)) group.hidden = name !== action;
    // Dispatching to someone else is customer service's; an engineer accepts for themself.
    groups.accept.hidden = action !== "accept" || !mayDo("ticket.dispatch");
    relabelDetails();
    const first = {accept: d.assignee, resolve: d.work_done, revisit: d.result}[action];
    if (first && !first.closest("[hidden]")) first.focus();
    else confirm.focus();
  }

  function closeDetails() {
    panel.hidden = true;
    delete panel.dataset.action;
  }

  function detailsOf(action) {
    if (action === "accept") return d.assignee.value.trim() && mayDo("ticket.dispatch")
      ? {assignee: d.assignee.value.trim()} : {};
    if (action === "resolve") {
      return {work_done: d.work_done.value.trim(),
        parts: d.parts.value.split(/[,，;；\n]/).map((p) => p.trim()).filter(Boolean)};
    }
    if (action === "revisit") {
      const score = Number(d.satisfaction.value);
      return {result: d.result.value, ...(score ? {satisfaction: score} : {})};
    }
    return {};
  }

  /** Show a message; `words` makes its text, so a language switch can word it again (resay). */
  let said = null;
  function say(words, error) {
    said = {words, error};
    result.className = error ? "result error" : "result";
    result.setAttribute("role", error ? "alert" : "status");
    result.textContent = words();
  }

  function resay() {
    if (said) result.textContent = said.words();
  }

  async function run(action) {
    if (action === "feedback" && !note.value.trim()) {
      say(() => t("tickets.feedback_needs_note"), true);
      note.focus();
      return;
    }
    for (const b of [...buttons, confirm]) b.disabled = true;
    say(() => t("common.sending"), false);
    const name = actor.value.trim();
    if (name) localStorage.setItem(ACTOR_KEY, name);
    try {
      const tk = await actOnTicket(ticketId, action, note.value.trim(), name || undefined, detailsOf(action));
      note.value = "";
      for (const input of [d.assignee, d.work_done, d.parts]) input.value = "";
      closeDetails();
      say(() => t("tickets.done", {status: tv("status", tk.status)}), false);
    } catch (err) {
      say(() => t("tickets.refused", {status: err.status || "-", reason: err.detail || err.message}), true);
    } finally {
      for (const b of [...buttons, confirm]) b.disabled = false;
      // A 401 may have stored a new token: ask again what it may do (the view re-renders then).
      loadAccess().then(rerender);
    }
  }

  function relabelDetails() {
    for (const [name, label] of Object.entries(dl)) label.textContent = t(`tickets.detail_${name}`);
    d.assignee.placeholder = t("tickets.assignee_hint");
    d.parts.placeholder = t("tickets.parts_hint");
    options(d.result, ["ok", "failed"].map((r) => [r, tv("revisit_result", r)]), d.result.value || "ok");
    options(d.satisfaction, [["", "–"], ...[5, 4, 3, 2, 1].map((n) => [String(n), t("tickets.score", {n})])],
      d.satisfaction.value);
    const action = panel.dataset.action;
    panelTitle.textContent = action ? t(`tickets.do_${action}`) : "";
    confirm.textContent = action ? t("tickets.send", {action: t(`tickets.do_${action}`)}) : "";
    back.textContent = t("tickets.back_out");
  }

  /** Relabel, and offer only what the ticket's status and the token's role allow. */
  function update(tk) {
    labels.note.textContent = t("tickets.note");
    labels.actor.textContent = t("tickets.actor");
    const offered = new Set(offeredActions(tk, access().may, access().zones));
    for (const b of buttons) {
      b.textContent = t(`tickets.do_${b.dataset.action}`);
      b.hidden = !offered.has(b.dataset.action);
    }
    if (panel.dataset.action && !offered.has(panel.dataset.action)) closeDetails();
    relabelDetails();
    resay();
  }

  return {el, update};
}
