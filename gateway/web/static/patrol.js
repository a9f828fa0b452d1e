// Patrol: a patrol day's rounds per route with each checkpoint's state, and the coverage trend.
// A patrol day is the operational night (the gateway's /api/patrol/day: noon to noon unless the patrol
// file says otherwise), so the rounds of 20:00 and of 02:00 after it are on one page.

import {api} from "./api.js";
import {dayLabel, timeChart} from "./chart.js";
import {fill, h} from "./dom.js";
import {addDays, coverageSummary, fmtTime, parseTs, pct, siteDay} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {loadHealth, loadRounds, store} from "./store.js";
import {ratioBar, slotNotice} from "./widgets.js";

const TREND_DAYS = 7;
const openRounds = new Set(); // rounds whose checkpoint list is unfolded, kept across redraws

/** A real calendar day written YYYY-MM-DD (2026-02-30 is not one). */
function isoDay(text) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

export function createPatrol() {
  // ISO text, not the browser's date control: that one shows the browser's locale ("11/18/2026"),
  // ambiguous on a site's shared screen whatever language the page is in. ◀ ▶ step a night.
  const day = h("input", {type: "text", id: "patrol-date", required: true, inputmode: "numeric", maxlength: 10,
    size: 10, pattern: "\\d{4}-\\d{2}-\\d{2}", placeholder: "YYYY-MM-DD", autocomplete: "off", spellcheck: false});
  const prev = h("button", {type: "button", id: "patrol-prev", onclick: () => shift(-1)});
  const next = h("button", {type: "button", id: "patrol-next", onclick: () => shift(1)});
  day.addEventListener("change", () => {
    const ok = isoDay(day.value.trim());
    day.setAttribute("aria-invalid", ok ? "false" : "true");
    if (ok) { day.value = day.value.trim(); refresh(); }
  });
  const dateLabel = h("label", {for: "patrol-date"});
  const span = h("p", {class: "muted", id: "patrol-day-span"});
  const summary = h("div", {class: "summary", id: "patrol-summary"});
  const routes = h("div", {id: "patrol-routes"});
  const trendTitle = h("h2", {id: "trend-title"});
  const trendBox = h("div", {class: "chart", id: "coverage-chart"});
  const trendNote = h("p", {class: "notice", hidden: true});
  const trendDays = h("ol", {class: "trend-days", id: "coverage-days"});
  const el = h("div", {},
    h("form", {class: "filters", onsubmit: (e) => e.preventDefault()},
      h("div", {class: "field"}, dateLabel, h("div", {class: "buttons"}, prev, day, next))),
    span, summary, routes,
    h("section", {class: "trend", "aria-labelledby": "trend-title"}, trendTitle, trendNote, trendBox, trendDays));
  let trend = null, trendKey = "";
  let dayStarts = null; // "12:00" once the gateway has said when its patrol day starts
  relabel();
  fill(summary, slotNotice({state: "loading"})); // words, not blank buttons, until the first answer

  function shift(n) {
    day.value = addDays(day.value || today(), n);
    refresh();
  }

  async function show() {
    relabel();
    if (!day.value) day.value = await currentDay();
    return refresh();
  }

  /** The patrol day the gateway's clock is in, and when patrol days start. A gateway without
   * /api/patrol/day lists rounds by calendar day: then "today" is the site's calendar day. */
  async function currentDay() {
    try {
      const doc = await api("/api/patrol/day");
      dayStarts = doc.day_starts || null;
      return doc.date;
    } catch {
      if (store.health.state === "loading") await loadHealth(); // the site's zone and the gateway's clock
      return today();
    }
  }

  function relabel() {
    prev.textContent = t("patrol.prev_day");
    next.textContent = t("patrol.next_day");
    prev.setAttribute("aria-label", t("patrol.prev_day_long"));
    next.setAttribute("aria-label", t("patrol.next_day_long"));
    dateLabel.textContent = t(dayStarts ? "patrol.day_label" : "patrol.date");
    trendTitle.textContent = t("patrol.trend", {days: TREND_DAYS});
    const date = day.value;
    span.hidden = !(date && dayStarts);
    span.textContent = date && dayStarts ? t("patrol.day_span", {date, from: `${date} ${dayStarts}`,
      to: `${addDays(date, 1)} ${dayStarts}`}) : "";
  }

  function refresh() {
    const date = day.value || today();
    return Promise.all(Array.from({length: TREND_DAYS}, (_, i) => loadRounds(addDays(date, -i))));
  }

  function render() {
    relabel();
    const slot = store.rounds.get(day.value || today()) || {state: "loading"};
    const notice = slotNotice(slot);
    if (notice) {
      fill(summary, notice);
      fill(routes);
    } else {
      renderDay(slot.list);
    }
    renderTrend();
  }

  function renderDay(rounds) {
    const sum = coverageSummary(rounds);
    fill(summary,
      h("p", {class: "big", id: "day-coverage"}, pct(sum.coverage)),
      h("p", {}, t("patrol.rounds_done", {done: sum.finished, total: sum.rounds}), " · ",
        t("patrol.missed_late", {missed: sum.missed, late: sum.late})));
    if (!rounds.length) return fill(routes, h("p", {class: "muted"}, t("patrol.no_rounds")));
    const byRoute = new Map();
    for (const r of [...rounds].sort((a, b) => parseTs(a.scheduled_start) - parseTs(b.scheduled_start))) {
      if (!byRoute.has(r.route)) byRoute.set(r.route, []);
      byRoute.get(r.route).push(r);
    }
    fill(routes, [...byRoute.entries()].map(([route, list]) => h("section", {class: "route", dataset: {route}},
      h("h2", {}, list[0].route_name || route),
      h("ul", {class: "round-grid"}, list.map(roundCard)))));
  }

  /** Daily coverage over the trend window, from the days already loaded (drawn again only if it changed). */
  function renderTrend() {
    const date = day.value || today();
    const days = Array.from({length: TREND_DAYS}, (_, i) => addDays(date, i - TREND_DAYS + 1));
    const slots = days.map((d) => store.rounds.get(d));
    if (slots.some((s) => !s || s.state === "loading")) return trendMessage(t("common.loading"));
    if (slots.every((s) => s.state === "na")) return trendMessage(t("common.not_available"));
    // Every day of the window has its place on the axis; a day without finished rounds has no bar.
    const points = days.map((d, i) => [parseTs(`${d}T00:00:00Z`),
      slots[i].state === "ok" ? coverageSummary(slots[i].list).coverage : null]);
    const key = `${lang()}|${JSON.stringify(points)}`;
    if (key === trendKey && trend) return;
    trendKey = key;
    // Every bar's date and figure in words too: readable whatever the chart's room for labels, and
    // by a screen reader (a canvas says nothing).
    fill(trendDays, days.map((d, i) => {
      const sum = slots[i].state === "ok" ? coverageSummary(slots[i].list) : null;
      const value = sum && sum.coverage !== null ? pct(sum.coverage) : t("patrol.no_finished");
      return h("li", {dataset: {date: d}}, t("patrol.trend_day", {date: dayLabel(parseTs(`${d}T12:00:00Z`), "UTC", lang(), true), coverage: value}));
    }));
    if (trend) trend.destroy();
    trend = null;
    if (points.every(([, v]) => v === null)) return trendMessage(t("patrol.no_trend"));
    trendMessage(null);
    trend = timeChart(trendBox, points.map(([ms, v]) => [ms, v === null ? null : Math.round(v * 1000) / 10]),
      {label: t("patrol.coverage_pct"), tz: "UTC", lang: lang(), days: true});
    if (!trend) trendMessage(t("devices.chart_na"));
  }

  function trendMessage(text) {
    trendNote.hidden = !text;
    trendNote.textContent = text || "";
    if (text) {
      if (trend) trend.destroy();
      trend = null;
      trendBox.replaceChildren();
      if (text === t("common.not_available")) trendDays.replaceChildren();
      trendKey = "";
    }
  }

  return {el, title: "nav.patrol", deps: ["rounds"], show, refresh, render};
}

