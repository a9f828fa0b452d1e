// Devices: grouped by zone and kind with latest values, online state and health; one device's history.

import {timeChart} from "./chart.js";
import {fill, h, options} from "./dom.js";
import {chartable, fmtDateTime, fmtValue, groupBy, parseTs, pct} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {failure, loadDevice, loadDevices, loadSeries, store} from "./store.js";
import {onlineBadge, ratioBar, slotNotice} from "./widgets.js";

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
    return selected ? loadDevice(selected).then((r) => detail.loaded(r)) : loadDevices();
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
  onlineBadge(d.online), registration(d), healthBadge(d),
  d.health === null || d.health === undefined ? null : ratioBar(d.health, `${t("devices.health")} ${pct(d.health)}`),
  metrics.length ? h("dl", {class: "metrics"}, metrics.map(([name, value]) => h("div", {class: "kv"},
    h("dt", {}, tv("metric", name)), h("dd", {}, fmtValue(value, (d.units || {})[name]))))) : null);
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

  function open(deviceId) {
    if (deviceId !== id) {
      id = deviceId;
      metric = null;
      missing = null;
      chartSection.hidden = true;
      destroyChart();
    }
    if (store.devices.byId.has(id)) pickAndDraw();
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
    chartTitle.textContent = t("devices.history", {metric: tv("metric", metric)});
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
    chart = timeChart(chartBox, points, {label: tv("metric", metric), tz: store.tz, lang: chartLang});
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
    if (metric) chartTitle.textContent = t("devices.history", {metric: tv("metric", metric)});
    if (chart && chartLang !== lang()) drawChart();
    fill(head,
      h("p", {}, h("a", {href: "#/devices", class: "back"}, t("devices.back"))),
      h("h2", {id: "device-title"}, d.id, " ", onlineBadge(d.online)),
      d.registered === false ? h("p", {class: "notice", id: "device-register"}, registration(d), " ",
        t("devices.register_hint")) : null,
      h("dl", {class: "facts"},
        fact("devices.kind", d.kind_source === "device" ? t("devices.kind_said", {kind: tv("kind", d.kind)})
          : tv("kind", d.kind)),
        d.model ? fact("devices.model", d.model) : null, fact("devices.zone", d.zone || "–"),
        d.location ? fact("devices.location", d.location) : null, d.owner ? fact("devices.owner", d.owner) : null,
        fact("devices.last_seen", fmtDateTime(parseTs(d.last_seen), store.tz, lang())),
        fact("devices.health", d.health_band ? `${pct(d.health)} · ${tv("health_band", d.health_band)}` : pct(d.health))),
      (d.health_reasons || []).length ? h("section", {"aria-labelledby": "health-reasons-title"},
        h("h3", {id: "health-reasons-title"}, t("devices.health_reasons")),
        h("ul", {class: "health-reasons", id: "health-reasons"}, d.health_reasons.map((r) => h("li", {}, r)))) : null,
      !Object.keys(d.metrics || {}).length ? h("p", {class: "muted"}, t("devices.no_metrics")) :
        h("table", {class: "metrics-table"},
        h("thead", {}, h("tr", {}, ["devices.metric", "devices.value", "devices.chart"].map((k) => h("th", {scope: "col"}, t(k))))),
        h("tbody", {}, Object.entries(d.metrics || {}).map(([name, value]) => h("tr", {},
          h("th", {scope: "row"}, tv("metric", name)), h("td", {}, fmtValue(value, units[name])),
          h("td", {}, chartable(value) ? h("button", {type: "button", class: "toggle", dataset: {metric: name},
            "aria-pressed": String(name === metric), onclick: () => { metric = name; drawChart(); render(); }},
          t("devices.show_chart")) : null))))));
  }

  return {el, open, loaded, render, live: liveEvent};
}

/** "Unregistered, looks like an extinguisher": a device missing from the asset register. Its kind stays
 * unknown (no kind-specific rule runs on it); what it looks like is only the registry's suggestion. */
function registration(d) {
  if (d.registered !== false) return null;
  const text = d.suggested_kind ? t("devices.looks_like", {kind: tv("kind_one", d.suggested_kind)})
    : t("devices.unregistered");
  return h("span", {class: "badge unregistered", title: t("devices.register_hint")}, text);
}

/** "faulty", "degraded", "offline": a device that is not good says so on its card, with why on hover.
 * The reasons are the gateway's sentences (metric names and figures), the band is translated. */
function healthBadge(d) {
  if (!d.health_band || d.health_band === "good" || (d.health_band === "offline" && d.online === false)) return null;
  return h("span", {class: `badge band-${d.health_band}`, title: (d.health_reasons || []).join("\n")},
    tv("health_band", d.health_band));
}

function fact(key, value) {
  return h("div", {class: "kv"}, h("dt", {}, t(key)), h("dd", {}, value));
}
