// A time chart on the vendored uPlot (loaded as a classic script: window.uPlot).

import {t} from "./i18n.js";

const HEIGHT = 260;

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * A day as nobody can misread it: ISO "2026-12-01" in English, "12月1日" (with the year in the
 * legend: "2026年12月1日") in Chinese.
 */
export function dayLabel(ms, tz, lang, withYear = false) {
  if (lang === "zh") {
    return new Intl.DateTimeFormat("zh-CN", {year: withYear ? "numeric" : undefined, month: "long", day: "numeric",
      timeZone: tz}).format(ms);
  }
  return new Intl.DateTimeFormat("en-CA", {year: "numeric", month: "2-digit", day: "2-digit", timeZone: tz}).format(ms);
}

/**
 * Draw points [[ms, value], ...] into `container`. Returns {append(ms, value), destroy()}, or null
 * when the library is missing (the caller says "chart not available").
 */
export function timeChart(container, points, {label, tz, lang, days = false}) {
  const uPlot = window.uPlot;
  if (!uPlot) return null;
  const xs = points.map(([ms]) => ms / 1000);
  const ys = points.map(([, v]) => (typeof v === "number" ? v : null));
  const font = `${cssVar("--chart-font-size", "13px")} system-ui, sans-serif`;
  const ink = cssVar("--ink", "#222"), grid = cssVar("--grid", "#ddd"), accent = cssVar("--accent", "#1565c0");
  const axis = {stroke: ink, font, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
  // Ticks in the site's zone and 24-hour time (uPlot's default labels are US English, browser zone).
  const locale = lang === "zh" ? "zh-CN" : "en-GB";
  const span = xs.length > 1 ? xs[xs.length - 1] - xs[0] : 0;
  const tickFmt = days ? {format: (ms) => dayLabel(ms, tz, lang)} : new Intl.DateTimeFormat(locale, span > 2 * 86400
    ? {month: "2-digit", day: "2-digit", timeZone: tz}
    : {hour: "2-digit", minute: "2-digit", hour12: false, timeZone: tz});
  const fullFmt = days ? {format: (ms) => dayLabel(ms, tz, lang, true)} : new Intl.DateTimeFormat(locale,
    {month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: tz});
  const opts = {
    width: Math.max(200, container.clientWidth),
    height: HEIGHT,
    legend: {show: true},
    cursor: {drag: {x: false, y: false}},
    // Daily bars: one tick per day under each bar, half a day of room either side, a 0-100 scale.
    scales: days ? {x: {time: true, range: (u, lo, hi) => [lo - 43200, hi + 43200]}, y: {range: [0, 100]}}
      : {x: {time: true}},
    axes: [{...axis, values: (u, splits) => splits.map((s) => (s === null ? "" : tickFmt.format(s * 1000))),
      // Every day labelled when there is room; on a phone every other one (the list below has them all).
      ...(days ? {incrs: [86400, 2 * 86400, 7 * 86400], space: lang === "zh" ? 56 : 84} : {})},
    {...axis, size: 56}],
    // The legend's first column names the x axis in the page's language (uPlot would say "Time").
    series: [{label: t(days ? "chart.day" : "chart.time"), value: (u, v) => (v === null || v === undefined ? "–" : fullFmt.format(v * 1000))},
      {label, stroke: accent, width: 2, fill: days ? `${accent}33` : undefined,
        points: {show: !days && points.length < 60, size: 6}, spanGaps: false,
        paths: days && uPlot.paths.bars ? uPlot.paths.bars({size: [0.6, 40]}) : undefined}],
  };
  if (tz) opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), tz);
  container.replaceChildren();
  const plot = new uPlot(opts, [xs, ys], container);
  container.dataset.points = String(xs.length);
  const resize = new ResizeObserver(() => {
    const width = Math.max(200, container.clientWidth);
    if (Math.abs(width - plot.width) > 2) plot.setSize({width, height: HEIGHT});
  });
  resize.observe(container);
  return {
    append(ms, value) {
      xs.push(ms / 1000);
      ys.push(typeof value === "boolean" ? Number(value) : value);
      plot.setData([xs, ys]);
      container.dataset.points = String(xs.length);
    },
    destroy() {
      resize.disconnect();
      plot.destroy();
    },
  };
}
