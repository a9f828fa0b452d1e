// Reports: the monthly report a manager signs (GET /api/reports/monthly), plain tables that print on A4.

import {api, download, query} from "./api.js";
import {fill, h} from "./dom.js";
import {pct} from "./format.js";
import {t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {loadHealth, store} from "./store.js";

export function createReports() {
  const month = h("input", {type: "month", id: "report-month", required: true});
  const monthLabel = h("label", {for: "report-month"});
  const printBtn = h("button", {type: "button", id: "report-print", onclick: () => window.print()});
  // A download through fetch, so the token goes with it on a site whose reads need one.
  const csv = h("a", {id: "report-csv", class: "button", onclick: (e) => {
    e.preventDefault();
    download(csv.href, `sitegate-report-${month.value}.csv`).catch((err) => {
      error = String(err.message || err);
      render();
    });
  }});
  const body = h("div", {id: "report-body"});
  const el = h("div", {class: "reports"},
    h("form", {class: "filters no-print", onsubmit: (e) => e.preventDefault()},
      h("div", {class: "field"}, monthLabel, month), h("div", {class: "buttons"}, printBtn, csv)),
    body);
  let report = null, error = "";
  month.addEventListener("change", () => { if (month.value) refresh(); });

  function thisMonth() {
    const now = new Date(siteNow());
    const tz = store.tz || undefined;
    const parts = new Intl.DateTimeFormat("en-CA", {timeZone: tz, year: "numeric", month: "2-digit"}).format(now);
    return parts.slice(0, 7);
  }

  /** `#/reports/2026-11` opens that month (a link a manager can keep); `#/reports` this month. */
  function show(params) {
    if (params && /^\d{4}-\d{2}$/.test(params[0] || "")) month.value = params[0];
    return refresh();
  }

  async function refresh() {
    if (!month.value) {
      // "This month" is the site's (its clock and zone come with /api/health), not the browser's:
      // opened straight on #/reports, the page has not heard the gateway's time yet.
      if (!store.tz) await loadHealth().catch(() => null);
      month.value = thisMonth();
    }
    try {
      report = await api(query("/api/reports/monthly", {month: month.value}));
      error = "";
    } catch (err) {
      report = null;
      error = String(err.message || err);
    }
    render();
  }

  function render() {
    monthLabel.textContent = t("reports.month");
    printBtn.textContent = t("reports.print");
    csv.textContent = t("reports.csv");
    csv.href = query("/api/reports/monthly", {month: month.value, format: "csv"});
    if (error) return fill(body, h("p", {class: "notice"}, error));
    if (!report) return fill(body, h("p", {class: "muted"}, t("reports.loading")));
    const r = report;
    fill(body,
      h("h2", {}, t("reports.heading", {month: r.month, site: r.site})),
      table(t("reports.summary"), [t("reports.figure"), t("reports.value")], [
        [t("reports.tickets"), r.tickets],
        [t("reports.cancelled"), r.registered.cancelled],
        ...Object.entries(r.timeliness).map(([s, rate]) => [t("reports.timeliness_of", {stage: tv("stage", s)}), pct(rate)]),
        [t("reports.revisit_rate"), pct(r.revisit_rate)],
        [t("reports.satisfaction"), pct(r.satisfaction)],
        [t("reports.rework_rate"), pct(r.rework_rate)],
        [t("reports.planned"), pct(r.planned.rate)],
        [t("reports.patrol_coverage"), pct(r.patrol_coverage)],
      ]),
      table(t("reports.stages"), [t("reports.stage"), t("reports.on_time"), t("reports.late"), t("reports.pending"),
        t("reports.rate"), t("reports.met")],
      [...Object.entries(r.stages).map(([s, x]) => [tv("stage", s), ...tally(x)]),
        [t("reports.revisits"), ...tally(r.revisits)], [t("reports.planned"), ...tally(r.planned)]]),
      table(t("reports.registered"), [t("reports.by"), t("reports.key"), t("reports.count")],
        ["by_source", "by_category", "by_zone", "by_severity"].flatMap((by) =>
          Object.entries(r.registered[by]).map(([k, n]) => [t(`reports.${by}`), keyLabel(by, k), n]))),
      table(t("reports.zones"), [t("reports.rank"), t("reports.zone"), t("reports.on_time"), t("reports.late"),
        t("reports.rate"), t("reports.open_overdue")],
      r.zones.map((z) => [z.rank, z.zone, z.on_time, z.late, pct(z.rate), z.open_overdue])),
      table(t("reports.patrol"), [t("reports.by"), t("reports.key"), t("reports.visited"), t("reports.expected"),
        t("reports.rate")],
      ["by_route", "by_guard", "by_zone"].flatMap((by) =>
        r.patrol[by].map((x) => [t(`reports.${by}`), raw(x.name || x.key || "–"), x.visited, x.expected,
          pct(x.coverage)]))),
      table(t("reports.complaints"), [t("reports.id"), t("reports.day"), t("reports.reporter"), t("reports.category"),
        t("reports.title"), t("reports.status"), t("reports.late_stages")],
      r.complaints.map((c) => [c.id, c.day, raw(c.reporter), tv("category", c.category), raw(c.title),
        tv("status", c.status),
        c.late_stages.map((s) => tv("stage", s)).join(", ")])),
      h("p", {class: "signature"}, t("reports.signed")));
  }

  /** A registered-tickets key in words: sources, categories and severities are labels; zones are ids. */
  function keyLabel(by, key) {
    const group = {by_source: "source", by_category: "category", by_severity: "severity"}[by];
    return group ? tv(group, key) : key;
  }

  /** Data as people wrote it (names, titles): the same in both languages. */
  function raw(text) {
    return h("span", {"data-raw": true}, text ?? "–");
  }

  function tally(x) {
    return [x.on_time, x.late, x.pending, pct(x.rate), x.met === null ? "–" : t(x.met ? "reports.yes" : "reports.no")];
  }

  function table(title, head, rows) {
    return h("section", {class: "report-table"}, h("h3", {}, title),
      rows.length ? h("table", {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, rows.map((row) => h("tr", {}, row.map((c) => h("td", {}, c ?? "–"))))))
        : h("p", {class: "muted"}, t("reports.none")));
  }

  return {el, title: "nav.reports", deps: [], show, refresh, render};
}
