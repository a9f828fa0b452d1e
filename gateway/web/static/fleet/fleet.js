// The head office page: one row per site (sortable, status colour with its reasons), and a page per
// site with its tickets and rounds. Shares the site dashboard's helpers (api, dom, format, i18n).

import {api, onTokenNeeded, query} from "../api.js";
import {fill, h} from "../dom.js";
import {fmtDateTime, parseTs, pct} from "../format.js";
import {lang, setLang, tv} from "../i18n.js";
import {ft} from "./strings.js";

const REFRESH_MS = 30_000;
const COLUMNS = [
  ["status", "text"], ["name", "text"], ["open_tickets", "num"], ["overdue_tickets", "num"],
  ["critical_tickets", "num"], ["timeliness_month", "num"], ["patrol_coverage_last_night", "num"],
  ["devices_offline", "num"], ["last_heard", "text"],
];
const $ = (css) => document.querySelector(css);
let sort = {key: "status", desc: false};
let sites = [];
let tz;

function relabel() {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-f]")) el.textContent = ft(el.dataset.f);
  $("#toggle-lang").textContent = ft("lang.switch");
}

function when(iso) {
  return fmtDateTime(parseTs(iso), tz, lang());
}

/** Why the site has its colour, in the page's language. */
function causes(row) {
  return (row.causes || []).map((c) => ft(`cause.${c.cause}`, c)).join("; ");
}

function statusBadge(row) {
  return h("span", {class: `status ${row.status}`, title: causes(row)}, ft(`status.${row.status}`));
}

function cell(row, key) {
  if (key === "status") {
    return h("td", {}, statusBadge(row), row.causes.length ? h("span", {class: "reasons"}, causes(row)) : null);
  }
  if (key === "name") return h("td", {}, h("a", {href: `#/site/${encodeURIComponent(row.site)}`}, row.name));
  if (key === "last_heard") return h("td", {}, row.last_heard ? when(row.last_heard) : "–");
  if (key === "timeliness_month" || key === "patrol_coverage_last_night") return h("td", {class: "num"}, pct(row[key]));
  return h("td", {class: "num", dataset: {col: key}}, String(row[key]));
}

function sortedSites() {
  const rank = {red: 0, unknown: 1, amber: 2, green: 3};
  const value = (r) => (sort.key === "status" ? rank[r.status] : sort.key === "last_heard" ? parseTs(r.last_heard) : r[sort.key]);
  const rows = [...sites];
  rows.sort((a, b) => {
    const va = value(a), vb = value(b);
    const missA = va === null || va === undefined || Number.isNaN(va), missB = vb === null || vb === undefined || Number.isNaN(vb);
    if (missA || missB) return missA - missB;
    const c = typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return (sort.desc ? -c : c) || a.site.localeCompare(b.site);
  });
  return rows;
}

function renderSites() {
  $("#view-title").textContent = ft("sites.title");
  const sum = (k) => sites.reduce((n, r) => n + r[k], 0);
  $("#summary").textContent = ft("sites.summary", {n: sites.length, open: sum("open_tickets"),
    overdue: sum("overdue_tickets"), critical: sum("critical_tickets")});
  const head = h("tr", {}, COLUMNS.map(([key, type]) => h("th", {
    class: type === "num" ? "num" : null, scope: "col",
    "aria-sort": sort.key === key ? (sort.desc ? "descending" : "ascending") : null,
  }, h("button", {type: "button", dataset: {sort: key}, onclick: () => {
    sort = {key, desc: sort.key === key ? !sort.desc : false};
    renderSites();
  }}, ft(`col.${key}`)))), h("th", {scope: "col"}, ft("col.links")));
  const body = sortedSites().map((row) => h("tr", {dataset: {site: row.site, status: row.status}},
    COLUMNS.map(([key]) => cell(row, key)),
    h("td", {}, h("a", {href: `#/site/${encodeURIComponent(row.site)}`}, ft("link.site")),
      row.dashboard ? [" · ", h("a", {href: row.dashboard, class: "dashboard", rel: "noopener"}, ft("link.dashboard"))] : null)));
  fill($("#view"), h("table", {class: "sites", id: "sites"}, h("thead", {}, head), h("tbody", {}, body)));
}

function renderSite(site) {
  $("#view-title").textContent = site.name;
  $("#summary").textContent = "";
  const table = (cols, rows) => rows.length
    ? h("table", {class: "sites"}, h("thead", {}, h("tr", {}, cols.map(([label]) => h("th", {}, ft(label))))),
      h("tbody", {}, rows.map((r) => h("tr", {}, cols.map(([, fn]) => h("td", {}, fn(r)))))))
    : h("p", {class: "muted"}, ft("site.none"));
  const tickets = table([
    ["ticket.id", (t) => t.id], ["ticket.severity", (t) => tv("severity", t.severity)],
    ["ticket.status", (t) => tv("status", t.status)], ["ticket.title", (t) => t.title],
    ["ticket.opened", (t) => when(t.opened_at)], ["ticket.overdue", (t) => (t.overdue ? ft("common.yes") : "")],
  ], site.tickets);
  const rounds = table([
    ["round.route", (r) => r.route], ["round.start", (r) => when(r.scheduled_start)],
    ["round.coverage", (r) => pct(r.coverage)], ["round.missed", (r) => (r.missed || []).join(", ")],
  ], site.rounds);
  fill($("#view"), h("a", {href: "#/", class: "back"}, ft("site.back")),
    h("p", {}, statusBadge(site), " ", causes(site),
      site.dashboard ? [" · ", h("a", {href: site.dashboard, class: "dashboard", rel: "noopener"}, ft("link.dashboard"))] : null),
    h("h2", {id: "site-tickets"}, `${ft("site.tickets")} (${site.tickets.length})`), tickets,
    h("h2", {id: "site-rounds"}, `${ft("site.rounds")} (${site.rounds.length})`), rounds);
}

let last = null; // what is on screen, redrawn in place on a language switch

async function show() {
  const route = location.hash.match(/^#\/site\/(.+)$/);
  try {
    if (route) {
      const site = await api(`/api/sites/${route[1]}`);
      last = () => renderSite(site);
    } else {
      sites = await api(query("/api/sites", {}));
      last = renderSites;
    }
    last();
  } catch (err) {
    fill($("#view"), h("p", {class: "error", role: "alert"}, ft("common.failed", {reason: err.detail || err.message})));
  }
}

function askToken() {
  const dialog = $("#token-dialog"), input = $("#token-input");
  return new Promise((resolve) => {
    input.value = "";
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "save" && input.value.trim() ? input.value.trim() : null);
    }, {once: true});
    dialog.showModal();
    input.focus();
  });
}

async function start() {
  onTokenNeeded(askToken);
  try {
    tz = (await api("/api/health")).timezone || undefined;
  } catch {
    tz = undefined;
  }
  relabel();
  $("#toggle-lang").addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    relabel();
    if (last) last();
  });
  window.addEventListener("hashchange", show);
  await show();
  setInterval(show, REFRESH_MS);
}

start();
