// Patrol: a day's rounds per route with each checkpoint's state, and the coverage trend.

import {timeChart} from "./chart.js";
import {fill, h} from "./dom.js";
import {addDays, coverageSummary, fmtTime, parseTs, pct, siteDay} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {loadHealth, loadRounds, store} from "./store.js";
import {ratioBar, slotNotice} from "./widgets.js";

const TREND_DAYS = 7;
const openRounds = new Set(); // rounds whose checkpoint list is unfolded, kept across redraws

export function createPatrol() {
  const day = h("input", {type: "date", id: "patrol-date", required: true});
  const prev = h("button", {type: "button", id: "patrol-prev", onclick: () => shift(-1)});
  const next = h("button", {type: "button", id: "patrol-next", onclick: () => shift(1)});
  day.addEventListener("change", () => { if (day.value) refresh(); });
  const dayLabel = h("label", {for: "patrol-date"});
  const summary = h("div", {class: "summary", id: "patrol-summary"});
  const routes = h("div", {id: "patrol-routes"});
  const trendTitle = h("h2", {id: "trend-title"});
  const trendBox = h("div", {class: "chart", id: "coverage-chart"});
  const trendNote = h("p", {class: "notice", hidden: true});
  const el = h("div", {},
    h("form", {class: "filters", onsubmit: (e) => e.preventDefault()},
      h("div", {class: "field"}, dayLabel, h("div", {class: "buttons"}, prev, day, next))),
    summary, routes,
    h("section", {class: "trend", "aria-labelledby": "trend-title"}, trendTitle, trendNote, trendBox));
  let trend = null, trendKey = "";

  function shift(n) {
    day.value = addDays(day.value || today(), n);
    refresh();
  }

  async function show() {
    if (!day.value) {
      // "Today" is the site's day on the gateway's clock: wait for /api/health to say both.
      if (store.health.state === "loading") await loadHealth();
      day.value = today();
    }
    return refresh();
  }

  function refresh() {
    const date = day.value || today();
    return Promise.all(Array.from({length: TREND_DAYS}, (_, i) => loadRounds(addDays(date, -i))));
  }

  function render() {
    prev.textContent = t("patrol.prev_day");
    next.textContent = t("patrol.next_day");
    prev.setAttribute("aria-label", t("patrol.prev_day_long"));
    next.setAttribute("aria-label", t("patrol.next_day_long"));
    dayLabel.textContent = t("patrol.date");
    trendTitle.textContent = t("patrol.trend", {days: TREND_DAYS});
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
    if (slots.some((s) => !s || s.state === "loading")) return;
    if (slots.every((s) => s.state === "na")) return trendMessage(t("common.not_available"));
    const points = days.map((d, i) => [parseTs(`${d}T00:00:00Z`),
      slots[i].state === "ok" ? coverageSummary(slots[i].list).coverage : null]).filter(([, v]) => v !== null);
    const key = `${lang()}|${JSON.stringify(points)}`;
    if (key === trendKey && trend) return;
    trendKey = key;
    if (trend) trend.destroy();
    trend = null;
    if (!points.length) return trendMessage(t("patrol.no_trend"));
    trendMessage(null);
    trend = timeChart(trendBox, points.map(([ms, v]) => [ms, Math.round(v * 1000) / 10]),
      {label: t("patrol.coverage_pct"), tz: "UTC", lang: lang(), days: true});
    if (!trend) trendMessage(t("devices.chart_na"));
  }

  function trendMessage(text) {
    trendNote.hidden = !text;
    trendNote.textContent = text || "";
    if (text) {
      trendBox.replaceChildren();
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
