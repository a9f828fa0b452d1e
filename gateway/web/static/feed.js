// The live feed: what happens on site, newest first by the time it happened (site time), each with its
// place. Tickets, alarms, taps, rounds and device changes by default; raw readings only when asked
// (a toggle, remembered). Readings never push an alert out: they are capped on their own, and the
// oldest non-ticket lines go before any ticket does. A sound or a browser notification for a new
// critical ticket, only when the person switched it on (alerts.js).

import {createAlerts} from "./alerts.js";
import {h} from "./dom.js";
import {fmtTime, fmtValue, parseTs, pct} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {store} from "./store.js";

const CAP = 150;
const TICKETS_CAP = 100; // ticket lines kept when everything else has gone
// Readings arrive tens per second on a real site: only the newest few are kept, shown or not.
const READINGS_CAP = 20;
const TYPES = ["reading", "tap", "ticket", "device", "round", "hello"];
const READINGS_KEY = "sitegate.feed.readings";

export function createFeed(list, pauseButton, readingsButton, alertsButton) {
  let paused = false;
  const held = []; // events that came while paused, shown on resume (capped too)
  const alerts = createAlerts(alertsButton);

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    relabel();
    if (!paused) {
      for (const e of held.splice(0)) show(e);
    }
  });

  const readingsShown = () => localStorage.getItem(READINGS_KEY) === "1";
  function applyReadings() {
    readingsButton.setAttribute("aria-pressed", String(readingsShown()));
    list.classList.toggle("hide-readings", !readingsShown());
  }
  readingsButton.addEventListener("click", () => {
    localStorage.setItem(READINGS_KEY, readingsShown() ? "0" : "1");
    applyReadings();
  });
  applyReadings();

  function add(type, data) {
    alerts.consider(type, data);
    const entry = {type, data, at: siteNow()};
    if (paused) {
      held.push(entry);
      if (held.length > CAP) held.shift();
    } else {
      show(entry);
    }
  }

  function show({type, data, at}) {
    const ts = parseTs(type === "hello" ? data.now : data.ts);
    const when = Number.isFinite(ts) ? ts : at;
    const what = describe(type, data);
    const found = placeOf(type, data);
    const place = found && !what.includes(found) ? found : "";
    const item = h("li", {class: `feed-${TYPES.includes(type) ? type : "other"}${isAlert(type, data) ? " alert" : ""}`,
      dataset: {type, ms: String(when)}},
    h("time", {dataset: {ms: String(when)}}, fmtTime(when, store.tz, lang(), true)), " ",
    h("span", {class: "badge"}, tv("event", type)), " ",
    h("span", {class: "what"}, what),
    place ? h("span", {class: "place"}, place) : null);
    // In time order: a device's message stamped earlier than one already shown goes below it.
    const later = [...list.children].find((li) => Number(li.dataset.ms) <= when);
    list.insertBefore(item, later || null);
    trim();
  }

  function trim() {
    const readings = list.querySelectorAll("li[data-type='reading']");
    for (let i = READINGS_CAP; i < readings.length; i++) readings[i].remove();
    while (list.children.length > CAP) {
      const rest = [...list.children].reverse();
      const tickets = rest.filter((li) => li.dataset.type === "ticket").length;
      const victim = tickets > TICKETS_CAP ? rest.find((li) => li.dataset.type === "ticket")
        : rest.find((li) => li.dataset.type !== "ticket") || rest[0];
      victim.remove();
    }
  }

  /** Labels in the current language; times again in the site's zone (the first events can come
   * before /api/health has named it). */
  function relabel() {
    pauseButton.textContent = t(paused ? "feed.resume" : "feed.pause");
    readingsButton.textContent = t("feed.readings");
    alerts.relabel();
    for (const el of list.querySelectorAll("time[data-ms]")) {
      el.textContent = fmtTime(Number(el.dataset.ms), store.tz, lang(), true);
    }
  }

  relabel();
  return {add, relabel};
}

/** Lines that stay marked: tickets, a device gone offline, a missed checkpoint, a bad tap. */
function isAlert(type, d) {
  if (type === "ticket") return ["opened", "escalated", "overdue", "severity_raised", "reopened"].includes(d.change);
  if (type === "device") return d.change === "offline";
  if (type === "round") return d.change === "checkpoint_missed" || d.change === "round_incomplete";
  if (type === "tap") return Boolean(d.result) && d.result !== "ok";
  return false;
}

/** Where it happened: the device's location from the inventory, the checkpoint, the route, the zone. */
export function placeOf(type, d) {
  const device = d.device || d.device_id;
  const known = device && store.devices.byId.get(device);
  if (known && known.location) return known.location;
  if (type === "ticket") return d.place || d.zone || "";
  if (type === "tap") return d.checkpoint_name || d.checkpoint || "";
  if (type === "round") return d.checkpoint || "";
  return known && known.zone ? known.zone : "";
}

/** One line of words for an event (its fields as CONTRACT.md and the gateway send them). */
export function describe(type, d) {
  switch (type) {
    case "reading":
      return `${d.device}: ${Object.entries(d.metrics || {}).slice(0, 4)
        .map(([k, v]) => `${tv("metric", k)} ${fmtValue(v)}`).join(", ")}`;
    case "tap":
      return [d.checkpoint || d.tag || "?", d.route, tv("tap_result", d.result)].filter(Boolean).join(" · ");
    case "ticket":
      return `${tv("action", d.change || "changed")}: ${d.title || d.id} (${tv("severity", d.severity)}, ${d.device_id || "–"})`;
    case "device":
      return `${d.device} ${tv("device_change", d.change)}`;
    case "round":
      return `${d.route_name || d.route} ${tv("round_change", d.change)} ${pct(d.coverage)}`;
    case "hello":
      return t("feed.hello", {site: d.site || ""});
    default:
      return JSON.stringify(d).slice(0, 200);
  }
}
