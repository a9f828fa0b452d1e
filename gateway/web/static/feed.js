// The live feed: every event from /api/events as one line, newest first, capped.

import {h} from "./dom.js";
import {fmtTime, fmtValue, parseTs, pct} from "./format.js";
import {lang, t, tv} from "./i18n.js";
import {siteNow} from "./siteclock.js";
import {store} from "./store.js";

const CAP = 80;
// Readings arrive tens per second on a real site; keep only the newest few so ticket changes, taps
// and rounds stay in view instead of being pushed out within a second.
const READINGS_CAP = 20;
const TYPES = ["reading", "tap", "ticket", "device", "round", "hello"];

export function createFeed(list, pauseButton) {
  const shown = new WeakMap(); // each line's event, to word it again when the language changes
  let paused = false;
  const held = []; // events that came while paused, shown on resume (capped too)

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    relabel();
    if (!paused) {
      for (const e of held.splice(0)) show(e);
    }
  });

  function add(type, data) {
    const entry = {type, data, at: siteNow()};
    if (paused) {
      held.push(entry);
      if (held.length > CAP) held.shift();
    } else {
      show(entry);
    }
  }

  function show({type, data, at}) {
    const when = parseTs(data.ts) || at;
    const line = h("li", {class: `feed-${TYPES.includes(type) ? type : "other"}`, dataset: {type}},
      h("time", {dataset: {ms: String(when)}}, fmtTime(when, store.tz, lang(), true)), " ",
      h("span", {class: "badge"}, tv("event", type)), " ",
      h("span", {class: "what"}, describe(type, data)));
    shown.set(line, {type, data});
    list.prepend(line);
    const readings = list.querySelectorAll("li[data-type='reading']");
    for (let i = READINGS_CAP; i < readings.length; i++) readings[i].remove();
    while (list.children.length > CAP) list.lastElementChild.remove();
  }

  /** Labels in the current language; times again in the site's zone (the first events can come
   * before /api/health has named it). */
  function relabel() {
    pauseButton.textContent = t(paused ? "feed.resume" : "feed.pause");
    for (const el of list.querySelectorAll("time[data-ms]")) {
      el.textContent = fmtTime(Number(el.dataset.ms), store.tz, lang(), true);
    }
    // Lines already shown are worded again: a "Connected" badge must not stay English in 中文.
    for (const line of list.children) {
      const event = shown.get(line);
      if (!event) continue;
      line.querySelector(".badge").textContent = tv("event", event.type);
      line.querySelector(".what").textContent = describe(event.type, event.data);
    }
  }

  relabel();
  return {add, relabel};
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