function today() {
  return siteDay(siteNow(), store.tz).date;
}

function roundCard(r) {
  const tz = store.tz, lng = lang();
  const checkpoints = Array.isArray(r.checkpoints) ? r.checkpoints : null;
  return h("li", {class: `round status-${r.status}`, dataset: {roundId: r.round_id}},
    h("h3", {}, fmtTime(parseTs(r.scheduled_start), tz, lng), " ",
      h("span", {class: `badge round-${r.status}`}, tv("round_status", r.status))),
    h("p", {class: "coverage"}, h("strong", {}, pct(r.coverage)), " ",
      t("patrol.visited_of", {visited: r.visited, expected: r.expected})),
    ratioBar(r.coverage, t("patrol.coverage")),
    h("p", {}, t("patrol.late_n", {n: r.late || 0}), r.guard ? ` · ${t("patrol.guard")}: ${r.guard}` : ""),
    r.missed && r.missed.length ? h("p", {class: "missed"}, `${t("patrol.missed")}: `,
      r.missed.map((id) => nameOf(id, checkpoints)).join(", ")) : null,
    checkpoints ? h("details", {class: "checkpoints", open: openRounds.has(r.round_id),
      ontoggle: (e) => (e.target.open ? openRounds.add(r.round_id) : openRounds.delete(r.round_id))},
      h("summary", {}, t("patrol.checkpoints", {n: checkpoints.length})),
      h("ol", {}, checkpoints.map((c) => h("li", {class: `cp cp-${c.state}`, dataset: {checkpoint: c.id}},
        h("span", {class: `badge cp-state-${c.state}`}, tv("cp_state", c.state)), " ",
        c.name || c.id,
        c.ts || c.tapped_at ? h("span", {class: "muted"}, ` ${fmtTime(parseTs(c.ts || c.tapped_at), tz, lng)}`) : null,
        c.guard ? h("span", {class: "muted"}, ` · ${c.guard}`) : null)))) : null);
}

function nameOf(id, checkpoints) {
  const c = checkpoints && checkpoints.find((x) => x.id === id);
  return c && c.name ? c.name : id;
}
