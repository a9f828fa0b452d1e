// The dashboard's entry point: preferences, routing between views, live events, periodic work.

import {connectEvents, onTokenNeeded} from "./api.js";
import {createDevices} from "./devices.js";
import {createFeed} from "./feed.js";
import {applyI18n, lang, setLang, t} from "./i18n.js";
import {createOverview} from "./overview.js";
import {createPatrol} from "./patrol.js";
import {createReports} from "./reports.js";
import {siteNow} from "./siteclock.js";
import {applyEvent, loadHealth, onChange, store} from "./store.js";
import {createTickets} from "./tickets.js";
import {updateCountdown} from "./widgets.js";

const REFRESH_MS = 30_000; // live events keep most things current; this catches what they do not carry
const RENDER_GAP_MS = 250; // coalesce bursts of readings into one redraw
// /api/health carries the gateway's clock: a second reading soon after the first gives its speed
// (the demo's runs 60x), later ones keep countdowns from drifting.
const CLOCK_SECOND_READING_MS = 2_000;
const CLOCK_SYNC_MS = 15_000;
const PREFS = {large: "sitegate.large", refresh: "sitegate.refresh"};

const $ = (selector) => document.querySelector(selector);
const views = {overview: createOverview(), tickets: createTickets(), devices: createDevices(), patrol: createPatrol(),
  reports: createReports()};
let current = null; // the name of the visible view
let renderTimer = null;
let refreshTimer = null;

function route() {
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/");
  return views[name] ? {name, params} : {name: "overview", params: []};
}

function showRoute() {
  const {name, params} = route();
  const view = views[name];
  if (name !== current) {
    $("#view").replaceChildren(view.el);
    current = name;
  }
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  relabelTitle();
  view.show(params);
}

function relabelTitle() {
  const view = views[current];
  $("#view-title").textContent = t(view.title);
  document.title = `${t(view.title)} · ${store.site || "Sitegate"}`;
  $("#site-name").textContent = store.site || "Sitegate";
}

/** Redraw the visible view soon, keeping keyboard focus on the same link or control. */
function scheduleRender(area) {
  const view = views[current];
  if (!view || (area && view.deps && !view.deps.includes(area) && area !== "health")) return;
  if (renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = null;
    const focused = document.activeElement;
    const key = focused && view.el.contains(focused) ? focusKey(focused) : null;
    view.render();
    relabelTitle();
    if (key && !focused.isConnected) {
      const again = view.el.querySelector(key);
      if (again) again.focus();
    }
  }, RENDER_GAP_MS);
}

function focusKey(el) {
  if (el.id) return `#${CSS.escape(el.id)}`;
  const href = el.getAttribute("href");
  return href ? `a[href="${CSS.escape(href)}"]` : null;
}

function setupToggles() {
  const large = $("#toggle-large"), refresh = $("#toggle-refresh");
  const apply = () => {
    const on = localStorage.getItem(PREFS.large) === "1";
    document.documentElement.classList.toggle("large", on);
    large.setAttribute("aria-pressed", String(on));
    const auto = localStorage.getItem(PREFS.refresh) !== "0";
    refresh.setAttribute("aria-pressed", String(auto));
    clearInterval(refreshTimer);
    refreshTimer = auto ? setInterval(() => views[current].refresh(), REFRESH_MS) : null;
  };
  large.addEventListener("click", () => {
    localStorage.setItem(PREFS.large, large.getAttribute("aria-pressed") === "true" ? "0" : "1");
    apply();
    scheduleRender(); // charts read their font size from the page
  });
  refresh.addEventListener("click", () => {
    localStorage.setItem(PREFS.refresh, refresh.getAttribute("aria-pressed") === "true" ? "0" : "1");
    apply();
  });
  $("#toggle-lang").addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    relabelAll();
  });
  apply();
}

function relabelAll() {
  // The switch shows the other language's name, so it is marked up in that language.
  $("#toggle-lang").setAttribute("lang", lang() === "zh" ? "en" : "zh-CN");
  applyI18n(document);
  feed.relabel();
  setLiveState(liveState);
  if (current) {
    relabelTitle();
    views[current].render();
  }
}

/** The token prompt: resolves with the token, or null when the person cancels. */
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

let liveState = "connecting";
let wasLive = false;

function setLiveState(state) {
  const el = $("#live-state");
  el.dataset.state = state;
  el.textContent = t(`live.${state}`);
  // Whatever happened while the stream was down is fetched again once it is back.
  if (state === "live" && wasLive && liveState !== "live") views[current].refresh();
  if (state === "live") wasLive = true;
  liveState = state;
}

const feed = createFeed($("#feed"), $("#feed-pause"), $("#feed-readings"), $("#feed-alerts"));

function start() {
  setLang(lang());
  relabelAll();
  onTokenNeeded(askToken);
  onChange((area) => {
    if (area === "health") feed.relabel(); // the site's time zone may have just become known
    scheduleRender(area);
  });
  setupToggles();
  window.addEventListener("hashchange", showRoute);
  showRoute();
  if (current !== "overview") loadHealth(); // the site name and time zone come with /api/health
  connectEvents("/api/events", {
    onEvent(type, data) {
      feed.add(type, data);
      applyEvent(type, data);
      if (views[current].onEvent) views[current].onEvent(type, data);
    },
    onState: setLiveState,
  });
  setTimeout(loadHealth, CLOCK_SECOND_READING_MS);
  setInterval(loadHealth, CLOCK_SYNC_MS);
  setInterval(() => {
    const now = siteNow();
    for (const el of document.querySelectorAll(".sla[data-due]")) updateCountdown(el, now);
  }, 1000);
}

start();
