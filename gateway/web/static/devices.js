// Devices: grouped by zone and kind with latest values, online state and health; one device's page
// with its readings, tickets, the thresholds that watch it, and a chart of one metric's history.

import {api, query} from "./api.js";
import {timeChart} from "./chart.js";
import {fill, h, options} from "./dom.js";
import {chartable, compareTickets, fmtDateTime, fmtDuration, fmtValue, groupBy, parseTs, pct} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {failure, loadDevice, loadDevices, loadSeries, store} from "./store.js";
import {onlineBadge, ratioBar, severityBadge, slotNotice, statusBadge} from "./widgets.js";

const RANGES = [["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 24 * 3600e3], ["7d", 7 * 24 * 3600e3]];
const TARGET_POINTS = 240; // about one averaged point per 3 px on a wall screen
const CARD_METRICS = 3;
// The metric that says most about each kind of device, charted first.
const PREFERRED = ["current_a", "illuminance_lux", "pressure_mpa", "temperature_c", "power_w", "battery_pct"];

export function createDevices() {
  const zone = h("select", {id: "device-zone"});
  const kind = h("select", {id: "device-kind"});
  const state = h("select", {id: "device-state"});
  const search = h("input", {id: "device-search", type: "search", autocomplete: "off"});
  const field = (id, key, control) => h("div", {class: "field"}, h("label", {for: id, "data-i18n": key}, t(key)), control);
  const filters = h("form", {class: "filters", role: "search", onsubmit: (e) => e.preventDefault()},
    field("device-zone", "devices.zone", zone), field("device-kind", "devices.kind", kind),
    field("device-state", "devices.state", state), field("device-search", "devices.search", search));
  for (const c of [zone, kind, state]) c.addEventListener("change", render);
  search.addEventListener("input", render);
  const listBody = h("div", {id: "device-list"});
  const list = h("div", {}, filters, listBody);
  const detail = deviceDetail();
  const el = h("div", {}, list, detail.el);
  let selected = null;

  function show(params) {
    selected = params[0] ? decodeURIComponent(params[0]) : null;
    list.hidden = Boolean(selected);
    detail.el.hidden = !selected;
    if (selected) detail.open(selected);
    render();
    return refresh();
  }

  function refresh() {
    return selected ? Promise.all([loadDevice(selected).then((r) => detail.loaded(r)), detail.loadMore()])
      : loadDevices();
  }

  function matches(d) {
    const q = search.value.trim().toLowerCase();
    return (!zone.value || d.zone === zone.value) && (!kind.value || d.kind === kind.value)
      && (!state.value || (state.value === "online") === (d.online === true))
      && (!q || [d.id, d.location, d.owner].some((s) => String(s || "").toLowerCase().includes(q)));
  }

  function renderList() {
    const all = [...store.devices.byId.values()];
    const any = [["", t("common.any")]];
    options(zone, [...any, ...[...new Set(all.map((d) => d.zone || ""))].filter(Boolean).sort().map((z) => [z, z])], zone.value);
    options(kind, [...any, ...[...new Set(all.map((d) => d.kind))].sort().map((k) => [k, tv("kind", k)])], kind.value);
    options(state, [...any, ["online", tv("device_state", "online")], ["offline", tv("device_state", "offline")]], state.value);
    search.placeholder = t("devices.search_hint");
    const notice = slotNotice(store.devices);
    if (notice && !all.length) return fill(listBody, notice);
    const shown = all.filter(matches);
    if (!shown.length) return fill(listBody, h("p", {class: "muted"}, t("devices.none")));
    fill(listBody, [...groupBy(shown, (d) => d.zone || "").entries()].map(([z, inZone]) => {
      const online = inZone.filter((d) => d.online === true).length;
      return h("section", {class: "zone", dataset: {zone: z}},
        h("h2", {}, z || t("devices.no_zone"), " ", h("span", {class: "muted"}, `${online} / ${inZone.length}`)),
        [...groupBy(inZone, (d) => d.kind).entries()].map(([k, devices]) => h("section", {class: "kind"},
          h("h3", {}, tv("kind", k), " ", h("span", {class: "muted"}, String(devices.length))),
          h("ul", {class: "device-grid"}, devices.map(deviceCard)))));
    }));
  }

  function render() {
    if (selected) detail.render();
    else renderList();
  }

  return {el, title: "nav.devices", deps: ["devices"], show, refresh, render,
    onEvent: (type, data) => detail.live(type, data)};
}

function deviceCard(d) {
  const metrics = Object.entries(d.metrics || {}).slice(0, CARD_METRICS);
  const recent = Date.now() - (store.recent.get(d.id) || 0) < 4000;
  return h("li", {class: `device-card${d.online === false ? " is-offline" : ""}${recent ? " flash" : ""}`,
    dataset: {deviceId: d.id}},
  h("a", {href: `#/devices/${encodeURIComponent(d.id)}`, class: "device-name"}, d.id),
  onlineBadge(d.online), registration(d), registerLink(d), healthBadge(d),
  d.health === null || d.health === undefined ? null : ratioBar(d.health, `${t("devices.health")} ${pct(d.health)}`),
  metrics.length ? h("dl", {class: "metrics"}, metrics.map(([name, value]) => h("div", {class: "kv"},
    h("dt", {}, metricLabel(d, name)), h("dd", {}, fmtValue(value, (d.units || {})[name]))))) : null);
}

/**
 * A metric's name in the page's language with its unit: "Current ch.2 (A)", "电流 2路 (A)". The gateway
 * sends both languages' names for every metric it has (from its vocabulary, channels and pass-through
 * names included); a device heard of only through a live event falls back to the dictionary, then to
 * the name made readable.
 */
export function metricLabel(d, name) {
  const label = d && d.labels && d.labels[name];
  if (label) {
    const text = label[lang()] || label.en || name;
    return label.unit ? `${text} (${label.unit})` : text;
  }
  const known = tv("metric", name);
  if (known !== String(name)) return known;
  const words = String(name).replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** One device: facts, latest values, and a chart of one metric's history. */
function deviceDetail() {
  const head = h("div", {});
  const rangeButtons = RANGES.map(([name, ms]) => h("button", {type: "button", class: "toggle", dataset: {range: name},
    "aria-pressed": "false", onclick: () => { range = ms; drawChart(); }}, name));
  const chartTitle = h("h3", {id: "chart-title"});
  const chartBox = h("div", {class: "chart", id: "device-chart"});
  const chartNote = h("p", {class: "notice", id: "chart-note", hidden: true});
  const chartSection = h("section", {"aria-labelledby": "chart-title", hidden: true}, chartTitle,
    h("div", {class: "buttons", role: "group", "aria-label": t("devices.range"), "data-i18n-aria-label": "devices.range"},
      rangeButtons), chartNote, chartBox);
  const el = h("section", {class: "device-detail", hidden: true}, head, chartSection);
  let id = null, metric = null, range = RANGES[0][1], chart = null, missing = null, drawn = 0, live = false;
  let chartLang = null; // the chart's axis and legend words are drawn in this language
  // The device's tickets and the rules that watch it: {state, list} slots like the store's.
  let tickets = {state: "loading", list: []}, rules = {state: "loading", list: []};

  function open(deviceId) {
    if (deviceId !== id) {
      id = deviceId;
      metric = null;
      missing = null;
      tickets = {state: "loading", list: []};
      rules = {state: "loading", list: []};
      chartSection.hidden = true;
      destroyChart();
    }
    if (store.devices.byId.has(id)) pickAndDraw();
  }

  /** The device's tickets (every status, most urgent first) and its rules, each in its own slot. */
  async function loadMore() {
    const asked = id;
    const slot = (promise) => promise.then((list) => ({state: "ok", list}), (err) => ({...failure(err), list: []}));
    const [t, r] = await Promise.all([slot(api(query("/api/tickets", {device: asked}))),
      slot(api(`/api/devices/${encodeURIComponent(asked)}/rules`).then((doc) => doc.rules || []))]);
    if (asked !== id) return; // another device was opened meanwhile
    tickets = {...t, list: t.list.sort(compareTickets)};
    rules = r;
    render();
  }

  function loaded(result) {
    missing = result && result.state ? result : null;
    pickAndDraw();
    render();
  }

  function pickAndDraw() {
    const d = store.devices.byId.get(id);
    if (!d || metric) return;
    const names = Object.keys(d.metrics || {}).filter((n) => chartable(d.metrics[n]));
    metric = PREFERRED.find((n) => names.includes(n)) || names[0] || null;
    chartSection.hidden = !metric; // nothing to draw until the device reports a number
    if (metric) drawChart();
  }

  function destroyChart() {
    if (chart) chart.destroy();
    chart = null;
    chartBox.replaceChildren();
    delete chartBox.dataset.points;
  }

  async function drawChart() {
    const ticket = ++drawn; // a newer request wins over a slow older one
    const to = siteNow(), from = to - range;
    for (const b of rangeButtons) b.setAttribute("aria-pressed", String(RANGES.find(([n]) => n === b.dataset.range)[1] === range));
    chartTitle.textContent = t("devices.history", {metric: metricLabel(store.devices.byId.get(id), metric)});
    note(t("common.loading"));
    let points;
    try {
      points = await loadSeries({field: metric, device: id, from, to, step: range > 3600e3 ? range / TARGET_POINTS : 0});
    } catch (err) {
      if (ticket !== drawn) return;
      destroyChart();
      const f = failure(err);
      return note(f.state === "na" ? t("devices.series_na") : t("common.load_failed", {reason: f.error}));
    }
    if (ticket !== drawn) return;
    destroyChart();
    note(points.length ? null : t("devices.no_points"));
    chartLang = lang();
    chart = timeChart(chartBox, points, {label: metricLabel(store.devices.byId.get(id), metric), tz: store.tz,
      lang: chartLang});
    if (!chart) note(t("devices.chart_na"));
    live = range <= 24 * 3600e3;
  }

  function note(text) {
    chartNote.hidden = !text;
    chartNote.textContent = text || "";
  }

  /** A reading for the charted metric extends the line without asking the server again. */
  function liveEvent(type, data) {
    if (type !== "reading" || !chart || !live || data.device !== id || !(metric in (data.metrics || {}))) return;
    chart.append(parseTs(data.ts) || siteNow(), data.metrics[metric]);
  }

  function render() {
    const d = store.devices.byId.get(id);
    if (d && !metric) pickAndDraw(); // the first number from a device that had none
    if (!d) {
      return fill(head, h("p", {}, h("a", {href: "#/devices", class: "back"}, t("devices.back"))),
        missing && missing.state === "na" ? h("p", {class: "notice"}, t("devices.unknown", {id})) : slotNotice(missing || {state: "loading"}));
    }
    const units = d.units || {};
    if (metric) chartTitle.textContent = t("devices.history", {metric: metricLabel(d, metric)});
    if (chart && chartLang !== lang()) drawChart();
    fill(head,
      h("p", {}, h("a", {href: "#/devices", class: "back"}, t("devices.back"))),
      h("h2", {id: "device-title"}, d.id, " ", onlineBadge(d.online)),
      d.registered === false ? registerHint(d) : null,
      h("dl", {class: "facts"},
        fact("devices.kind", d.kind_source === "device" ? t("devices.kind_said", {kind: tv("kind", d.kind)})
          : tv("kind", d.kind)),
        d.model ? fact("devices.model", d.model) : null, fact("devices.zone", d.zone || "–"),
        d.location ? fact("devices.location", d.location) : null, d.owner ? fact("devices.owner", d.owner) : null,
        fact("devices.last_seen", fmtDateTime(parseTs(d.last_seen), store.tz, lang())),
        fact("devices.health", d.health_band ? `${pct(d.health)} · ${tv("health_band", d.health_band)}` : pct(d.health))),
      (d.health_reasons || []).length ? h("section", {"aria-labelledby": "health-reasons-title"},
        h("h3", {id: "health-reasons-title"}, t("devices.health_reasons")),
        h("ul", {class: "health-reasons", id: "health-reasons"}, healthCauses(d).map((r) => h("li", {}, r)))) : null,
      h("h3", {id: "device-readings-title"}, t("devices.readings"), " ",
        h("span", {class: "muted"}, t("devices.reading_at", {time: fmtDateTime(parseTs(d.last_seen), store.tz, lang())}))),
      !Object.keys(d.metrics || {}).length ? h("p", {class: "muted"}, t("devices.no_metrics")) :
        h("table", {class: "metrics-table", id: "device-readings"},
        h("thead", {}, h("tr", {}, ["devices.metric", "devices.value", "devices.chart"].map((k) => h("th", {scope: "col"}, t(k))))),
        h("tbody", {}, Object.entries(d.metrics || {}).map(([name, value]) => h("tr", {dataset: {metric: name}},
          h("th", {scope: "row"}, metricLabel(d, name)), h("td", {}, fmtValue(value, units[name])),
          h("td", {}, chartable(value) ? h("button", {type: "button", class: "toggle", dataset: {metric: name},
            "aria-pressed": String(name === metric), onclick: () => { metric = name; drawChart(); render(); }},
          t("devices.show_chart")) : null))))),
      ticketList(tickets), ruleTable(rules, d));
  }

  return {el, open, loaded, loadMore, render, live: liveEvent};
}

function ticketList(slot) {
  const notice = slotNotice(slot);
  return h("section", {class: "device-tickets", "aria-labelledby": "device-tickets-title"},
    h("h3", {id: "device-tickets-title"}, t("devices.tickets")),
    notice || (!slot.list.length ? h("p", {class: "muted", id: "device-no-tickets"}, t("devices.no_tickets"))
      : h("ul", {class: "device-ticket-list", id: "device-tickets"}, slot.list.map((tk) => h("li", {dataset: {ticketId: tk.id}},
        severityBadge(tk.severity), " ", statusBadge(tk.status), " ",
        h("a", {href: `#/tickets/${encodeURIComponent(tk.id)}`}, tk.title || tk.id), " ",
        h("span", {class: "muted"}, fmtDateTime(parseTs(tk.opened_at), store.tz, lang())))))));
}

/** The thresholds: each rule that watches the device, worded in the page's language from its terms. */
function ruleTable(slot, d) {
  const notice = slotNotice(slot);
  const heads = ["devices.rule", "devices.rule_when", "devices.rule_during", "devices.rule_for", "devices.rule_severity"];
  return h("section", {class: "device-rules", "aria-labelledby": "device-rules-title"},
    h("h3", {id: "device-rules-title"}, t("devices.rules")),
    notice || (!slot.list.length ? h("p", {class: "muted"}, t("devices.no_rules"))
      : h("div", {class: "table-scroll"}, h("table", {class: "rules-table", id: "device-rules"},
        h("thead", {}, h("tr", {}, heads.map((k) => h("th", {scope: "col"}, t(k))))),
        h("tbody", {}, slot.list.map((r) => h("tr", {dataset: {rule: r.id}},
          h("th", {scope: "row"}, ruleTitle(r, d), h("br"), h("code", {class: "muted"}, r.id)),
          h("td", {class: "rule-condition"}, ruleCondition(r, d),
            r.clear ? h("span", {class: "muted"}, ` (${t("devices.rule_clear", {clear: relabel(r.clear, d)})})`) : null),
          h("td", {class: "rule-during"}, ruleDuring(r.during)),
          h("td", {class: "rule-for"}, r.for_s > 0 ? fmtDuration(r.for_s * 1000, lang()) : t("rules.at_once")),
          h("td", {class: "rule-severity"}, severityBadge(r.severity)))))))));
}

/** The rule's title ("灭火器压力不足 Extinguisher pressure low: {device}") with the device's own facts. */
function ruleTitle(r, d) {
  const facts = {device: d.id, zone: d.zone || "", kind: d.kind || ""};
  return String(r.title || r.id).replace(/\{(\w+)\}/g, (m, name) => (name in facts ? facts[name] : "…")).replace(/\s*\(…[^)]*\)/g, "");
}

function term(x, d) {
  const value = x.value === true ? t("rules.true") : x.value === false ? t("rules.false") : String(x.value);
  return `${x.metric ? metricName(d, x.metric) : ""} ${x.sign} ${value}${x.unit ? ` ${x.unit}` : ""}`.trim();
}

function cmp(terms) {
  return terms.map((x) => `${x.sign} ${x.value}`).join(", ");
}

function ruleCondition(r, d) {
  const terms = r.terms || [];
  const window = r.window_s ? fmtDuration(r.window_s * 1000, lang()) : "";
  switch (r.type) {
    case "threshold":
    case "state":
      return terms.map((x) => term(x, d)).join(t(r.match === "all" ? "rules.and" : "rules.or"));
    case "rate":
      return t("rules.rate", {metric: metricName(d, terms[0] && terms[0].metric), window,
        cmp: terms.map((x) => `${x.sign} ${x.value}${x.unit ? ` ${x.unit}` : ""}`).join(", ")});
    case "count":
      return terms.length && terms[0].metric
        ? t("rules.count_becomes", {metric: metricName(d, terms[0].metric), value: r.becomes === true ? t("rules.true")
          : r.becomes === false ? t("rules.false") : String(r.becomes), cmp: cmp(terms), window})
        : t("rules.count_changes", {cmp: cmp(terms), window});
    case "absent":
      return t("rules.absent", {after: r.after_s ? fmtDuration(r.after_s * 1000, lang()) : "–"});
    case "offline":
      return t("rules.offline");
    default:
      return r.condition || r.type;
  }
}

function ruleDuring(during) {
  if (!during) return t("rules.always");
  if (during.sun_below !== undefined) return t("rules.sun_below", {deg: during.sun_below});
  if (during.sun_above !== undefined) return t("rules.sun_above", {deg: during.sun_above});
  if (during.hours) return t("rules.hours", {span: during.hours});
  if (during.outside_hours) return t("rules.outside_hours", {span: during.outside_hours});
  return "–";
}

/** A metric's name without its unit (the comparison carries it): "Pressure", "电流 2路". */
function metricName(d, name) {
  const label = d && d.labels && d.labels[name];
  if (label) return label[lang()] || label.en;
  return metricLabel({labels: {}}, name).replace(/ \([^)]*\)$/, "");
}

/** "pressure_mpa > 1.1 MPa" as the gateway writes a clear bound, with the metric's name for people. */
function relabel(text, d) {
  const [first, ...rest] = String(text).split(" ");
  return [metricName(d, first), ...rest].join(" ");
}

/** How to register a device the inventory does not have: the CSV line to add, with its kind when the
 * gateway has a guess and the profile it was decoded by. */
function registerHint(d) {
  const kind = d.kind && d.kind !== "unknown" ? d.kind : d.suggested_kind || "<kind>";
  const line = [d.id, kind, "<zone>", d.profile || ""].join(",").replace(/,$/, "");
  return h("section", {class: "notice register", id: "device-register", "aria-labelledby": "register-title"},
    h("p", {}, registration(d), " ", t("devices.register_hint")),
    h("h3", {id: "register-title"}, t("devices.register_this")),
    h("p", {}, t("devices.register_how")),
    h("pre", {}, h("code", {id: "register-line"}, line)));
}

/** "Unregistered, looks like an extinguisher": a device missing from the asset register. Its kind stays
 * unknown (no kind-specific rule runs on it); what it looks like is only the registry's suggestion. */
function registration(d) {
  if (d.registered !== false) return null;
  const text = d.suggested_kind ? t("devices.looks_like", {kind: tv("kind_one", d.suggested_kind)})
    : t("devices.unregistered");
  return h("span", {class: "badge unregistered", title: t("devices.register_hint")}, text);
}

/** On a card: the way to the device page, where the line to add to the inventory is. */
function registerLink(d) {
  if (d.registered !== false) return null;
  return h("a", {href: `#/devices/${encodeURIComponent(d.id)}`, class: "register-link"}, t("devices.register_this"));
}

/** "faulty", "degraded", "offline": a device that is not good says so on its card, with why on hover. */
function healthBadge(d) {
  if (!d.health_band || d.health_band === "good" || (d.health_band === "offline" && d.online === false)) return null;
  return h("span", {class: `badge band-${d.health_band}`, title: healthCauses(d).join("\n")},
    tv("health_band", d.health_band));
}

/**
 * Why a device is not good, in the page's language: the gateway's causes as data (a rule that holds,
 * offline, a low battery, a weak link), worded here with the rule's own title (bilingual in the
 * built-in pack) and the metric's label and value. A gateway that sends only its sentences
 * (`health_reasons`, before causes existed) is shown as it said.
 */
export function healthCauses(d) {
  const causes = d.health_causes;
  if (!Array.isArray(causes) || !causes.length) return d.health_reasons || [];
  const reading = (metric) => {
    if (!metric || !d.metrics || !(metric in d.metrics)) return null;
    const label = d.labels && d.labels[metric];
    const name = label ? label[lang()] || label.en || metric : metricLabel(d, metric);
    return `${name} ${fmtValue(d.metrics[metric], (d.units || {})[metric])}`;
  };
  return causes.map((c) => {
    if (c.kind === "rule") {
      const title = String(c.title || c.rule).replace(/[:：]\s*$/, "");
      const state = t(c.firing ? "devices.cause_firing" : "devices.cause_pending");
      return [`${tv("severity", c.severity)} · ${state}: ${title}`, reading(c.metric)].filter(Boolean).join(" — ");
    }
    if (c.kind === "offline") {
      return t(c.source === "availability" || c.source === "silence" ? `devices.cause_offline_${c.source}`
        : "devices.cause_offline");
    }
    if (c.kind === "battery") return [t("devices.cause_battery"), reading(c.metric)].filter(Boolean).join(" — ");
    if (c.kind === "signal") return [t("devices.cause_signal"), reading("signal")].filter(Boolean).join(" — ");
    return String(c.kind);
  });
}

function fact(key, value) {
  return h("div", {class: "kv"}, h("dt", {}, t(key)), h("dd", {}, value));
}
